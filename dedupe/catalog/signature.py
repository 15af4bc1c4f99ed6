"""A compact picture signature, and the pure comparison of two of them.

Perceptual hashes say two pictures look alike; they do not say an edit is absent: greyscale,
tone, blur, sharpening and a text overlay all keep pHash within a few bits. The signature keeps
just enough of the picture (as shown, converted to sRGB through its embedded ICC profile, so a
Display P3 original and its sRGB conversion describe the same colours) to tell those apart:

  byte 0        version (2; 1: the same layout, beside hashes of the unmanaged picture)
  bytes 1-576   CIE L* on a 24x24 grid (the picture squashed to a square), 0..100 -> 0..255
  bytes 577-704 a*, b* on an 8x8 grid, int8 (clamped to -128..127)
  bytes 705-710 detail energy at 128, 64 and 32 pixels (mean |L - 3x3 box blur(L)|, float16):
                blur removes it, sharpening adds it

711 bytes per image (1 M photos: 0.7 GB of catalog). A 90° turn or a mirror image of the picture
is the same transform of the 24x24 grid (squashing to a square commutes with it), so rotations
and flips are compared exactly, and found through `dct_hashes` of the transformed grids.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageCms

# 2: the same layout; the file's pHash/dHash beside it were taken from the colour-managed
# picture too (catalog rows with a version-1 signature are fingerprinted again)
VERSION = 2
READABLE_VERSIONS = (1, 2)
GRID = 24
CHROMA = 8
DETAIL_SIZES = (128, 64, 32)  # each half the last (_box_grids sums each from the last)
REDUCED = 256  # a larger decode is first box-reduced to about this (the hashes' own size)
_SIZES = (*DETAIL_SIZES, GRID, CHROMA)  # the squares the picture is resized to
SIZE = 1 + GRID * GRID + 2 * CHROMA * CHROMA + 2 * len(DETAIL_SIZES)

_SRGB = ImageCms.createProfile("sRGB")


@lru_cache(maxsize=32)
def _transform(icc: bytes) -> ImageCms.ImageCmsTransform | None:
    """The profile's RGB -> sRGB transform (built once per distinct profile), or None for a
    profile that is unreadable or not RGB (taken as sRGB)."""
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.buildTransform(src, _SRGB, "RGB", "RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """The picture's colours in sRGB: a tagged picture (Display P3, Adobe RGB) is converted
    through its profile, as a viewer would. An untagged RGB picture is returned as it is (a
    full-size copy of it is what took `scan --full-decode` over 1 GiB)."""
    if im.mode != "RGB":
        im = im.convert("RGB")
    transform = _transform(icc) if icc else None
    if transform is None:
        return im
    try:
        return ImageCms.applyTransform(im, transform) or im
    except (ImageCms.PyCMSError, ValueError):
        return im


# sRGB 0..255 -> linear light: the same numbers as the formula on each value, looked up
_LINEAR = (lambda c: np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4))(
    np.arange(256, dtype=np.float64) / 255.0
)
_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
_WHITE = np.array([0.95047, 1.0, 1.08883])
# each sRGB value's share of luminance Y, per channel
_Y_OF = _LINEAR[:, None] * _XYZ[1][None, :]


def _f(t: np.ndarray) -> np.ndarray:
    return np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)


def _lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (0..255, ...x3) -> CIE L*a*b* (D65)."""
    f = _f(_LINEAR[rgb] @ _XYZ.T / _WHITE)
    L = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], axis=-1)


def _lightness(rgb: np.ndarray) -> np.ndarray:
    """CIE L* of sRGB (0..255, ...x3): _lab's L* but for the order of the sums (float noise),
    without a* and b*."""
    y = _Y_OF[rgb[..., 0], 0] + _Y_OF[rgb[..., 1], 1] + _Y_OF[rgb[..., 2], 2]
    return 116 * _f(y) - 16


def _detail(L: np.ndarray) -> float:
    pad = np.pad(L, 1, mode="edge")
    h, w = L.shape
    box = sum(pad[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)) / 9
    return float(np.mean(np.abs(L - box)))


@lru_cache(maxsize=256)
def _box_counts(n_in: int, n_out: int) -> np.ndarray:  # int32: pixel sums of a grid stay exact
    """Pixels of a row (or column) of n_in that each of n_out cells of Pillow's BOX resize
    averages, for n_in >= n_out: those whose centre falls within the cell's box (Pillow's
    precompute_coeffs with its box filter, in the same double arithmetic)."""
    scale = n_in / n_out
    centre = (np.arange(n_out) + 0.5) * scale
    first = np.maximum(0, (centre - 0.5 * scale + 0.5).astype(np.int64))
    stop = np.minimum(n_in, (centre + 0.5 * scale + 0.5).astype(np.int64))
    pixel = first[:, None] + np.arange(int((stop - first).max()))[None, :]
    at = (pixel - centre[:, None] + 0.5) * (1.0 / scale)
    return ((at > -0.5) & (at <= 0.5) & (pixel < stop[:, None])).sum(axis=1).astype(np.int32)


def _pair_sums(a: np.ndarray) -> np.ndarray:
    """Sums over each 2 x 2 block of a grid (n x n [x ...])."""
    a = a[0::2] + a[1::2]
    return a[:, 0::2] + a[:, 1::2]


def _box_grids(im: Image.Image) -> dict[int, np.ndarray]:
    """The picture BOX-resized to every square the signature reads (DETAIL_SIZES, GRID,
    CHROMA), as uint8 arrays (n x n x 3, or n x n for "L"). The stored grids (GRID, CHROMA)
    and the largest detail size are resized from the decode; the smaller detail sizes are
    summed from the largest, weighted by the pixels under each cell: the same areas of the
    picture, within a level of rounding (Pillow's cell edges at n / k are every k-th edge at
    n), at a fraction of the cost of resizing the decode again."""
    top = DETAIL_SIZES[0]
    if min(im.size) < top:  # a cell would be less than a pixel: resize each
        return {s: np.asarray(im.resize((s, s), Image.Resampling.BOX)) for s in _SIZES}
    out = {s: np.asarray(im.resize((s, s), Image.Resampling.BOX)) for s in (top, GRID, CHROMA)}
    counts = np.outer(_box_counts(im.height, top), _box_counts(im.width, top))
    if out[top].ndim == 3:
        counts = counts[..., None]
    sums = out[top] * counts  # each cell's pixel sum: they add up over a block of cells
    for size in DETAIL_SIZES[1:]:  # each half the last
        sums, counts = _pair_sums(sums), _pair_sums(counts)
        out[size] = np.clip(np.rint(sums / counts), 0, 255).astype(np.uint8)
    return out


def _srgb(grid: np.ndarray, icc: bytes | None) -> np.ndarray:
    """A grid of the picture's colours (uint8, n x n [x 3]) in sRGB (n x n x 3): converted
    through `icc` (to_srgb: an untagged grid is taken as sRGB)."""
    if icc and _transform(icc) is not None:
        grid = np.asarray(to_srgb(Image.fromarray(grid), icc))
    elif grid.ndim == 2:  # grey: R = G = B, as Pillow's L -> RGB
        grid = np.repeat(grid[..., None], 3, axis=-1)
    return grid


def picture_signature(im: Image.Image, icc: bytes | None = None) -> bytes:
    """The signature of a decoded picture as shown (orientation applied). `icc` is the file's
    embedded colour profile. Works on any decoded size; the fast-path decode (>= 256 px) is
    what scan passes, so no second decode is made."""
    if im.mode.startswith("I") or im.mode == "F":  # 16/32-bit grey: scale to 8 bits
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") else max(float(arr.max()), 1.0)
        im = Image.fromarray(np.clip(arr / top * 255, 0, 255).astype(np.uint8), "L")
    elif im.mode not in ("RGB", "L"):
        im = im.convert("RGB")
    if min(im.size) >= 2 * REDUCED:
        im = im.reduce(min(im.size) // REDUCED)
    # each grid an area average of the decode, converted to sRGB after averaging: a tenth of
    # the pixels to transform
    srgb = {size: _srgb(grid, icc) for size, grid in _box_grids(im).items()}
    details = [_detail(_lightness(srgb[size])) for size in DETAIL_SIZES]
    grid, chroma = _lab(srgb[GRID]), _lab(srgb[CHROMA])
    L = np.clip(np.rint(grid[..., 0] * 2.55), 0, 255).astype(np.uint8)
    ab = np.clip(np.rint(chroma[..., 1:]), -128, 127).astype(np.int8)
    return (
        bytes([VERSION])
        + L.tobytes()
        + np.ascontiguousarray(ab.transpose(2, 0, 1)).tobytes()
        + np.array(details, dtype="<f2").tobytes()
    )


@dataclass(frozen=True)
class Signature:
    L: np.ndarray  # GRID x GRID, L* 0..100
    ab: np.ndarray  # 2 x CHROMA x CHROMA
    detail: np.ndarray  # len(DETAIL_SIZES)


def _readable(blob: bytes | None) -> bool:
    return bool(blob) and len(blob) == SIZE and blob[0] in READABLE_VERSIONS


@lru_cache(maxsize=4096)
def unpack(blob: bytes | None) -> Signature | None:
    """The signature's parts, or None for a missing or foreign blob."""
    if not _readable(blob):
        return None
    n = GRID * GRID
    L = np.frombuffer(blob, np.uint8, n, 1).reshape(GRID, GRID) / 2.55
    ab = np.frombuffer(blob, np.int8, 2 * CHROMA * CHROMA, 1 + n).reshape(2, CHROMA, CHROMA)
    detail = np.frombuffer(blob, "<f2", len(DETAIL_SIZES), 1 + n + 2 * CHROMA * CHROMA)
    return Signature(L, ab.astype(np.float64), detail.astype(np.float64))


def unpack_grids(blobs: Sequence[bytes | None]) -> tuple[list[int], np.ndarray]:
    """(positions of the readable blobs, their L grids, K x GRID x GRID): what `unpack` gives
    as `.L` for each, read from one buffer instead of one small array at a time."""
    ok = [i for i, blob in enumerate(blobs) if _readable(blob)]
    if not ok:
        return ok, np.zeros((0, GRID, GRID))
    rows = np.frombuffer(b"".join([blobs[i] for i in ok]), np.uint8).reshape(len(ok), SIZE)
    return ok, rows[:, 1 : 1 + GRID * GRID].reshape(len(ok), GRID, GRID) / 2.55


# The eight turns and mirror images, as functions of a square grid (axes -2, -1), named by what
# was done to the first picture to give the second.
TRANSFORMS: tuple[tuple[str, object], ...] = (
    ("identity", lambda g: g),
    ("rotated 90°", lambda g: np.rot90(g, -1, axes=(-2, -1))),  # clockwise
    ("rotated 180°", lambda g: np.rot90(g, 2, axes=(-2, -1))),
    ("rotated 270°", lambda g: np.rot90(g, 1, axes=(-2, -1))),
    ("mirrored", lambda g: np.flip(g, axis=-1)),
    ("mirrored", lambda g: np.flip(g, axis=-2)),
    ("mirrored", lambda g: np.swapaxes(g, -2, -1)),
    ("mirrored", lambda g: np.rot90(np.swapaxes(g, -2, -1), 2, axes=(-2, -1))),
)


def _dct_matrix(n: int, k: int) -> np.ndarray:
    x = np.arange(n)
    return np.cos(np.pi * (2 * x[None, :] + 1) * np.arange(k)[:, None] / (2 * n))


_DCT = _dct_matrix(GRID, 8)


_SIGNS = (-1.0) ** np.arange(8)
# Each entry of TRANSFORMS as what it does to the low 8x8 DCT coefficients of a grid: (transpose,
# negate odd rows, negate odd columns); a flip of the grid along an axis negates that axis's odd
# coefficients (checked against the transformed grids' own DCT in the tests)
_COEF_TRANSFORMS = (
    (False, False, False),
    (True, False, True),
    (False, True, True),
    (True, True, False),
    (False, False, True),
    (False, True, False),
    (True, False, False),
    (True, True, True),
)


def _above_median(coef: np.ndarray) -> np.ndarray:
    """N x 8 x 8 coefficients -> whether each is above its grid's median (DC left out; 63
    values, so the median is the middle one)."""
    flat = coef.reshape(len(coef), 64)
    med = np.partition(flat[:, 1:], 31, axis=1)[:, 31:32]
    return (flat > med).reshape(coef.shape)


def _packed(bits: np.ndarray) -> np.ndarray:
    """N x 8 x 8 booleans -> N 64-bit hashes, the first the most significant bit."""
    return np.packbits(bits.reshape(len(bits), 64), axis=1).view(">u8").ravel().astype(np.uint64)


def _bits_of(coef: np.ndarray) -> np.ndarray:
    """N x 8 x 8 coefficients -> N 64-bit hashes: each against the median (DC left out)."""
    return _packed(_above_median(coef))


def _hash_grids(g: np.ndarray, dct: np.ndarray = _DCT) -> np.ndarray:
    """64-bit DCT hashes of L grids (N x GRID x GRID): the low 8x8 DCT coefficients, each
    against their median (DC left out). `dct`: the DCT rows, or them times a resampling."""
    return _bits_of(dct @ np.ascontiguousarray(g) @ dct.T)


def dct_hashes(grids: np.ndarray) -> np.ndarray:
    """64-bit DCT hashes of L grids (N x GRID x GRID), one column per entry of TRANSFORMS
    (N x 8, uint64): one DCT, its coefficients turned and signed for each transform."""
    coef = _DCT @ grids @ _DCT.T
    # A transposed entry is the transpose of the entry with its row and column signs swapped
    # (the same 63 values, so the same median): four sign patterns give all eight.
    above = {}
    for rows in (False, True):
        for cols in (False, True):
            c = coef * _SIGNS[:, None] if rows else coef
            above[rows, cols] = _above_median(c * _SIGNS[None, :] if cols else c)
    out = [
        _packed(np.swapaxes(above[cols, rows], -2, -1) if transpose else above[rows, cols])
        for transpose, rows, cols in _COEF_TRANSFORMS
    ]
    return np.stack(out, axis=1)


# Centred crops looked for (the share of each side kept): a crop moves pHash 12-24 bits, beyond
# any threshold, but a centred crop of the original's grid hashes within 8 bits of the crop's
# own grid (79 of 80 corpus and public photos with 10% cut from each side; other photos >= 16)
CROP_SCALES = (0.9, 0.8, 0.7)


@lru_cache(maxsize=8)
def _crop_matrix(scale: float) -> np.ndarray:
    """GRID x GRID bilinear weights: row i samples where a centred crop keeping `scale` of the
    side puts its cell i."""
    pos = GRID / 2 + (np.arange(GRID) + 0.5 - GRID / 2) * scale - 0.5
    i0 = np.clip(np.floor(pos).astype(int), 0, GRID - 2)
    w = np.zeros((GRID, GRID))
    w[np.arange(GRID), i0] = 1 - (pos - i0)
    w[np.arange(GRID), i0 + 1] = pos - i0
    return w


def crop_grid(L: np.ndarray, scale: float) -> np.ndarray:
    """The L grid(s) (... x GRID x GRID) of a centred crop keeping `scale` of each side,
    sampled (bilinear) where the crop's own grid cells fall."""
    w = _crop_matrix(scale)
    return w @ L @ w.T


def crop_hashes(grids: np.ndarray) -> np.ndarray:
    """DCT hashes of each grid's centred crops (N x len(CROP_SCALES), uint64)."""
    return np.stack([_hash_grids(grids, _DCT @ _crop_matrix(s)) for s in CROP_SCALES], axis=1)


def _halved(L: np.ndarray) -> np.ndarray:
    return L.reshape(GRID // 2, 2, GRID // 2, 2).mean(axis=(1, 3))


def crop_of(a: Signature, b: Signature) -> tuple[float, float, float, float] | None:
    """(scale, residual, gain, offset) when picture b is a centred crop of picture a, otherwise
    the same picture; else None. Compared at 12x12 (the crop's grid is sampled from a coarser
    part of a's: at 24x24 that alone leaves up to 5 L*): a 10% crop of 80 corpus and public
    photos <= 3.29 L* of residual, the best crop of any other photo >= 3.55."""
    best = None
    for scale in CROP_SCALES:
        g = crop_grid(a.L, scale)
        if _bits(int(_hash_grids(g[None])[0]), int(_hash_grids(b.L[None])[0])) > CROP_HASH:
            continue
        x, y = _halved(g).ravel(), _halved(b.L).ravel()
        gain, offset = _fit(x, y)
        residual = float(np.abs(y - (gain * x + offset)).mean())
        if best is None or residual < best[1]:
            best = (scale, residual, gain, gain * 50 + offset - 50)
    if best is None or best[1] > CROP_RESIDUAL:
        return None
    if not GAIN[0] <= best[2] <= GAIN[1] or abs(best[3]) > OFFSET:
        return None
    return best


def _bits(x: int, y: int) -> int:
    return (x ^ y).bit_count()


BLOCK = 4  # L grid cells per side of a block, for locating a local change (6x6 blocks)


def _mean(v: np.ndarray) -> np.float64:
    """v.mean() of a float64 array as numpy computes it (its sum, then divided by the count),
    without the general method's checks: a comparison takes a dozen means of small arrays."""
    return np.add.reduce(v, axis=None) / v.size


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares y ~ gain * x + offset over flat arrays."""
    xm, ym = _mean(x), _mean(y)
    dx = x - xm
    var = float(dx @ dx)
    gain = float(dx @ (y - ym)) / var if var > 1e-9 * x.size else 1.0
    return gain, float(ym - gain * xm)


@dataclass(frozen=True)
class Comparison:
    """How picture b differs from picture a, in the signals `judge` decides on."""

    transform: str  # an entry of TRANSFORMS: what turns a into b
    l_diff: float  # mean |L*| difference, before any fit (L* units, 0..100)
    residual: float  # mean |L*| difference left after a global gain/offset fit
    local: float  # the worst 4x4-cell block's residual above the median block's
    gain: float  # L* contrast of b relative to a
    offset: float  # L* shift at mid-grey (50) of b relative to a
    chroma: tuple[float, float]  # mean chroma (a*b* magnitude) of a and of b
    chroma_shift: float  # mean |a*b*| difference after the chroma gain
    detail: tuple[float, ...]  # detail energy of b over a, per DETAIL_SIZES
    # where one picture has no colour: the residual of its L* fitted as a channel mix of the
    # other's (what a black-and-white conversion does); else equal to residual
    mix_residual: float = 0.0
    # the a*b* difference as a vector after the chroma gain, the smaller of its mean and median
    # over cells: a colour cast (white balance, a warm or cool filter) moves every cell the same
    # way; re-encoding noise cancels out, a local change moves few cells
    cast: float = 0.0

    def to_json(self) -> dict:
        return {
            "transform": self.transform,
            "l_diff": round(self.l_diff, 2),
            "residual": round(self.residual, 2),
            "local": round(self.local, 2),
            "gain": round(self.gain, 3),
            "offset": round(self.offset, 2),
            "chroma": [round(c, 2) for c in self.chroma],
            "chroma_shift": round(self.chroma_shift, 2),
            "detail_ratio": [round(d, 3) for d in self.detail],
            "mix_residual": round(self.mix_residual, 2),
            "cast": round(self.cast, 2),
        }


def _trimmed_fit_residual(X: np.ndarray, y: np.ndarray) -> float:
    """Mean |y - X coef| of a least-squares fit refitted on its best 80% of cells (as
    _compare_as does: a local change must not pass for a global one)."""
    coef = np.linalg.lstsq(X, y, rcond=None)[0]
    err = np.abs(y - X @ coef)
    k = int(0.8 * (err.size - 1))
    keep = err <= np.partition(err, k)[k]
    coef = np.linalg.lstsq(X[keep], y[keep], rcond=None)[0]
    return float(np.abs(y - X @ coef).mean())


def _mix_residual(colour_L: np.ndarray, colour_ab: np.ndarray, grey_L: np.ndarray) -> float:
    """How far a colourless picture's L* is from a channel mix of a coloured one's. A black-and-
    white conversion weighs hues its own way (Rec. 601 luma, a red filter...), not as L* does:
    on saturated pictures that alone leaves up to 5 L* of residual after a gain/offset fit.
    Modelled as L*, a*, b* (the 8x8 grid spread over the 24x24 one) and their products with L*."""
    up = GRID // CHROMA
    ab = np.repeat(np.repeat(colour_ab, up, axis=-2), up, axis=-1).reshape(2, -1)
    L = colour_L.ravel()
    X = np.stack([L, ab[0], ab[1], ab[0] * L / 50, ab[1] * L / 50, np.ones_like(L)], axis=1)
    return _trimmed_fit_residual(X, grey_L.ravel())


def _tone_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(gain, offset, |error| per cell) of y ~ gain * x + offset, refitted on the cells that fit
    best: a local change (a caption) must not pass for a tone one."""
    gain, offset = _fit(x, y)
    err = np.abs(y - (gain * x + offset))
    keep = err <= np.partition(err, int(0.8 * (err.size - 1)))[int(0.8 * (err.size - 1))]
    if keep.sum() >= err.size // 2:
        gain, offset = _fit(x[keep], y[keep])
        err = np.abs(y - (gain * x + offset))
    return gain, offset, err


def _median(v: np.ndarray) -> np.ndarray:
    """np.median over the last axis of an even count of values, as it computes it (the mean of
    the two middle values), without its general machinery: it is called twice a comparison."""
    h = v.shape[-1] // 2
    p = np.partition(v, (h - 1, h), axis=-1)
    return (p[..., h - 1] + p[..., h]) / 2


def _compare_as(a: Signature, b: Signature, t: int) -> Comparison:
    name, f = TRANSFORMS[t]
    La, ab_a = np.asarray(f(a.L)), np.asarray(f(a.ab))
    x, y = La.ravel(), b.L.ravel()
    gain, offset, err = _tone_fit(x, y)
    side = GRID // BLOCK
    blocks = err.reshape(side, BLOCK, side, BLOCK).sum(axis=(1, 3)).ravel() / (BLOCK * BLOCK)
    ca, cb = np.hypot(ab_a[0], ab_a[1]), np.hypot(b.ab[0], b.ab[1])
    ma, mb = float(ca.mean()), float(cb.mean())
    cgain = mb / ma if ma > 1e-6 else 1.0
    moved = b.ab - cgain * ab_a
    shift = float(np.abs(moved).sum(axis=0).mean())
    # both the mean and the median shift: a caption over saturated colour moves the mean alone
    cells = moved.reshape(2, -1)
    cast = float(min(np.hypot(*cells.mean(axis=1)), np.hypot(*_median(cells))))
    ratio = tuple(
        float(db / da) if da > 1e-3 and np.isfinite(db / da) else 1.0
        for da, db in zip(a.detail.tolist(), b.detail.tolist(), strict=True)
    )
    mix = float(err.mean())
    if mb < COLOURLESS * ma:
        mix = _mix_residual(La, ab_a, b.L)
    elif ma < COLOURLESS * mb:
        mix = _mix_residual(b.L, b.ab, La)
    return Comparison(
        transform=name,
        l_diff=float(np.abs(y - x).mean()),
        residual=float(err.mean()),
        local=float(blocks.max() - _median(blocks)),
        gain=gain,
        offset=gain * 50 + offset - 50,
        chroma=(ma, mb),
        chroma_shift=shift,
        detail=ratio,
        mix_residual=mix,
        cast=cast,
    )


def compare(a: Signature, b: Signature, *, turns: bool = False) -> Comparison:
    """Picture b against picture a: as they are, or (turns) under the turn or mirror image of a
    that fits b best."""
    if not turns:
        return _compare_as(a, b, 0)
    # the residual of each (what the best is chosen by, as _compare_as measures it), then the
    # whole comparison of the first best only
    y = b.L.ravel()
    residuals = [float(_mean(_tone_fit(np.asarray(f(a.L)).ravel(), y)[2])) for _, f in TRANSFORMS]
    return _compare_as(a, b, residuals.index(min(residuals)))


# Thresholds. Each sits between what copies produce and what edits produce, measured through
# the scan's own decode on 10 real camera photos (/work/shared/corpus/real, 2 of them iPhone
# Display P3 HEICs converted to sRGB JPEG) and 7 public photos (skimage.data, Pillow's hopper):
# copies = JPEG q90/q60, 1/2 and 1/3 downscales, TIFF, WebP, a Display P3 master and its sRGB
# conversion (benchmarks/public_set.py; distributions in benchmarks/results/dupes.md). Copies
# of pictures under SMALL_SIDE are left out of the copy ranges (see SMALL_SIDE).
COLOURLESS = 0.1  # chroma of b over a below this: colour removed (greyscale edits: 0.00)
COLOURFUL = 2.0  # ... when a had colour to remove (mean a*b* magnitude)
# chroma of b over a: copies 0.96-1.02, and 0.85-0.89 where a converter dropped a Display P3
# profile (P3 numbers then read as sRGB: still the same photo); saturation edits <= 0.53, >= 1.40
CHROMA_RATIO = (0.8, 1.25)
# a*b* shift as a vector (Comparison.cast): copies <= 0.38, every edit but a tone/colour one
# <= 1.43 (sharpening; overlays 0.68), warm/cool filters up to 21 (73 corpus + 7 public photos);
# a just-noticeable colour difference is about 2.3 (CIE76). The mean alone: a caption over a
# saturated generated scene 2.08 (its median 1.00)
CAST = 2.0
GAIN = (0.92, 1.08)  # L* contrast: copies 0.99-1.01; contrast edits >= 1.11, <= 0.72
OFFSET = 3.0  # L* shift at mid-grey: copies |x| <= 0.33; brightness edits >= 7.7
RESIDUAL = 4.0  # mean L* residual: copies <= 0.89, edits <= 3.24; a stereo pair 8.4
# ... for a colourless picture against a coloured one, after the channel-mix fit: Pillow greyscale
# of saturated generated scenes <= 3.2 (4.83 after a gain/offset fit alone), a red-filter B&W
# of skimage photos <= 3.96 (8.22); a B&W copy of the stereo pair's other frame 8.1
LOCAL = 2.0  # worst block above median: copies <= 1.44; text overlays >= 2.74
# ... and an overlay's change is concentrated: worst block over the mean residual >= 5.97 for
# overlays, <= 3.47 for sharpening (which raises edges everywhere), <= 2.12 for copies
LOCAL_SHARE = 4.5
# worst block above median that no copy reaches (<= 1.44): where the detail rose, a change this
# concentrated is a caption (<= 4.31x the residual for sharpening, >= 4.78x for captions)
COPY_LOCAL = 1.5
BLURRED = 0.85  # detail at 128 px over a's, per unit of gain: copies 0.97-1.14, blur <= 0.75
SHARPENED = 1.3  # ... sharpening >= 1.49
# Below this many pixels on the short side a 24x24 grid is mostly resampling noise (a 42-px
# thumbnail of a 128-px picture differs by 3 L* from it): only global colour and tone decide.
SMALL_SIDE = 128
STRETCH_RESIDUAL = 2.5  # squashed to a square, a stretched picture is the same: <= 0.56
CROP_HASH = 8  # DCT hash bits between a centred crop of a's grid and b's (see CROP_SCALES)
CROP_RESIDUAL = 3.4  # L* at 12x12 after a gain/offset fit (see crop_of)


# The signals of a Comparison that decide each edit `picture_edit` names (for the evidence).
EDIT_SIGNALS = {
    "other picture": "residual",
    "colour removed": "chroma, channel-mix residual",
    "colour added": "chroma, channel-mix residual",
    "tone/colour adjusted": "chroma ratio, colour cast, gain, offset",
    "blurred": "detail ratio",
    "sharpened": "detail ratio",
    "overlay/local change": "local block residual",
}


def picture_edit(c: Comparison, *, small: bool = False) -> str | None:
    """The edit that turns picture a into picture b, or None when they agree within what
    re-encoding, resampling and colour-profile conversion produce. Pure."""
    ca, cb = c.chroma
    ratio = cb / ca if ca > 1e-6 else 1.0
    colour_gone = (ca >= COLOURFUL and ratio < COLOURLESS) or (
        cb >= COLOURFUL and ca < COLOURLESS * cb
    )
    residual = c.mix_residual if colour_gone else c.residual
    if residual > RESIDUAL and not small:  # no edit measured here leaves more than 3.3
        return "other picture"
    if ca >= COLOURFUL and ratio < COLOURLESS:
        return "colour removed"
    if cb >= COLOURFUL and ca < COLOURLESS * cb:
        return "colour added"  # b has the colour: a is the edit
    # a ratio of two near-zero chromas is noise (a black-and-white photo's copy: 0.02 vs 0.00)
    chroma_changed = max(ca, cb) >= COLOURFUL and not CHROMA_RATIO[0] <= ratio <= CHROMA_RATIO[1]
    cast = max(ca, cb) >= COLOURFUL and c.cast > CAST
    if chroma_changed or cast or not GAIN[0] <= c.gain <= GAIN[1] or abs(c.offset) > OFFSET:
        return "tone/colour adjusted"
    if small:
        return None
    detail = c.detail[0] / c.gain if c.gain > 0 else c.detail[0]
    if detail < BLURRED:  # before the local test: a strong blur moves edges (overlays add detail)
        return "blurred"
    concentrated = c.local > LOCAL_SHARE * c.residual
    if c.local > LOCAL and concentrated:
        return "overlay/local change"
    if detail > SHARPENED:
        # detail rose: sharpening raises it everywhere, a caption in one place, which may
        # barely move the blocks' mean L* (white text with a dark outline over a bright sky)
        return "overlay/local change" if concentrated and c.local > COPY_LOCAL else "sharpened"
    if c.local > LOCAL:
        return "overlay/local change"
    return None

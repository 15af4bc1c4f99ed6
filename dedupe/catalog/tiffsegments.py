"""A TIFF picture Pillow does not decode, decoded a strip or tile at a time by tifffile (with
imagecodecs' codecs): one in a compression Pillow lacks (JPEG 2000, JPEG XL, LERC, JPEG XR, WebP,
PNG), in samples Pillow has no mode for (64-bit float RGB), or over the decode budget (a film
scan or a stitched panorama of 150 MP or more). Every segment is decoded, so damage is found,
and none is kept: memory holds one segment and a box-reduced copy of the picture, from which
the perceptual hashes are taken as from Pillow's fast path (fingerprint.shown_rgb): for 8-bit
samples, and 16-bit RGB, the reduced copy holds the numbers Pillow's reduce() gives (phash_method
sniff.TIFF_SEGMENTS_METHOD).

A TIFF whose one segment alone is over the decode budget (a 150 MP picture stored as a single
strip) is not decoded: not checked."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import tifffile
from PIL import Image

from photoverify.dedupe.catalog.decoding import BIG_DECODE_BYTES, MAX_DECODE_PIXELS, decode_slot
from photoverify.dedupe.catalog.fingerprint import reduce_factor

SEGMENT_BUDGET = MAX_DECODE_PIXELS * 4  # bytes one decoded segment may take (a 120 MP RGBA)
READ_BYTES = 16 << 20  # compressed bytes tifffile reads in one pass
MAX_PAGES = 10_000  # as verify's MAX_FRAMES
ORIENTATION, ICC_PROFILE = 274, 34675  # TIFF tags


class NotDecoded(Exception):
    """The TIFF cannot be decoded here (a segment over the budget, a codec imagecodecs lacks,
    a volume): not checked. Its text says why."""


@dataclass
class Segmented:
    size: tuple[int, int]  # the first page's, as stored (orientation not applied)
    pages: int  # pages in the file (at most MAX_PAGES)
    decoded: int  # pages decoded
    reduced: Image.Image | None  # the first page box-reduced, as RGB or L; None: not hashable
    orientation: int | None
    icc: bytes | None


def decode_in_segments(path: str, *, every_page: bool = True) -> Segmented:
    """Decode the TIFF at `path` a segment at a time: every page (`every_page`), or the first.
    Raises NotDecoded when it cannot be decoded here, and any other exception (tifffile's or a
    codec's) when the file is damaged."""
    with tifffile.TiffFile(path) as tif:
        pages = tif.pages
        pages.useframes = False  # every page with its own tags
        total = min(len(pages), MAX_PAGES)
        count = total if every_page else min(total, 1)
        if count == 0:
            raise ValueError("no page in this TIFF")
        first = pages[0]
        reduced = None
        for i in range(count):
            page = pages[i]
            acc = _decode_page(page, _Reduction(page) if i == 0 and _hashable(page) else None)
            if acc is not None:
                reduced = acc.picture()
        tags = first.tags
        orientation = tags.valueof(ORIENTATION)
        icc = tags.valueof(ICC_PROFILE)
        return Segmented(
            (first.imagewidth, first.imagelength),
            total,
            count,
            reduced,
            int(orientation) if orientation else None,
            bytes(icc) if isinstance(icc, (bytes, bytearray)) else None,
        )


def _decode_page(page, acc: _Reduction | None) -> _Reduction | None:
    """Decode every segment of `page`, adding each to `acc`; returns `acc`, or None when the
    reduction could not take a segment (the picture is then decoded, not hashed: a fault of
    this module is never called damage in the file)."""
    if page.imagedepth > 1:
        raise NotDecoded("a volumetric TIFF (image depth > 1): not decoded")
    if page.dtype is None:
        raise NotDecoded("tifffile reads no sample type for its pixels: not decoded")
    try:
        tifffile.TIFF.DECOMPRESSORS[page.compression]
    except KeyError as exc:  # a registered codec imagecodecs lacks (JBIG), said before any read
        raise NotDecoded(f"tifffile has no decoder for its compression: {exc.args[0]}") from exc
    segment_bytes = int(np.prod(page.chunks)) * page.dtype.itemsize
    if segment_bytes > SEGMENT_BUDGET:
        raise NotDecoded(
            f"one strip or tile of it decodes to {segment_bytes / 1e6:.0f} MB, over the decode "
            f"budget of {SEGMENT_BUDGET / 1e6:.0f} MB: not decoded"
        )
    try:
        with decode_slot() if segment_bytes >= BIG_DECODE_BYTES else nullcontext():
            for data, index, _shape in page.segments(maxworkers=1, buffersize=READ_BYTES):
                if data is not None and acc is not None:
                    try:
                        acc.add(data, index)
                    except (ValueError, IndexError, TypeError):
                        acc = None
    except ValueError as exc:
        if "requires the 'imagecodecs' package" in str(exc):
            raise NotDecoded(f"tifffile: {exc}") from exc
        raise
    return acc


def _hashable(page) -> bool:
    """Whether the reduced copy can be made as a picture: gray or RGB samples of integers or
    floats (palette, CMYK, YCbCr, Lab and other layouts are decoded, not hashed)."""
    photometric = int(page.photometric)
    gray = photometric in (0, 1)  # min-is-white, min-is-black
    rgb = photometric == 2 and page.samplesperpixel >= 3
    return (gray or rgb) and page.dtype.kind in "uif"


class _Reduction:
    """Box sums of a page, FACTOR x FACTOR pixels a box (partial boxes at the right and bottom
    edges, as Pillow's reduce() makes them), filled a segment at a time."""

    def __init__(self, page) -> None:
        self.width, self.height = page.imagewidth, page.imagelength
        self.factor = reduce_factor((self.width, self.height))  # as Pillow's fast path
        self.channels = 1 if int(page.photometric) in (0, 1) else 3
        self.invert = int(page.photometric) == 0
        self.dtype = page.dtype
        # 8-bit samples, or 16-bit RGB, which Pillow reads as 8-bit: reduced as Pillow's
        # reduce() does, to the same numbers; other samples are stretched to 0..255, as
        # fingerprint._to_8bit does with the wide modes Pillow gives them
        self.eight_bit = page.dtype == np.uint8 or (page.dtype == np.uint16 and self.channels == 3)
        f = self.factor
        shape = (-(-self.height // f), -(-self.width // f))
        self.sums = np.zeros((*shape, self.channels))
        self.counts = np.zeros(shape)

    def add(self, data: np.ndarray, index: tuple[int, ...]) -> None:
        """A decoded segment: data (depth, length, width, samples) at index (sample, depth,
        row, column, sample)."""
        sample, _, y0, x0, _ = index
        if sample >= self.channels:
            return  # a separate plane past those hashed (alpha, extra samples)
        h = min(data.shape[1], self.height - y0)
        w = min(data.shape[2], self.width - x0)
        if h <= 0 or w <= 0:
            return
        planes = data[0, :h, :w, : self.channels - sample]
        if self.eight_bit and planes.dtype == np.uint16:
            planes = planes >> 8  # Pillow reads 16-bit RGB as its high bytes
        f = self.factor
        xs = (x0 + np.arange(w)) // f
        ys = (y0 + np.arange(h)) // f
        cols = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
        rows = np.flatnonzero(np.r_[True, ys[1:] != ys[:-1]])
        summed = np.add.reduceat(planes, cols, axis=1, dtype=np.float64)
        summed = np.add.reduceat(summed, rows, axis=0)
        n_cols = np.diff(np.r_[cols, w])
        n_rows = np.diff(np.r_[rows, h])
        by, bx = ys[rows][:, None], xs[cols][None, :]
        channels = slice(sample, sample + planes.shape[2])
        self.sums[by, bx, channels] += np.nan_to_num(summed)
        if sample == 0:
            self.counts[by, bx] += n_rows[:, None] * n_cols[None, :]

    def picture(self) -> Image.Image:
        n = np.maximum(self.counts, 1)[..., None]
        if self.eight_bit:  # Pillow's fixed-point box mean (libImaging/Reduce.c), exactly
            sums = self.sums.astype(np.int64)
            if self.invert:
                sums = n.astype(np.int64) * 255 - sums
            count = n.astype(np.int64)
            # Reduce.c's division_UINT32: 2**32 / (256 * n), in single precision, truncated
            scale = (np.float32(2**32) / (count * 256).astype(np.float32)).astype(np.int64)
            pixels = ((sums + count // 2) * scale) >> 24
        else:
            mean = self.sums / n
            lo, hi = float(mean.min()), float(mean.max())
            scaled = (mean - lo) * (255.0 / (hi - lo)) if hi > lo else mean * 0.0
            if self.invert:
                scaled = 255.0 - scaled
            pixels = np.floor(scaled + 0.5)
        pixels = np.clip(pixels, 0, 255).astype(np.uint8)
        if self.channels == 1:
            return Image.fromarray(pixels[..., 0], "L")
        return Image.fromarray(pixels, "RGB")

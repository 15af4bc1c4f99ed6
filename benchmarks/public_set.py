"""A labelled near-duplicate set made from public test images that ship in packages.

    python -m benchmarks.public_set OUT [--max-side 768]

Sources: scikit-image's `skimage.data` photographs and Pillow's own test photograph (hopper),
both made by no one here. Each source is written as an original, then as what a library's copies
of it really are (`REENCODES`: JPEG at other qualities, downscales, PNG/WebP, a Display P3 master
and its sRGB conversion) and as what a user's edits are (`EDITS`, applied with Pillow/numpy: each
named as `dupes` must name it). skimage's stereo_motorcycle gives two different photos that look
alike. `truth.json` says, for every file, its source, its role and its edit kind.

The Display P3 profile is built here (`display_p3_icc`: the standard's primaries, D65 white and
sRGB transfer curve, as an ICC v2 matrix/TRC profile), so no profile file needs shipping.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import struct
from collections.abc import Callable
from itertools import combinations
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

# Pillow's Tests/images: $PILLOW_TEST_IMAGES, else the installed version's sdist, fetched once
# into benchmarks/out/pillow-sdist (as bench_hostile does)
PILLOW_CACHE = Path(__file__).resolve().parent / "out" / "pillow-sdist"
# skimage's `cat` is `chelsea` again: left out
SKIMAGE_SOURCES = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "retina")


# --- a Display P3 ICC profile -------------------------------------------------------------


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz_tag(xyz: np.ndarray) -> bytes:
    return b"XYZ " + b"\0" * 4 + b"".join(_s15(float(v)) for v in xyz)


def _rgb_to_xyz(primaries: tuple, white: tuple) -> np.ndarray:
    cols = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in primaries]).T
    wx, wy = white
    w = np.array([wx / wy, 1.0, (1 - wx - wy) / wy])
    return cols * np.linalg.solve(cols, w)


def display_p3_icc() -> bytes:
    """Display P3 (DCI-P3 primaries, D65, sRGB curve) as an ICC v2 RGB->XYZ matrix/TRC profile,
    its colorants adapted to the D50 connection space with Bradford."""
    m = _rgb_to_xyz(((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), (0.3127, 0.3290))
    brad = np.array(
        [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]
    )
    d65 = m.sum(axis=1)
    d50 = np.array([0.9642, 1.0, 0.8249])
    adapt = np.linalg.inv(brad) @ np.diag((brad @ d50) / (brad @ d65)) @ brad
    cols = adapt @ m
    x = np.linspace(0, 1, 1024)
    curve = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    curv = (
        b"curv"
        + b"\0" * 4
        + struct.pack(">I", 1024)
        + struct.pack(">1024H", *np.rint(curve * 65535).astype(int))
    )
    text = b"Display P3 (photoverify)\0"
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", len(text)) + text + b"\0" * 12 + b"\0" * 67
    tags = [
        (b"desc", desc),
        (b"wtpt", _xyz_tag(d50)),
        (b"rXYZ", _xyz_tag(cols[:, 0])),
        (b"gXYZ", _xyz_tag(cols[:, 1])),
        (b"bXYZ", _xyz_tag(cols[:, 2])),
        (b"rTRC", curv),
        (b"gTRC", curv),
        (b"bTRC", curv),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        while (offset + len(data)) % 4:
            data += b"\0"
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    body = struct.pack(">I", len(tags)) + table + data
    size = 128 + len(body)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + bytes([2, 0x10, 0, 0])
        + b"mntrRGB XYZ "
        + struct.pack(">6H", 2026, 1, 1, 0, 0, 0)
        + b"acsp"
        + b"\0" * 4
        + b"\0" * 4
        + b"\0" * 4
        + b"\0" * 4
        + b"\0" * 8
        + b"\0" * 4
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + b"\0" * 4
        + b"\0" * 16
        + b"\0" * 28
    )
    assert len(header) == 128
    return header + body


def to_display_p3(im: Image.Image) -> Image.Image:
    """An sRGB picture as a Display P3 master (the same colours, P3 numbers, profile attached)."""
    p3 = ImageCms.ImageCmsProfile(io.BytesIO(display_p3_icc()))
    out = ImageCms.profileToProfile(im.convert("RGB"), ImageCms.createProfile("sRGB"), p3)
    out.info["icc_profile"] = display_p3_icc()
    return out


def p3_to_srgb(im: Image.Image, icc: bytes) -> Image.Image:
    """What an export does: P3 numbers converted to sRGB numbers, no profile attached."""
    src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    out = ImageCms.profileToProfile(im.convert("RGB"), src, ImageCms.createProfile("sRGB"))
    out.info.pop("icc_profile", None)  # the source's profile must not travel with sRGB numbers
    return out


# --- edits and re-encodings ----------------------------------------------------------------


def _overlay(im: Image.Image) -> Image.Image:
    out = im.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    w, h = out.size
    font = ImageFont.load_default(size=max(12, w // 14))
    draw.text(
        (w * 0.05, h * 0.72),
        "© 2026 Photographer",
        fill=(255, 255, 255),
        font=font,
        stroke_width=max(1, w // 300),
        stroke_fill=(0, 0, 0),
    )
    return out


def _scale(im: Image.Image) -> float:
    return max(im.size) / 512


Edit = Callable[[Image.Image], Image.Image]

# name -> (the edit name dupes must give, the edit)
EDITS: dict[str, tuple[str, Edit]] = {
    "grey": ("colour removed", lambda im: ImageOps.grayscale(im).convert("RGB")),
    "bw-contrast": (
        "colour removed",
        lambda im: ImageOps.autocontrast(ImageOps.grayscale(im), cutoff=2).convert("RGB"),
    ),
    # a red filter (a classic black-and-white filter: the red channel alone)
    "bw-red": ("colour removed", lambda im: im.convert("RGB").getchannel("R").convert("RGB")),
    "blur": ("blurred", lambda im: im.filter(ImageFilter.GaussianBlur(2 * _scale(im)))),
    "blur-strong": ("blurred", lambda im: im.filter(ImageFilter.GaussianBlur(4 * _scale(im)))),
    "sharpen": ("sharpened", lambda im: im.filter(ImageFilter.UnsharpMask(2 * _scale(im), 200, 2))),
    "contrast": ("tone/colour adjusted", lambda im: ImageEnhance.Contrast(im).enhance(1.4)),
    "flatten": ("tone/colour adjusted", lambda im: ImageEnhance.Contrast(im).enhance(0.7)),
    "brighter": ("tone/colour adjusted", lambda im: ImageEnhance.Brightness(im).enhance(1.25)),
    "saturate": ("tone/colour adjusted", lambda im: ImageEnhance.Color(im).enhance(1.6)),
    "desaturate": ("tone/colour adjusted", lambda im: ImageEnhance.Color(im).enhance(0.5)),
    "overlay": ("overlay/local change", _overlay),
    "crop": (
        "cropped",
        lambda im: im.crop(
            (im.width // 10, im.height // 10, im.width * 9 // 10, im.height * 9 // 10)
        ),
    ),
    "stretch": (
        "aspect changed",
        lambda im: im.resize((im.width, im.height * 3 // 4), Image.Resampling.LANCZOS),
    ),
    "rot90": ("rotated 90°", lambda im: im.transpose(Image.Transpose.ROTATE_270)),
    "rot180": ("rotated 180°", lambda im: im.transpose(Image.Transpose.ROTATE_180)),
    "rot270": ("rotated 270°", lambda im: im.transpose(Image.Transpose.ROTATE_90)),
    "mirror": ("mirrored", lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
}


def _save(im: Image.Image, path: Path, **kw) -> None:
    im.convert("RGB").save(path, **kw)


# name -> (file suffix, writer(original, path))
REENCODES: dict[str, tuple[str, Callable[[Image.Image, Path], None]]] = {
    "jpeg-q90": (".jpg", lambda im, p: _save(im, p, quality=90)),
    "jpeg-q60": (".jpg", lambda im, p: _save(im, p, quality=60)),
    "half-q85": (".jpg", lambda im, p: _save(im.reduce(2), p, quality=85)),
    "third-lanczos": (
        ".jpg",
        lambda im, p: _save(
            im.resize((im.width // 3, im.height // 3), Image.Resampling.LANCZOS), p, quality=80
        ),
    ),
    "tiff": (".tif", lambda im, p: _save(im, p, compression="tiff_lzw")),
    "webp": (".webp", lambda im, p: _save(im, p, quality=80)),
    "p3-to-srgb": (
        ".jpg",
        lambda im, p: _save(p3_to_srgb(to_display_p3(im), display_p3_icc()), p, quality=90),
    ),
}


def pillow_images() -> Path:
    """Pillow's own Tests/images folder (its source distribution's test pictures)."""
    given = os.environ.get("PILLOW_TEST_IMAGES")
    if given:
        return Path(given)
    from benchmarks.bench_hostile import fetch_images

    return fetch_images(PILLOW_CACHE)


def sources(max_side: int = 768) -> dict[str, Image.Image]:
    """The public photographs, downscaled to at most max_side."""
    from skimage import data

    out: dict[str, Image.Image] = {}
    for name in SKIMAGE_SOURCES:
        out[name] = Image.fromarray(getattr(data, name)()).convert("RGB")
    out["hopper"] = Image.open(pillow_images() / "hopper.png").convert("RGB")
    for im in out.values():
        im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return out


def build(out: Path, max_side: int = 768, pictures: dict[str, Image.Image] | None = None) -> dict:
    """Write the set under out (of `pictures`, by default the public sources, and the stereo
    pair); returns (and writes) its truth."""
    from skimage import data

    out.mkdir(parents=True, exist_ok=True)
    truth: dict[str, dict] = {}
    for name, im in (sources(max_side) if pictures is None else pictures).items():
        folder = out / name
        folder.mkdir(exist_ok=True)
        orig = folder / "original.png"  # the master: lossless, and ranked above the JPEGs
        _save(im, orig)
        truth[str(orig.relative_to(out))] = {"source": name, "role": "original", "kind": None}
        p3 = folder / "p3-master.png"
        to_display_p3(im).save(p3, icc_profile=display_p3_icc())
        truth[str(p3.relative_to(out))] = {"source": name, "role": "copy", "kind": "p3-master"}
        for kind, (suffix, write) in REENCODES.items():
            path = folder / f"copy-{kind}{suffix}"
            write(im, path)
            truth[str(path.relative_to(out))] = {"source": name, "role": "copy", "kind": kind}
        for kind, (_, edit) in EDITS.items():
            path = folder / f"edit-{kind}.jpg"
            _save(edit(im), path, quality=92)
            truth[str(path.relative_to(out))] = {"source": name, "role": "edit", "kind": kind}
    left, right, _ = data.stereo_motorcycle()
    folder = out / "stereo"
    folder.mkdir(exist_ok=True)
    for side, arr in (("left", left), ("right", right)):
        path = folder / f"{side}.jpg"
        _save(Image.fromarray(arr), path, quality=92)
        truth[str(path.relative_to(out))] = {
            "source": f"stereo-{side}",
            "role": "original",
            "kind": None,
        }
    (out / "truth.json").write_text(json.dumps(truth, indent=1, sort_keys=True))
    return truth


def edit_name(kind: str) -> str:
    return EDITS[kind][0]


def score_dupes(result: dict, truth: dict, root: str) -> dict:
    """What `dupes --format json` made of the set, against its truth.

    Returns {"merged": set of (a, b) file pairs put in one cluster, "true": the pairs that are
    one photo (an original and its copies, copies among themselves), "per_kind": {kind:
    {"n", "merged", "derived_named", "related"}}} where, per copy kind, merged counts copies
    merged with their original, and per edit kind, merged counts edits wrongly merged with it and
    derived_named edits related to it as derived under EDITS' name."""
    rel = {os.path.join(root, k): k for k in truth}
    merged: set[tuple[str, str]] = set()
    for c in result["clusters"]:
        paths = sorted(rel[m["path"]] for m in c["members"] if m["path"] in rel)
        merged.update(combinations(paths, 2))
    derived: dict[tuple[str, str], str | None] = {}
    related: set[tuple[str, str]] = set()
    for r in result["related"]:
        if r["a"] in rel and r["b"] in rel:
            pair = tuple(sorted((rel[r["a"]], rel[r["b"]])))
            related.add(pair)
            if r["kind"] == "derived":
                derived[pair] = r["evidence"].get("edit")
    by_source: dict[str, list[str]] = {}
    for k, t in truth.items():
        by_source.setdefault(t["source"], []).append(k)
    true_pairs = set()
    for files in by_source.values():
        same = sorted(f for f in files if truth[f]["role"] in ("original", "copy"))
        true_pairs.update(combinations(same, 2))
    per_kind: dict[str, dict] = {}
    for k, t in sorted(truth.items()):
        if t["role"] == "original":
            continue
        orig = next(f for f in by_source[t["source"]] if truth[f]["role"] == "original")
        pair = tuple(sorted((k, orig)))
        row = per_kind.setdefault(
            t["kind"], {"n": 0, "merged": 0, "derived_named": 0, "related": 0}
        )
        row["n"] += 1
        row["merged"] += pair in merged
        row["related"] += pair in related
        if t["role"] == "edit":
            row["derived_named"] += derived.get(pair) == edit_name(t["kind"])
    return {"merged": merged, "true": true_pairs, "per_kind": per_kind}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--max-side", type=int, default=768)
    args = ap.parse_args(argv)
    truth = build(args.out, args.max_side)
    print(f"{len(truth)} files under {args.out}")


if __name__ == "__main__":
    main()

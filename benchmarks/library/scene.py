"""Pixels for the sample library: photo-like generated scenes, or real images from a folder.

A scene is drawn at a small design resolution (its layout decides the perceptual hash), then
scaled to the wanted size and given texture and sensor-like noise, so a 12 MP frame costs one
resize plus a few vector operations.
"""

from __future__ import annotations

from pathlib import Path

import imagehash
import numpy as np
import pillow_heif
from PIL import Image, ImageDraw, ImageFilter, ImageOps

pillow_heif.register_heif_opener()

DESIGN_SIZE = (256, 192)
TEXTURE_GRID = (64, 85)  # rows, columns
MIN_PHASH_DISTANCE = 17  # different photos must differ by more than 16 bits
# Chosen with a margin of two bits, what encoding (HEIC, JPEG) moves a hash at most; a larger
# margin makes redraws frequent (birthday problem: hundreds of 64-bit hashes).
SELECTION_DISTANCE = MIN_PHASH_DISTANCE + 2
SOURCE_SUFFIXES = {".jpg", ".jpeg", ".heic", ".heif", ".png"}
MIN_SOURCE_EDGE = 200


def design_image(seed: int, index: int, attempt: int = 0) -> Image.Image:
    """The smooth layout of one scene: sky and ground gradients, shaded shapes, soft focus."""
    rng = np.random.default_rng([seed, index, attempt, 0x5CE7E])
    w, h = DESIGN_SIZE
    yy = np.linspace(0.0, 1.0, h)[:, None, None]
    horizon = rng.uniform(0.25, 0.75)
    sky_top, sky_bottom, ground_top, ground_bottom = rng.uniform(0, 255, (4, 3))
    sky = sky_top + (sky_bottom - sky_top) * np.clip(yy / horizon, 0, 1)
    ground = ground_top + (ground_bottom - ground_top) * np.clip(
        (yy - horizon) / (1 - horizon), 0, 1
    )
    tilt = rng.uniform(-0.15, 0.15) * (np.linspace(-1, 1, w)[None, :, None])
    base = np.where(yy + tilt < horizon, sky, ground)
    base = np.broadcast_to(base, (h, w, 3)).astype(np.float32)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(5, 11))):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        cx, cy = rng.uniform(-0.1, 1.1) * w, rng.uniform(0, 1.1) * h
        rx, ry = rng.uniform(0.05, 0.35) * w, rng.uniform(0.05, 0.4) * h
        shape = rng.integers(0, 3)
        if shape == 0:
            draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=color)
        elif shape == 1:
            draw.rectangle((cx - rx, cy - ry, cx + rx, cy + ry), fill=color)
        else:
            pts = [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in rng.uniform(0, 6.283, 3)]
            draw.polygon(pts, fill=color)
    # Uneven light across the frame, as a lens and a real sky give.
    light = rng.uniform(0.65, 1.25, (3, 4)).astype(np.float32)
    light_img = Image.fromarray((light * 100).astype(np.uint8), "L").resize((w, h), Image.BICUBIC)
    lit = np.asarray(img, np.float32) * (np.asarray(light_img, np.float32)[..., None] / 100.0)
    img = Image.fromarray(np.clip(lit, 0, 255).astype(np.uint8))
    return img.filter(ImageFilter.GaussianBlur(1.2))


def render_scene(design: Image.Image, size: tuple[int, int], seed: int, index: int) -> Image.Image:
    """Scale a design up to `size` and add fine texture and mild noise."""
    rng = np.random.default_rng([seed, index, 0x7E47])
    w, h = size
    img = design.resize((w, h), Image.BICUBIC)
    # A fixed grid of texture cells whatever the size, so small and 12 MP renders hash alike.
    tex_small = rng.integers(0, 256, TEXTURE_GRID, dtype=np.uint8)
    texture = Image.fromarray(tex_small, "L").resize((w, h), Image.BILINEAR)
    detail = (np.asarray(texture, np.int16) - 128) // 10
    noise = rng.integers(-1, 2, (h, w), dtype=np.int16)
    pixels = np.asarray(img, np.int16) + (detail + noise)[..., None]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def phash_of(img: Image.Image) -> imagehash.ImageHash:
    return imagehash.phash(img)


def load_source(path: str | Path, max_edge: int) -> Image.Image | None:
    """A real image, upright and RGB, no larger than `max_edge`; None if it does not qualify."""
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if min(im.size) < MIN_SOURCE_EDGE:
                return None
            im = im.convert("RGB")
            im.load()
    except Exception:  # noqa: BLE001 - any decoder failure just means: not a usable source
        return None
    if max(im.size) > max_edge:
        im.thumbnail((max_edge, max_edge), Image.LANCZOS)
    return im


def find_sources(folder: Path) -> list[str]:
    """Candidate real images under `folder`, in a stable order."""
    found = [
        str(p)
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in SOURCE_SUFFIXES and p.stat().st_size > 0
    ]
    return sorted(found)


def pick_distinct(
    hashes: list[tuple[str, imagehash.ImageHash | None]], min_distance: int = MIN_PHASH_DISTANCE
) -> list[str]:
    """Greedy: keep a candidate only when its hash is far from every one already kept."""
    kept: list[tuple[str, imagehash.ImageHash]] = []
    for key, h in hashes:
        if h is None:
            continue
        if all(h - other >= min_distance for _, other in kept):
            kept.append((key, h))
    return [key for key, _ in kept]


def burst_frame(base: Image.Image, frame: int) -> Image.Image:
    """Another instant of the same scene: the camera moved a few pixels and the light changed."""
    w, h = base.size
    step = max(2, w // 160)
    dx, dy = frame * step, (frame % 2) * step
    margin = 4 * step
    box = (margin - dx, margin - dy, w - margin - dx, h - margin - dy)
    moved = base.crop(box).resize((w, h), Image.BICUBIC)
    gain = 1.0 + 0.02 * frame
    arr = np.asarray(moved, np.float32) * gain
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def screenshot_from(base: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A phone screenshot: the picture in an app frame with flat bars, as iOS saves them."""
    w, h = size
    shot = Image.new("RGB", (w, h), (242, 242, 247))
    pic = ImageOps.fit(base, (w, int(h * 0.62)), Image.BICUBIC)
    shot.paste(pic, (0, int(h * 0.12)))
    draw = ImageDraw.Draw(shot)
    draw.rectangle((0, 0, w, int(h * 0.05)), fill=(20, 20, 20))
    draw.rectangle((0, int(h * 0.9), w, h), fill=(248, 248, 248))
    for i in range(4):
        x = int(w * (0.12 + 0.22 * i))
        draw.ellipse(
            (x, int(h * 0.92), x + int(w * 0.1), int(h * 0.92) + int(w * 0.1)), fill=(0, 122, 255)
        )
    return shot

"""Generated fixtures for what the corpus lacks: videos (PyAV), conversions (Pillow/pillow-heif),
and metadata written by the real exiftool."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageOps


def make_video(
    path: Path,
    *,
    seconds: float = 1.0,
    size: tuple[int, int] = (64, 48),
    fps: int = 15,
    photo: Path | None = None,
) -> Path:
    """A small H.264 clip (MOV or MP4 by the suffix) with moving content: a pan across `photo`
    (natural picture statistics, as real footage has), or a moving gradient without one."""
    w, h = size
    base = None
    if photo is not None:
        with Image.open(photo) as im:
            base = np.asarray(im.convert("RGB").resize((w + int(seconds * fps), h)))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(int(seconds * fps)):
            if base is not None:
                arr = np.ascontiguousarray(base[:, i : i + w])
            else:
                arr = np.zeros((h, w, 3), np.uint8)
                arr[:, :, 0] = (np.arange(w) * 4 + i * 8) % 256
                arr[:, :, 1] = (np.arange(h)[:, None] * 5) % 256
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def transcode(src: Path, dst: Path, *, size: tuple[int, int], codec: str = "mpeg4") -> Path:
    """Another encoding of a clip, as an export makes: other codec, container and size."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        rate = vin.average_rate
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for i, frame in enumerate(inp.decode(vin)):
            small = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            small.pts, small.time_base = i, 1 / rate
            for packet in stream.encode(small):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return dst


def exiftool(*args: str) -> None:
    subprocess.run(
        ["exiftool", "-q", "-overwrite_original", *args], check=True, capture_output=True
    )


def convert(
    src: Path,
    dst: Path,
    *,
    max_side: int | None = None,
    quality: int = 90,
    keep_metadata: bool = True,
    rotate_pixels: bool = False,
) -> Path:
    """Another encoding of one photo: resized, recompressed, orientation baked, metadata kept or
    stripped. HEIC is read through pillow-heif."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    with Image.open(src) as im:
        shown = ImageOps.exif_transpose(im) if rotate_pixels else im.copy()
        shown = shown.convert("RGB")
        if max_side:
            shown.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        fmt = "HEIF" if dst.suffix.lower() in (".heic", ".heif") else "JPEG"
        shown.save(dst, fmt, quality=quality)
    if keep_metadata:
        exiftool(
            "-tagsFromFile",
            str(src),
            "-all:all",
            "-Orientation=1" if rotate_pixels else "-Orientation<Orientation",
            str(dst),
        )
    return dst

"""Encoding a photo's pixel files: HEIC, JPEG, PNG, MOV and MP4. Runs in worker processes.

The Apple MakerNote (MediaGroupUUID, the Live Photo ContentIdentifier, and BurstUUID) is put in
here because exiftool 12.57 only edits those tags when they already exist; the QuickTime
Keys:ContentIdentifier is written by the MOV muxer for the same reason. exiftool writes the rest.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image, ImageOps

from benchmarks.library import scene
from benchmarks.library.layout import (
    SCREENSHOT_SIZES,
    SIZES,
    VIDEO_SECONDS,
    VIDEO_SIZES,
    Capture,
    FileSpec,
    PhotoPlan,
)
from photoverify.dedupe.core.errors import EnvironmentProblem

pillow_heif.register_heif_opener()

HEIC_QUALITY = 65
# ultrafast keeps a 12 MP HEIC at ~1.5 s instead of ~8 s; x265 output is still deterministic.
HEIC_ENCODER = {"preset": "ultrafast"}
# full-size camera HEICs carry the 320-pixel thumbnail an iPhone writes (as the real iPhone
# HEICs of the corpus do); the small library (1024 px) and downscales keep none, as before
THUMBNAIL_BOX = 320
THUMBNAIL_ABOVE = 2048
APPLE_MAKERNOTE_VERSION = 14
FFMPEG = shutil.which("ffmpeg")
# pHashes for the distinctness check are taken on a render this small: pHash looks at 32x32.
SELECTION_SIZE = (256, 192)


def apple_makernote(content_id: str | None, burst_id: str | None) -> bytes:
    """An Apple iOS MakerNote: header, one big-endian IFD, offsets relative to its own start."""
    entries = [(0x0001, 9, 1, struct.pack(">i", APPLE_MAKERNOTE_VERSION))]
    if burst_id:
        entries.append((0x000B, 2, len(burst_id) + 1, burst_id.encode() + b"\0"))
    if content_id:
        entries.append((0x0011, 2, len(content_id) + 1, content_id.encode() + b"\0"))
    head = b"Apple iOS\0\x00\x01MM"
    data_start = len(head) + 2 + 12 * len(entries) + 4
    ifd, data = struct.pack(">H", len(entries)), b""
    for tag, typ, count, value in entries:
        if len(value) <= 4:
            ifd += struct.pack(">HHI", tag, typ, count) + value.ljust(4, b"\0")
        else:
            ifd += struct.pack(">HHII", tag, typ, count, data_start + len(data))
            data += value + (b"\0" if len(value) % 2 else b"")
    return head + ifd + b"\0\0\0\0" + data


def camera_exif(capture: Capture | None) -> bytes | None:
    """The seed EXIF a camera file is encoded with: Make and the Apple MakerNote."""
    if capture is None or capture.is_screenshot:
        return None
    exif = Image.Exif()
    exif[0x010F] = "Apple"
    exif.get_ifd(0x8769)[0x927C] = apple_makernote(capture.content_id, capture.burst_id)
    return exif.tobytes()


def save_still(
    img: Image.Image,
    path: Path,
    fmt: str,
    quality: int,
    exif: bytes | None,
    icc: bytes | None = None,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    extra: dict = {"exif": exif} if exif else {}
    if icc:
        extra["icc_profile"] = icc
    if fmt == "HEIC":
        if max(img.size) > THUMBNAIL_ABOVE:
            extra["thumbnails"] = [THUMBNAIL_BOX]
        img.save(path, format="HEIF", quality=quality, enc_params=HEIC_ENCODER, **extra)
    elif fmt == "JPEG":
        img.save(path, format="JPEG", quality=quality, **extra)
    elif fmt == "PNG":
        img.save(path, format="PNG", **extra)
    else:
        raise ValueError(f"{path}: cannot encode a still as {fmt}")


def write_video(
    base: Image.Image,
    path: Path,
    container: str,
    size: tuple[int, int],
    seconds: float,
    crf: int,
    content_id: str | None,
) -> None:
    """A short h264 clip panning across the scene; the Live Photo id goes into QuickTime Keys.

    Frames are piped to the ffmpeg command: encoding through PyAV gave run-to-run different
    x264 bitstreams for identical frames and options, and the library must be byte-identical
    for a seed (`-fflags +bitexact` also keeps the muxer from stamping its version)."""
    if FFMPEG is None:
        raise EnvironmentProblem(f"{path}: ffmpeg not found on PATH; the sample videos need it")
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    fps = 30
    frames = int(seconds * fps)
    # Pan over a copy a little larger than the frame so each frame is a cheap crop.
    wide = base.resize((int(w * 1.25), int(h * 1.25)), Image.BILINEAR)
    # Convert once, then pan by slicing the planes (even offsets keep chroma aligned).
    luma, cb, cr = _yuv420_planes(wide)
    y0 = ((wide.height - h) // 2) & ~1
    raw = bytearray()
    for i in range(frames):
        x = int((wide.width - w) * i / max(frames - 1, 1)) & ~1
        raw += luma[y0 : y0 + h, x : x + w].tobytes()
        raw += cb[y0 // 2 : (y0 + h) // 2, x // 2 : (x + w) // 2].tobytes()
        raw += cr[y0 // 2 : (y0 + h) // 2, x // 2 : (x + w) // 2].tobytes()
    cmd = [FFMPEG, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p"]
    cmd += ["-s", f"{w}x{h}", "-r", str(fps), "-i", "-"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", str(crf), "-threads", "1"]
    cmd += ["-pix_fmt", "yuv420p", "-fflags", "+bitexact", "-f", container]
    if content_id:
        cmd += ["-movflags", "use_metadata_tags"]
        cmd += ["-metadata", f"com.apple.quicktime.content.identifier={content_id}"]
    proc = subprocess.run([*cmd, str(path)], input=bytes(raw), capture_output=True, check=False)
    if proc.returncode != 0:
        raise EnvironmentProblem(
            f"{path}: ffmpeg failed: {proc.stderr.decode(errors='replace')[:300]}"
        )


def _yuv420_planes(img: Image.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.601 limited-range Y, Cb, Cr planes (chroma halved both ways), as ffmpeg's yuv420p."""
    w, h = img.size
    rgb = np.asarray(img.crop((0, 0, w & ~1, h & ~1)), np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    hh, ww = y.shape

    def plane(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))

    def half(a: np.ndarray) -> np.ndarray:
        return a.reshape(hh // 2, 2, ww // 2, 2).mean(axis=(1, 3))

    return plane(y), plane(half(u)), plane(half(v))


def _edit(img: Image.Image) -> Image.Image:
    """A 'Vivid Warm' style filter: warmer, more contrast."""
    arr = np.asarray(img, np.float32) * np.array([1.08, 1.0, 0.86], np.float32)
    mean = arr.mean()
    arr = (arr - mean) * 1.18 + mean + 6
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _neighbour(img: Image.Image) -> Image.Image:
    """The scene from a few centimetres to the side: near things shift more than far ones (the
    lower half by 8% of the width, the upper by 2%: skimage's stereo_motorcycle pair, a real
    one, has disparities up to about 8% of its width)."""
    w, h = img.size
    out = img.copy()
    for top, bottom, shift in ((0, h // 2, w // 50), (h // 2, h, 8 * w // 100)):
        band = img.crop((shift, top, w, bottom)).resize((w, bottom - top), Image.LANCZOS)
        out.paste(band, (0, top))
    return out


# render make -> the benchmarks.public_set edit it applies
_PUBLIC_EDITS = {
    "edit-blur": "blur",
    "edit-sharpen": "sharpen",
    "edit-stretch": "stretch",
    "edit-rot180": "rot180",
    "edit-rot270": "rot270",
    "edit-mirror": "mirror",
}


def _pixels_for(make: str, base: Image.Image) -> Image.Image:
    from benchmarks.public_set import EDITS, _overlay, p3_to_srgb, to_display_p3

    if make == "edit-grey":
        return ImageOps.grayscale(base).convert("RGB")
    if make == "edit-rotate":
        return base.transpose(Image.Transpose.ROTATE_270)  # turned 90° clockwise
    if make == "edit-text":
        return _overlay(base)
    if make in _PUBLIC_EDITS:  # the public set's own edits (blur, sharpen, stretch, turns)
        return EDITS[_PUBLIC_EDITS[make]][1](base)
    if make == "original-p3":
        return to_display_p3(base)
    if make == "p3-srgb":
        return p3_to_srgb(to_display_p3(base), to_display_p3(base).info["icc_profile"])
    if make == "neighbour":
        return _neighbour(base)
    return base


def _crop(img: Image.Image) -> Image.Image:
    w, h = img.size
    return img.crop((int(w * 0.08), int(h * 0.1), int(w * 0.88), int(h * 0.85)))


def base_image(
    plan: PhotoPlan, seed: int, size: str, attempt: int, source: str | None
) -> Image.Image:
    """The upright picture of the photo at full size (real pixels, or a generated scene)."""
    if source is not None:
        real = scene.load_source(source, max(SIZES[size]))
        if real is None:
            raise ValueError(f"{source}: no longer decodes as an image")
        picture = real
    else:
        design = scene.design_image(seed, plan.index, attempt)
        picture = scene.render_scene(design, SIZES[size], seed, plan.index)
    if plan.archetype == "screenshot":
        return scene.screenshot_from(picture, SCREENSHOT_SIZES[size])
    return picture


def candidate_hashes(plan: PhotoPlan, seed: int, attempt: int, source: str | None) -> list | None:
    """pHashes of what the photo's captures will look like (the original, and each burst frame),
    taken at a small size: what the distinctness check compares. None: the source is unusable."""
    if source is not None:
        picture = scene.load_source(source, 1024)
        if picture is None:
            return None
    else:
        # A textured render, not the bare design: texture moves a hash by a bit or two.
        design = scene.design_image(seed, plan.index, attempt)
        picture = scene.render_scene(design, SELECTION_SIZE, seed, plan.index)
    if plan.archetype == "screenshot":
        picture = scene.screenshot_from(picture, SCREENSHOT_SIZES["small"])
    hashes = [scene.phash_of(picture)]
    if plan.archetype == "burst":
        hashes += [scene.phash_of(scene.burst_frame(picture, k)) for k in range(1, 4)]
    return hashes


def render_photo(
    plan: PhotoPlan, out: Path, seed: int, size: str, attempt: int, source: str | None
) -> tuple[dict[str, tuple[int, int]], dict[str, str]]:
    """Write every pixel file of one photo.

    Returns {library path: (width, height) as displayed} and, for each capture's still (the
    original and burst frames), the pHash of the file as written and decoded, shown upright.
    """
    base = base_image(plan, seed, size, attempt, source)
    dims: dict[str, tuple[int, int]] = {}
    hashes: dict[str, str] = {}
    for spec in plan.files:
        if spec.op != "pixels":
            continue
        dims[spec.path] = _render_file(spec, base, out, size)
        if spec.role in ("original", "burst") and spec.kind == "image":
            with Image.open(out / spec.path) as written:
                shown = written.convert("RGB")
            if spec.params.get("stored_rotation") == 6:
                shown = shown.transpose(Image.Transpose.ROTATE_270)
            hashes[spec.path] = str(scene.phash_of(shown))
    return dims, hashes


def _render_file(spec: FileSpec, base: Image.Image, out: Path, size: str) -> tuple[int, int]:
    target = out / spec.path
    make = spec.params["make"]
    cap = spec.capture
    if make in ("live-mov", "video", "mp4"):
        seconds = VIDEO_SECONDS[size][0 if make == "live-mov" else 1]
        crf = 28 if make == "mp4" else 23
        container = "mp4" if make == "mp4" else "mov"
        content_id = cap.content_id if cap and make == "live-mov" else None
        write_video(base, target, container, VIDEO_SIZES[size], seconds, crf, content_id)
        return VIDEO_SIZES[size]
    img = base
    if make == "burst":
        img = scene.burst_frame(base, spec.params["frame"])
    elif make == "edit":
        img = _edit(base)
    elif make == "crop":
        img = _crop(base)
    else:
        img = _pixels_for(make, base)
    if "edge" in spec.params:
        img = img.copy()
        img.thumbnail((spec.params["edge"], spec.params["edge"]), Image.LANCZOS)
    shown = img.size
    if spec.params.get("stored_rotation") == 6:
        # Sensor-order pixels: a viewer turns them 90 degrees clockwise (Orientation 6).
        img = img.transpose(Image.Transpose.ROTATE_90)
    quality = spec.params.get("quality", HEIC_QUALITY if spec.format == "HEIC" else 92)
    save_still(img, target, spec.format, quality, camera_exif(cap), img.info.get("icc_profile"))
    return shown

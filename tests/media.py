"""Generated fixtures for what the corpus lacks: videos (PyAV), conversions (Pillow/pillow-heif),
and metadata written by the real exiftool."""

from __future__ import annotations

import io
import struct
import subprocess
import zlib
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter
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
            # a converter of its own, as decoding.frame_picture: frame.reformat would leave
            # PyAV's per-thread converter, with its threads, in the test process, and a worker
            # or an exiftool forked from it later could hang freeing it (PyAV 18.1.1)
            small = VideoReformatter().reformat(
                frame, width=size[0], height=size[1], format="yuv420p", threads=1
            )
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


def _ifd(entries: list[tuple[int, int, object]], tail_at: int) -> tuple[bytes, bytes]:
    """A little-endian TIFF IFD of (tag, type, values) and the values too long to fit in it,
    which go at `tail_at`. Types: 1 BYTE, 2 ASCII, 3 SHORT, 4 LONG; values bytes or ints."""
    codes = {1: "B", 2: "B", 3: "H", 4: "I"}
    body, extra = b"", b""
    for tag, kind, values in sorted(entries, key=lambda e: e[0]):
        if isinstance(values, bytes):
            data, count = values, len(values)
        else:
            data = struct.pack("<" + codes[kind] * len(values), *values)
            count = len(values)
        if len(data) <= 4:
            field = data.ljust(4, b"\0")
        else:
            field = struct.pack("<I", tail_at + len(extra))
            extra += data + b"\0" * (len(data) % 2)
        body += struct.pack("<HHI", tag, kind, count) + field
    return struct.pack("<H", len(entries)) + body + b"\0\0\0\0", extra


def make_dng(path: Path, preview: Image.Image | None, *, seed: int = 0, quality: int = 90) -> Path:
    """A DNG laid out as cameras and iPhone ProRAW write one: IFD0 is the preview picture
    (NewSubfileType 1, a baseline JPEG in one strip), its SubIFD the 16-bit Bayer sensor data
    (CFA RGGB) at the preview's size. `preview` None leaves IFD0 as a tiny RGB thumbnail
    without JPEG, so exiftool finds no preview. exiftool validates it (`-validate`: OK), LibRaw
    decodes the sensor data, and exiftool writes tags into it like any DNG."""
    size = preview.size if preview is not None else (64, 48)
    w, h = size
    rng = np.random.default_rng(seed)
    sensor = rng.integers(0, 4096, (h, w), dtype=np.uint16).astype("<u2").tobytes()
    if preview is not None:
        buf = io.BytesIO()
        preview.convert("RGB").save(buf, "JPEG", quality=quality)
        picture, compression, photometric, samples = buf.getvalue(), 7, 6, (8, 8, 8)
        pw, ph = w, h
    else:
        pw, ph = 8, 6
        picture, compression, photometric, samples = bytes(pw * ph * 3), 1, 2, (8, 8, 8)
    picture += b"\0" * (len(picture) % 2)
    model = b"photoverify test DNG\0"
    # header | IFD0 | SubIFD | preview | sensor data, as cameras order them (the IFDs first, so a
    # cut file keeps its structure and loses pixels); lengths do not depend on the offsets
    picture_at = sub_at = 0
    for _ in range(2):
        ifd0_entries = [
            (254, 4, (1,)), (256, 4, (pw,)), (257, 4, (ph,)), (258, 3, samples),
            (259, 3, (compression,)), (262, 3, (photometric,)), (271, 2, b"Apple\0"),
            (272, 2, model), (273, 4, (picture_at,)), (277, 3, (3,)), (278, 4, (ph,)),
            (279, 4, (len(picture),)), (330, 4, (sub_at,)), (50706, 1, (1, 4, 0, 0)),
            (50708, 2, model),
        ]  # fmt: skip
        if compression == 7:
            ifd0_entries.append((530, 3, (1, 1)))  # YCbCrSubSampling of the JPEG's own
        ifd0, extra0 = _ifd(ifd0_entries, 8 + 2 + 12 * len(ifd0_entries) + 4)
        sub_at = 8 + len(ifd0) + len(extra0)
        sub_entries = [
            (254, 4, (0,)), (256, 4, (w,)), (257, 4, (h,)), (258, 3, (16,)), (259, 3, (1,)),
            (262, 3, (32803,)), (273, 4, (picture_at + len(picture),)), (277, 3, (1,)),
            (278, 4, (h,)), (279, 4, (len(sensor),)), (33421, 3, (2, 2)),
            (33422, 1, (0, 1, 1, 2)),
        ]  # fmt: skip
        sub, extra1 = _ifd(sub_entries, sub_at + 2 + 12 * len(sub_entries) + 4)
        picture_at = sub_at + len(sub) + len(extra1)
    header = b"II*\0" + struct.pack("<I", 8)
    path.write_bytes(header + ifd0 + extra0 + sub + extra1 + picture + sensor)
    return path


def _boxes(data: bytes, start: int, end: int):
    """(type, payload start, box end) of the ISO-BMFF boxes in data[start:end]."""
    i = start
    while i + 8 <= end:
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        size = end - i if size == 0 else size
        yield kind.decode("latin-1"), i + 8, i + size
        i += size


def _box_at(data: bytes, path: str) -> tuple[int, int]:
    """(payload start, end) of the first box along `moov/trak/...`."""
    skip = {"stsd": 8, "avc1": 78}  # a full box's entry count; a sample entry's fixed fields
    start, end = 0, len(data)
    for name in path.split("/"):
        start, end = next(
            (p + skip.get(k, 0), e) for k, p, e in _boxes(data, start, end) if k == name
        )
    return start, end


def _box(kind: str, payload: bytes, version_flags: int | None = None) -> bytes:
    if version_flags is not None:
        payload = struct.pack(">I", version_flags) + payload
    return struct.pack(">I", 8 + len(payload)) + kind.encode("latin-1") + payload


def make_avc_heif(path: Path, picture: Image.Image) -> Path:
    """AVC-in-HEIF (ISO/IEC 23008-12, brand `avci`): one `avc1` image item whose H.264 picture
    and avcC record come from a one-frame MP4 libx264 writes through PyAV. libheif parses it
    (and names the AVC decoder it lacks); exiftool 12.57 calls it an MP4 video."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=1)
        stream.width, stream.height, stream.pix_fmt = picture.width, picture.height, "yuv420p"
        for packet in [*stream.encode(av.VideoFrame.from_image(picture)), *stream.encode()]:
            out.mux(packet)
    mp4 = buf.getvalue()
    a, b = _box_at(mp4, "moov/trak/mdia/minf/stbl/stsd/avc1/avcC")
    avcc = mp4[a:b]
    s, _ = _box_at(mp4, "moov/trak/mdia/minf/stbl/stsz")
    fixed, _count, first = struct.unpack(">III", mp4[s + 4 : s + 16])
    c, _ = _box_at(mp4, "moov/trak/mdia/minf/stbl/stco")
    offset = struct.unpack(">I", mp4[c + 8 : c + 12])[0]
    sample = mp4[offset : offset + (fixed or first)]
    ftyp = _box("ftyp", b"avci\0\0\0\0mif1avcimiaf")
    hdlr = _box("hdlr", b"\0\0\0\0pict" + b"\0" * 13, 0)
    pitm = _box("pitm", struct.pack(">H", 1), 0)
    iinf = _box("iinf", struct.pack(">H", 1) + _box("infe", b"\0\x01\0\0avc1\0", 2 << 24), 0)
    ispe = _box("ispe", struct.pack(">II", picture.width, picture.height), 0)
    iprp = _box("iprp", _box("ipco", _box("avcC", avcc) + ispe)
                + _box("ipma", struct.pack(">IHB", 1, 1, 2) + b"\x81\x02", 0))  # fmt: skip

    def meta(at: int) -> bytes:
        iloc = _box("iloc", b"\x44\0" + struct.pack(">HHHHII", 1, 1, 0, 1, at, len(sample)), 0)
        return _box("meta", hdlr + pitm + iloc + iinf + iprp, 0)

    at = len(ftyp) + len(meta(0)) + 8
    path.write_bytes(ftyp + meta(at) + _box("mdat", sample))
    return path


# ---- pictures in every mode Pillow writes (the fingerprint tests and the hostile pipeline's) ----

MODES = [
    ("1", "PNG"),
    ("1", "TIFF"),
    ("L", "PNG"),
    ("LA", "PNG"),
    ("LA", "TIFF"),
    ("P", "PNG"),
    ("P", "GIF"),
    ("P", "TIFF"),
    ("PA", "TIFF"),
    ("RGB", "PNG"),
    ("RGB", "WEBP"),
    ("RGB", "BMP"),
    ("RGBA", "PNG"),
    ("RGBA", "TIFF"),
    ("CMYK", "TIFF"),
    ("CMYK", "JPEG"),
    ("YCbCr", "TIFF"),
    ("LAB", "TIFF"),
    ("I", "TIFF"),
    ("F", "TIFF"),
    ("I;16", "PNG"),
    ("I;16", "TIFF"),
    ("I;16B", "TIFF"),
]


EXT = {"PNG": ".png", "TIFF": ".tif", "GIF": ".gif", "WEBP": ".webp", "BMP": ".bmp", "JPEG": ".jpg"}


def picture(mode: str, size: tuple[int, int]) -> Image.Image:
    """A detailed picture (not flat) in `mode`."""
    w, h = size
    r = Image.effect_mandelbrot(size, (-2.0, -1.2, 0.8, 1.2), 40)
    g = Image.linear_gradient("L").resize(size)
    b = Image.effect_noise(size, 60)
    rgb = Image.merge("RGB", (r, g, b))
    if mode == "P":
        return rgb.quantize(64)
    if mode == "PA":
        return rgb.quantize(64).convert("PA")
    if mode in ("I", "F", "I;16", "I;16B"):
        # 16-bit values spread over the range: a clipping conversion would make it white
        wide = Image.eval(r, lambda v: v * 200).convert("I")
        return wide if mode == "I" else wide.convert("F") if mode == "F" else wide.convert(mode)
    return rgb.convert(mode)


def png_chunks(*chunks: tuple[bytes, bytes]) -> bytes:
    """A PNG file of these (type, data) chunks, each with its length and CRC, then IEND."""
    body = b"".join(
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        for kind, data in (*chunks, (b"IEND", b""))
    )
    return b"\x89PNG\r\n\x1a\n" + body


def png_bomb(path: Path, side: int, channels: int = 1) -> None:
    """A grayscale (or RGBA, channels=4) PNG of side x side pixels, all zero: a few hundred KB
    that decode to side^2 x channels bytes. Written row by row: the test never holds it."""
    comp = zlib.compressobj(9)
    row = b"\0" * (side * channels + 1)  # filter byte + pixels
    data = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, {1: 0, 4: 6}[channels], 0, 0, 0)
    path.write_bytes(png_chunks((b"IHDR", ihdr), (b"IDAT", data)))

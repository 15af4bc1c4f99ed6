"""Decode checks on real files: corpus images, PyAV-made videos, and truncated copies of both."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import struct
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import REAL, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from photoverify.dedupe.catalog.metadata import MetadataReader
from photoverify.dedupe.catalog.scan import scan
from photoverify.dedupe.catalog.store import SCHEMA_VERSION, Catalog
from photoverify.verify.checks.decode import (
    DECODER_VERSION,
    DecodeJob,
    check_decode,
    decode_file,
)
from photoverify.verify.checks.decode_cache import DecodeCache
from photoverify.verify.checks.isobmff import isobmff_overrun

INTACT = {
    "jpeg.jpg": "immich-test-assets/formats/jpg/el_torcal_rocks.jpg",
    "heic.HEIC": "exif-samples/heic/IMG_5195.HEIC",
    "png.png": "immich-test-assets/formats/png/density_plot.png",
    "tiff.tiff": "exif-samples/tiff/BSG1.tiff",
    "webp.webp": "immich-test-assets/formats/webp/denali.webp",
    "avif.avif": "immich-test-assets/formats/avif/8bit-sRGB.avif",
}


@pytest.fixture(scope="module")
def real() -> Path:
    return REAL


def make_video(path: Path, fmt: str | None = None, faststart: bool = False) -> Path:
    """A 2-second H.264 + AAC clip written by PyAV (moov at the end unless faststart)."""
    options = {"movflags": "faststart"} if faststart else {}
    fps, rate, seconds = 15, 22050, 2
    with av.open(str(path), "w", format=fmt, options=options) as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        audio = out.add_stream("aac", rate=rate)
        for i in range(seconds * fps):
            img = np.zeros((120, 160, 3), np.uint8)
            img[:, :, 0] = (i * 8) % 256
            img[i % 120, :, 1] = 255
            for packet in video.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        t = np.arange(rate * seconds) / rate
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        step = audio.codec_context.frame_size or 1024
        for pts in range(0, len(tone), step):
            chunk = np.pad(tone[pts : pts + step], (0, max(0, pts + step - len(tone))))
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, pts
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
    return path


def truncate(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


@pytest.fixture(scope="module")
def library(real, tmp_path_factory) -> tuple[Path, Catalog]:
    """Intact and damaged files in one folder, scanned with real exiftool into a catalog."""
    base = tmp_path_factory.mktemp("decode")
    root = base / "lib"
    (root / "ok").mkdir(parents=True)
    (root / "bad").mkdir()
    for name, rel in INTACT.items():
        shutil.copy2(real / rel, root / "ok" / name)
    make_video(root / "ok" / "clip.mp4")
    make_video(root / "ok" / "clip.mov", fmt="mov")
    make_video(root / "ok" / "faststart.mp4", faststart=True)
    ok = root / "ok"
    truncate(ok / "jpeg.jpg", root / "bad" / "jpeg.jpg", 0.6)
    truncate(ok / "heic.HEIC", root / "bad" / "heic.HEIC", 0.6)
    truncate(ok / "png.png", root / "bad" / "png.png", 0.7)
    truncate(ok / "clip.mp4", root / "bad" / "clip.mp4", 0.6)
    truncate(ok / "clip.mov", root / "bad" / "moov-cut.mov", 0.98)  # only the index is cut
    truncate(ok / "faststart.mp4", root / "bad" / "faststart.mp4", 0.9)
    data = bytearray((ok / "png.png").read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the IDAT data: the chunk CRC no longer matches
    (root / "bad" / "crc.png").write_bytes(bytes(data))
    (root / "bad" / "empty.jpg").write_bytes(b"")
    shutil.copy2(real / "immich-test-assets/formats/jxl/8bit-sRGB.jxl", root / "ok" / "x.jxl")
    catalog = Catalog(base / "catalog.sqlite")
    scan([str(root)], catalog, workers=2)
    return root, catalog


def _outcomes(findings) -> dict[str, str]:
    return {f.path: f.outcome for f in findings}


def test_intact_files_decode_and_damaged_ones_fail(library, tmp_path):
    root, catalog = library
    records = catalog.records(under=[str(root)])
    with DecodeCache(tmp_path / "cache.sqlite") as cache:
        result = check_decode(records, cache=cache, workers=2, root=str(root))
    got = _outcomes(result.findings)
    expected_ok = {f"ok/{n}" for n in [*INTACT, "clip.mp4", "clip.mov", "faststart.mp4"]}
    expected_ok.add("ok/x.jxl")  # JPEG XL through pillow-jxl-plugin
    assert {p for p, o in got.items() if o == "decoded"} == expected_ok
    bad = {p: o for p, o in got.items() if p.startswith("bad/")}
    assert bad == {
        "bad/jpeg.jpg": "truncated",
        "bad/heic.HEIC": "truncated",
        "bad/png.png": "truncated",
        "bad/clip.mp4": "truncated",
        "bad/moov-cut.mov": "truncated",
        "bad/faststart.mp4": "truncated",
        "bad/crc.png": "decode-failed",
        "bad/empty.jpg": "truncated",
    }
    assert all(f.severity == "error" for f in result.findings if f.path.startswith("bad/"))
    assert result.stats.failed == len(bad)
    assert result.stats.decoded == len(records)  # every file went to a decoder
    # Playing through means every packet of both streams: the evidence shows it.
    clip = next(f for f in result.findings if f.path == "ok/clip.mp4")
    streams = clip.evidence["streams"]
    assert {s["type"] for s in streams.values()} == {"video", "audio"}
    assert all(s["packets"] == s["promised"] > 0 for s in streams.values())
    assert streams["0"]["frames"] == 30  # every frame, including those held until the flush


def test_second_run_is_served_from_the_cache(library, tmp_path):
    root, catalog = library
    records = catalog.records(under=[str(root)])
    with DecodeCache(tmp_path / "cache.sqlite") as cache:
        first = check_decode(records, cache=cache, workers=2, root=str(root))
        second = check_decode(records, cache=cache, workers=2, root=str(root))
        assert cache.count() == len({r.blake3 for r in records})
    assert second.stats.decoded == 0
    assert second.stats.from_cache == len(records)
    assert _outcomes(second.findings) == _outcomes(first.findings)
    assert all(f.evidence["cached"] for f in second.findings)


def test_cache_is_keyed_by_content_and_decoder_version(library, tmp_path):
    root, catalog = library
    rec = next(r for r in catalog.records(under=[str(root)]) if r.path.endswith("ok/jpeg.jpg"))
    with DecodeCache(tmp_path / "cache.sqlite") as cache:
        # A result stored by another decoder version says nothing about this one.
        cache.db.execute(
            "INSERT INTO decode_results VALUES (?, ?, 'truncated', 'old', '{}', 'x')",
            (rec.blake3, "photoverify-decode/0"),
        )
        first = check_decode([rec], cache=cache, workers=0)
        assert first.stats.decoded == 1 and first.findings[0].outcome == "decoded"
        # A copy elsewhere has the same bytes: no decode.
        copy = tmp_path / "copy.jpg"
        shutil.copy2(rec.path, copy)
        st = copy.stat()
        twin = dataclasses.replace(rec, path=str(copy), mtime_ns=st.st_mtime_ns)
        again = check_decode([twin], cache=cache, workers=0)
    assert again.stats.decoded == 0 and again.stats.from_cache == 1
    assert DECODER_VERSION.startswith("photoverify-decode/5 ")


def test_no_cache_decodes_every_time(library):
    root, catalog = library
    records = [r for r in catalog.records(under=[str(root)]) if "/ok/" in r.path][:3]
    assert len(records) == 3
    for _ in range(2):
        result = check_decode(records, cache=None, workers=0)
        assert result.stats.decoded == 3 and result.stats.from_cache == 0
        assert [f.outcome for f in result.findings] == ["decoded"] * 3


def test_truncated_heic_is_caught_by_exiftool_warning_too(library):
    """libheif fills the missing tiles of a truncated HEIC; exiftool's warning is evidence."""
    root, _ = library
    path = str(root / "bad" / "heic.HEIC")
    with MetadataReader() as reader:
        (meta,) = reader.read([path])
    assert meta.warning and "Truncated" in meta.warning
    # The full decode alone succeeds: that is why the structure checks exist.
    import pillow_heif

    assert pillow_heif.open_heif(path)[0].data
    st = os.stat(path)
    job = DecodeJob(path, "image", "HEIC", meta.warning, st.st_size, st.st_mtime_ns)
    assert decode_file(job).outcome == "truncated"


def test_file_changed_since_scan_is_not_decoded_nor_cached(library, tmp_path):
    root, catalog = library
    rec = next(r for r in catalog.records(under=[str(root)]) if r.path.endswith("ok/png.png"))
    moved = tmp_path / "png.png"
    shutil.copy2(rec.path, moved)
    stale = dataclasses.replace(rec, path=str(moved), mtime_ns=rec.mtime_ns + 1)
    with DecodeCache(tmp_path / "c.sqlite") as cache:
        result = check_decode([stale], cache=cache, workers=0)
        assert result.findings[0].outcome == "decode-skipped"
        assert "changed since" in result.findings[0].message
        assert cache.count() == 0


def test_a_broken_worker_pool_does_not_lose_files(library):
    """A pool whose workers die (as on a native decoder crash): files are retried one per
    process and still get their real outcomes."""
    root, catalog = library
    images = [r for r in catalog.records(under=[str(root)]) if r.kind == "image"]
    records = [r for r in images if "/bad/" in r.path][:2] + [
        r for r in images if "/ok/" in r.path
    ][:2]
    normal = check_decode(records, cache=None, workers=0)
    with ProcessPoolExecutor(max_workers=1, initializer=os._exit, initargs=(3,)) as dying:
        result = check_decode(records, cache=None, executor=dying)
    assert _outcomes(result.findings) == _outcomes(normal.findings)
    assert {"decoded", "truncated"} <= set(_outcomes(result.findings).values())


# ---------------------------------------------------------------------------- box structure


def _box(kind: bytes, payload_len: int, large: bool = False) -> bytes:
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + payload_len) + b"\0" * payload_len
    return struct.pack(">I4s", 8 + payload_len, kind) + b"\0" * payload_len


@settings(max_examples=60, deadline=None)
@given(
    boxes=st.lists(
        st.tuples(
            st.sampled_from([b"ftyp", b"meta", b"mdat", b"moov", b"free"]),
            st.integers(0, 300),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    ),
    cut=st.integers(0, 2000),
)
def test_box_overrun_is_found_exactly_when_the_file_is_cut(boxes, cut):
    parts = [_box(k, n, large) for k, n, large in boxes]
    data = b"".join(parts)
    cut = min(cut, len(data) - 1)
    boundaries = {sum(len(p) for p in parts[:i]) for i in range(1, len(parts) + 1)}
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f.mp4")
        with open(path, "wb") as fh:
            fh.write(data[: len(data) - cut])
        found = isobmff_overrun(path)
    # Cutting whole boxes off the end leaves a well-formed (shorter) file.
    assert (found is not None) == (len(data) - cut not in boundaries)


def test_valid_layered_and_single_picture_files_of_pillows_own_tests_decode(tmp_path):
    """Pillow numbers a PSD's layers from 1 and refuses any seek in a one-picture SPIDER file:
    verify --decode, seeking frames from 0, called hopper.psd, rgba.psd, five_channels.psd and
    hopper.spider (valid files of Pillow's Tests/images) decode-failed. Their scan agreed they
    decode; a verify that calls valid files corrupt is a false alarm."""
    from benchmarks.public_set import pillow_images

    images = pillow_images()
    names = ["hopper.psd", "rgba.psd", "five_channels.psd", "hopper_merged.psd",
             "hopper.spider", "pillow.ico", "iss634.gif"]  # fmt: skip
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in names:
        shutil.copy(images / name, lib / name)
    db, manifest = str(tmp_path / "c.sqlite"), str(tmp_path / "m.b3")
    run_cli("manifest", str(lib), "--format", "b3sum", "-o", manifest, "--catalog", db)
    out = run_cli(
        "verify", str(lib), "--manifest", manifest, "--decode", "--no-decode-cache", "--json",
        "--catalog", db, check=False,
    )  # fmt: skip
    result = json.loads(out.stdout)
    failed = {Path(f["path"]).name: f["message"] for f in result["findings"]
              if f["check"] == "decode" and f["severity"] != "info"}  # fmt: skip
    assert failed == {}
    assert result["decode"]["decoded"] == len(names)


def _tga_then_ico(folder: Path) -> None:
    """A TGA, then a valid ICO whose header TGA's loose check also passes (its one 256x256 PNG
    entry is 64-128 KiB long, as in Pillow's Tests/images/pillow.ico): sorted, the TGA comes
    first to a process that decodes them in turn."""
    from PIL import Image

    rng = np.random.default_rng(1)
    Image.new("P", (200, 32)).save(folder / "a.tga")
    levels = rng.integers(0, 6, size=(256, 256, 2), dtype=np.uint8) * 60
    pixels = np.dstack(
        [levels, np.full((256, 256), 90, np.uint8), np.full((256, 256), 255, np.uint8)]
    )
    Image.fromarray(pixels, "RGBA").save(folder / "b.ico", sizes=[(256, 256)])
    assert (folder / "b.ico").read_bytes()[16] in (1, 8, 16, 24, 32)  # TGA's "depth" byte


def test_what_a_file_decodes_as_does_not_depend_on_what_was_opened_before(tmp_path):
    """Pillow loads a plugin when it first meets its extension and tries loaded plugins in the
    order they came: an ICO opened after a TGA opened as a TGA and "did not decode". scan and
    verify --decode, each in one fresh process (--workers 0), decode both."""
    lib = tmp_path / "lib"
    lib.mkdir()
    _tga_then_ico(lib)
    db = str(tmp_path / "c.sqlite")
    scanned = json.loads(
        run_cli("scan", str(lib), "--catalog", db, "--workers", "0", "--json").stdout
    )
    assert scanned["errors"] == [] and scanned["new"] == 2, scanned
    manifest = str(tmp_path / "m.b3")
    run_cli("manifest", str(lib), "--no-catalog", "-o", manifest)
    verified = json.loads(
        run_cli(
            "verify", str(lib), "--manifest", manifest, "--decode", "--no-decode-cache",
            "--workers", "0", "--catalog", db, "--json",
        ).stdout
    )  # fmt: skip
    decoded = {f["path"]: f["outcome"] for f in verified["findings"] if f["check"] == "decode"}
    assert decoded == {"a.tga": "decoded", "b.ico": "decoded"}


def test_a_version_6_catalog_decodes_again_what_the_open_order_failed(tmp_path):
    """A catalog written before schema 7 may hold a valid ICO as undecodable ("cannot load
    this image", the open-order bug): the migration clears it and the next scan, though the
    file did not change, decodes it again, once."""
    import sqlite3

    lib = tmp_path / "lib"
    lib.mkdir()
    _tga_then_ico(lib)
    db = tmp_path / "c.sqlite"
    run_cli("scan", str(lib), "--catalog", str(db), "--json")
    old = sqlite3.connect(db)  # what the older photoverify recorded for the ICO
    old.execute(
        "UPDATE files SET decode_ok = 0, decode_error = 'OSError: cannot load this image', "
        "phash = NULL, signature = NULL WHERE format = 'ICO'"
    )
    old.execute("PRAGMA user_version = 6")
    old.commit()
    old.close()
    again = json.loads(run_cli("scan", str(lib), "--catalog", str(db), "--json").stdout)
    assert again["errors"] == [] and again["changed"] == 1 and again["unchanged"] == 1, again
    with Catalog(db) as cat:
        ico = next(r for r in cat.records(under=[str(lib)]) if r.format == "ICO")
        assert cat.schema_version == SCHEMA_VERSION
    assert ico.decode_ok and ico.phash
    third = json.loads(run_cli("scan", str(lib), "--catalog", str(db), "--json").stdout)
    assert third["unchanged"] == 2 and third["bytes_read"] == 0


def _skimage_tiff(name: str) -> Path:
    """A TIFF that ships with scikit-image (a test dependency): data we did not make."""
    import skimage.data

    return Path(skimage.data.__file__).parent / name


def _verified_decode(lib: Path, tmp_path: Path, db: str) -> dict[str, dict]:
    """verify --decode of lib against a fresh manifest of it (exit 1: something does not
    decode): its decode findings by path."""
    manifest = str(tmp_path / "m.b3")
    run_cli("manifest", str(lib), "--no-catalog", "-o", manifest)
    verified = json.loads(
        run_cli(
            "verify", str(lib), "--manifest", manifest, "--decode", "--no-decode-cache",
            "--catalog", db, "--json", check=(1,),
        ).stdout
    )  # fmt: skip
    return {f["path"]: f for f in verified["findings"] if f["check"] == "decode"}


def test_a_tiff_pillow_has_no_mode_for_is_decoded_by_tifffile(tmp_path):
    """scikit-image's multipage_rgb.tif (planar 64-bit float RGB: tifffile reads it, exiftool
    finds it whole) is a layout Pillow does not read: tifffile decodes it a strip at a time
    (tiffsegments), in scan and in verify --decode, and the scan hashes it; a re-scan does not
    try it again. A TIFF that is damaged (its header followed by junk, or cut short) is still
    reported as not decoding."""
    import tifffile

    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(_skimage_tiff("multipage_rgb.tif"), lib / "float.tif")
    assert tifffile.imread(lib / "float.tif").dtype == np.float64
    (lib / "junk.tif").write_bytes(b"II*\x00\x08\x00\x00\x00" + os.urandom(600))
    gray = _skimage_tiff("multipage.tif").read_bytes()
    (lib / "cut.tif").write_bytes(gray[: len(gray) // 3])
    db = str(tmp_path / "c.sqlite")
    scanned = json.loads(run_cli("scan", str(lib), "--catalog", db, "--json", check=(1,)).stdout)
    failed = {os.path.basename(e["path"]) for e in scanned["errors"]}
    assert failed == {"junk.tif", "cut.tif"} and scanned["unsupported_formats"] == {}
    with Catalog(db) as cat:
        (floats,) = [r for r in cat.all_records() if r.path.endswith("float.tif")]
    assert floats.decode_ok and floats.phash_method == "tiff-segments" and floats.phash
    again = json.loads(run_cli("scan", str(lib), "--catalog", db, "--json", check=(0, 1)).stdout)
    assert again["unchanged"] == 3 and again["bytes_read"] == 0
    decoded = {p: f["outcome"] for p, f in _verified_decode(lib, tmp_path, db).items()}
    assert decoded["float.tif"] == "decoded"
    assert decoded["junk.tif"] in ("decode-failed", "truncated")
    assert decoded["cut.tif"] in ("decode-failed", "truncated")


# TIFF compressions tifffile writes (through imagecodecs) and Pillow 13 does not read: JPEG 2000,
# JPEG XL, LERC, PNG, JPEG XR, and WebP, which Pillow knows but its wheels' libtiff lacks.
_UNREAD_CODECS = ["jpeg2000", "jpegxl", "lerc", "png", "jpegxr", "webp"]


def _compression_tag_set(tiff: bytes, code: int) -> bytes:
    """A little-endian TIFF with its first IFD's Compression tag (259) set to `code`."""
    import struct

    out = bytearray(tiff)
    ifd = struct.unpack("<I", out[4:8])[0]
    for i in range(struct.unpack("<H", out[ifd : ifd + 2])[0]):
        entry = ifd + 2 + 12 * i
        if struct.unpack("<H", out[entry : entry + 2])[0] == 259:
            out[entry + 8 : entry + 10] = struct.pack("<H", code)
    return bytes(out)


def test_a_tiff_in_a_compression_pillow_does_not_read_is_decoded_by_tifffile(tmp_path):
    """Valid TIFFs written by tifffile in compressions Pillow does not read decode through
    tifffile, in scan and verify --decode, and the lossless ones (PNG, LERC) hash exactly as
    the same picture in LZW does through Pillow; a TIFF cut short still fails, and so does one
    whose Compression tag holds a number no codec was registered under."""
    import tifffile

    picture = np.stack([np.indices((48, 64)).sum(0) * k % 256 for k in (3, 5, 7)], -1)
    picture = picture.astype(np.uint8)
    lib = tmp_path / "lib"
    lib.mkdir()
    for codec in [*_UNREAD_CODECS, "lzw", "deflate"]:
        path = lib / f"{codec}.tif"
        tifffile.imwrite(path, picture, compression=codec, photometric="rgb")
        assert tifffile.imread(path).shape == picture.shape
    whole = (lib / "lzw.tif").read_bytes()
    (lib / "cut.tif").write_bytes(whole[: len(whole) // 2])
    unregistered = _compression_tag_set((lib / "deflate.tif").read_bytes(), 4321)
    (lib / "unregistered.tif").write_bytes(unregistered)
    db = str(tmp_path / "c.sqlite")
    scanned = json.loads(run_cli("scan", str(lib), "--catalog", db, "--json", check=(1,)).stdout)
    failed = {os.path.basename(e["path"]) for e in scanned["errors"]}
    assert failed == {"cut.tif", "unregistered.tif"}, scanned["errors"]
    assert scanned["unsupported_formats"] == {}
    with Catalog(db) as cat:
        recs = {os.path.basename(r.path): r for r in cat.all_records()}
    assert recs["lzw.tif"].phash_method == "full"
    for codec in _UNREAD_CODECS:
        rec = recs[f"{codec}.tif"]
        assert rec.decode_ok and rec.phash_method == "tiff-segments", (codec, rec.decode_error)
    assert recs["png.tif"].phash == recs["lerc.tif"].phash == recs["lzw.tif"].phash
    decoded = _verified_decode(lib, tmp_path, db)
    for codec in _UNREAD_CODECS:
        assert decoded[f"{codec}.tif"]["outcome"] == "decoded", decoded[f"{codec}.tif"]
    assert decoded["lzw.tif"]["outcome"] == decoded["deflate.tif"]["outcome"] == "decoded"
    assert decoded["cut.tif"]["outcome"] in ("decode-failed", "truncated")
    assert decoded["unregistered.tif"]["outcome"] == "decode-failed"


def _float_tiff(path: Path) -> None:
    shutil.copy(_skimage_tiff("multipage_rgb.tif"), path)


def _jpeg2000_tiff(path: Path) -> None:
    import tifffile

    tifffile.imwrite(path, np.zeros((32, 32, 3), np.uint8), compression="jpeg2000")


_CALLED_BROKEN = (
    "UPDATE files SET decode_ok = 0, phash_method = NULL, decode_error = "
    "'UnidentifiedImageError: cannot identify image file ''picture.tif'''"
)
_NO_DECODER = (
    "UPDATE files SET decode_ok = NULL, phash = NULL, dhash = NULL, signature = NULL, "
    "phash_method = 'no-decoder', decode_error = 'no decoder for this TIFF''s compression: "
    "JPEG 2000 (34712)'"
)


@pytest.mark.parametrize(
    ("version", "make", "recorded"),
    [(6, _float_tiff, _CALLED_BROKEN), (7, _jpeg2000_tiff, _CALLED_BROKEN),
     (8, _jpeg2000_tiff, _NO_DECODER)],
    ids=["v6-float-samples", "v7-jpeg2000", "v8-no-decoder"],
)  # fmt: skip
def test_an_older_catalog_takes_again_a_tiff_it_did_not_decode(tmp_path, version, make, recorded):
    """A catalog written before the schema that knew better holds a valid TIFF Pillow does not
    read as undecodable ("cannot identify image file": float samples before schema 7, a JPEG
    2000 compression before 8) or, in 8, as having no decoder: after the migration one scan
    records it decoded by tifffile (a strip at a time), and the next leaves it alone."""
    import sqlite3

    lib = tmp_path / "lib"
    lib.mkdir()
    make(lib / "picture.tif")
    db = tmp_path / "c.sqlite"
    run_cli("scan", str(lib), "--catalog", str(db), "--json")
    old = sqlite3.connect(db)
    old.execute(recorded)
    old.execute(f"PRAGMA user_version = {version}")
    old.commit()
    old.close()
    again = json.loads(run_cli("scan", str(lib), "--catalog", str(db), "--json").stdout)
    assert again["errors"] == [] and again["changed"] == 1, again
    assert again["unsupported_formats"] == {} and again["not_checked"] == []
    with Catalog(db) as cat:
        (rec,) = cat.all_records()
    assert rec.decode_ok and rec.phash_method == "tiff-segments" and rec.decode_error is None
    third = json.loads(run_cli("scan", str(lib), "--catalog", str(db), "--json").stdout)
    assert third["unchanged"] == 1 and third["bytes_read"] == 0


def _bmp(bits: int, width: int = 8, height: int = 4, header_size: int = 40, **fields) -> bytes:
    """A bottom-up BMP with a BITMAPINFOHEADER of `header_size` bytes (zero-padded past 40),
    a palette of 2**bits grays for bits <= 8, and rows of a repeating pattern; `compression`
    and `masks` (BI_BITFIELDS' three) as given."""
    import struct

    compression = fields.get("compression", 0)
    masks = fields.get("masks", b"")
    colors = 2**bits if bits <= 8 else 0
    palette = b"".join(bytes((i * 255 // max(colors - 1, 1),) * 3 + (0,)) for i in range(colors))
    stride = (width * bits + 31) // 32 * 4
    pixels = bytes((i * 37) % 256 for i in range(stride * height))
    info = struct.pack(
        "<IiiHHIIiiII", header_size, width, height, 1, bits, compression, len(pixels), 2835,
        2835, colors, 0,
    )  # fmt: skip
    info += bytes(header_size - 40)
    offset = 14 + len(info) + len(masks) + len(palette)
    head = b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset)
    return head + info + masks + palette + pixels


def test_a_bmp_in_a_layout_pillow_does_not_read_is_unsupported_not_broken(tmp_path):
    """BMPs in layouts the format defines that Pillow refuses as "Unsupported" (a 2-bit
    palette, as Windows CE wrote; 16-bit 4:4:4:4 bitfield masks; alpha bitfields, compression
    6) are not checked, not broken, in scan and verify --decode; a BMP whose depth or
    compression no BMP defines still does not decode, and an ordinary one decodes."""
    import struct

    lib = tmp_path / "lib"
    lib.mkdir()
    rgba4444 = struct.pack("<III", 0x0F00, 0x00F0, 0x000F)
    (lib / "pal2.bmp").write_bytes(_bmp(2))
    (lib / "rgba4444.bmp").write_bytes(_bmp(16, compression=3, masks=rgba4444))
    (lib / "alphabitfields.bmp").write_bytes(_bmp(32, compression=6, masks=bytes(16)))
    (lib / "pal8.bmp").write_bytes(_bmp(8))
    (lib / "depth30000.bmp").write_bytes(_bmp(8).replace(b"\x01\x00\x08\x00", b"\x01\x000u", 1))
    (lib / "compression99.bmp").write_bytes(_bmp(24, compression=99))
    db = str(tmp_path / "c.sqlite")
    scanned = json.loads(run_cli("scan", str(lib), "--catalog", db, "--json", check=(1,)).stdout)
    failed = {os.path.basename(e["path"]) for e in scanned["errors"]}
    assert failed == {"depth30000.bmp", "compression99.bmp"}, scanned["errors"]
    assert scanned["unsupported_formats"] == {"BMP": 3}
    decoded = _verified_decode(lib, tmp_path, db)
    for name in ("pal2.bmp", "rgba4444.bmp", "alphabitfields.bmp"):
        assert decoded[name]["outcome"] == "unsupported-format", decoded[name]
    assert decoded["pal8.bmp"]["outcome"] == "decoded"
    assert decoded["depth30000.bmp"]["outcome"] == "decode-failed"
    assert decoded["compression99.bmp"]["outcome"] == "decode-failed"

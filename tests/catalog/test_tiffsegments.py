"""tiffsegments: TIFFs Pillow does not decode (a compression it lacks, samples it has no mode for,
a picture over the decode budget) decoded by tifffile a strip or tile at a time, in scan and in
verify --decode. TIFFs are written here with tifffile (imagecodecs' codecs); the reduced copy
the hashes come from is held to Pillow's own fast path on the same pixels."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import photoverify.dedupe.catalog.decoding as decoding
import photoverify.dedupe.catalog.tiffsegments as tiffsegments
from photoverify.dedupe.catalog.fingerprint import image_facts, shown_rgb
from photoverify.dedupe.catalog.tiffsegments import decode_in_segments
from photoverify.verify.checks.decode import OUTCOMES, DecodeJob, decode_file


def photo(size: tuple[int, int], dtype=np.uint8) -> np.ndarray:
    """An RGB picture with detail at every scale, height x width x 3."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([(x * 3 + y) % 256, (x * y // 7) % 256, (np.hypot(x - w / 2, y) * 2) % 256], -1)
    if dtype == np.uint16:
        return (rgb * 257 + (x % 200)[..., None]).astype(np.uint16)
    return rgb.astype(dtype)


def verified(path) -> object:
    st = os.stat(path)
    return decode_file(DecodeJob(str(path), "image", "TIFF", None, st.st_size, st.st_mtime_ns))


@pytest.mark.parametrize(
    "layout",
    [{"rowsperstrip": 7}, {"tile": (64, 48)}, {"rowsperstrip": 1}],
    ids=["strips-of-7-rows", "tiles-64x48", "one-row-strips"],
)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_the_reduced_copy_holds_pillows_numbers(tmp_path, layout, dtype):
    """1001x701 pixels: boxes of 2 (701 // 256), partial at the right and bottom edges, and
    strips or tiles whose edges fall inside boxes. The copy reduced a segment at a time holds
    the numbers Pillow's fast path makes of the whole picture, 8-bit and 16-bit RGB alike."""
    path = tmp_path / "p.tif"
    tifffile.imwrite(
        path, photo((1001, 701), dtype), photometric="rgb", compression="zlib", **layout
    )
    got = decode_in_segments(str(path))
    with Image.open(path) as im:
        im.load()
        pillows = np.asarray(shown_rgb(im))
    assert got.size == (1001, 701) and got.pages == got.decoded == 1
    assert np.array_equal(np.asarray(got.reduced), pillows)


def test_a_tiff_over_the_budget_is_decoded_in_segments_and_hashed_as_pillow_would(
    tmp_path, monkeypatch
):
    """Over the decode budget (a 150 MP film scan against 120 MP; here 0.7 MP against 0.1 MP)
    Pillow does not decode a TIFF; tifffile decodes it a strip at a time: scan records it
    decoded, with the hashes Pillow's fast path gives the same file within the budget, and
    verify --decode says it decodes."""
    path = tmp_path / "scan.tif"
    tifffile.imwrite(
        path, photo((1001, 701)), photometric="rgb", compression="lzw", rowsperstrip=16
    )
    within = image_facts(str(path), "TIFF")
    assert within.method == "full" and within.decode_ok
    monkeypatch.setattr(decoding, "MAX_DECODE_PIXELS", 100_000)
    over = image_facts(str(path), "TIFF")
    assert over.decode_ok and over.method == "tiff-segments", over
    assert (over.phash, over.dhash, over.signature) == (
        within.phash,
        within.dhash,
        within.signature,
    )
    assert (over.width, over.height, over.frames) == (1001, 701, 1)
    out = verified(path)
    assert out.outcome == "decoded" and out.detail["decoder"] == "tifffile", out


def test_a_tiff_whose_one_strip_is_over_the_budget_is_not_checked(tmp_path, monkeypatch):
    """A picture stored as one strip cannot be decoded a part at a time: over the budget, it is
    not checked, with both reasons."""
    path = tmp_path / "one-strip.tif"
    tifffile.imwrite(
        path, photo((640, 480)), photometric="rgb", compression="zlib", rowsperstrip=480
    )
    monkeypatch.setattr(decoding, "MAX_DECODE_PIXELS", 100_000)
    monkeypatch.setattr(tiffsegments, "SEGMENT_BUDGET", 400_000)
    facts = image_facts(str(path), "TIFF")
    assert facts.decode_ok is None and facts.method == "no-decoder", facts
    assert "over the decode budget of 0 MP: not decoded" in facts.decode_error
    assert "one strip or tile of it decodes to 1 MB" in facts.decode_error
    out = verified(path)
    assert out.outcome == "unsupported-format" and out.error == facts.decode_error, out


def test_damage_in_a_compression_pillow_lacks_is_found(tmp_path):
    """A JPEG 2000 TIFF of three pages: junk in the first page's data fails scan and verify;
    junk in the last page's only verify --decode, which decodes every page (scan decodes the
    first, as it does any multi-page picture)."""
    pages = [photo((96, 64)), photo((96, 64))[::-1], photo((96, 64))[:, ::-1]]

    def written(name: str, page: int | None):
        path = tmp_path / name
        with tifffile.TiffWriter(path) as tif:
            for p in pages:
                tif.write(p, photometric="rgb", compression="jpeg2000")
        if page is not None:
            with tifffile.TiffFile(path) as tif:
                offset = tif.pages[page].dataoffsets[0]
            data = bytearray(path.read_bytes())
            data[offset : offset + 64] = bytes(range(64))
            path.write_bytes(bytes(data))
        return path

    whole, first, last = written("whole.tif", None), written("first.tif", 0), written("last.tif", 2)
    assert image_facts(str(whole), "TIFF").decode_ok and verified(whole).detail["frames"] == 3
    assert image_facts(str(whole), "TIFF").frames == 3
    broken = image_facts(str(first), "TIFF")
    assert broken.decode_ok is False and broken.decode_error.startswith("tifffile: "), broken
    assert verified(first).outcome == "decode-failed"
    assert image_facts(str(last), "TIFF").decode_ok
    assert verified(last).outcome == "decode-failed"


def test_gray_min_is_white_and_float_samples_are_hashed(tmp_path):
    """Gray pictures reduce to L; min-is-white ones are inverted; float samples are stretched to
    0..255. The hashes stand near those of the same picture as 8-bit gray through Pillow."""
    import imagehash

    gray = photo((700, 520))[..., 0]
    tifffile.imwrite(tmp_path / "gray.tif", gray, photometric="minisblack")
    tifffile.imwrite(
        tmp_path / "white.tif", 255 - gray, photometric="miniswhite", compression="png"
    )
    tifffile.imwrite(tmp_path / "float.tif", gray.astype(np.float32) / 255, compression="lerc")
    ref = image_facts(str(tmp_path / "gray.tif"), "TIFF")
    assert ref.method == "full"
    for name in ("white.tif", "float.tif"):
        facts = image_facts(str(tmp_path / name), "TIFF")
        assert facts.decode_ok and facts.method == "tiff-segments", (name, facts)
        distance = imagehash.hex_to_hash(facts.phash) - imagehash.hex_to_hash(ref.phash)
        assert distance <= 2, (name, distance)


def _jpeg2000_pages() -> bytes:
    import io

    buf = io.BytesIO()
    with tifffile.TiffWriter(buf) as tif:
        for page in (photo((40, 24)), photo((40, 24))[::-1]):
            tif.write(page, photometric="rgb", compression="jpeg2000", rowsperstrip=8)
    return buf.getvalue()


JPEG2000_PAGES = _jpeg2000_pages()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cut=st.floats(0.05, 1.0),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), max_size=4),
)
def test_a_damaged_tiff_in_a_codec_pillow_lacks_never_breaks_scan_or_verify(tmp_path, cut, flips):
    """Truncated and byte-flipped two-page JPEG 2000 TIFFs: scan's facts and verify's outcome
    come back, whatever tifffile or a codec raises on the way."""
    data = bytearray(JPEG2000_PAGES[: max(8, int(len(JPEG2000_PAGES) * cut))])
    for at, xor in flips:
        data[int(at * len(data))] ^= xor
    path = tmp_path / "fuzzed.tif"
    path.write_bytes(bytes(data))
    facts = image_facts(str(path), "TIFF")
    assert facts.decode_ok in (True, False, None)
    assert verified(path).outcome in OUTCOMES


def test_a_codec_neither_pillow_nor_imagecodecs_has_leaves_the_tiff_not_checked(tmp_path):
    """A TIFF in JBIG (a registered compression neither Pillow nor imagecodecs decodes; here the
    Compression tag of a plain TIFF set to 9): not checked, with both reasons, not broken."""
    import struct

    path = tmp_path / "jbig.tif"
    tifffile.imwrite(path, photo((16, 16)), photometric="rgb")
    data = bytearray(path.read_bytes())
    ifd = struct.unpack("<I", data[4:8])[0]
    for i in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
        entry = ifd + 2 + 12 * i
        if struct.unpack("<H", data[entry : entry + 2])[0] == 259:  # Compression
            data[entry + 8 : entry + 10] = struct.pack("<H", 9)
    path.write_bytes(bytes(data))
    facts = image_facts(str(path), "TIFF")
    assert facts.decode_ok is None and facts.method == "no-decoder", facts
    assert "JBIG" in facts.decode_error and "tifffile has no decoder" in facts.decode_error
    out = verified(path)
    assert out.outcome == "unsupported-format" and out.error == facts.decode_error, out

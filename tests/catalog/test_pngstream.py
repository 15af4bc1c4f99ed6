"""pngstream: a PNG's compressed picture checked without decoding it (for pictures over the
decode budget). Its verdicts are held to Pillow's full decode on PNGs within the budget: every
mode Pillow writes, a hand-made Adam7 PNG (Pillow reads interlaced PNGs but does not write
them), every truncation and byte flip hypothesis finds, and the real corpus's PNGs."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from media import MODES, picture, png_bomb, png_chunks
from PIL import Image, ImageFile

from photoverify.dedupe.catalog.pngstream import ADAM7, png_damage, row_runs


def adam7_png(width: int, height: int) -> bytes:
    """An interlaced 8-bit RGB PNG, each pass's rows written with filter type 0, its pixel
    values from its position: assembled here, read back by Pillow."""
    raw = bytearray()
    for x0, y0, dx, dy in ADAM7:
        xs, ys = range(x0, width, dx), range(y0, height, dy)
        if not xs or not ys:
            continue
        for y in ys:
            raw.append(0)
            for x in xs:
                raw += bytes(((x * 7) % 256, (y * 5) % 256, (x + y) % 256))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    return png_chunks((b"IHDR", ihdr), (b"IDAT", zlib.compress(bytes(raw))))


def pillow_verdict(path: Path) -> str | None:
    """None when Pillow verifies the chunks and decodes the whole picture, else why not."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                im.verify()
            with Image.open(path) as im:
                im.load()
    except Exception as exc:  # noqa: BLE001 - any failure is the verdict
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.mark.parametrize("width,height", [(1, 1), (3, 2), (9, 9), (33, 17), (5, 40)])
def test_adam7_runs_hold_every_pixel_once(width, height):
    """Each pixel belongs to exactly one Adam7 pass (counted pixel by pixel), and the runs'
    rows carry those pixels and a filter byte each."""
    runs = row_runs(width, height, 8, interlaced=True)
    in_pass = [0] * 7
    for y in range(height):
        for x in range(width):
            hits = [i for i, (x0, y0, dx, dy) in enumerate(ADAM7) if x % dx == x0 and y % dy == y0]
            assert len(hits) == 1
            in_pass[hits[0]] += 1
    assert sum(stride * rows - rows for stride, rows in runs) == width * height
    assert len(runs) == sum(1 for n in in_pass if n)
    assert row_runs(width, height, 8, interlaced=False) == [(1 + width, height)]


def test_whole_pngs_of_every_mode_and_interlaced_pass(tmp_path):
    for mode, _fmt in MODES:
        path = tmp_path / f"{mode.replace(';', '_')}.png"
        try:
            picture(mode, (37, 23)).save(path)
        except (OSError, KeyError, ValueError):
            continue  # a mode PNG cannot hold
        assert pillow_verdict(path) is None, mode
        assert png_damage(str(path)) is None, mode
    for size in ((1, 1), (7, 3), (64, 45)):
        path = tmp_path / f"adam7-{size[0]}x{size[1]}.png"
        path.write_bytes(adam7_png(*size))
        with Image.open(path) as im:
            assert im.info.get("interlace") == 1
        assert pillow_verdict(path) is None
        assert png_damage(str(path)) is None


def test_a_bomb_is_whole_and_a_claim_without_data_is_cut_short(tmp_path):
    """A 13000x13000 PNG of zeros (658 KB) inflates to all it promises; one whose header claims
    30000x30000 with a kilobyte of data does not. Neither is decoded."""
    png_bomb(tmp_path / "bomb.png", 13000)
    assert png_damage(str(tmp_path / "bomb.png")) is None
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\0" * 1000)
    (tmp_path / "claim.png").write_bytes(png_chunks((b"IHDR", ihdr), (b"IDAT", data)))
    damage = png_damage(str(tmp_path / "claim.png"))
    assert damage.startswith("truncated: its compressed picture inflates to 1,000 of the"), damage


def _sample_pngs() -> list[bytes]:
    out = []
    for mode in ("RGB", "P", "LA", "I;16"):
        buf = io.BytesIO()
        picture(mode, (40, 30)).save(buf, "PNG")
        out.append(buf.getvalue())
    out.append(adam7_png(21, 13))
    return out


SAMPLES = _sample_pngs()
FIXTURE = HealthCheck.function_scoped_fixture  # tmp_path: each example writes its own file


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(which=st.integers(0, len(SAMPLES) - 1), cut=st.floats(0, 1, exclude_max=True))
def test_every_truncation_is_damage(tmp_path, which, cut):
    data = SAMPLES[which]
    path = tmp_path / "cut.png"
    path.write_bytes(data[: int(len(data) * cut)])
    assert png_damage(str(path)) is not None


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(which=st.integers(0, len(SAMPLES) - 1), at=st.floats(0, 1, exclude_max=True),
       xor=st.integers(1, 255))  # fmt: skip
def test_a_flipped_byte_is_damage(tmp_path, which, at, xor):
    """A byte changed anywhere past the signature is found (every chunk, its length and type
    included, is under a CRC, which sees any change of up to 32 bits), and nothing raises out
    of the check."""
    data = bytearray(SAMPLES[which])
    i = 8 + int((len(data) - 8) * at)
    data[i] ^= xor
    path = tmp_path / "flipped.png"
    path.write_bytes(bytes(data))
    assert png_damage(str(path)) is not None


@pytest.mark.parametrize("name", ["filter", "zlib"])
def test_damage_inside_the_compressed_picture_with_a_good_crc(tmp_path, name):
    """Damage a CRC does not catch (the chunk's CRC recomputed over it): a filter type past 4,
    a broken deflate stream. Pillow fails on both too."""
    width, height = 16, 8
    rows = b"".join(bytes([0]) + bytes(range(width)) for _ in range(height))
    if name == "filter":
        rows = rows[: 1 + width] + bytes([9]) + rows[2 + width :]
        idat = zlib.compress(rows)
    else:
        idat = bytearray(zlib.compress(rows))
        idat[2] = 0xFF  # a deflate block type that does not exist
        idat = bytes(idat)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path = tmp_path / f"{name}.png"
    path.write_bytes(png_chunks((b"IHDR", ihdr), (b"IDAT", idat)))
    assert pillow_verdict(path) is not None
    damage = png_damage(str(path))
    assert damage is not None and ("filter type 9" in damage or "zlib" in damage), damage


def test_the_corpus_pngs_agree_with_pillow(corpus):
    """Real PNGs of the corpus: the check and Pillow's decode agree."""
    seen = 0
    for folder, _dirs, files in os.walk(corpus):
        for name in files:
            path = Path(folder) / name
            with open(path, "rb") as fh:
                if fh.read(8) != b"\x89PNG\r\n\x1a\n":
                    continue
            seen += 1
            assert (png_damage(str(path)) is None) == (pillow_verdict(path) is None), path
    assert seen >= 1


def test_the_check_gives_up_past_its_inflate_limit(tmp_path, monkeypatch):
    """Past INFLATE_LIMIT inflated bytes the check gives up (the picture stays not checked)
    rather than spend minutes on a large file of zeros claiming a vast picture: the bomb cut
    in half is truncated with the limit above what it holds, and not judged below it."""
    import photoverify.dedupe.catalog.pngstream as pngstream

    png_bomb(tmp_path / "bomb.png", 13000)
    data = (tmp_path / "bomb.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    assert png_damage(str(tmp_path / "cut.png")).startswith("truncated")
    monkeypatch.setattr(pngstream, "INFLATE_LIMIT", 8 << 20)
    assert png_damage(str(tmp_path / "cut.png")) is None

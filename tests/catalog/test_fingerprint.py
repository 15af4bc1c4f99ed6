"""Every picture Pillow opens hashes and decode-checks: all modes, any size, and the decode
budget against a decompression bomb. Pictures are made here with Pillow."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import pytest
from conftest import run_cli, run_json
from hypothesis import example, given, settings
from hypothesis import strategies as st
from media import EXT, MODES, make_video, picture, png_bomb, png_chunks
from PIL import Image, ImageChops, ImageStat

from photoverify.dedupe.catalog.fingerprint import (
    _NOT_REDUCIBLE,
    MAX_DECODE_PIXELS,
    _reduce_in_strips,
    image_facts,
)
from photoverify.verify.checks.decode import DecodeJob, decode_file

# (mode made, the format that keeps it) - every mode Pillow writes and reads back


def smooth(size: tuple[int, int]) -> Image.Image:
    """A detailed picture without noise, whose hash survives re-encoding."""
    m = Image.effect_mandelbrot(size, (-2.0, -1.2, 0.8, 1.2), 40)
    return Image.merge("RGB", (m, m.rotate(180), m.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(MODES),
    st.integers(1, 1100),
    st.integers(1, 1100),
    st.booleans(),
)
@example(("PA", "TIFF"), 512, 512, True)  # found by a CI run: reduce() averaged palette indices
def test_every_mode_hashes_and_decodes(mode_fmt, w, h, fast):
    mode, fmt = mode_fmt
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"pic{EXT[fmt]}"
        picture(mode, (w, h)).save(path, fmt)
        facts = image_facts(str(path), fmt, fast=fast)
        assert facts.decode_ok, (mode, fmt, w, h, facts.decode_error)
        assert (facts.width, facts.height) == (w, h)
        if min(w, h) >= 32:
            assert facts.phash is not None and facts.dhash is not None
        st_ = path.stat()
        job = DecodeJob(str(path), "image", fmt, None, st_.st_size, st_.st_mtime_ns)
        assert decode_file(job).outcome == "decoded"


def test_large_palette_gif_and_16bit_png_hash_like_their_rgb_copy(tmp_path):
    """The short side >= 512 px cases of issue 11: a palette GIF and a 16-bit PNG hash, and
    close to the same picture saved as RGB."""
    import imagehash

    rgb = smooth((900, 700))
    rgb.save(tmp_path / "rgb.png")
    rgb.quantize(256).save(tmp_path / "pal.gif")
    ref = imagehash.hex_to_hash(image_facts(str(tmp_path / "rgb.png"), "PNG").phash)
    pal = image_facts(str(tmp_path / "pal.gif"), "GIF")
    assert pal.decode_ok and imagehash.hex_to_hash(pal.phash) - ref <= 4
    picture("I;16", (900, 700)).save(tmp_path / "deep.png")
    deep = image_facts(str(tmp_path / "deep.png"), "PNG")
    assert deep.decode_ok and deep.phash is not None, deep.decode_error


@pytest.mark.parametrize("side", [13000, 14000])
def test_a_decompression_bomb_is_not_decoded_and_not_called_broken(tmp_path, side):
    """A few-hundred-KB PNG of side x side pixels (169 MP: over the budget and under Pillow's
    own limit of 179 MP; 196 MP: over both) is never decoded. Its compressed data is whole (it
    inflates to all its size needs), so it is not checked, with the reason: decode_ok unknown
    in scan, unsupported-format in verify --decode; neither broken nor fine."""
    assert side * side > MAX_DECODE_PIXELS
    bomb = tmp_path / "bomb.png"
    png_bomb(bomb, side)
    assert bomb.stat().st_size < 1_000_000
    mp = round(side * side / 1e6)
    for fast in (True, False):
        facts = image_facts(str(bomb), "PNG", fast=fast)
        assert facts.decode_ok is None and facts.method == "no-decoder", facts
        assert facts.decode_error == (
            f"{side}x{side} = {mp} MP is over the decode budget of 120 MP: not decoded"
        )
    st_ = bomb.stat()
    out = decode_file(DecodeJob(str(bomb), "image", "PNG", None, st_.st_size, st_.st_mtime_ns))
    assert out.outcome == "unsupported-format" and out.error == facts.decode_error, out


def test_an_older_catalog_takes_again_a_bomb_it_called_broken(tmp_path):
    """A catalog of schema 8 or older holds a picture over the budget as undecodable
    ("decompression bomb refused: ..."): after the migration one scan records it as not
    checked, and the next leaves it alone."""
    import sqlite3

    lib = tmp_path / "lib"
    lib.mkdir()
    png_bomb(lib / "bomb.png", 13000)
    db = tmp_path / "c.sqlite"
    first = run_cli("scan", str(lib), "--catalog", str(db))  # for people: named, with why
    assert first.returncode == 0 and "not checked 1" in first.stdout, first.stdout
    assert "bomb.png\n      13000x13000 = 169 MP is over the decode budget" in first.stdout
    old = sqlite3.connect(db)
    old.execute(
        "UPDATE files SET decode_ok = 0, phash_method = NULL, decode_error = 'decompression "
        "bomb refused: 13000x13000 = 169 MP is over the decode budget of 120 MP'"
    )
    old.execute("PRAGMA user_version = 8")
    old.commit()
    old.close()
    again = json.loads(run_cli("scan", str(lib), "--catalog", str(db), "--json").stdout)
    assert again["errors"] == [] and again["changed"] == 1, again
    assert again["unsupported_formats"] == {"PNG": 1}
    assert again["not_checked"] == [
        {"path": str(lib / "bomb.png"), "reason": "13000x13000 = 169 MP is over the decode "
         "budget of 120 MP: not decoded"}
    ]  # fmt: skip
    third = json.loads(run_cli("scan", str(lib), "--catalog", str(db), "--json").stdout)
    assert third["unchanged"] == 1 and third["bytes_read"] == 0


def test_a_png_over_the_budget_that_is_cut_short_is_truncated(tmp_path):
    """Over the budget, a PNG is still checked short of decoding (pngstream): the bomb above
    cut anywhere, or a header claiming 30000x30000 with a kilobyte of data, is truncated, in
    scan and in verify --decode."""
    png_bomb(tmp_path / "bomb.png", 13000)
    data = (tmp_path / "bomb.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    (tmp_path / "claim.png").write_bytes(
        png_chunks((b"IHDR", ihdr), (b"IDAT", zlib.compress(bytes(1000))))
    )
    for name in ("cut.png", "claim.png"):
        path = tmp_path / name
        for fast in (True, False):
            facts = image_facts(str(path), "PNG", fast=fast)
            assert facts.decode_ok is False and "truncated" in facts.decode_error, facts
            assert "over the decode budget, checked without decoding" in facts.decode_error
        st_ = path.stat()
        out = decode_file(DecodeJob(str(path), "image", "PNG", None, st_.st_size, st_.st_mtime_ns))
        assert out.outcome == "truncated", out


def test_pictures_cataloged_wrong_mode_are_fingerprinted_again(tmp_path):
    from photoverify.dedupe.catalog.scan import scan
    from photoverify.dedupe.catalog.store import Catalog

    lib = tmp_path / "lib"
    lib.mkdir()
    picture("P", (800, 600)).save(lib / "pal.gif")
    picture("RGB", (800, 600)).save(lib / "rgb.png")
    with Catalog(tmp_path / "c.sqlite") as cat:
        scan([str(lib)], cat, workers=0)
        with cat.db:  # as an older photoverify recorded a valid palette GIF
            cat.db.execute(
                "UPDATE files SET decode_ok = 0, decode_error = 'ValueError: image has wrong "
                "mode', phash = NULL, dhash = NULL WHERE path_text LIKE '%.gif'"
            )
        again = scan([str(lib)], cat, workers=0)
        assert again.changed == 1 and again.unchanged == 1 and again.errors == []
        gif = next(r for r in cat.all_records() if r.path.endswith(".gif"))
        assert gif.decode_ok and gif.phash
        assert scan([str(lib)], cat, workers=0).unchanged == 2
        with cat.db:  # as an older photoverify recorded a format it had no decoder for
            cat.db.execute(
                "UPDATE files SET format = 'MPO', decode_ok = NULL, decode_error = NULL, "
                "phash = NULL WHERE path_text LIKE '%.gif'"
            )
        again = scan([str(lib)], cat, workers=0)
        assert again.changed == 1 and again.unchanged == 1
        assert scan([str(lib)], cat, workers=0).unchanged == 2


def test_heif_without_a_readable_image_has_a_reason_not_an_index_error(tmp_path):
    good = tmp_path / "good.heic"
    picture("RGB", (320, 240)).save(good, "HEIF", quality=70)
    bad = tmp_path / "bad.heic"
    bad.write_bytes(good.read_bytes().replace(b"hvcC", b"hvcX"))  # no decoder configuration
    facts = image_facts(str(bad), "HEIC")
    assert not facts.decode_ok and facts.decode_error.startswith("ValueError: libheif reads no")
    st_ = bad.stat()
    out = decode_file(DecodeJob(str(bad), "image", "HEIC", None, st_.st_size, st_.st_mtime_ns))
    assert out.outcome == "decode-failed" and "libheif reads no image" in out.error


def test_jpeg_xl_hashes_and_decodes_and_a_cut_one_fails_on_one_line(tmp_path):

    pic = smooth((640, 480))
    pic.save(tmp_path / "a.jxl", quality=90)  # through pillow-jxl-plugin
    data = (tmp_path / "a.jxl").read_bytes()
    (tmp_path / "cut.jxl").write_bytes(data[: len(data) // 2])
    good = image_facts(str(tmp_path / "a.jxl"), "JXL")
    assert good.decode_ok and good.phash and (good.width, good.height) == (640, 480)
    with Image.open(tmp_path / "a.jxl") as im:  # the picture, not a blank of the right size
        diff = ImageStat.Stat(ImageChops.difference(pic, im.convert("RGB"))).mean
    assert max(diff) < 4
    cut = image_facts(str(tmp_path / "cut.jxl"), "JXL")
    assert not cut.decode_ok and "\n" not in cut.decode_error
    for name, want in (("a.jxl", "decoded"), ("cut.jxl", "decode-failed")):
        st_ = (tmp_path / name).stat()
        job = DecodeJob(str(tmp_path / name), "image", "JXL", None, st_.st_size, st_.st_mtime_ns)
        out = decode_file(job)
        assert out.outcome == want and "\n" not in (out.error or "")


def test_a_format_with_no_decoder_is_an_unsupported_format_warning_never_green(tmp_path):
    import json

    from conftest import run_cli

    lib = tmp_path / "lib"
    lib.mkdir()
    smooth((320, 240)).save(lib / "raw.tif")
    # a TIFF with DNG tags: exiftool calls it DNG, which has no decoder here
    exiftool = ["exiftool", "-q", "-overwrite_original", "-DNGVersion=1.4.0.0"]
    subprocess.run([*exiftool, str(lib / "raw.tif")], check=True)
    (lib / "raw.tif").rename(lib / "raw.dng")
    db, manifest = str(tmp_path / "c.sqlite"), str(tmp_path / "m.b3sum")
    scanned = json.loads(run_cli("scan", str(lib), "--catalog", db, "-q", "--json").stdout)
    assert scanned["unsupported_formats"] == {"DNG": 1} and scanned["errors"] == []
    run_cli("manifest", str(lib), "-o", manifest, "--catalog", db)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = run_cli(
        "verify", str(lib), "--manifest", manifest, "--decode", "--catalog", db, "--json",
        env=env, check=False,
    )  # fmt: skip
    decode = [f for f in json.loads(proc.stdout)["findings"] if f["check"] == "decode"]
    assert [(f["path"], f["outcome"], f["severity"]) for f in decode] == [
        ("raw.dng", "unsupported-format", "warning")
    ]
    assert "no decoder for DNG" in decode[0]["message"]


def test_doctor_lists_every_format_with_its_decoder():
    from conftest import run_json

    rows = {r["format"]: r for r in run_json("doctor")["formats"]}
    assert rows["JXL"]["decoder"].startswith("pillow-jxl-plugin") and rows["JXL"]["version"]
    assert rows["HEIC"]["decoder"].startswith("pillow-heif") and rows["GIF"]["decoder"] == "Pillow"
    assert rows["DNG"]["decoder"] == "embedded preview (exiftool) + rawpy (LibRaw)"
    assert "LibRaw" in rows["NEF"]["version"] and rows["MOV"]["decoder"].startswith("PyAV")
    assert rows["AVCI"]["decoder"].startswith("PyAV")
    assert rows["HEICS"]["decoder"] == "pillow-heif (libheif) items, PyAV (FFmpeg) track"


def test_formats_pillow_reads_are_hashed_and_decoded_even_when_exiftool_does_not_know_them(
    tmp_path,
):
    import json

    from conftest import run_cli, run_json

    lib = tmp_path / "lib"
    lib.mkdir()
    pic = smooth((320, 240))
    for name in ("a.sgi", "a.qoi", "a.pcx", "a.ppm", "a.jp2", "a.tga", "a.ico"):
        pic.save(lib / name)  # SGI, QOI: unknown to exiftool; TGA: "CUR" to exiftool 12.57
    db, manifest = str(tmp_path / "c.sqlite"), str(tmp_path / "m.b3sum")
    run_cli("scan", str(lib), "--catalog", db, "-q")
    shown = run_json("show", str(lib), "--catalog", db)
    assert len(shown) == 7
    for r in shown:
        assert r["kind"] == "image" and r["decode_ok"] is True and r["phash"], r
    run_cli("manifest", str(lib), "-o", manifest, "--catalog", db)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = run_cli(
        "verify", str(lib), "--manifest", manifest, "--decode", "--catalog", db, "--json",
        env=env,
    )  # fmt: skip
    decode = {f["path"]: f["outcome"] for f in json.loads(proc.stdout)["findings"]
              if f["check"] == "decode"}  # fmt: skip
    assert set(decode.values()) == {"decoded"} and len(decode) == 7


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"\xff\xd8\xff\xe0", b"II*\x00", b"BM",
                     b"qoif", b"\x01\xda", b"\x00\x00\x00\x0cJXL \r\n\x87\n"]),
    st.binary(max_size=3000),
)  # fmt: skip
def test_any_bytes_are_sniffed_and_decoded_without_raising_on_one_line(magic, body):
    from photoverify.dedupe.catalog.fingerprint import _sniff_unknown

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.bin"
        path.write_bytes(magic + body)
        kind, fmt = _sniff_unknown(str(path))
        assert kind in ("image", "video", "other")
        facts = image_facts(str(path), fmt)
        assert facts.decode_ok or (facts.decode_error and "\n" not in facts.decode_error)
        st_ = path.stat()
        out = decode_file(DecodeJob(str(path), "image", fmt, None, st_.st_size, st_.st_mtime_ns))
        assert "\n" not in (out.error or "")


def verify_decode_outcomes(lib: Path, db: str, tmp_path: Path) -> dict[str, str]:
    """A b3sum manifest of `lib`, then `verify --decode` through the CLI with a cache of its
    own: {path as verify names it: decode outcome}."""
    manifest = str(tmp_path / "m.b3sum")
    run_cli("manifest", str(lib), "-o", manifest, "--catalog", db)
    proc = run_cli(
        "verify", str(lib), "--manifest", manifest, "--decode", "--catalog", db, "--json",
        env={"XDG_CACHE_HOME": str(tmp_path / "cache")}, check=False,
    )  # fmt: skip
    findings = json.loads(proc.stdout)["findings"]
    return {f["path"]: f["outcome"] for f in findings if f["check"] == "decode"}


def scan_peak_rss(lib: Path, tmp_path: Path, *more: str) -> tuple[int, int, list[dict]]:
    """Scan `lib` through the CLI (with the options `more`): (exit code, peak RSS in KiB of the
    scan and its workers, errors)."""
    import sys

    argv = [sys.executable, "-m", "photoverify", "scan", str(lib), "-q", "--json",
            "--catalog", str(tmp_path / "c.sqlite"), *more]  # fmt: skip
    out = tmp_path / "out.json"
    # A child's peak RSS starts from its parent's memory at the exec (the kernel carries the
    # high-water mark over), so the scan is started by a small Python, not by this test process
    # that has grown over the suite: measured from here it read 641 MiB for a 50 MiB scan.
    starter = (
        "import json, os, sys\n"
        "argv, out = json.loads(sys.argv[1]), sys.argv[2]\n"
        "fd = os.open(out, os.O_WRONLY | os.O_CREAT)\n"
        "pid = os.posix_spawnp(argv[0], argv, dict(os.environ),"
        " file_actions=[(os.POSIX_SPAWN_DUP2, fd, 1)])\n"
        "_, status, usage = os.wait4(pid, 0)\n"
        "print(json.dumps([os.waitstatus_to_exitcode(status), usage.ru_maxrss]))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", starter, json.dumps(argv), str(out)],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    code, maxrss_kib = json.loads(run.stdout)
    return code, maxrss_kib, json.loads(out.read_text())["errors"]


def test_rgba_bombs_are_refused_without_being_decoded(tmp_path):
    """Issue 11: four 658 KB 13000x13000 RGBA PNGs took 2.0 GB in one worker. Refused, they
    must not be decoded on the way (PNG getexif() loads the picture): the scan's peak RSS,
    workers included, stays far below the 676 MB one of them decodes to."""

    lib = tmp_path / "bombs"
    lib.mkdir()
    png_bomb(lib / "b0.png", 13000, channels=4)
    for i in range(1, 4):
        (lib / f"b{i}.png").write_bytes((lib / "b0.png").read_bytes())
    code, maxrss_kib, errors = scan_peak_rss(lib, tmp_path)
    assert code == 0 and errors == []  # not checked (over the budget): not problems either
    assert maxrss_kib < 400 * 1024, f"peak RSS {maxrss_kib // 1024} MiB"
    from photoverify.dedupe.catalog.store import Catalog

    with Catalog(tmp_path / "c.sqlite") as cat:
        recs = list(cat.all_records())
    assert len(recs) == 4 and all(r.decode_ok is None for r in recs)
    assert all(
        r.decode_error.endswith("over the decode budget of 120 MP: not decoded") for r in recs
    )


@pytest.mark.slow
def test_a_picture_just_within_the_budget_is_hashed_without_a_second_full_size_copy(tmp_path):
    """Issue 11.9 at the budget's edge: a 120 MP RGBA PNG is 480 MB decoded, and the fast path's
    reduce() premultiplied it into a second one (a worker peaked at 958 MiB for one picture)."""
    side = 10950  # 119.9 MP: under the budget, so decoded
    assert side * side <= MAX_DECODE_PIXELS
    lib = tmp_path / "big"
    lib.mkdir()
    png_bomb(lib / "big.png", side, channels=4)
    code, maxrss_kib, errors = scan_peak_rss(lib, tmp_path)
    assert code == 0 and errors == []
    assert maxrss_kib < 700 * 1024, f"peak RSS {maxrss_kib // 1024} MiB"
    # --full-decode hashes the full-size picture: its RGB copy (360 MB) is made while the
    # decoded RGBA (480 MB) is held, and the decoded one is let go before hashing
    (tmp_path / "full").mkdir()
    code, maxrss_kib, errors = scan_peak_rss(lib, tmp_path / "full", "--full-decode")
    assert code == 0 and errors == []
    # measured 957 MiB (1,072 MiB while both copies were held to the end)
    assert maxrss_kib < 1024 * 1024, f"peak RSS {maxrss_kib // 1024} MiB with --full-decode"


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(MODES),
    st.integers(8, 700),
    st.integers(8, 700),
    st.integers(2, 9),
    st.integers(1, 40_000),
)
def test_reducing_in_strips_gives_the_pixels_of_the_whole_picture_reduced(
    mode_fmt, w, h, factor, strip_bytes
):
    mode = mode_fmt[0]
    im = picture(mode, (w, h))
    if mode in ("RGBA", "LA"):  # uneven transparency: reduce() weighs colours by alpha
        im.putalpha(Image.effect_noise((w, h), 90).convert("L"))
    widened = "I" if mode.startswith("I;16") else _NOT_REDUCIBLE.get(mode)
    whole = (im.convert(widened) if widened else im).reduce(factor)
    strips = _reduce_in_strips(im, widened, factor, strip_bytes)
    assert strips.mode == whole.mode and strips.size == whole.size
    assert strips.tobytes() == whole.tobytes()


def _rebranded_heic(path: Path, major: bytes, codec: bytes | None = None) -> None:
    """A HEIC made by pillow-heif, its ftyp's major brand replaced, and with `codec` its item
    type and decoder configuration renamed (b"avc": an AVC-coded HEIF, which exiftool, knowing
    no 'avci' brand, calls an MP4 video)."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    good = path.with_suffix(".made.heic")
    picture("RGB", (320, 240)).save(good, "HEIF", quality=70)
    data = good.read_bytes()
    good.unlink()
    ftyp = b"ftypheic\0\0\0\0mif1heicmiaf"
    assert data[4 : 4 + len(ftyp)] == ftyp
    data = data.replace(ftyp, b"ftyp" + major + b"\0\0\0\0mif1" + major + b"miaf", 1)
    if codec:
        data = data.replace(b"hvc1", codec + b"1").replace(b"hvcC", codec + b"C")
    path.write_bytes(data)


def test_a_heif_picture_exiftool_calls_mp4_is_a_picture_not_a_video(tmp_path):
    """Issue 11: AVC-in-HEIF was classified as video ("no video stream")."""
    lib = tmp_path / "lib"
    lib.mkdir()
    _rebranded_heic(lib / "avc.heif", b"avci", codec=b"avc")
    _rebranded_heic(lib / "layered.heif", b"heim")  # HEVC under a brand exiftool lacks
    for name in ("avc.heif", "layered.heif"):
        probe = subprocess.run(["exiftool", "-s3", "-FileType", str(lib / name)],
                               capture_output=True, text=True, check=True)  # fmt: skip
        assert probe.stdout.strip() == "MP4"
    db = str(tmp_path / "c.sqlite")
    scanned = run_json("scan", str(lib), "--catalog", db, check=(1,))
    shown = {Path(r["path"]).name: r for r in run_json("show", str(lib), "--catalog", db)}
    assert {r["kind"] for r in shown.values()} == {"image"}
    # the format its brand names: AVC-in-HEIF, and HEVC-in-HEIF under a layered brand
    assert {n: r["format"] for n, r in shown.items()} == {
        "avc.heif": "AVCI",
        "layered.heif": "HEIC",
    }
    assert shown["layered.heif"]["decode_ok"] and shown["layered.heif"]["phash"]
    avc = shown["avc.heif"]
    assert avc["decode_ok"] is False and "video" not in avc["decode_error"]
    assert [Path(e["path"]).name for e in scanned["errors"]] == ["avc.heif"]


def test_a_heif_picture_cataloged_as_a_video_is_fingerprinted_again(tmp_path):
    from photoverify.dedupe.catalog.scan import scan
    from photoverify.dedupe.catalog.store import Catalog

    lib = tmp_path / "lib"
    lib.mkdir()
    _rebranded_heic(lib / "layered.heif", b"heim")
    with Catalog(tmp_path / "c.sqlite") as cat:
        scan([str(lib)], cat, workers=0)
        with cat.db:  # as an older photoverify recorded it
            cat.db.execute(
                "UPDATE files SET kind = 'video', format = 'MP4', decode_ok = 0, "
                "decode_error = 'no video stream', phash = NULL"
            )
        again = scan([str(lib)], cat, workers=0)
        assert again.changed == 1 and again.errors == []
        (rec,) = cat.all_records()
        assert (rec.kind, rec.format, rec.decode_ok) == ("image", "HEIC", True)


def _tree_rss_kib(pid: int) -> int:
    """The resident memory of a process and all its descendants, from /proc."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/task/{p}/children") as fh:
                todo += [int(c) for c in fh.read().split()]
            with open(f"/proc/{p}/status") as fh:
                total += next((int(ln.split()[1]) for ln in fh if ln.startswith("VmRSS")), 0)
        except (OSError, ValueError):
            continue  # it ended meanwhile
    return total


@pytest.mark.slow
def test_workers_decode_one_big_picture_at_a_time(tmp_path):
    """Issue 11.9: a scan's peak RSS stays under 1 GiB. Each worker may hold a picture near the
    budget (480 MB decoded); two at once took 1,137 MiB. Here each of the two workers starts its
    first batch with a 120 MP RGBA PNG (the test checks the scan's own batching puts them so)."""
    import os
    import sys

    from photoverify.dedupe.catalog.scan import BATCH_FILES, _batches
    from photoverify.dedupe.catalog.walk import walk

    lib = tmp_path / "lib"
    lib.mkdir()
    png_bomb(lib / "a-big.png", 10950, channels=4)
    for i in range(BATCH_FILES - 1):
        picture("RGB", (40 + i, 40)).save(lib / f"b-{i:03d}.png")
    (lib / "c-big.png").write_bytes((lib / "a-big.png").read_bytes() + b"\0")  # other bytes
    for i in range(BATCH_FILES - 1):
        picture("RGB", (40 + i, 41)).save(lib / f"d-{i:03d}.png")
    first, second = list(_batches(list(walk([str(lib)])), 2))[:2]
    assert [first[0].path, second[0].path] == [str(lib / "a-big.png"), str(lib / "c-big.png")]
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    argv = [sys.executable, "-m", "photoverify", "scan", str(lib), "-q", "--json", "--workers",
            "2", "--catalog", str(tmp_path / "c.sqlite")]  # fmt: skip
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_kib(proc.pid))
        time.sleep(0.02)
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert json.loads(out)["errors"] == []
    assert peak < 850 * 1024, f"scan and its workers peaked at {peak // 1024} MiB"


def test_dng_is_hashed_through_its_embedded_preview_and_verified_by_libraw(tmp_path):
    """A DNG laid out as ProRAW and cameras write one (tests/media.make_dng): scan hashes its
    embedded preview (exiftool extracts it) like the JPEG beside it, so the pair is one photo;
    verify --decode has LibRaw unpack the sensor data, so a cut DNG is truncated. A DNG whose
    picture nothing here reads stays an unsupported-format warning."""
    from conftest import run_json
    from media import exiftool, make_dng

    lib = tmp_path / "lib"
    lib.mkdir()
    picture = smooth((480, 360))
    make_dng(lib / "IMG_0001.DNG", picture)
    exiftool("-DateTimeOriginal=2023:10:01 09:08:07", "-OffsetTimeOriginal=+02:00",
             str(lib / "IMG_0001.DNG"))  # fmt: skip
    picture.save(lib / "IMG_0001.JPG", quality=90)  # the preview's very bytes
    exiftool("-tagsFromFile", str(lib / "IMG_0001.DNG"), "-DateTimeOriginal",
             "-OffsetTimeOriginal", str(lib / "IMG_0001.JPG"))  # fmt: skip
    make_dng(lib / "IMG_0002.DNG", None)  # sensor data and no preview
    whole = (lib / "IMG_0001.DNG").read_bytes()
    (lib / "IMG_0003.DNG").write_bytes(whole[: len(whole) - 50_000])  # sensor data cut
    db = str(tmp_path / "c.sqlite")
    scanned = run_json("scan", str(lib), "--catalog", db, check=(1,))
    assert scanned["unsupported_formats"] == {"DNG": 1}  # IMG_0002: nothing to hash
    shown = {Path(r["path"]).name: r for r in run_json("show", str(lib), "--catalog", db)}
    dng, jpg = shown["IMG_0001.DNG"], shown["IMG_0001.JPG"]
    assert dng["decode_ok"] is True and dng["phash"] == jpg["phash"] is not None
    assert dng["captured_at"] == jpg["captured_at"] == "2023-10-01T09:08:07+02:00"
    assert shown["IMG_0002.DNG"]["decode_ok"] is None and shown["IMG_0002.DNG"]["phash"] is None
    assert shown["IMG_0003.DNG"]["decode_ok"] is False  # exiftool: a strip runs past the end
    assets = run_json("dupes", str(lib), "--catalog", db)["assets"]
    pairs = {Path(a["primary"]).name: sorted(Path(c).name for c in a["companions"]) for a in assets}
    assert pairs["IMG_0001.DNG"] == ["IMG_0001.JPG"]
    decode = verify_decode_outcomes(lib, db, tmp_path)
    assert decode == {
        "IMG_0001.DNG": "decoded",
        "IMG_0001.JPG": "decoded",
        "IMG_0002.DNG": "decoded",  # no preview, but LibRaw reads the sensor data
        "IMG_0003.DNG": "truncated",
    }


def test_multi_frame_files_record_their_frame_count_and_hash_the_primary_picture(corpus, tmp_path):
    """GIF, APNG, MPO (a stereo pair / multi-picture JPEG) and a HEIF holding several images (a
    burst, a sequence, a spatial photo): `frames` counts the pictures, the hashes are of the
    primary one (the first frame, MPO's first picture, HEIF's primary item). A version-4
    catalog gains the column and fills it at the next scan, once."""
    import sqlite3

    import pillow_heif
    from conftest import run_json

    from photoverify.dedupe.catalog.store import SCHEMA_VERSION

    lib, alone = tmp_path / "lib", tmp_path / "alone"
    lib.mkdir()
    alone.mkdir()
    with Image.open(
        corpus / "immich-test-assets/formats/jpg/el_torcal_rocks.jpg"
    ) as photo:  # a real photo
        base = photo.convert("RGB").resize((320, 240))
    frames = [base, base.rotate(180), ImageChops.invert(base)]
    frames[0].save(lib / "anim.gif", save_all=True, append_images=frames[1:])
    frames[0].save(lib / "anim.png", save_all=True, append_images=frames[1:])  # APNG
    frames[0].save(lib / "stereo.mpo", "MPO", save_all=True, append_images=frames[1:2])
    heif = pillow_heif.from_pillow(frames[0])
    for extra in frames[1:]:
        heif.add_from_pillow(extra)
    heif.save(str(lib / "burst.heic"), quality=90)
    frames[0].save(alone / "first.png")
    frames[1].save(alone / "second.png")
    db = str(tmp_path / "c.sqlite")
    run_json("scan", str(lib), str(alone), "--catalog", db)
    shown = {Path(r["path"]).name: r for r in run_json("show", str(tmp_path), "--catalog", db)}
    counts = {name: shown[name]["frames"] for name in ("anim.gif", "anim.png", "stereo.mpo")}
    assert counts == {"anim.gif": 3, "anim.png": 3, "stereo.mpo": 2}
    assert shown["burst.heic"]["frames"] == 3 and shown["first.png"]["frames"] == 1

    def bits(a: str, b: str) -> int:
        return bin(int(a, 16) ^ int(b, 16)).count("1")

    first, second = shown["first.png"]["phash"], shown["second.png"]["phash"]
    for name in ("anim.gif", "anim.png", "stereo.mpo", "burst.heic"):
        assert bits(shown[name]["phash"], first) <= 6 < bits(shown[name]["phash"], second), name
    # a catalog written before frame counts: the column is added, the rows fingerprinted again
    old = sqlite3.connect(db)
    old.execute("ALTER TABLE files DROP COLUMN frames")
    old.execute("DROP TABLE roots")  # version 6's, which a version-4 catalog does not have
    old.execute("PRAGMA user_version = 4")
    old.commit()
    old.close()
    again = run_json("scan", str(lib), str(alone), "--catalog", db)
    assert again["new"] == 0 and again["bytes_read"] > 0  # the same files, read again
    shown = {Path(r["path"]).name: r for r in run_json("show", str(lib), "--catalog", db)}
    assert shown["anim.gif"]["frames"] == 3 and shown["burst.heic"]["frames"] == 3
    third = run_json("scan", str(lib), str(alone), "--catalog", db)
    assert third["bytes_read"] == 0  # filled once, not read at every scan
    with sqlite3.connect(db) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 5


def _psd(path: Path, im: Image.Image) -> Path:
    """A Photoshop file as the format specifies it (header, empty colour-mode, resource and
    layer sections, raw planar RGB): the merged picture every PSD carries."""
    w, h = im.size
    planes = b"".join(band.tobytes() for band in im.convert("RGB").split())
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, h, w, 8, 3)
    path.write_bytes(header + struct.pack(">IIIH", 0, 0, 0, 0) + planes)
    return path


def test_psd_and_the_other_pictures_pillow_reads_are_decoded_not_unsupported(tmp_path):
    """Photoshop PSD (exiftool's MIME type for it is not image/*: it was `other`, neither hashed
    nor counted), BigTIFF, and formats only Pillow knows (BLP, DIB, ICNS, SPIDER): hashed like
    the picture they hold, none reported as an unsupported format."""
    from conftest import run_json

    lib = tmp_path / "lib"
    lib.mkdir()
    pic = smooth((256, 256))
    _psd(lib / "layered.psd", pic)
    pic.save(lib / "icon.icns")
    pic.quantize(256).save(lib / "texture.blp")  # BLP2 holds a palette picture
    pic.save(lib / "bitmap.dib", "DIB")
    pic.convert("L").save(lib / "cryoem.spider", "SPIDER")
    pic.save(lib / "reference.png")
    import numpy as np
    import tifffile

    tifffile.imwrite(lib / "scan.tif", np.asarray(pic), bigtiff=True)  # exiftool: BTF
    db = str(tmp_path / "c.sqlite")
    scanned = run_json("scan", str(lib), "--catalog", db)
    assert scanned["unsupported_formats"] == {} and scanned["errors"] == []
    shown = {Path(r["path"]).name: r for r in run_json("show", str(lib), "--catalog", db)}
    assert shown["layered.psd"]["format"] == "PSD" and shown["layered.psd"]["kind"] == "image"
    reference = int(shown["reference.png"]["phash"], 16)
    assert shown["scan.tif"]["format"] == "BTF"
    for name in ("layered.psd", "icon.icns", "texture.blp", "bitmap.dib", "scan.tif"):
        assert shown[name]["decode_ok"] is True, name
        assert bin(int(shown[name]["phash"], 16) ^ reference).count("1") <= 4, name
    assert shown["cryoem.spider"]["decode_ok"] is True


def test_an_avif_sequence_is_a_picture_with_its_frames_not_a_movie(corpus, tmp_path):
    """exiftool 12.57 calls an AVIF image sequence (brand `avis`, as libavif writes it through
    Pillow) an MP4 video: its brand makes it a picture, hashed on its first frame, with its
    frame count."""
    from conftest import run_json

    lib = tmp_path / "lib"
    lib.mkdir()
    with Image.open(corpus / "immich-test-assets/formats/jpg/el_torcal_rocks.jpg") as photo:
        base = photo.convert("RGB").resize((320, 240))
    base.save(lib / "anim.avif", save_all=True, duration=100,
              append_images=[base.rotate(180), ImageChops.invert(base)])  # fmt: skip
    base.save(lib / "first.png")
    out = subprocess.run(["exiftool", "-s3", "-FileType", str(lib / "anim.avif")],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert out.strip() == "MP4"  # what exiftool says
    db = str(tmp_path / "c.sqlite")
    run_json("scan", str(lib), "--catalog", db)
    shown = {Path(r["path"]).name: r for r in run_json("show", str(lib), "--catalog", db)}
    anim = shown["anim.avif"]
    assert (anim["kind"], anim["format"], anim["frames"], anim["decode_ok"]) == (
        "image", "AVIF", 3, True,
    )  # fmt: skip
    assert bin(int(anim["phash"], 16) ^ int(shown["first.png"]["phash"], 16)).count("1") <= 6


def test_avc_in_heif_is_a_picture_decoded_through_ffmpeg(corpus, tmp_path):
    """AVC-in-HEIF (tests/media.make_avc_heif: an `avc1` item libheif parses and cannot decode,
    which exiftool 12.57 calls an MP4 video): an image, hashed like the picture it holds and
    decoded in full by verify; one cut inside its picture is truncated."""
    from conftest import run_json
    from media import make_avc_heif

    lib = tmp_path / "lib"
    lib.mkdir()
    with Image.open(corpus / "immich-test-assets/formats/jpg/el_torcal_rocks.jpg") as photo:
        picture = photo.convert("RGB").resize((320, 240))
    make_avc_heif(lib / "IMG_0001.HEIC", picture)
    picture.save(lib / "reference.png")
    whole = (lib / "IMG_0001.HEIC").read_bytes()
    (lib / "cut.heic").write_bytes(whole[: len(whole) - 4000])
    db = str(tmp_path / "c.sqlite")
    scanned = run_json("scan", str(lib), "--catalog", db, check=(1,))
    assert scanned["unsupported_formats"] == {}
    assert [Path(e["path"]).name for e in scanned["errors"]] == ["cut.heic"]
    shown = {Path(r["path"]).name: r for r in run_json("show", str(lib), "--catalog", db)}
    avci = shown["IMG_0001.HEIC"]
    assert (avci["kind"], avci["format"], avci["decode_ok"], avci["frames"]) == (
        "image", "AVCI", True, 1,
    )  # fmt: skip
    assert (avci["width"], avci["height"]) == (320, 240)
    reference = int(shown["reference.png"]["phash"], 16)
    assert bin(int(avci["phash"], 16) ^ reference).count("1") <= 4
    decode = verify_decode_outcomes(lib, db, tmp_path)
    assert decode["IMG_0001.HEIC"] == "decoded" and decode["cut.heic"] == "truncated"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.integers(0, 399), st.binary(max_size=8))
def test_avc_heif_boxes_of_any_bytes_are_read_or_refused_with_a_reason(tail, cut, junk):
    """The item parser over any bytes, and over a real AVC-in-HEIF file cut or spliced
    anywhere: an item or a HeifError, nothing else."""
    from photoverify.dedupe.catalog.avcheif import HeifError, primary_item

    for data in (tail, b"\0\0\0\x10ftypavci\0\0\0\0" + tail, _AVCI[:cut] + junk + _AVCI[cut:]):
        try:
            primary_item(data)
        except HeifError as exc:
            assert str(exc) and "\n" not in str(exc)


def _avci_bytes() -> bytes:

    from media import make_avc_heif

    with tempfile.TemporaryDirectory() as tmp:
        path = make_avc_heif(Path(tmp) / "a.heic", smooth((64, 48)))
        return path.read_bytes()


_AVCI = _avci_bytes()


def test_a_video_frame_is_decoded_and_pictured_without_starting_a_thread(tmp_path):
    """A first frame's hashes and the report's thumbnail of a video start no thread: by
    default FFmpeg starts four for them (decoder and conversion slice threads), and a forked
    worker once hung ending them (decoding.one_thread). Counted with strace on a real run."""
    if not shutil.which("strace"):
        pytest.skip("strace is not installed")
    clip = make_video(tmp_path / "clip.MOV", seconds=1, size=(320, 240))
    log = tmp_path / "strace.log"
    code = (
        "import os, sys\n"
        "from photoverify.dedupe.catalog.fingerprint import video_facts\n"
        "from photoverify.verify.report.html import make_thumbnail\n"
        "video_facts(sys.argv[1]), make_thumbnail(sys.argv[1])  # modules loaded, once made\n"
        "os.write(2, b'MARK-BEGIN\\n')\n"
        "facts, thumb = video_facts(sys.argv[1]), make_thumbnail(sys.argv[1])\n"
        "os.write(2, b'MARK-END\\n')\n"
        "assert facts.decode_ok and facts.phash and thumb, (facts, thumb)\n"
    )
    strace = ["strace", "-f", "-e", "trace=clone,clone3,write", "-o", str(log)]
    run = subprocess.run([*strace, sys.executable, "-c", code, str(clip)],
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stderr
    trace = log.read_text()
    marked = trace[trace.index("MARK-BEGIN") : trace.index("MARK-END")]
    assert "MARK-BEGIN" in trace and "clone" not in marked, marked


def _run_alone(code: str, clip) -> tuple[int, str]:
    """(exit code, stdout and stderr) of `python -c code clip` in a session of its own, every
    process of which is killed at the end: a hung worker outlives its parent's exit."""
    proc = subprocess.Popen([sys.executable, "-c", code, str(clip)], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, out + err


def test_workers_forked_after_a_threaded_frame_conversion_still_picture_videos(tmp_path):
    """PyAV 18.1.1 keeps one frame converter a thread, with the slice threads it started; a
    process that converted a frame that way (a default `reformat`, as tests' transcode does)
    forks workers that inherit the converter without its threads. A video's hashes and the
    report's thumbnail made in such a worker finish (they waited for ever in CI on 2026-12-07:
    decoding.frame_picture converts with a converter of its own)."""
    clip = make_video(tmp_path / "clip.MOV", seconds=1, size=(320, 240))
    code = (
        "import os, sys, multiprocessing as mp, av\n"
        "from concurrent.futures import ProcessPoolExecutor, wait\n"
        "from photoverify.dedupe.catalog.fingerprint import video_facts\n"
        "from photoverify.verify.report.html import make_thumbnail\n"
        "av.VideoFrame(320, 240, 'rgb24').reformat(format='yuv420p')  # threads: FFmpeg's choice\n"
        "with ProcessPoolExecutor(2, mp.get_context('fork')) as pool:\n"
        "    jobs = [pool.submit(f, sys.argv[1]) for f in (video_facts, make_thumbnail) * 2]\n"
        "    done, hung = wait(jobs, timeout=60)\n"
        "    if hung:\n"
        "        print('hung', flush=True)\n"
        "        os._exit(3)\n"
        "    assert all(j.result() for j in jobs)\n"
        "    assert jobs[0].result().decode_ok and jobs[0].result().phash\n"
    )
    status, out = _run_alone(code, clip)
    assert status == 0, out


def test_after_a_videos_facts_exiftool_still_starts_from_another_thread(tmp_path):
    """A video's hashes and thumbnail leave nothing behind that an exiftool started from
    another thread trips on: pyexiftool starts it with a preexec_fn, whose forked child frees
    the other threads' state, and PyAV 18.1.1's per-thread converter, had it been used, would
    hang it there, before exec."""
    clip = make_video(tmp_path / "clip.MOV", seconds=1, size=(320, 240))
    code = (
        "import os, sys, threading\n"
        "from photoverify.dedupe.catalog.fingerprint import video_facts\n"
        "from photoverify.dedupe.catalog.metadata import MetadataReader\n"
        "from photoverify.verify.report.html import make_thumbnail\n"
        "assert video_facts(sys.argv[1]).decode_ok and make_thumbnail(sys.argv[1])\n"
        "got = []\n"
        "def read():\n"
        "    with MetadataReader() as reader:\n"
        "        got.extend(reader.read([sys.argv[1]]))\n"
        "t = threading.Thread(target=read)\n"
        "t.start()\n"
        "t.join(timeout=60)\n"
        "print('hung' if t.is_alive() else f'read {len(got)}', flush=True)\n"
        "os._exit(3 if t.is_alive() else 0)\n"
    )
    status, out = _run_alone(code, clip)
    assert status == 0 and "read 1" in out, out


def test_a_heic_whose_thumbnail_does_not_decode_is_judged_by_its_picture(tmp_path):
    """Canon's HIF files (pillow-heif's tests/images/heif_other/cat.hif, guitar_cw90.hif)
    signal thumbnail sizes their thumbnails' data do not have; libheif refuses those thumbnails
    but decodes the pictures whole. A scan falls back to the picture: decoded, hashed in full,
    with the hashes of the same HEIC whose thumbnail is sound taken in full; a HEIC cut short
    still does not decode."""
    import pillow_heif

    pillow_heif.from_pillow(smooth((640, 480))).save(tmp_path / "sound.heic", thumbnails=[320])
    data = bytearray((tmp_path / "sound.heic").read_bytes())
    thumb_extent = b"ispe" + bytes(4) + struct.pack(">II", 320, 240)
    at = data.find(thumb_extent)
    assert at > 0 and data.count(b"ispe") == 2
    data[at + 12 : at + 16] = struct.pack(">I", 248)  # the thumbnail's height, signaled wrong
    (tmp_path / "bad-thumb.heic").write_bytes(bytes(data))
    (tmp_path / "cut.heic").write_bytes(bytes(data[: len(data) * 2 // 3]))
    with pytest.raises(ValueError, match="size signaled"):
        heif = pillow_heif.open_heif(tmp_path / "bad-thumb.heic")
        heif[heif.primary_index].get_thumbnail(0).to_pillow()
    bad = image_facts(str(tmp_path / "bad-thumb.heic"), "HEIC")
    sound_full = image_facts(str(tmp_path / "sound.heic"), "HEIC", fast=False)
    assert bad.decode_ok and bad.method == "full" and (bad.width, bad.height) == (640, 480)
    assert (bad.phash, bad.dhash) == (sound_full.phash, sound_full.dhash)
    assert image_facts(str(tmp_path / "sound.heic"), "HEIC").method == "heic-thumbnail"
    assert image_facts(str(tmp_path / "cut.heic"), "HEIC").decode_ok is False


def test_verify_decodes_a_jpeg_over_the_budget_at_a_smaller_dct_scale(tmp_path, monkeypatch):
    """A JPEG over the decode budget (a 200 MP phone photo against 120 MP; here 3 MP against a
    budget of 1 MP) is decoded by verify --decode at the largest DCT scale within the budget,
    which still reads every coefficient: whole, it decodes (at 1/2 scale), cut short, it is
    truncated; scan hashes it, fast or in full. Pillow's own limit (here 1 MP, so it would not
    even open the file) does not stand in the way of a JPEG. A PNG over the budget is not
    decoded: not checked."""
    import photoverify.dedupe.catalog.decoding as decoding

    monkeypatch.setattr(decoding, "MAX_DECODE_PIXELS", 1_000_000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
    smooth((2000, 1500)).save(tmp_path / "big.jpg", quality=90)
    whole = (tmp_path / "big.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(whole[: len(whole) * 2 // 3])
    smooth((2000, 1500)).save(tmp_path / "big.png")

    def decoded(name: str, fmt: str):
        st = (tmp_path / name).stat()
        job = DecodeJob(str(tmp_path / name), "image", fmt, None, st.st_size, st.st_mtime_ns)
        return decode_file(job)

    big = decoded("big.jpg", "JPEG")
    assert big.outcome == "decoded", big
    assert big.detail["scale"] == "1/2" and big.detail["size"] == (2000, 1500)
    assert decoded("cut.jpg", "JPEG").outcome in ("truncated", "decode-failed")
    png = decoded("big.png", "PNG")
    assert png.outcome == "unsupported-format" and "over the decode budget" in png.error, png
    for fast in (True, False):
        facts = image_facts(str(tmp_path / "big.jpg"), "JPEG", fast=fast)
        assert facts.decode_ok and (facts.width, facts.height) == (2000, 1500), (fast, facts)
    assert Image.MAX_IMAGE_PIXELS == 1_000_000  # lifted only while a JPEG is opened


def test_a_heic_over_the_budget_is_not_checked_rather_than_undecodable(tmp_path, monkeypatch):
    """libheif decodes a picture at full size only: a HEIC over the decode budget (pillow-heif's
    own tests/images/heif_special/200MP.heic; here 0.3 MP against 0.1 MP) is not decoded, and
    said to be not checked (decode_ok unknown in a full-decode scan, unsupported-format in
    verify --decode), not to be broken; its thumbnail still serves a fast scan."""
    import pillow_heif

    import photoverify.dedupe.catalog.decoding as decoding

    monkeypatch.setattr(decoding, "MAX_DECODE_PIXELS", 100_000)
    path = tmp_path / "big.heic"
    pillow_heif.from_pillow(smooth((640, 480))).save(path, thumbnails=[320])
    full = image_facts(str(path), "HEIC", fast=False)
    assert full.decode_ok is None and full.method == "no-decoder", full
    assert "over the decode budget" in full.decode_error and (full.width, full.height) == (640, 480)
    assert image_facts(str(path), "HEIC").method == "heic-thumbnail"
    st = path.stat()
    out = decode_file(DecodeJob(str(path), "image", "HEIC", None, st.st_size, st.st_mtime_ns))
    assert out.outcome == "unsupported-format" and "over the decode budget" in out.error, out


def test_a_heif_sequence_is_decoded_and_hashed_not_left_unchecked(tmp_path):
    """A HEIF image sequence (exiftool's HEIFS: major brand `msf1`), here a three-picture burst
    written by pillow-heif with its brand set to a sequence's: scan hashes its primary item and
    counts its pictures, verify --decode decodes every item (libheif) and plays every stream
    (FFmpeg); cut short it is truncated. (pillow-heif's own Nokia bird_burst.heic, items and a
    90-frame track, is measured in RESULTS.md: it is not shipped here.)"""
    import pillow_heif

    from photoverify.dedupe.catalog.store import Catalog

    frames = [picture("RGB", (320, 240)), picture("RGB", (320, 240)).rotate(180)]
    frames.append(ImageChops.invert(frames[0]))
    heif = pillow_heif.from_pillow(frames[0])
    for extra in frames[1:]:
        heif.add_from_pillow(extra)
    lib = tmp_path / "lib"
    lib.mkdir()
    heif.save(str(tmp_path / "burst.heic"), quality=90)
    data = bytearray((tmp_path / "burst.heic").read_bytes())
    assert data[4:8] == b"ftyp"
    data[8:12] = b"msf1"  # the major brand of an image sequence
    (lib / "burst.heifs").write_bytes(bytes(data))
    (lib / "cut.heifs").write_bytes(bytes(data[: len(data) * 2 // 3]))
    alone = image_facts(str(tmp_path / "burst.heic"), "HEIC")
    db = str(tmp_path / "c.sqlite")
    scanned = run_json("scan", str(lib), "--catalog", db, check=(1,))
    assert scanned["unsupported_formats"] == {} and scanned["not_checked"] == []
    assert [os.path.basename(e["path"]) for e in scanned["errors"]] == ["cut.heifs"]
    with Catalog(db) as cat:
        recs = {os.path.basename(r.path): r for r in cat.all_records()}
    burst = recs["burst.heifs"]
    assert burst.format == "HEIFS" and burst.decode_ok and burst.frames == 3
    assert (burst.phash, burst.dhash) == (alone.phash, alone.dhash)
    manifest = tmp_path / "m.b3"
    run_cli("manifest", str(lib), "--no-catalog", "-o", str(manifest))
    verified = run_json(
        "verify", str(lib), "--manifest", str(manifest), "--decode", "--catalog", db, check=(1,)
    )
    outcomes = {f["path"]: f for f in verified["findings"] if f["check"] == "decode"}
    assert outcomes["burst.heifs"]["outcome"] == "decoded", outcomes["burst.heifs"]
    assert outcomes["burst.heifs"]["evidence"]["items"] == 3
    assert outcomes["cut.heifs"]["outcome"] == "truncated"

"""The hostile-input pipeline (benchmarks/bench_hostile.py) on a small hostile set made here with
Pillow: every mode, a palette GIF, APNG, MPO (whole and truncated), a decompression bomb,
truncated and mislabeled files, a TIFF of junk LZW data, one in WebP (which Pillow's libtiff
lacks; tifffile decodes it) and one whose tag says WebP over raw pixels.
scan -> dupes -> manifest -> verify --decode -> audit run as real subprocesses: no traceback,
exit 0 or 1, peak RSS < 1 GiB, each failure one line naming its file."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import tifffile
from media import EXT, MODES, picture, png_bomb

from benchmarks.bench_hostile import RSS_LIMIT_KIB, run


def _tiff_bytes(im, **options) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "TIFF", **options)
    return buf.getvalue()


def hostile_set(root: Path) -> dict[str, str]:
    """Write the set; {file name: what the scan must say about it ('ok' or a reason's start)}."""
    root.mkdir()
    expect = {}
    for mode, fmt in MODES[::2]:
        name = f"mode-{mode.replace(';', '_')}{EXT[fmt]}"
        picture(mode, (600, 520)).save(root / name, fmt)
        expect[name] = "ok"
    base = picture("RGB", (640, 512))
    frames = [base, base.rotate(90), base.rotate(180)]
    base.quantize(200).save(root / "palette.gif")
    frames[0].save(root / "anim.gif", save_all=True, append_images=frames[1:])
    frames[0].save(root / "anim.png", save_all=True, append_images=frames[1:])  # APNG
    frames[0].save(root / "multi.mpo", "MPO", save_all=True, append_images=frames[1:])
    expect.update({n: "ok" for n in ("palette.gif", "anim.gif", "anim.png", "multi.mpo")})
    data = (root / "multi.mpo").read_bytes()
    (root / "cut.mpo").write_bytes(data[: len(data) * 3 // 4])  # the last picture cut short
    expect["cut.mpo"] = "does not decode"
    png_bomb(root / "bomb.png", 13000)
    expect["bomb.png"] = "ok"  # over the decode budget: not checked, so not a failure either
    data = (root / "bomb.png").read_bytes()
    (root / "cut-bomb.png").write_bytes(data[: len(data) // 3])
    expect["cut-bomb.png"] = "does not decode: ValueError: truncated"  # checked short of decoding
    base.save(root / "whole.jpg", quality=90)
    jpg = (root / "whole.jpg").read_bytes()
    (root / "cut.jpg").write_bytes(jpg[: len(jpg) // 2])
    expect["whole.jpg"], expect["cut.jpg"] = "ok", "does not decode"
    base.save(root / "whole.png")
    png = (root / "whole.png").read_bytes()
    (root / "cut.png").write_bytes(png[: len(png) // 2])
    expect["whole.png"], expect["cut.png"] = "ok", "does not decode"
    (root / "empty.jpg").write_bytes(b"")
    expect["empty.jpg"] = "does not decode: empty file"
    (root / "noise.jpg").write_bytes(bytes(range(256)) * 40)
    tif = bytearray(_tiff_bytes(base))
    entry = struct.pack("<HHIH", 0x0103, 3, 1, 1)  # Compression = none
    at = tif.find(entry)
    tif[at + 8 : at + 10] = struct.pack("<H", 50001)  # WebP, which this libtiff lacks
    (root / "webp.tif").write_bytes(bytes(tif))
    # its tag says WebP, its strips hold raw pixels: tifffile's WebP decoder refuses them
    expect["webp.tif"] = "does not decode: tifffile: WebpError"
    tifffile.imwrite(
        root / "real-webp.tif", np.asarray(base), photometric="rgb", compression="webp"
    )
    expect["real-webp.tif"] = "ok"  # Pillow's libtiff lacks WebP; tifffile decodes it
    lzw = bytearray(_tiff_bytes(base, compression="tiff_lzw"))
    lzw[200:4000] = (bytes(range(256)) * 15)[:3800]  # junk in the first strip, same length
    (root / "junk-lzw.tif").write_bytes(bytes(lzw))
    # libtiff says why on fd 2: the reason carries it
    expect["junk-lzw.tif"] = "does not decode: OSError: decoder error -2 (tempfile.tif: Using code"
    expect["noise.jpg"] = "does not decode"
    return expect


def test_hostile_set_through_the_whole_pipeline(tmp_path):
    expect = hostile_set(tmp_path / "hostile")
    steps, files = run(tmp_path / "hostile", timeout=300)
    assert files == len(expect)
    by_name = {s.name: s for s in steps}
    for s in steps:
        assert not s.timed_out and s.tracebacks == 0, s.name
        assert s.stderr_lines == 0, s.name  # decoder messages go into the reasons
        assert s.code in (0, 1), (s.name, s.code)
        assert s.peak_kib < RSS_LIMIT_KIB, (s.name, s.peak_kib)
        for line in s.failures:  # one line, naming a file of the set
            assert "\n" not in line and line.split(": ", 1)[0] in expect, line
    scan_fail = {
        Path(f.split(": ", 1)[0]).name: f.split(": ", 1)[1] for f in by_name["scan"].failures
    }
    for name, want in expect.items():
        if want == "ok":
            assert name not in scan_fail, (name, scan_fail.get(name))
        else:
            assert scan_fail[name].startswith(want), (name, scan_fail.get(name))
    verify_fail = {f.split(": ", 1)[0] for f in by_name["verify"].failures}
    bad = {n for n, want in expect.items() if want != "ok"}
    assert bad <= verify_fail and not (verify_fail & {n for n, w in expect.items() if w == "ok"})

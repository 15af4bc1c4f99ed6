"""Scale: scan and dupes on 100,000 small generated files — time and peak memory.

    python -m benchmarks.bench_scale [--files 100000] [--out benchmarks/out/scale]

The files are small real JPEGs (48x36 px, each with its own pixels, so every BLAKE3 and most
pHashes differ), with one in ten an exact copy and one in twenty a recompressed copy, spread
over 1,000 folders: what a scan of a big phone dump costs per file, not per byte.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from io import BytesIO

from benchmarks.timing import machine, run_timed

PV = [sys.executable, "-m", "photoverify"]


def _write_chunk(args: tuple[str, int, int, int]) -> int:
    from PIL import Image, ImageDraw

    out, start, stop, seed = args
    rnd = random.Random(seed + start)
    for i in range(start, stop):
        folder = os.path.join(out, f"{i // 100:04d}")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"IMG_{i:06d}.JPG")
        if i % 10 == 9:  # an exact copy of the previous file
            shutil.copyfile(os.path.join(folder, f"IMG_{i - 1:06d}.JPG"), path)
            continue
        im = Image.new("RGB", (48, 36), tuple(rnd.randrange(256) for _ in range(3)))
        draw = ImageDraw.Draw(im)
        for _ in range(6):
            x, y = rnd.randrange(48), rnd.randrange(36)
            draw.ellipse(
                (x, y, x + rnd.randrange(4, 30), y + rnd.randrange(4, 24)),
                fill=tuple(rnd.randrange(256) for _ in range(3)),
            )
        buf = BytesIO()
        im.save(buf, "JPEG", quality=60 if i % 20 == 5 else 90)
        with open(path, "wb") as fh:
            fh.write(buf.getvalue())
    return stop - start


def make_files(out: str, count: int, seed: int = 0) -> None:
    marker = os.path.join(out, f".complete-{count}")
    if os.path.exists(marker):
        return
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    step = 2000
    with ProcessPoolExecutor() as pool:
        list(
            pool.map(
                _write_chunk, [(out, s, min(s + step, count), seed) for s in range(0, count, step)]
            )
        )
    open(marker, "w").close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--out", default="benchmarks/out/scale")
    args = parser.parse_args(argv)
    make_files(args.out, args.files)
    db = os.path.join(tempfile.mkdtemp(prefix="pv-scale-"), "c.sqlite")
    t_scan, rss_scan = run_timed([*PV, "scan", args.out, "--catalog", db, "--quiet"], repeat=1)
    t_rescan, rss_rescan = run_timed([*PV, "scan", args.out, "--catalog", db, "--quiet"], repeat=1)
    t_dupes, rss_dupes = run_timed([*PV, "dupes", "--catalog", db, "--format", "json"], repeat=1)
    print(f"Machine: {machine()}  ")
    print(
        f"Command: `python -m benchmarks.bench_scale --files {args.files}` (one run each: a "
        f"fresh scan of {args.files:,} files takes minutes)\n"
    )
    print("| step | seconds | files/s | peak RSS MiB |")
    print("|---|---|---|---|")
    for name, t, rss in (
        ("scan (fresh catalog)", t_scan, rss_scan),
        ("scan (unchanged re-scan)", t_rescan, rss_rescan),
        ("dupes on the warm catalog", t_dupes, rss_dupes),
    ):
        print(f"| {name} | {t:.1f} | {args.files / t:.0f} | {rss / 1024:.0f} |")
    print(f"\nRe-scan speed-up: {t_scan / t_rescan:.0f}×.")
    shutil.rmtree(os.path.dirname(db), ignore_errors=True)


if __name__ == "__main__":
    main()

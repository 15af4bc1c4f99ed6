"""Scale: scan and dupes on 100,000 small generated files — time and peak memory.

    python -m benchmarks.bench_scale [--files 100000] [--out benchmarks/out/scale]
    python -m benchmarks.bench_scale --per-file-cpu 10000 30000 [--out ...]

--per-file-cpu: a fresh scan of each count of files, its CPU time (the CLI, its worker processes
and their exiftools) per file: flat when what a batch costs does not grow with the catalog.

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
import time
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


def scan_cpu(root: str, pv: list[str] = PV) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of a fresh scan of `root`: user + system time of the command
    and of every process it waited for (workers; exiftools ended by their workers)."""
    db = os.path.join(tempfile.mkdtemp(prefix="pv-scale-"), "c.sqlite")
    argv = [*pv, "scan", root, "--catalog", db, "--quiet"]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        t0 = time.perf_counter()
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2),
        ])  # fmt: skip
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - t0
    finally:
        os.close(devnull)
        shutil.rmtree(os.path.dirname(db), ignore_errors=True)
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise RuntimeError(f"{argv} exited {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_utime + usage.ru_stime


def per_file_cpu(out: str, counts: list[int]) -> None:
    trees = {}
    for n in counts:
        trees[n] = os.path.join(out, f"{n}")
        make_files(trees[n], n)
    print(f"Machine: {machine()}  ")
    print(
        "Command: `python -m benchmarks.bench_scale --per-file-cpu "
        f"{' '.join(map(str, counts))}` (one fresh scan each)\n"
    )
    print("| files | wall s | CPU s | CPU ms per file |")
    print("|---|---|---|---|")
    for n in counts:
        wall, cpu = scan_cpu(trees[n])
        print(f"| {n:,} | {wall:.1f} | {cpu:.1f} | {cpu / n * 1000:.2f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--out", default="benchmarks/out/scale")
    parser.add_argument("--per-file-cpu", type=int, nargs="+", metavar="FILES")
    args = parser.parse_args(argv)
    if args.per_file_cpu:
        per_file_cpu(args.out, args.per_file_cpu)
        return
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

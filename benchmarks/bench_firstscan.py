"""A first scan beside the two-core exiftool floor (issue 16.3).

    python -m benchmarks.bench_firstscan ROOT [--repeat 3] [--old-path DIR]

Each round, alternated in the same minutes: a fresh `photoverify scan ROOT` into a new catalog;
the floor, `exiftool -r -j -n` over ROOT's files split in two halves of about equal bytes, the two
exiftools run at once (what two cores of exiftool alone take); and with --old-path, the same scan
by another checkout's code (DIR holds a `photoverify` package, put first on PYTHONPATH). Reports
each contender's median, the median of the per-round ratios to the floor, and the load average.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def _files(root: str) -> list[tuple[int, str]]:
    out = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            out.append((os.path.getsize(path), path))
    return sorted(out, reverse=True)


def _halves(root: str, tmp: str) -> list[str]:
    """Two exiftool argument files, ROOT's files dealt largest first to the lighter half."""
    halves: list[list[str]] = [[], []]
    weight = [0, 0]
    for size, path in _files(root):
        i = 0 if weight[0] <= weight[1] else 1
        halves[i].append(path)
        weight[i] += size
    out = []
    for i, paths in enumerate(halves):
        argfile = os.path.join(tmp, f"half{i}.args")
        with open(argfile, "w", encoding="utf-8") as fh:
            fh.write("\n".join(paths) + "\n")
        out.append(argfile)
    return out


def _floor(argfiles: list[str]) -> float:
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(["exiftool", "-j", "-n", "-@", a], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        for a in argfiles
    ]  # fmt: skip
    for p in procs:
        p.wait()
    return time.perf_counter() - t0


def _scan(root: str, db: str, pythonpath: str | None) -> float:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "photoverify", "scan", root, "--catalog", db, "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False,
        cwd=tempfile.gettempdir(),
    )  # fmt: skip
    return time.perf_counter() - t0


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run(root: str, repeat: int, old_path: str | None) -> None:
    tmp = tempfile.mkdtemp(prefix="pv-firstscan-")
    times: dict[str, list[float]] = {"exiftool floor (2 at once)": [], "scan": []}
    if old_path:
        times["scan, old code"] = []
    try:
        argfiles = _halves(root, tmp)
        _floor(argfiles)  # page cache and exiftool's own start-up warm
        print(f"load average before: {_load()}")
        for i in range(repeat):
            order = list(times)
            order = order[i % len(order) :] + order[: i % len(order)]
            for name in order:
                db = os.path.join(tmp, f"c{i}-{len(times[name])}-{name[:4]}.sqlite")
                if name.startswith("exiftool"):
                    t = _floor(argfiles)
                else:
                    t = _scan(root, db, old_path if name.endswith("old code") else None)
                times[name].append(t)
        print(f"load average after: {_load()}\n")
        floor = times["exiftool floor (2 at once)"]
        print("| contender | median s | runs (s) | per-round ratio to the floor | median ratio |")
        print("|---|---:|---|---|---:|")
        for name, ts in times.items():
            ratios = [t / f for t, f in zip(ts, floor, strict=True)]
            print(
                f"| {name} | {statistics.median(ts):.2f} | {', '.join(f'{t:.2f}' for t in ts)} "
                f"| {', '.join(f'{r:.2f}' for r in ratios)} | {statistics.median(ratios):.2f} |"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--old-path", help="a folder whose `photoverify` package is the old code")
    args = ap.parse_args(argv)
    run(os.path.abspath(args.root), args.repeat, args.old_path)


if __name__ == "__main__":
    main()

"""A first scan beside the two-core exiftool floor (issue 16.3).

    python -m benchmarks.bench_firstscan ROOT [--repeat 3] [--old-path DIR]

Each round, in an order that rotates from round to round: a fresh `photoverify scan ROOT` into a
new catalog, and the same with its signature step replaced by one returning None (as
bench_signature does); the floor, `exiftool -j -n` over ROOT's files split in two halves of
about equal bytes, the two exiftools run at once (what two cores of exiftool alone take); and
with --old-path, both scans by another checkout's code (DIR holds a `photoverify` package, put
first on PYTHONPATH). Reports each contender's median wall and CPU seconds (user + system of it
and every process it started, pool workers' exiftools included: this process adopts orphans),
the median of the per-round ratios to the floor, and the
load average: under load the CPU seconds move less than the wall.
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

from benchmarks.bench_signature import NO_SIGNATURE
from benchmarks.timing import adopt_orphans, children_cpu

FLOOR = "exiftool floor (2 at once)"


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


def _scan(root: str, db: str, pythonpath: str | None, signed: bool) -> float:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    head = [sys.executable, "-m", "photoverify"] if signed else [sys.executable, "-c", NO_SIGNATURE]
    t0 = time.perf_counter()
    subprocess.run(
        [*head, "scan", root, "--catalog", db, "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False,
        cwd=tempfile.gettempdir(),
    )  # fmt: skip
    return time.perf_counter() - t0


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run(root: str, repeat: int, old_path: str | None) -> None:
    tmp = tempfile.mkdtemp(prefix="pv-firstscan-")
    adopt_orphans()
    names = [FLOOR, "scan", "scan without signature"]
    if old_path:
        names += ["scan, old code", "scan without signature, old code"]
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    try:
        argfiles = _halves(root, tmp)
        _floor(argfiles)  # page cache and exiftool's own start-up warm
        print(f"load average before: {_load()}")
        for i in range(repeat):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                db = os.path.join(tmp, f"c{i}-{names.index(name)}.sqlite")
                c0 = children_cpu()
                if name == FLOOR:
                    t = _floor(argfiles)
                else:
                    path = old_path if name.endswith("old code") else None
                    t = _scan(root, db, path, "without signature" not in name)
                wall[name].append(t)
                cpu[name].append(children_cpu() - c0)
        print(f"load average after: {_load()}\n")
        _table(wall, cpu)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _table(wall: dict[str, list[float]], cpu: dict[str, list[float]]) -> None:
    def runs(xs: list[float]) -> str:
        return ", ".join(f"{x:.2f}" for x in xs)

    print("| contender | median wall s | runs (s) | per-round ratio to the floor | median ratio "
          "| median CPU s | CPU ratio to the floor |")  # fmt: skip
    print("|---|---:|---|---|---:|---:|---:|")
    med = statistics.median
    for name in wall:
        ratios = [t / f for t, f in zip(wall[name], wall[FLOOR], strict=True)]
        cpu_ratio = med(cpu[name]) / med(cpu[FLOOR])
        print(
            f"| {name} | {med(wall[name]):.2f} | {runs(wall[name])} | {runs(ratios)} "
            f"| {med(ratios):.2f} | {med(cpu[name]):.2f} | {cpu_ratio:.2f} |"
        )
    for tag in ("", ", old code"):
        signed, unsigned = wall.get(f"scan{tag}"), wall.get(f"scan without signature{tag}")
        if signed and unsigned:
            ratios = [a / b for a, b in zip(signed, unsigned, strict=True)]
            cpu_ratio = med(cpu[f"scan{tag}"]) / med(cpu[f"scan without signature{tag}"])
            print(
                f"\nscan{tag} with / without signature: per round {runs(ratios)}, median "
                f"{med(ratios):.3f}; CPU medians {cpu_ratio:.3f}"
            )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--old-path", help="a folder whose `photoverify` package is the old code")
    args = ap.parse_args(argv)
    run(os.path.abspath(args.root), args.repeat, args.old_path)


if __name__ == "__main__":
    main()

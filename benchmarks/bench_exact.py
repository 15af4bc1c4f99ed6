"""Exact duplicates at the speed of the byte-only tools: `photoverify dupes --exact` beside
`jdupes -r` and `rmlint` on the same trees, warm and cold page cache.

    python -m benchmarks.bench_exact [DIR...] [--small 20000] [--repeat 3] [--out FILE]

Trees: each DIR, else the real corpus replicated 7 times (every file has six byte copies: the
whole tree is read), and `--small N` generated small files with N/10 byte copies (most sizes
collide, a head block tells most apart). No catalog is involved: `dupes --exact` walks and reads
like its peers, so its warm-cache figure is also its warm-catalog one. Contenders run alternated
(ours, jdupes, rmlint, ours...), medians of --repeat, the load average quoted before and after
each table; cold runs drop the page cache before each timed run (root only). Each run's groups
are compared: "same sets" says whether all three found the same sets of files.
"""

from __future__ import annotations

import os
import shlex
import statistics
import sys
from pathlib import Path

from benchmarks import sidebyside
from benchmarks.sidebyside import LIB12, drop_caches, load, wall_and_cpu
from benchmarks.timing import run_timed


def commands(tree: Path, work: Path) -> dict[str, str]:
    pv = f"{shlex.quote(sys.executable)} -m photoverify"
    q = shlex.quote(str(tree))
    return {
        "photoverify dupes --exact": f"{pv} dupes --exact --format fdupes0 {q} > {work}/ours",
        "jdupes -r": f"jdupes -r -q -0 {q} > {work}/jdupes",
        "rmlint": f"cd {work} && rmlint -T df -o fdupes:{work}/rmlint {q} > /dev/null",
    }


def sets_nul(path: Path) -> set[frozenset[bytes]]:
    groups = path.read_bytes().split(b"\0\0")
    return {frozenset(n for n in g.split(b"\0") if n) for g in groups if g.strip(b"\0")}


def sets_lines(path: Path) -> set[frozenset[bytes]]:
    """rmlint's fdupes output: groups separated by a blank line (it starts with one too)."""
    groups = path.read_bytes().split(b"\n\n")
    return {frozenset(n for n in g.split(b"\n") if n) for g in groups if g.strip(b"\n")}


def measure(tree: Path, work: Path, repeat: int, cold: bool) -> tuple[dict[str, list], bool]:
    """{contender: [median wall s, median CPU s]}, and whether all found the same sets."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands(tree, work)}
    for _ in range(repeat):  # alternated: every contender sees the same minute
        for name, cmd in commands(tree, work).items():
            runs[name].append(wall_and_cpu(cmd, drop_caches if cold else None))
    same = sets_nul(work / "ours") == sets_nul(work / "jdupes") == sets_lines(work / "rmlint")
    return {n: [statistics.median(x) for x in zip(*r, strict=True)] for n, r in runs.items()}, same


def tree_rows(tree: Path, label: str, work: Path, repeat: int, cold_ok: bool) -> list[str]:
    files = [p for p in tree.rglob("*") if p.is_file() and not p.is_symlink()]
    mib = sum(p.stat().st_size for p in files) / 2**20
    rows = []
    for name, cold in [("warm", False)] + ([("cold", True)] if cold_ok else []):
        if not cold:  # warm: every file read once first
            run_timed(f"find {shlex.quote(str(tree))} -type f -print0 | xargs -0 cat > /dev/null",
                      shell=True, repeat=1)  # fmt: skip
        before = load()
        t, same = measure(tree, work, repeat, cold)
        (ours, c_ours), (jd, c_jd), (rm, c_rm) = t.values()
        rows.append(
            f"| {label}: {len(files)} files, {mib:.0f} MiB | {name} | {before} → {load()} | "
            f"{ours:.2f} ({c_ours:.2f}) | {jd:.2f} ({c_jd:.2f}) | {rm:.2f} ({c_rm:.2f}) | "
            f"{ours / jd:.2f} | {ours / rm:.2f} | {'yes' if same else '**no**'} |"
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    args = sidebyside.parser(__doc__, "exact").parse_args(argv)
    sidebyside.run_section(
        args,
        argv,
        "exact",
        title="Exact duplicates: dupes --exact beside jdupes and rmlint",
        peers=[["jdupes", "-v"], ["rmlint", "--version"]],
        method=f"Median of {args.repeat}, contenders alternated; wall seconds (CPU seconds, user + "
        "system). Ratios are of wall times. Targets: ≤ 1.0× rmlint "
        "cold, ≤ 2× jdupes warm (no catalog is read, so warm cache is warm catalog).",
        trees_of=lambda scratch: sidebyside.trees(
            args, scratch, lambda d: os.path.basename(d.rstrip("/")), LIB12.name, "small files",
            copies=args.small // 10,
        ),
        tables=tree_rows,
        after=[
            "| tree | cache | load avg | photoverify | jdupes -r | rmlint | ×jdupes | ×rmlint "
            "| same sets |",
            "|---|---|---|---:|---:|---:|---:|---:|---|",
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main()

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

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

from benchmarks import sidebyside
from benchmarks.sidebyside import LIB12, alternated, caches, load, tree_size

TITLE = "Exact duplicates: dupes --exact beside jdupes and rmlint"
METHOD = (
    "wall seconds (CPU seconds, user + system). Ratios are of wall times. Targets: ≤ 1.0× rmlint "
    "cold, ≤ 2× jdupes on a warm catalog. `dupes --exact` reads bytes and no catalog; `--exact "
    "--trust-stat` runs on a catalog `scan` made before (untimed), reading only the same-size "
    'files whose stat the catalog does not hold unchanged (here none). "As a table": '
    "`dupes --exact` with its default output (a table a cluster, the keeper and why, 80 "
    "columns) instead of fdupes' list."
)
TABLE = [
    "| tree | cache | load avg | photoverify | jdupes -r | rmlint | ×jdupes | ×rmlint "
    "| --trust-stat, warm catalog | ×jdupes | same sets | as a table | ×jdupes |",
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
]


def commands(tree: Path, work: Path) -> dict[str, str]:
    pv = f"{shlex.quote(sys.executable)} -m photoverify"
    q = shlex.quote(str(tree))
    cat = shlex.quote(str(work / "catalog.sqlite"))
    return {
        "photoverify dupes --exact": f"{pv} dupes --exact --format fdupes0 {q} > {work}/ours",
        "photoverify dupes --exact --trust-stat": f"{pv} dupes --exact --trust-stat --catalog "
        f"{cat} --format fdupes0 {q} > {work}/trusted",
        "jdupes -r": f"jdupes -r -q -0 {q} > {work}/jdupes",
        "rmlint": f"cd {work} && rmlint -T df -o fdupes:{work}/rmlint {q} > /dev/null",
        # what a person sees by default: a table a cluster, with the keeper and why (80 columns)
        "photoverify dupes --exact, table": f"COLUMNS=80 {pv} dupes --exact {q} > {work}/table",
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
    medians = alternated(commands(tree, work), repeat, cold)
    ours = sets_nul(work / "ours")
    same = ours == sets_nul(work / "trusted") == sets_nul(work / "jdupes")
    return medians, same and ours == sets_lines(work / "rmlint")


def tree_rows(tree: Path, label: str, work: Path, repeat: int, cold_ok: bool) -> list[str]:
    files, mib = tree_size(tree)
    pv = [sys.executable, "-m", "photoverify"]
    subprocess.run([*pv, "scan", str(tree), "--catalog", str(work / "catalog.sqlite"), "-q"],
                   stdout=subprocess.DEVNULL, check=False)  # fmt: skip
    rows = []
    for name, cold in caches(tree, cold_ok):
        before = load()
        t, same = measure(tree, work, repeat, cold)
        (ours, c_ours), (tr, c_tr), (jd, c_jd), (rm, c_rm), (tab, c_tab) = t.values()
        rows.append(
            f"| {label}: {files} files, {mib:.0f} MiB | {name} | {before} → {load()} | "
            f"{ours:.2f} ({c_ours:.2f}) | {jd:.2f} ({c_jd:.2f}) | {rm:.2f} ({c_rm:.2f}) | "
            f"{ours / jd:.2f} | {ours / rm:.2f} | {tr:.2f} ({c_tr:.2f}) | {tr / jd:.2f} | "
            f"{'yes' if same else '**no**'} | {tab:.2f} ({c_tab:.2f}) | {tab / jd:.2f} |"
        )
    return rows


def trees(args: argparse.Namespace, scratch: Path) -> list[sidebyside.Tree]:
    """Each DIR by its folder's name, else the 12 MP library or the real corpus ×7; small files
    with a byte copy of one in ten."""

    def label(d: str) -> str:
        return os.path.basename(d.rstrip("/"))

    return sidebyside.trees(args, scratch, label, LIB12.name, "small files", args.small // 10)


def main(argv: list[str] | None = None) -> None:
    args = sidebyside.parser(__doc__, "exact").parse_args(argv)
    peers = [["jdupes", "-v"], ["rmlint", "--version"]]
    sidebyside.run_section(args, argv, "exact", TITLE, peers, METHOD, trees, tree_rows, TABLE)


if __name__ == "__main__":
    main()

"""Fixity at the speed of the disk: photoverify's `verify --manifest` and `manifest --no-catalog`
beside `b3sum --check`, `b3sum`, `sha256sum -c` and `sha256sum` on the same trees.

    python -m benchmarks.bench_fixity [DIR...] [--small 20000] [--repeat 3] [--out FILE]

DIR defaults to the 12 MP library (benchmarks/out/lib12mp, made by
`python -m benchmarks.make_library benchmarks/out/lib12mp --photos 340 --seed 12 --size 12mp`)
when it is complete (its truth.json written), else the real corpus replicated 7 times.
`--small N` adds a generated tree of N small files (2 to 40 KB of random bytes, seeded), where
per-file costs dominate. Every pair runs
alternated (ours, theirs, ours, theirs...) so both see the same machine load; figures are
medians, and the load average is quoted before and after each table. Cold-cache runs drop the
page cache before each timed run (root only); without root only warm runs are made. Every
command reads every byte: photoverify's verify and manifest take no digest from a catalog.
photoverify's own modules are byte-compiled first, as an install does (PYTHONDONTWRITEBYTECODE
would otherwise make every run compile them again).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from benchmarks import sidebyside
from benchmarks.sidebyside import alternated, caches, load, tree_size
from benchmarks.timing import run_timed

TITLE = "Fixity: verify and manifest beside b3sum and sha256sum"
METHOD = (
    "s = wall time, CPU s = user + system time. Throughput ratio = their wall time / our wall "
    "time (≥ 0.9 is the target for blake3, ≥ 0.91 (within 1.1×) for sha256)."
)
LIB12_LABEL = "12 MP library"


def pairs(tree: Path, work: Path) -> list[tuple[str, str, str, str]]:
    """(label, our shell command, their label, their shell command), each run inside `tree`."""
    pv = f"{shlex.quote(sys.executable)} -m photoverify"
    cat = shlex.quote(str(work / "catalog.sqlite"))
    b3, sha = shlex.quote(str(work / "m.b3")), shlex.quote(str(work / "m.sha256"))
    out = shlex.quote(str(work / "out"))
    files = "find . -type f -print0 | sort -z | xargs -0"
    return [
        ("verify --manifest (blake3)", f"{pv} verify . --manifest {b3} --catalog {cat}",
         "b3sum --check", f"b3sum --check --quiet {b3}"),
        ("verify --manifest (sha256)", f"{pv} verify . --manifest {sha} --catalog {cat}",
         "sha256sum -c", f"sha256sum -c --quiet {sha}"),
        ("manifest --no-catalog (blake3)",
         f"{pv} manifest . --no-catalog --format b3sum -o {out}.b3",
         "b3sum", f"{files} b3sum > {out}.b3sum"),
        ("manifest --no-catalog (sha256)",
         f"{pv} manifest . --no-catalog --format sha256sum -o {out}.sha",
         "sha256sum", f"{files} sha256sum > {out}.sha256sum"),
    ]  # fmt: skip


def measure(tree: Path, work: Path, repeat: int, cold: bool) -> list[tuple]:
    """(ours, wall, cpu, theirs, wall, cpu) per pair: medians of `repeat` alternated runs."""
    rows = []
    inside = f"cd {shlex.quote(str(tree))} && "
    for ours, ours_cmd, theirs, theirs_cmd in pairs(tree, work):
        med = alternated({"ours": inside + ours_cmd, "theirs": inside + theirs_cmd}, repeat, cold)
        rows.append((ours, *med["ours"], theirs, *med["theirs"]))
    return rows


def tree_section(tree: Path, label: str, work: Path, repeat: int, cold_ok: bool) -> list[str]:
    """The tables for one tree: warm, then cold when the page cache can be dropped."""
    files, mib = tree_size(tree)
    q = shlex.quote(str(tree))
    # the manifests the checks read, written once by the peer tools themselves
    run_timed(f"cd {q} && find . -type f -print0 | sort -z | xargs -0 b3sum > {work / 'm.b3'}",
              shell=True, repeat=1)  # fmt: skip
    run_timed(f"cd {q} && find . -type f -print0 | sort -z | xargs -0 sha256sum > "
              f"{work / 'm.sha256'}", shell=True, repeat=1)  # fmt: skip
    lines = [f"\n### {label}: {files} files, {mib:.0f} MiB\n"]
    for name, cold in caches(tree, cold_ok):
        before = load()
        rows = measure(tree, work, repeat, cold)
        lines += [
            f"\n{name} cache (load average {before} before, {load()} after):\n",
            "| photoverify | s | CPU s | MiB/s | peer | s | CPU s | MiB/s | ratio |",
            "|---|---:|---:|---:|---|---:|---:|---:|---:|",
        ]
        for ours, t_ours, c_ours, theirs, t_theirs, c_theirs in rows:
            lines.append(
                f"| `{ours}` | {t_ours:.2f} | {c_ours:.2f} | {mib / t_ours:.0f} | `{theirs}` | "
                f"{t_theirs:.2f} | {c_theirs:.2f} | {mib / t_theirs:.0f} | "
                f"{t_theirs / t_ours:.2f} |"
            )
    return lines


def trees(args: argparse.Namespace, scratch: Path) -> list[sidebyside.Tree]:
    """Each DIR by its full path, else the 12 MP library or the real corpus ×7; small files."""
    small = f"{args.small} small files (generated)"
    return sidebyside.trees(args, scratch, lambda d: str(Path(d).resolve()), LIB12_LABEL, small)


def main(argv: list[str] | None = None) -> None:
    ap = sidebyside.parser(__doc__, "fixity")
    ap.add_argument("--note", default="", help="a line about the conditions (e.g. machine load)")
    args = ap.parse_args(argv)
    note = [args.note + "\n"] if args.note else []
    peers = [["b3sum", "--version"], ["sha256sum", "--version"]]
    sidebyside.run_section(args, argv, "fixity", TITLE, peers, METHOD, trees, tree_section, note)


if __name__ == "__main__":
    main()

"""Fixity at the speed of the disk: photoverify's `verify --manifest` and `manifest --no-catalog`
beside `b3sum --check`, `b3sum`, `sha256sum -c` and `sha256sum` on the same tree.

    python -m benchmarks.bench_fixity [DIR] [--repeat 3] [--out benchmarks/results/fixity.md]

DIR defaults to the 12 MP library (benchmarks/out/lib12mp, made by
`python -m benchmarks.make_library benchmarks/out/lib12mp --photos 340 --seed 12 --size 12mp`)
when it exists, else the real corpus. Every pair runs alternated (ours, theirs, ours, theirs...)
so both see the same machine load; figures are medians. Cold-cache runs drop the page cache
before each timed run (root only), as bench_apply does; without root only warm runs are made.
Every command reads every byte: photoverify's verify and manifest take no digest from a catalog.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.timing import header, run_timed, version

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parents[1] / "shared" / "corpus" / "real"
LIB12 = HERE / "out" / "lib12mp"
DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def can_drop_caches() -> bool:
    try:
        with open(DROP_CACHES, "w") as fh:
            fh.write("3\n")
        return True
    except OSError:
        return False


def drop_caches() -> None:
    import os

    os.sync()
    DROP_CACHES.write_text("3\n")


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


def measure(tree: Path, work: Path, repeat: int, cold: bool) -> list[tuple[str, float, str, float]]:
    rows = []
    for ours, ours_cmd, theirs, theirs_cmd in pairs(tree, work):
        times: dict[str, list[float]] = {"ours": [], "theirs": []}
        for _ in range(repeat):  # alternated: both contenders see the same minute
            for who, cmd in (("ours", ours_cmd), ("theirs", theirs_cmd)):
                seconds, _ = run_timed(
                    f"cd {shlex.quote(str(tree))} && {cmd}",
                    shell=True,
                    before=drop_caches if cold else None,
                    repeat=1,
                )
                times[who].append(seconds)
        rows.append(
            (ours, statistics.median(times["ours"]), theirs, statistics.median(times["theirs"]))
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", nargs="?", default=str(LIB12 if LIB12.exists() else CORPUS))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(HERE / "results" / "fixity.md"))
    ap.add_argument("--no-cold", action="store_true", help="warm cache only")
    ap.add_argument("--note", default="", help="a line about the conditions (e.g. machine load)")
    args = ap.parse_args(argv)
    tree = Path(args.dir).resolve()
    files = [p for p in tree.rglob("*") if p.is_file() and not p.is_symlink()]
    mib = sum(p.stat().st_size for p in files) / 2**20
    work = Path(tempfile.mkdtemp(prefix="pv-fixity-"))
    try:
        # the manifests the checks read, written once by the peer tools themselves
        run_timed(f"cd {shlex.quote(str(tree))} && find . -type f -print0 | sort -z | xargs -0 "
                  f"b3sum > {work / 'm.b3'}", shell=True, repeat=1)  # fmt: skip
        run_timed(f"cd {shlex.quote(str(tree))} && find . -type f -print0 | sort -z | xargs -0 "
                  f"sha256sum > {work / 'm.sha256'}", shell=True, repeat=1)  # fmt: skip
        scenarios = [("warm", False)]
        if not args.no_cold and can_drop_caches():
            scenarios.append(("cold", True))
        lines = [
            "## Fixity: verify and manifest beside b3sum and sha256sum\n",
            header(
                "bench_fixity",
                " ".join(argv if argv is not None else sys.argv[1:]),
                f"{version(['b3sum', '--version'])}, {version(['sha256sum', '--version'])}",
            ),
            f"Tree: {tree} — {len(files)} files, {mib:.0f} MiB. Median of {args.repeat}, "
            "contenders alternated. Throughput ratio = their time / our time (≥ 0.9 is the "
            "target for blake3, ≥ 0.91 (within 1.1×) for sha256).\n",
        ]
        if args.note:
            lines.append(args.note + "\n")
        for name, cold in scenarios:
            if cold:
                drop_caches()
            else:  # warm: every file read once first
                run_timed(f"cd {shlex.quote(str(tree))} && find . -type f -print0 | xargs -0 cat "
                          "> /dev/null", shell=True, repeat=1)  # fmt: skip
            rows = measure(tree, work, args.repeat, cold)
            lines += [
                f"\n### {name} cache\n",
                "| photoverify | s | MiB/s | peer | s | MiB/s | ratio |",
                "|---|---:|---:|---|---:|---:|---:|",
            ]
            for ours, t_ours, theirs, t_theirs in rows:
                lines.append(
                    f"| `{ours}` | {t_ours:.2f} | {mib / t_ours:.0f} | `{theirs}` | "
                    f"{t_theirs:.2f} | {mib / t_theirs:.0f} | {t_theirs / t_ours:.2f} |"
                )
        text = "\n".join(lines) + "\n"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()

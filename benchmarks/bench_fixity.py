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
import compileall
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.timing import header, run_timed, version

HERE = Path(__file__).resolve().parent
# PHOTOVERIFY_CORPUS: where ../shared/corpus is when the checkout lives elsewhere (a worktree)
CORPUS = Path(os.environ.get("PHOTOVERIFY_CORPUS") or HERE.parents[1] / "shared/corpus") / "real"
LIB12 = HERE / "out" / "lib12mp"
REPO = HERE.parent
DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def can_drop_caches() -> bool:
    try:
        with open(DROP_CACHES, "w") as fh:
            fh.write("3\n")
        return True
    except OSError:
        return False


def drop_caches() -> None:
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


def wall_and_cpu(cmd: str, before: Callable[[], None] | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one shell command; CPU is user + system time of the
    command and every child it waited for (os.wait4). On a loaded machine the wall time says
    who got the cores; the CPU time says what each needed."""
    if before is not None:
        before()
    devnull = os.open(os.devnull, os.O_WRONLY)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
    try:
        t0 = time.perf_counter()
        pid = os.posix_spawn("/bin/sh", ["/bin/sh", "-c", cmd], os.environ, file_actions=actions)
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - t0
    finally:
        os.close(devnull)
    if (code := os.waitstatus_to_exitcode(status)) != 0:
        raise subprocess.CalledProcessError(code, cmd)
    return wall, usage.ru_utime + usage.ru_stime


def measure(tree: Path, work: Path, repeat: int, cold: bool) -> list[tuple]:
    """(ours, wall, cpu, theirs, wall, cpu) per pair: medians of `repeat` alternated runs."""
    rows = []
    for ours, ours_cmd, theirs, theirs_cmd in pairs(tree, work):
        runs: dict[str, list[tuple[float, float]]] = {"ours": [], "theirs": []}
        for _ in range(repeat):  # alternated: both contenders see the same minute
            for who, cmd in (("ours", ours_cmd), ("theirs", theirs_cmd)):
                got = wall_and_cpu(f"cd {shlex.quote(str(tree))} && {cmd}",
                                   drop_caches if cold else None)  # fmt: skip
                runs[who].append(got)
        med = {w: [statistics.median(x) for x in zip(*r, strict=True)] for w, r in runs.items()}
        rows.append((ours, *med["ours"], theirs, *med["theirs"]))
    return rows


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def compile_photoverify() -> None:
    for folder in ("photoverify", "dedupe", "verify"):
        compileall.compile_dir(str(REPO / folder), quiet=1)


def make_small_tree(root: Path, files: int, seed: int = 16, copies: int = 0) -> Path:
    """`files` files of 2 to 40 KB of random bytes in folders of 200, and `copies` byte copies of
    some of them under copies/ (for the exact-duplicate benchmark)."""
    rnd = random.Random(seed)
    made = []
    for n in range(files):
        folder = root / f"d{n // 200:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"f{n % 200:04d}.jpg"
        path.write_bytes(rnd.randbytes(rnd.randint(2000, 40000)))
        made.append(path)
    if copies:
        (root / "copies").mkdir(exist_ok=True)
        for n, path in enumerate(made[:: max(1, files // copies)][:copies]):
            shutil.copy2(path, root / "copies" / f"{n:05d}-{path.name}")
    return root


def tree_section(tree: Path, work: Path, repeat: int, cold_ok: bool, label: str) -> list[str]:
    """The tables for one tree: warm, then cold when the page cache can be dropped."""
    files = [p for p in tree.rglob("*") if p.is_file() and not p.is_symlink()]
    mib = sum(p.stat().st_size for p in files) / 2**20
    q = shlex.quote(str(tree))
    # the manifests the checks read, written once by the peer tools themselves
    run_timed(f"cd {q} && find . -type f -print0 | sort -z | xargs -0 b3sum > {work / 'm.b3'}",
              shell=True, repeat=1)  # fmt: skip
    run_timed(f"cd {q} && find . -type f -print0 | sort -z | xargs -0 sha256sum > "
              f"{work / 'm.sha256'}", shell=True, repeat=1)  # fmt: skip
    lines = [f"\n### {label}: {len(files)} files, {mib:.0f} MiB\n"]
    for name, cold in [("warm", False)] + ([("cold", True)] if cold_ok else []):
        if cold:
            drop_caches()
        else:  # warm: every file read once first
            run_timed(f"cd {q} && find . -type f -print0 | xargs -0 cat > /dev/null", shell=True,
                      repeat=1)  # fmt: skip
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


def default_tree(work: Path) -> Path:
    if (LIB12 / "truth.json").exists():  # written last: the library is complete
        return LIB12
    tree = work / "corpus-x7"
    for n in range(7):
        shutil.copytree(CORPUS, tree / f"c{n}", symlinks=True)
    return tree


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="*")
    ap.add_argument("--small", type=int, default=20000, help="small files (0: none)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(HERE / "results" / "fixity.md"))
    ap.add_argument("--no-cold", action="store_true", help="warm cache only")
    ap.add_argument("--note", default="", help="a line about the conditions (e.g. machine load)")
    args = ap.parse_args(argv)
    compile_photoverify()
    scratch = Path(tempfile.mkdtemp(prefix="pv-fixity-"))
    work = scratch / "work"
    work.mkdir()
    try:
        trees = [(Path(d).resolve(), str(Path(d).resolve())) for d in args.dirs]
        if not trees:
            tree = default_tree(scratch)
            trees.append((tree, "12 MP library" if tree == LIB12 else "real corpus ×7"))
        if args.small:
            small = make_small_tree(scratch / "small", args.small)
            trees.append((small, f"{args.small} small files (generated)"))
        cold_ok = not args.no_cold and can_drop_caches()
        lines = [
            "## Fixity: verify and manifest beside b3sum and sha256sum\n",
            header(
                "bench_fixity",
                " ".join(argv if argv is not None else sys.argv[1:]),
                f"{version(['b3sum', '--version'])}, {version(['sha256sum', '--version'])}",
            ),
            f"Median of {args.repeat}, contenders alternated; s = wall time, CPU s = user + system "
            "time. Throughput ratio = their wall time / our wall "
            "time (≥ 0.9 is the target for blake3, ≥ 0.91 (within 1.1×) for sha256). "
            + ("Cold: page cache dropped before each run." if cold_ok else
               "Cold runs not made: the page cache cannot be dropped here (not root).")
            + "\n",
        ]  # fmt: skip
        if args.note:
            lines.append(args.note + "\n")
        for tree, label in trees:
            lines += tree_section(tree, work, args.repeat, cold_ok, label)
        text = "\n".join(lines) + "\n"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()

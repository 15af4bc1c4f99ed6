"""What the side-by-side benchmarks (bench_fixity, bench_exact) share: photoverify and its peer
tools run alternated on the same trees, warm and cold page cache, one markdown section.

The trees: each DIR given, else the 12 MP library (benchmarks/out/lib12mp) when complete, else
the real corpus replicated 7 times; and `--small N` generated small files. Cold runs drop the
page cache before each timed run (root only).
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
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from benchmarks.timing import header, run_timed, version

HERE = Path(__file__).resolve().parent
# PHOTOVERIFY_CORPUS: where ../shared/corpus is when the checkout lives elsewhere (a worktree)
CORPUS = Path(os.environ.get("PHOTOVERIFY_CORPUS") or HERE.parents[1] / "shared/corpus") / "real"
LIB12 = HERE / "out" / "lib12mp"
REPO = HERE.parent
DROP_CACHES = Path("/proc/sys/vm/drop_caches")
# (tree, its label in the tables)
Tree = tuple[Path, str]


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


def alternated(cmds: dict[str, str], repeat: int, cold: bool) -> dict[str, list[float]]:
    """{name: [median wall s, median CPU s]} of each shell command over `repeat` rounds, the
    commands alternated in each (every contender sees the same minute); `cold`: the page cache
    dropped before each run."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
    for _ in range(repeat):
        for name, cmd in cmds.items():
            runs[name].append(wall_and_cpu(cmd, drop_caches if cold else None))
    return {n: [statistics.median(x) for x in zip(*r, strict=True)] for n, r in runs.items()}


def caches(tree: Path, cold_ok: bool) -> Iterator[tuple[str, bool]]:
    """("warm", False) once every file of `tree` has been read, then ("cold", True) with the
    page cache dropped, when it can be."""
    run_timed(f"find {shlex.quote(str(tree))} -type f -print0 | xargs -0 cat > /dev/null",
              shell=True, repeat=1)  # fmt: skip
    yield "warm", False
    if cold_ok:
        drop_caches()
        yield "cold", True


def tree_size(tree: Path) -> tuple[int, float]:
    """(files, MiB) of `tree`, links not followed."""
    files = [p for p in tree.rglob("*") if p.is_file() and not p.is_symlink()]
    return len(files), sum(p.stat().st_size for p in files) / 2**20


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


def default_tree(work: Path) -> Path:
    if (LIB12 / "truth.json").exists():  # written last: the library is complete
        return LIB12
    tree = work / "corpus-x7"
    for n in range(7):
        shutil.copytree(CORPUS, tree / f"c{n}", symlinks=True)
    return tree


def parser(doc: str, name: str) -> argparse.ArgumentParser:
    """The arguments every side-by-side benchmark takes; its section goes to results/NAME.md."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("dirs", nargs="*")
    ap.add_argument("--small", type=int, default=20000, help="small files (0: none)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(HERE / "results" / f"{name}.md"))
    ap.add_argument("--no-cold", action="store_true", help="warm cache only")
    return ap


def trees(
    args: argparse.Namespace,
    scratch: Path,
    dir_label: Callable[[str], str],
    lib12_label: str,
    small_label: str,
    copies: int = 0,
) -> list[Tree]:
    """Each DIR (labelled by `dir_label`), else the default tree (the 12 MP library, or the real
    corpus ×7 made in `scratch`); then `args.small` small files with `copies` byte copies."""
    found = [(Path(d).resolve(), dir_label(d)) for d in args.dirs]
    if not found:
        tree = default_tree(scratch)
        found.append((tree, lib12_label if tree == LIB12 else "real corpus ×7"))
    if args.small:
        found.append((make_small_tree(scratch / "small", args.small, copies=copies), small_label))
    return found


def cold_sentence(cold_ok: bool) -> str:
    return (
        "Cold: page cache dropped before each run."
        if cold_ok
        else "Cold runs not made: the page cache cannot be dropped here (not root)."
    )


def run_section(
    args: argparse.Namespace,
    argv: list[str] | None,
    name: str,
    title: str,
    peers: Sequence[Sequence[str]],
    method: str,
    trees_of: Callable[[argparse.Namespace, Path], list[Tree]],
    tables: Callable[[Path, str, Path, int, bool], list[str]],
    after: Sequence[str] = (),
) -> None:
    """Write benchmark `name`'s section to args.out and stdout: the title, machine, peer versions
    (`peers`: their version commands) and command; how it was measured (`method`) and whether
    cold runs were made; `after`; then `tables(tree, label, work, args.repeat, cold_ok)` for
    each tree of `trees_of(args, scratch)`."""
    compile_photoverify()
    scratch = Path(tempfile.mkdtemp(prefix=f"pv-{name}-"))
    work = scratch / "work"
    work.mkdir()
    try:
        measured = trees_of(args, scratch)
        cold_ok = not args.no_cold and can_drop_caches()
        lines = [
            f"## {title}\n",
            header(
                f"bench_{name}",
                " ".join(argv if argv is not None else sys.argv[1:]),
                ", ".join(version(list(cmd)) for cmd in peers),
            ),
            f"Median of {args.repeat}, contenders alternated; {method} {cold_sentence(cold_ok)}\n",
            *after,
        ]
        for tree, label in measured:
            lines += tables(tree, label, work, args.repeat, cold_ok)
        text = "\n".join(lines) + "\n"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    sys.stdout.write(text)

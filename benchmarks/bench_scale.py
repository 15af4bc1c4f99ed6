"""Scale: scan and dupes on 100,000 small generated files — time and peak memory.

    python -m benchmarks.bench_scale [--files 100000] [--out benchmarks/out/scale]
    python -m benchmarks.bench_scale --per-file-cpu 10000 30000 [--out ...]
    python -m benchmarks.bench_scale --files 100000 --copies 10   # dupes at 1,000,000 files
    python -m benchmarks.bench_scale --files 100000 --copies 10 --plan   # and plan
    python -m benchmarks.bench_scale --files 1000000 --fixity-only   # manifest and verify

--copies N: after the scan, the catalog's rows copied N times in SQL, each copy under its own
root (no files are made), and `dupes --format json` timed on that catalog too: what dupes costs at
N times the files, every photo then in N identical copies.

--fixity-only: `manifest --no-catalog` of the files, then `verify --manifest` against it (no
scan): what checking a million files against a manifest costs in time and memory.
--plan: also `plan` of the scanned catalog (and of the copied one, with --copies): a plan of
N times the files, its DEST never written.

--per-file-cpu: a fresh scan of each count of files, its CPU time (the CLI, its worker processes
and their exiftools) per file: flat when what a batch costs does not grow with the catalog.

The files are small real JPEGs (48x36 px, each with its own pixels, so every BLAKE3 and most
pHashes differ), with one in ten an exact copy of the file before it and one in twenty saved at
JPEG quality 60 (a picture of its own, not a copy of another), spread over 1,000 folders: what
a scan of a big phone dump costs per file, not per byte.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from io import BytesIO

from benchmarks.timing import adopt_orphans, children_cpu, machine, run_sampled

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
    """(wall seconds, CPU seconds) of a fresh scan of `root`: user + system time of the command,
    its workers and their exiftools. An exiftool is not waited for by its worker: this process
    adopts it (`adopt_orphans`) so that its CPU counts too (without, 2.05 ms a file counted
    instead of 4.28 on 10,000 files)."""
    adopt_orphans()
    db = os.path.join(tempfile.mkdtemp(prefix="pv-scale-"), "c.sqlite")
    argv = [*pv, "scan", root, "--catalog", db, "--quiet"]
    try:
        before = children_cpu()
        t0 = time.perf_counter()
        code = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        wall = time.perf_counter() - t0
        cpu = children_cpu() - before
    finally:
        shutil.rmtree(os.path.dirname(db), ignore_errors=True)
    if code not in (0, 1):
        raise RuntimeError(f"{argv} exited {code}")
    return wall, cpu


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


def copied_catalog(db: str, root: str, copies: int) -> str:
    """A catalog holding `copies` times the rows of `db`: copy k of each row under
    `root`-copyk (paths renamed in SQL, the files themselves not made)."""
    out = db.replace(".sqlite", f"-x{copies}.sqlite")
    shutil.copyfile(db, out)
    con = sqlite3.connect(out)
    columns = [row[1] for row in con.execute("PRAGMA table_info(files)")]
    root = os.path.abspath(root)
    for k in range(1, copies):
        renamed = {
            "path": "CAST(replace(CAST(path AS TEXT), :root, :new) AS BLOB)",
            "root": "CAST(replace(CAST(root AS TEXT), :root, :new) AS BLOB)",
            "path_text": "replace(path_text, :root, :new)",
        }
        select = ",".join(renamed.get(c, c) for c in columns)
        con.execute(
            f"INSERT INTO files ({','.join(columns)}) SELECT {select} FROM files "
            "WHERE root = CAST(:root AS BLOB)",
            {"root": root, "new": f"{root}-copy{k}"},
        )
        con.commit()
    con.close()
    return out


def catalog_rows(db: str) -> Callable[[], int | None]:
    """How many rows the catalog at `db` holds now (read-only; None before it exists)."""

    def rows() -> int | None:
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            try:
                return con.execute("SELECT count(*) FROM files").fetchone()[0]
            finally:
                con.close()
        except sqlite3.Error:
            return None

    return rows


def timeline(samples: list[tuple], step: int) -> list[str]:
    """Table rows of a scan's samples at every `step` files stored: seconds, CPU, main and
    tree RSS then, and the CPU per file of the files stored since the row before."""
    lines = ["| files stored | seconds | CPU s | CPU ms per file since the row before | "
             "main RSS MiB | all processes RSS MiB |", "|---|---|---|---|---|---|"]  # fmt: skip
    mark, before = step, (0, 0.0)
    for now, main_mib, tree_mib, cpu, done in samples:
        if done is None or done < mark:
            continue
        per_file = (cpu - before[1]) / max(1, done - before[0]) * 1000
        lines.append(f"| {done:,} | {now:.0f} | {cpu:.0f} | {per_file:.2f} | {main_mib} | "
                     f"{tree_mib} |")  # fmt: skip
        before = (done, cpu)
        while mark <= done:
            mark += step
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--out", default="benchmarks/out/scale")
    parser.add_argument("--per-file-cpu", type=int, nargs="+", metavar="FILES")
    parser.add_argument("--copies", type=int, default=0, help="also dupes on N copies")
    parser.add_argument("--every", type=int, default=0, help="timeline row every N files")
    parser.add_argument("--catalog", help="scan into this catalog and keep it (default: a "
                        "temporary one, deleted at the end)")  # fmt: skip
    parser.add_argument("--scan-only", action="store_true", help="time the scans, not dupes")
    parser.add_argument("--fixity-only", action="store_true", help="only manifest --no-catalog "
                        "and verify --manifest over the files (no scan, no catalog)")  # fmt: skip
    parser.add_argument("--plan", action="store_true", help="also plan on the warm catalog "
                        "(and on the copied one with --copies)")  # fmt: skip
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    if args.per_file_cpu:
        per_file_cpu(args.out, args.per_file_cpu)
        return
    if args.fixity_only:
        make_files(args.out, args.files)
        print_runs(args, fixity_runs(args.out, args.files))
        return
    make_files(args.out, args.files)
    db = args.catalog or os.path.join(tempfile.mkdtemp(prefix="pv-scale-"), "c.sqlite")
    scan_cmd = [*PV, "scan", args.out, "--catalog", db, "--quiet"]
    if args.catalog and os.path.exists(db):
        raise SystemExit(f"{db}: exists; a fresh scan needs a new catalog")
    runs = [
        ("scan (fresh catalog)", args.files, run_sampled(scan_cmd, progress=catalog_rows(db))),
        ("scan (unchanged re-scan)", args.files, run_sampled(scan_cmd, every=0.2)),
    ]
    if not args.scan_only:
        dupes = [*PV, "dupes", "--catalog", db, "--format", "json"]
        runs.append(("dupes on the warm catalog", args.files, run_sampled(dupes, every=0.2)))
    scratch = tempfile.mkdtemp(prefix="pv-scale-plan-")
    if args.plan:
        runs.append(("plan on the warm catalog", args.files, run_sampled(plan_cmd(db, scratch))))
    if args.copies > 1:
        many = copied_catalog(db, args.out, args.copies)
        dupes = [*PV, "dupes", "--catalog", many, "--format", "json"]
        runs.append((f"dupes, the catalog copied {args.copies}x", args.files * args.copies,
                     run_sampled(dupes, every=0.2)))  # fmt: skip
        if args.plan:
            runs.append((f"plan, the catalog copied {args.copies}x", args.files * args.copies,
                         run_sampled(plan_cmd(many, scratch))))  # fmt: skip
    shutil.rmtree(scratch, ignore_errors=True)
    print_runs(args, runs)
    if args.every:
        print("\nThe fresh scan as it went (sampled each second; CPU of every process alive):\n")
        print("\n".join(timeline(runs[0][2]["samples"], args.every)))
    if not args.catalog:
        shutil.rmtree(os.path.dirname(db), ignore_errors=True)


def plan_cmd(db: str, scratch: str) -> list[str]:
    """plan of the whole library in `db` into a DEST that is never written (plan writes none)."""
    dest, out = os.path.join(scratch, "dest"), os.path.join(scratch, "plan.json")
    return [*PV, "plan", "--catalog", db, "--dest", dest, "-o", out, "--quiet"]


def fixity_runs(tree: str, files: int) -> list[tuple[str, int, dict]]:
    """manifest --no-catalog of the tree, then verify --manifest against it (every byte read
    by both; verify's catalog is a fresh one it does not fill: no scan runs)."""
    scratch = tempfile.mkdtemp(prefix="pv-scale-fixity-")
    manifest, db = os.path.join(scratch, "m.b3"), os.path.join(scratch, "c.sqlite")
    try:
        return [
            ("manifest --no-catalog", files, run_sampled(
                [*PV, "manifest", tree, "--no-catalog", "--format", "b3sum", "-o", manifest,
                 "--quiet"], every=0.2)),
            ("verify --manifest", files, run_sampled(
                [*PV, "verify", tree, "--manifest", manifest, "--catalog", db, "--quiet"],
                every=0.2)),
        ]  # fmt: skip
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def print_runs(args: argparse.Namespace, runs: list[tuple[str, int, dict]]) -> None:
    print(f"Machine: {machine()}  ")
    print(
        f"Command: `python -m benchmarks.bench_scale {' '.join(args.argv)}` (one run each: a "
        f"fresh scan of {args.files:,} files takes minutes)\n"
    )
    print("Peak RSS: of the largest single process (the kernel's ru_maxrss), of the command's own "
          "process, and of all its processes together (workers and their exiftools, summed at "
          "each sample); the last column sums their proportional set sizes instead, where a "
          "page that forked workers share with the command counts once (their RSS counts it in "
          "each).\n")  # fmt: skip
    print("| step | files | seconds | files/s | exit | largest process MiB | command MiB | "
          "all processes MiB | all processes, PSS MiB |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for name, n, r in runs:
        print(f"| {name} | {n:,} | {r['seconds']:.1f} | {n / r['seconds']:.0f} | {r['code']} | "
              f"{r['peak_process_mib']:.0f} | {r['peak_main_mib']:.0f} | "
              f"{r['peak_tree_mib']:.0f} | {r['peak_tree_pss_mib']:.0f} |")  # fmt: skip
    if runs[0][0].startswith("scan") and runs[1][0].startswith("scan"):
        print(f"\nRe-scan speed-up: {runs[0][2]['seconds'] / runs[1][2]['seconds']:.0f}×.")


if __name__ == "__main__":
    main()

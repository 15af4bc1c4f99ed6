"""`apply --mode copy` (hash while copying, sync, verify, journal) beside `cp -a` and b3sum.

    python -m benchmarks.bench_apply [--mb 500] [--runs 3] [--out benchmarks/results/apply.md]
                                     [--baseline GIT-REV]

`--baseline` also times `dedupe/apply.py` as it was at GIT-REV (loaded from git into its own
module), in the same runs, so before/after share the machine's load.

The tree is made from the real corpus: each file copied many times with different bytes appended,
so no two files are equal. Page caches cannot be dropped here (no privilege in most sandboxes, and
it would not be comparable across machines), so every run reads sources from the page cache;
both sides pay the same writes. Numbers are medians of `--runs` runs.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dedupe.apply import apply_plan
from dedupe.hashing import hash_file
from dedupe.plan import build_plan, write_plan
from dedupe.records import DupesResult, FileRecord, Metadata

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "real"


def make_tree(root: Path, total: int) -> list[FileRecord]:
    sources = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.stat().st_size > 100_000)
    records, written, n = [], 0, 0
    while written < total:
        src = sources[n % len(sources)]
        dst = root / f"d{n % 20:02d}" / f"{n:05d}_{src.name}"
        dst.parent.mkdir(parents=True, exist_ok=True)
        with open(src, "rb") as fi, open(dst, "wb") as fo:
            shutil.copyfileobj(fi, fo)
            fo.write(n.to_bytes(8, "little") * (1 + n % 64))
        st = dst.stat()
        day = f"20{10 + n % 12:02d}-{1 + n % 12:02d}-01T12:00:00"
        records.append(
            FileRecord(
                str(dst),
                str(root),
                st.st_size,
                st.st_mtime_ns,
                st.st_ino,
                st.st_dev,
                hash_file(dst)["blake3"],
                "image",
                metadata=Metadata(captured_at=day),
            )
        )
        written += st.st_size
        n += 1
    return records


def load_baseline(rev: str):
    """dedupe/apply.py at git revision `rev`, as a module of its own."""
    repo = Path(__file__).resolve().parents[1]
    code = subprocess.run(["git", "show", f"{rev}:dedupe/apply.py"], cwd=repo, check=True,
                          capture_output=True, text=True).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp(prefix="bench-baseline-")) / "apply_baseline.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location("apply_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def sh(cmd: str) -> None:
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=500)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/apply.md")
    ap.add_argument("--tmp", default=None, help="folder for the tree (default: system temp)")
    ap.add_argument("--baseline", default=None, help="also time apply.py at this git revision")
    args = ap.parse_args()
    baseline = load_baseline(args.baseline) if args.baseline else None
    base = Path(tempfile.mkdtemp(prefix="bench-apply-", dir=args.tmp))
    try:
        src = base / "src"
        records = make_tree(src, args.mb * 1024 * 1024)
        size = sum(r.size for r in records)
        plan_path = base / "plan.json"
        plan = build_plan(
            records,
            DupesResult((), (), ()),
            str(base / "dest"),
            roots=[str(src)],
            catalog="",
            options={},
        )
        write_plan(plan, plan_path)
        sh(f"cat {src}/*/* > /dev/null")  # warm the cache for every contender alike
        results: dict[str, list[float]] = {
            k: [] for k in ("apply", "cp", "cp+sync", "cp+b3sum", "b3sum")
        }
        if baseline:
            results["before"] = []
        for _ in range(args.runs):
            if baseline:
                shutil.rmtree(base / "dest", ignore_errors=True)
                Path(f"{plan_path}.journal").unlink(missing_ok=True)
                sh("sync")
                results["before"].append(
                    timed(lambda: baseline.apply_plan(plan_path, force_space=True))
                )
            for d in ("dest", "cp"):
                shutil.rmtree(base / d, ignore_errors=True)
            Path(f"{plan_path}.journal").unlink(missing_ok=True)
            sh("sync")
            results["apply"].append(timed(lambda: apply_plan(plan_path, force_space=True)))
            shutil.rmtree(base / "dest")
            sh("sync")
            results["cp"].append(timed(lambda: sh(f"cp -a {src} {base}/cp")))
            sh("sync")
            shutil.rmtree(base / "cp")
            sh("sync")
            results["cp+sync"].append(timed(lambda: sh(f"cp -a {src} {base}/cp && sync")))
            shutil.rmtree(base / "cp")
            sh("sync")
            results["cp+b3sum"].append(
                timed(
                    lambda: sh(
                        f"cp -a {src} {base}/cp && find {base}/cp -type f -print0 | xargs -0 b3sum"
                    )
                )
            )
            results["b3sum"].append(
                timed(lambda: sh(f"find {src} -type f -print0 | xargs -0 b3sum"))
            )
            shutil.rmtree(base / "cp")
            sh("sync")
        med = {k: statistics.median(v) for k, v in results.items()}
        mbs = size / 1024 / 1024
        lines = [
            "## apply --mode copy beside cp -a and b3sum",
            "",
            f"Machine: {platform.node()} · {os.cpu_count()} cores · {platform.platform()} · "
            f"Python {platform.python_version()} · {_dt.date.today().isoformat()}",
            f"Command: `python -m benchmarks.bench_apply --mb {args.mb} --runs {args.runs}`",
            f"Tree: {len(records)} files, {mbs:.0f} MiB (corpus files, distinct bytes appended)"
            f", temp folder on `{_fs(base)}`.",
            "",
            "Page caches cannot be dropped here: sources are read from the page cache in every run"
            " (warmed first). apply makes every file and folder durable and journals every step;"
            " `cp -a` alone does not make anything durable, `cp -a && sync` does.",
            "",
            "| contender | median s | MiB/s | × cp -a | × cp -a + b3sum |",
            "|---|---:|---:|---:|---:|",
        ]
        for k, label in (
            ("cp", "cp -a"),
            ("cp+sync", "cp -a && sync"),
            ("cp+b3sum", "cp -a && b3sum (copy)"),
            ("b3sum", "b3sum (source)"),
            ("before", f"apply --mode copy at {args.baseline} (an fsync per record and file)"),
            ("apply", "**apply --mode copy** (batched: one journal fsync + one syncfs a batch)"),
        ):
            if k not in med:
                continue
            lines.append(
                f"| {label} | {med[k]:.2f} | {mbs / med[k]:.0f} | "
                f"{med[k] / med['cp']:.2f} | {med[k] / med['cp+b3sum']:.2f} |"
            )
        lines += [
            "",
            "Runs (s): "
            + "; ".join(f"{k} {', '.join(f'{x:.2f}' for x in v)}" for k, v in results.items()),
            "",
        ]
        text = "\n".join(lines)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        print(text)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _fs(path: Path) -> str:
    out = subprocess.run(["df", "-T", str(path)], capture_output=True, text=True).stdout
    return " ".join(out.splitlines()[-1].split()[:2]) if out else "?"


if __name__ == "__main__":
    main()

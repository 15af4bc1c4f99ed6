"""`apply --mode copy` (copy, read back and hash, sync, journal) beside `cp -a` and b3sum.

    python -m benchmarks.bench_apply [--mb 500] [--runs 5] [--out benchmarks/results/apply.md]
                                     [--tmp DIR]

Two scenarios, each with every contender: sources in the page cache (warmed first), and, where
the page cache can be dropped (root), sources read from the disk, as in a real move.

The tree is made from the real corpus: each file copied many times with different bytes appended,
so no two files are equal. Numbers are medians of `--runs` runs; the order of the contenders
rotates from run to run, so slow spells of the machine fall on each of them alike.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from photoverify.dedupe.core.hashing import hash_file
from photoverify.dedupe.core.records import DupesResult, FileRecord, Metadata
from photoverify.dedupe.move.apply import apply_plan
from photoverify.dedupe.move.plan import build_plan
from photoverify.dedupe.move.planfile import write_plan
from photoverify.verify.manifest import render_b3sum

from .sidebyside import CORPUS


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


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def sh(cmd: str) -> None:
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)


DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def can_drop_caches() -> bool:
    try:
        sh("sync")
        DROP_CACHES.write_text("3\n")
        return True
    except OSError:
        return False


CONTENDERS = {
    "cp": ("cp -a", "cp -a {src} {out}"),
    "cp+sync": ("cp -a && sync", "cp -a {src} {out} && sync"),
    "cp+b3sum": (
        "cp -a && b3sum (copy)",
        "cp -a {src} {out} && find {out} -type f -print0 | xargs -0 b3sum",
    ),
}


def run_scenario(cold: bool, runs: int, base: Path, src: Path, plan_path: Path):
    """Medians of every contender, the order rotated each run so that drift hits all alike."""

    def fresh() -> None:
        for d in ("dest", "cp"):
            shutil.rmtree(base / d, ignore_errors=True)
        Path(f"{plan_path}.journal").unlink(missing_ok=True)
        sh("sync")
        if cold:
            DROP_CACHES.write_text("3\n")  # every contender reads its sources from the disk
        else:
            sh(f"cat {src}/*/* > /dev/null")

    def job(name: str):
        if name == "apply":
            return lambda: apply_plan(plan_path, force_space=True, render_manifest=render_b3sum)
        return lambda: sh(CONTENDERS[name][1].format(src=src, out=base / "cp"))

    names = ["apply", *CONTENDERS]
    results: dict[str, list[float]] = {k: [] for k in names}
    for r in range(runs):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            fresh()
            results[name].append(timed(job(name)))
    fresh()
    return results


def table(results: dict[str, list[float]], mbs: float) -> list[str]:
    med = {k: statistics.median(v) for k, v in results.items()}
    ratio = statistics.median(a / c for a, c in zip(results["apply"], results["cp"], strict=True))
    lines = [
        "| contender | median s | MiB/s | × cp -a | × cp -a && sync | × cp -a && b3sum |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    labels = {k: v[0] for k, v in CONTENDERS.items()}
    labels["apply"] = "**apply --mode copy** (copied, hashed, durable, journaled)"
    for k in ("cp", "cp+sync", "cp+b3sum", "apply"):
        lines.append(
            f"| {labels[k]} | {med[k]:.2f} | {mbs / med[k]:.0f} | {med[k] / med['cp']:.2f} "
            f"| {med[k] / med['cp+sync']:.2f} | {med[k] / med['cp+b3sum']:.2f} |"
        )
    lines += [
        "",
        f"apply ÷ cp -a, median of the per-run ratios: **{ratio:.2f}**.",
        "",
        "Runs (s): "
        + "; ".join(f"{k} {', '.join(f'{x:.2f}' for x in v)}" for k, v in results.items()),
        "",
    ]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=500)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default="benchmarks/results/apply.md")
    ap.add_argument("--tmp", default=None, help="folder for the tree (default: system temp)")
    args = ap.parse_args()
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
        mbs = size / 1024 / 1024
        cmd = f"python -m benchmarks.bench_apply --mb {args.mb} --runs {args.runs}"
        lines = [
            f"## apply --mode copy beside cp -a and b3sum: {mbs:.0f} MiB",
            "",
            f"Machine: {platform.node()} · {os.cpu_count()} cores · {platform.platform()} · "
            f"Python {platform.python_version()} · {_dt.date.today().isoformat()}",
            f"Command: `{cmd}`",
            f"Tree: {len(records)} files, {mbs:.0f} MiB (corpus files, distinct bytes appended)"
            f", temp folder on `{_fs(base)}`. Medians of {args.runs} runs; the order of the"
            " contenders rotates from run to run.",
            "",
            "apply copies each file, reads the copy back and checks its BLAKE3, makes every file"
            " and folder durable before it gets its name, and journals every step. `cp -a`"
            " alone makes nothing durable (its copy may still be only in memory when it exits);"
            " `cp -a && sync` does.",
            "",
        ]
        cold = can_drop_caches()
        for drop in (False, True) if cold else (False,):
            results = run_scenario(drop, args.runs, base, src, plan_path)
            if drop:
                lines += [
                    "### Sources on disk (page cache dropped before each contender)",
                    "",
                    "As in a real move: the library is read from the disk it lives on.",
                    "",
                ]
            else:
                lines += [
                    "### Sources in the page cache (warmed before each contender)",
                    "",
                    "The most favourable case for `cp -a`: nothing is read from the disk, and"
                    " `cp -a` ends with its copy still in memory.",
                    "",
                ]
            lines += table(results, mbs)
        if not cold:
            lines += [
                "Page caches cannot be dropped here (no root), so only the warm case ran.",
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

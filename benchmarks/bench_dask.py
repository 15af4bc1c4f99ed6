"""The dask executor against the local process pool: a fresh scan of one tree, and the round
trip of one batch.

    python -m benchmarks.bench_dask [--root DIR] [--workers 2] [--repeat 3]

A `distributed.LocalCluster` (worker processes with one thread each, loopback only) is started
once, untimed; then fresh scans through the CLI alternate between `--workers N` and
`--executor dask --scheduler ADDRESS`. The round trip: a batch of 48 Candidates sent to a
worker and its 48 paths sent back, on each, 50 times (median): what a batch costs beyond its
work.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from benchmarks.timing import machine, remove_catalog, run_timed, tree_stats

PV = [sys.executable, "-m", "photoverify"]
# PHOTOVERIFY_CORPUS: where ../shared/corpus is when the checkout lives elsewhere (a worktree)
HERE = Path(__file__).resolve().parent
CORPUS = Path(os.environ.get("PHOTOVERIFY_CORPUS") or HERE.parents[1] / "shared" / "corpus")
DEFAULT_ROOT = CORPUS / "real" / "exif-samples"


def echo_paths(batch: list) -> list[str]:
    return [c.path for c in batch]


def _round_trips(submit, batch, times: int = 50) -> float:
    submit(echo_paths, batch).result()  # warm: the worker imports this module once
    took = []
    for _ in range(times):
        t0 = time.perf_counter()
        submit(echo_paths, batch).result()
        took.append(time.perf_counter() - t0)
    return statistics.median(took)


def main(argv: list[str] | None = None) -> None:
    from distributed import Client, LocalCluster

    from photoverify.dedupe.core.records import Candidate

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default=str(DEFAULT_ROOT))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    files, size = tree_stats(args.root)
    tmp = tempfile.mkdtemp(prefix="pv-dask-")
    db = os.path.join(tmp, "c.sqlite")

    def fresh() -> None:
        remove_catalog(db)

    batch = [Candidate(f"/photos/{i:05d}/IMG_{i:05d}.JPG", "/photos", 2_000_000, 0, i, 1)
             for i in range(48)]  # fmt: skip
    with (
        LocalCluster(
            processes=True, n_workers=args.workers, threads_per_worker=1, host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        local_cmd = [*PV, "scan", args.root, "--catalog", db, "--quiet", "--workers",
                     str(args.workers)]  # fmt: skip
        dask_cmd = [*PV, "scan", args.root, "--catalog", db, "--quiet", "--executor", "dask",
                    "--scheduler", cluster.scheduler_address]  # fmt: skip
        local_t, dask_t = [], []
        for _ in range(args.repeat):  # alternated, so both see the same machine
            local_t.append(run_timed(local_cmd, before=fresh, repeat=1, ok_codes=(0, 1))[0])
            dask_t.append(run_timed(dask_cmd, before=fresh, repeat=1, ok_codes=(0, 1))[0])
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            local_rt = _round_trips(pool.submit, batch)
        dask_rt = _round_trips(lambda fn, b: client.submit(fn, b, pure=False), batch)
    shutil.rmtree(tmp, ignore_errors=True)
    lm, dm = statistics.median(local_t), statistics.median(dask_t)
    print(f"Machine: {machine()}  ")
    print(
        f"Command: `python -m benchmarks.bench_dask --root {args.root} --workers {args.workers} "
        f"--repeat {args.repeat}` ({files} files, {size / 2**20:.0f} MiB; medians of "
        f"{args.repeat}, alternated; the cluster's start is not timed)\n"
    )
    print(f"| fresh scan, {args.workers} workers | seconds | files/s |")
    print("|---|---|---|")
    print(f"| local process pool (`--workers {args.workers}`) | {lm:.2f} | {files / lm:.0f} |")
    print(f"| LocalCluster (`--executor dask`) | {dm:.2f} | {files / dm:.0f} |")
    print(f"\nLocalCluster / pool: {dm / lm:.2f}×.\n")
    print("| one batch of 48 Candidates there and back | ms |")
    print("|---|---|")
    print(f"| process pool | {local_rt * 1000:.2f} |")
    print(f"| LocalCluster | {dask_rt * 1000:.2f} |")


if __name__ == "__main__":
    main()

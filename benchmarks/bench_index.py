"""Benchmark exact near-duplicate search over 64-bit hashes: `python -m benchmarks.bench_index`.

Each run is a fresh subprocess (so that its peak RSS, read from getrusage, is its own) that makes
n random 64-bit hashes with n/100 planted near pairs at distances 0..10, finds all pairs within
the threshold, and checks the answer two ways: every planted pair must be found, and on a
20,000-hash subsample (both ends of 2,000 planted pairs plus random others) the pairs found must
equal a brute-force comparison of that subsample. Medians of 3 runs are written as markdown to
benchmarks/results/index.md.

Methods: mih (dedupe.index.near_groups, multi-index hashing), faiss-multihash
(IndexBinaryMultiHash, 4 tables of 16 bits, nflip 2: exact up to threshold 11), faiss-flat
(IndexBinaryFlat range search, brute force in C++), numpy-brute (dedupe.index.brute_force_pairs),
bktree (a pure-Python BK-tree). The quadratic methods are run on fewer hashes.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "index.md"
SUBSAMPLE = 20_000
RUNS = 3

# (method, n, threshold): the chosen method at full size, the others where they finish
SUITE = [
    ("mih", 1_000_000, 10),
    ("mih", 1_000_000, 0),
    ("mih", 1_000_000, 4),
    ("mih", 1_000_000, 8),
    ("mih", 1_000_000, 12),
    ("mih", 100_000, 10),
    ("faiss-multihash", 100_000, 10),
    ("faiss-flat", 100_000, 10),
    ("numpy-brute", 100_000, 10),
    ("mih", 10_000, 10),
    ("faiss-multihash", 10_000, 10),
    ("faiss-flat", 10_000, 10),
    ("numpy-brute", 10_000, 10),
    ("bktree", 10_000, 10),
]
TIMEOUT_S = 600


def make_hashes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n random hashes; returns (hashes, planted) with planted rows (i, j, distance)."""
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**64, size=n, dtype=np.uint64, endpoint=False)
    count = max(1, n // 100)
    ends = rng.choice(n, size=2 * count, replace=False)
    base, partner = ends[:count], ends[count:]
    distance = np.arange(count) % 11
    for d in range(11):
        rows = np.flatnonzero(distance == d)
        masks = np.zeros(rows.size, dtype=np.uint64)
        for r in range(rows.size):
            for bit in rng.choice(64, size=d, replace=False):
                masks[r] |= np.uint64(1) << np.uint64(bit)
        hashes[partner[rows]] = hashes[base[rows]] ^ masks
    planted = np.stack([np.minimum(base, partner), np.maximum(base, partner), distance], axis=1)
    return hashes, planted


def bktree_pairs(hashes: np.ndarray, threshold: int) -> np.ndarray:
    """Self-join with a BK-tree: insert each hash, querying the tree built so far first."""
    nodes: list[tuple[int, int, dict[int, int]]] = []  # (hash, position, {distance: child})
    found = []
    for pos, h in enumerate(int(x) for x in hashes):
        if nodes:
            stack = [0]
            while stack:
                value, other, children = nodes[stack.pop()]
                d = (value ^ h).bit_count()
                if d <= threshold:
                    found.append((other, pos, d))
                for cd, child in children.items():
                    if d - threshold <= cd <= d + threshold:
                        stack.append(child)
            node = 0
            while True:
                value, _, children = nodes[node]
                d = (value ^ h).bit_count()
                if d not in children:
                    children[d] = len(nodes)
                    break
                node = children[d]
        nodes.append((h, pos, {}))
    return np.array(found, dtype=np.int64).reshape(-1, 3)


def faiss_pairs(hashes: np.ndarray, threshold: int, kind: str) -> np.ndarray:
    import faiss

    codes = np.ascontiguousarray(hashes).view(np.uint8).reshape(-1, 8)
    if kind == "multihash":
        index = faiss.IndexBinaryMultiHash(64, 4, 16)
        index.nflip = 2  # 4 tables x (2+1) > threshold 11: pigeonhole makes it exact
        if threshold > 11:
            raise SystemExit("faiss-multihash is set up to be exact only up to threshold 11")
    else:
        index = faiss.IndexBinaryFlat(64)
    index.add(codes)
    lims, dist, ids = index.range_search(codes, threshold + 1)  # faiss keeps distance < radius
    query = np.repeat(np.arange(hashes.size), np.diff(lims.astype(np.int64)))
    keep = query < ids
    return np.stack([query[keep], ids[keep], dist[keep]], axis=1).astype(np.int64)


def run_method(method: str, hashes: np.ndarray, threshold: int) -> np.ndarray:
    from photoverify.dedupe.match import index

    if method == "mih":
        return index.near_pairs(hashes, threshold, method="mih")
    if method == "numpy-brute":
        return index.brute_force_pairs(hashes, threshold)
    if method == "bktree":
        return bktree_pairs(hashes, threshold)
    if method.startswith("faiss-"):
        return faiss_pairs(hashes, threshold, method.removeprefix("faiss-"))
    raise SystemExit(f"unknown method {method}")


def worker(method: str, n: int, threshold: int, seed: int) -> dict:
    from photoverify.dedupe.match import index

    if method == "mih":
        index.near_groups(np.arange(5000, dtype=np.uint64), 1, method="mih")  # load the JIT cache
    hashes, planted = make_hashes(n, seed)
    start = time.perf_counter()
    pairs = run_method(method, hashes, threshold)
    seconds = time.perf_counter() - start
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    found = {(int(i), int(j)) for i, j, _ in pairs}
    want = planted[planted[:, 2] <= threshold]
    planted_found = sum((int(i), int(j)) in found for i, j, _ in want)
    # subsample: both ends of some planted pairs, then random others
    rng = np.random.default_rng(seed + 1)
    chosen = np.unique(want[: SUBSAMPLE // 10, :2].ravel())
    rest = np.setdiff1d(np.arange(n), chosen)
    extra = rng.choice(rest, size=max(0, min(n, SUBSAMPLE) - chosen.size), replace=False)
    sample = np.sort(np.concatenate([chosen, extra]))
    truth = index.brute_force_pairs(hashes[sample], threshold)
    truth_set = {(int(sample[i]), int(sample[j])) for i, j, _ in truth}
    in_sample = np.isin(pairs[:, 0], sample) & np.isin(pairs[:, 1], sample)
    got_set = {(int(i), int(j)) for i, j, _ in pairs[in_sample]}
    return {
        "method": method,
        "n": n,
        "threshold": threshold,
        "seconds": seconds,
        "peak_rss_mib": rss_mib,
        "pairs": len(pairs),
        "planted": len(want),
        "planted_found": planted_found,
        "sample_truth": len(truth_set),
        "sample_found": len(got_set & truth_set),
        "sample_extra": len(got_set - truth_set),
    }


def run_once(method: str, n: int, threshold: int, seed: int) -> dict | None:
    cmd = [sys.executable, "-m", "benchmarks.bench_index", "--worker", method]
    cmd += ["--n", str(n), "--threshold", str(threshold), "--seed", str(seed)]
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=True
        ).stdout
    except subprocess.TimeoutExpired:
        return None
    return json.loads(out.strip().splitlines()[-1])


def machine() -> dict[str, str]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as fh:
        mem_kib = int(fh.readline().split()[1])
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for name in ("numba", "faiss"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = "not installed"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": f"{mem_kib / 2**20:.1f} GiB",
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }


def report(rows: list[dict], info: dict[str, str]) -> str:
    lines = [
        "## Near-duplicate hash search (`dedupe/index.py`)",
        "",
        f"Date: {datetime.date.today().isoformat()}. Machine: {info['nproc']} cores "
        f"(`nproc`), {info['cpu']}, {info['ram']} RAM. Versions: {info['versions']}.",
        "",
        "Command: `python -m benchmarks.bench_index` (each run a fresh subprocess; median of "
        f"{RUNS} runs; peak RSS from `getrusage(RUSAGE_SELF).ru_maxrss`, including the "
        "interpreter and the data). Data: n random 64-bit hashes with n/100 planted pairs at "
        "distances 0..10. *Planted* = planted pairs within the threshold that were found; "
        f"*subsample* = pairs found among {SUBSAMPLE:,} hashes (both ends of planted pairs plus "
        "random others) against brute force on them, with extra (wrong) pairs after the '+'.",
        "",
        "| method | n | threshold | time (s) | peak RSS (MiB) | pairs | planted | subsample |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        if row["runs"] is None:
            lines.append(
                f"| {row['method']} | {row['n']:,} | {row['threshold']} | "
                f"> {TIMEOUT_S} (timed out) | | | | |"
            )
            continue
        runs = row["runs"]
        first = runs[0]
        secs = statistics.median(r["seconds"] for r in runs)
        rss = statistics.median(r["peak_rss_mib"] for r in runs)
        lines.append(
            f"| {row['method']} | {row['n']:,} | {row['threshold']} | {secs:.2f} | {rss:.0f} | "
            f"{first['pairs']:,} | {first['planted_found']:,}/{first['planted']:,} | "
            f"{first['sample_found']:,}/{first['sample_truth']:,} + {first['sample_extra']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help="run one method in this process and print JSON")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--threshold", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", help="comma-separated methods to run from the suite")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.n, args.threshold, args.seed)))
        return
    only = set(args.only.split(",")) if args.only else None
    rows = []
    for method, n, threshold in SUITE:
        if only and method not in only:
            continue
        runs = []
        for seed in range(RUNS):
            result = run_once(method, n, threshold, seed)
            if result is None:
                runs = None
                break
            runs.append(result)
        rows.append({"method": method, "n": n, "threshold": threshold, "runs": runs})
        print(json.dumps(rows[-1]["runs"][0] if runs else rows[-1]), flush=True)
    text = report(rows, machine())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

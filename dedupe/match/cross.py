"""Exact near pairs between two sets of 64-bit hashes (a join of a against b, not a self-join).

`cross_pairs(a, b, threshold)` finds every (i, j) with a[i] and b[j] within Hamming distance
`threshold`, exactly the pairs a brute-force comparison of every a with every b finds. It is
`index.near_groups`'s multi-index hashing with one side bucketed: per block, the larger set is
bucketed by that block's value, and each hash of the smaller set probes the buckets within that
block's pigeonhole radius of its own; a pair is reported by the first block in which it
qualifies, so exactly once. Asking for the pairs between 33,000 upright pictures and their
330,000 turned and cropped variants this way skips the variant-variant pairs that a self-join of
all 363,000 would compare (and then throw away): most of its work.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from photoverify.dedupe.core.errors import UsageError
from photoverify.dedupe.match.index import (
    _MAX_BLOCK_BITS,
    BITS,
    _append,
    _as_uint64,
    _ball,
    _Block,
    _block_arrays,
    _blocks,
    _bucket_table,
    _check_threshold,
    _first_block,
    _flip_masks,
    _popcnt,
    _popcount,
    _sorted_pairs,
    _threads,
)

# Below this many (a, b) combinations numpy compares them all (~0.16 s at the limit): the
# compiled join's first call in a process costs ~0.4 s (numba loading its cached kernels)
BRUTE_FORCE_CELLS = 1 << 26


def brute_force_cross_pairs(
    a: Sequence[int] | np.ndarray, b: Sequence[int] | np.ndarray, threshold: int
) -> np.ndarray:
    """Every (i, j, distance) with a[i] and b[j] within `threshold`, by comparing all; rows
    sorted by (i, j), int64. The reference `cross_pairs` must equal."""
    a, b = _as_uint64(a), _as_uint64(b)
    threshold = _check_threshold(threshold)
    found = [np.empty((0, 3), dtype=np.int64)]
    rows = max(1, (1 << 18) // max(b.size, 1))  # distance blocks of ~256K entries stay in cache
    for start in range(0, a.size, rows):
        dist = _popcount(a[start : start + rows, None] ^ b[None, :])
        r, c = np.nonzero(dist <= threshold)
        found.append(np.stack([r + start, c, dist[r, c].astype(np.int64)], axis=1))
    return _sorted_pairs(np.concatenate(found).astype(np.int64))


def _plan(n_query: int, n_table: int, threshold: int) -> tuple[_Block, ...]:
    """The block count with the least estimated work: a probe of a bucket (a random read,
    about 16 comparisons' worth) per query and neighbouring bucket, and a comparison per
    table hash in those buckets."""
    best = None
    for m in range(-(-BITS // _MAX_BLOCK_BITS), BITS + 1):
        blocks = _blocks(m, threshold)
        cost = 0.0
        for blk in blocks:
            if blk.radius >= 0:
                probes = n_query * _ball(blk.bits, blk.radius)
                cost += 16 * probes + probes * n_table / (1 << blk.bits)
        if best is None or cost < best[0]:
            best = (cost, blocks)
    return best[1]


@numba.njit(nogil=True, cache=True)
def _cross_block(
    query, lo, hi, sorted_t, sorted_pos, starts, flips, threshold, shifts, block_masks, radii, k
):
    """Pairs found by block k for query[lo:hi]: (query position, table position, d)."""
    out = np.empty((1024, 3), dtype=np.int64)
    n = 0
    t = np.uint64(threshold)
    for i in range(lo, hi):
        x = query[i]
        key = (x >> shifts[k]) & block_masks[k]
        for fi in range(flips.size):
            bucket = np.int64(key ^ flips[fi])
            for p in range(starts[bucket], starts[bucket + 1]):
                y = sorted_t[p]
                if _popcnt(x ^ y) > t:
                    continue
                if k > 0 and _first_block(x, y, shifts, block_masks, radii, k):
                    continue
                out = _append(out, n, i, sorted_pos[p], np.int64(_popcnt(x ^ y)))
                n += 1
    return out[:n]


def _mih_cross(
    query: np.ndarray, table: np.ndarray, threshold: int, blocks: tuple[_Block, ...]
) -> np.ndarray:
    shifts, block_masks, radii = _block_arrays(blocks)
    threads = _threads()
    bounds = np.linspace(0, query.size, 8 * threads + 1).astype(np.int64)
    parts = [np.empty((0, 3), dtype=np.int64)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for k, block in enumerate(blocks):
            if block.radius < 0:
                continue
            order, starts, _ = _bucket_table(table, block)
            flips = _flip_masks(block.bits, block.radius)
            args = (table[order], order.astype(np.int64), starts, flips, threshold)
            jobs = [
                pool.submit(
                    _cross_block, query, int(lo), int(hi), *args, shifts, block_masks, radii, k
                )
                for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
                if hi > lo
            ]
            parts.extend(job.result() for job in jobs)
    return np.concatenate(parts)


def cross_pairs(
    a: Sequence[int] | np.ndarray,
    b: Sequence[int] | np.ndarray,
    threshold: int,
    *,
    method: str = "auto",
    ordered: bool = True,
) -> np.ndarray:
    """Every (i, j, distance) with a[i] and b[j] within `threshold`, sorted by (i, j); equal to
    `brute_force_cross_pairs`. method: "auto" (brute force for small inputs), "mih", "brute".
    `ordered=False`: the same rows in no given order (no sort: two more copies of millions of
    rows, for a caller that orders them its own way)."""
    a, b = _as_uint64(a), _as_uint64(b)
    threshold = _check_threshold(threshold)
    if method not in ("auto", "mih", "brute"):
        raise UsageError(f"method {method!r} must be one of auto, mih, brute")
    if method == "brute" or (method == "auto" and a.size * b.size < BRUTE_FORCE_CELLS):
        return brute_force_cross_pairs(a, b, threshold)
    if a.size == 0 or b.size == 0:
        return np.empty((0, 3), dtype=np.int64)
    swap = a.size > b.size  # the smaller set probes, the larger is bucketed
    query, table = (b, a) if swap else (a, b)
    rows = _mih_cross(query, table, threshold, _plan(query.size, table.size, threshold))
    rows = rows[:, [1, 0, 2]] if swap else rows
    return _sorted_pairs(rows) if ordered else rows

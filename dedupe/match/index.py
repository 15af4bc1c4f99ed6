"""Exact near-duplicate search over 64-bit perceptual hashes (pHash/dHash as 16 hex digits).

The self-join `near_groups(hashes, threshold)` finds every pair of hashes within Hamming distance
`threshold`, exactly the pairs a brute-force comparison finds, in sub-quadratic time. It uses
multi-index hashing (Norouzi, Punjani & Fleet, "Fast search in Hamming space with multi-index
hashing", CVPR 2012): the 64 bits are cut into m blocks, and by the pigeonhole principle two hashes
within distance t = m*r + a (0 <= a < m) agree within distance r on one of the first a+1 blocks or
within r-1 on one of the others (otherwise they would differ in at least m*r + a + 1 bits). So for
every block we bucket the hashes by that block's value, and compare each bucket only with the
buckets whose value differs from it in at most that block's radius. Each pair is reported by the
first block in which it qualifies, and so exactly once. m is chosen from the count of hashes and
the threshold by a cost model; at 1,000,000 hashes and threshold 10 it is 4 blocks of 16 bits.

Identical hashes are grouped first (`HashGroups`): 1,000 files with the same hash are one value,
not 499,500 pairs. `NearPairs.pairs` holds the pairs between *distinct* values, and
`NearPairs.expand()` (or `near_pairs`) spells out every pair of input positions when the caller
really wants them; that output is quadratic in the size of a group of identical hashes.

`HashIndex(hashes).query(h, t)` answers one hash at a time (for hashes added after the join).

The inner loops are compiled with numba (no C toolchain needed) and run on all cores.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from itertools import combinations
from math import comb

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from photoverify.dedupe.core.errors import PhotoverifyError, UsageError

BITS = 64
MAX_THRESHOLD = BITS
BRUTE_FORCE_BELOW = 4096  # below this many distinct hashes a numpy brute force is quicker
_MAX_BLOCK_BITS = 22  # a block's bucket table has 2**bits entries

__all__ = [
    "HashGroups",
    "HashIndex",
    "NearPairs",
    "brute_force_pairs",
    "group_identical",
    "hex_to_uint64",
    "near_groups",
    "near_pairs",
]


# ---------------------------------------------------------------------------------------------
# Conversions and the reference implementation


def hex_to_uint64(hexes: Iterable[str]) -> np.ndarray:
    """Parse 16-hex-digit hashes (imagehash's `str(hash)` for an 8x8 hash) into a uint64 array.

    The first hex digit holds the most significant bits, as in imagehash. Raises
    PhotoverifyError naming the first value that is not exactly 16 hex digits.
    """
    hexes = list(hexes)
    if not hexes:
        return np.empty(0, dtype=np.uint64)
    try:
        if all(type(s) is str and len(s) == 16 for s in hexes):
            raw = bytes.fromhex("".join(hexes))
            # fromhex skips whitespace, so a short result means a value held a space
            if len(raw) == 8 * len(hexes):
                return np.frombuffer(raw, dtype=">u8").astype(np.uint64)
    except ValueError:
        pass
    for position, value in enumerate(hexes):
        if not _is_hash_hex(value):
            raise PhotoverifyError(
                f"perceptual hash {value!r} (item {position}) is not 16 hex digits"
            )
    raise AssertionError("unreachable: every value parsed on its own")  # pragma: no cover


def _is_hash_hex(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) == 16
        and all(c in "0123456789abcdefABCDEF" for c in value)
    )


def _as_uint64(hashes: Sequence[int] | np.ndarray) -> np.ndarray:
    if isinstance(hashes, np.ndarray):
        if hashes.dtype == np.uint64:
            return hashes.ravel()
        if hashes.dtype == np.int64:
            return hashes.ravel().view(np.uint64)  # a signed 64-bit column of the same bits
        if hashes.size == 0:
            return np.empty(0, dtype=np.uint64)
    return np.fromiter((int(h) for h in hashes), dtype=np.uint64)


def _check_threshold(threshold: int) -> int:
    if not isinstance(threshold, int | np.integer) or not 0 <= threshold <= MAX_THRESHOLD:
        raise UsageError(f"threshold {threshold!r} must be an integer from 0 to {MAX_THRESHOLD}")
    return int(threshold)


def _popcount(x: np.ndarray) -> np.ndarray:
    return np.bitwise_count(x)


def brute_force_pairs(hashes: Sequence[int] | np.ndarray, threshold: int) -> np.ndarray:
    """Every pair (i, j, distance) with i < j and Hamming distance <= threshold, by comparing all.

    Quadratic; the reference that `near_pairs` must equal, and the quicker choice for small sets.
    Rows are sorted by (i, j); dtype int64, shape (k, 3).
    """
    h = _as_uint64(hashes)
    threshold = _check_threshold(threshold)
    n = h.size
    found = []
    rows = max(1, (1 << 22) // max(n, 1))  # keep each distance block near 4M entries
    for start in range(0, n - 1, rows):
        stop = min(start + rows, n - 1)
        dist = _popcount(h[start:stop, None] ^ h[None, start + 1 :])
        # column c of row r is hash start+1+c; keep only j > i
        r, c = np.nonzero(dist <= threshold)
        i = r + start
        j = c + start + 1
        keep = j > i
        i, j = i[keep], j[keep]
        found.append(np.stack([i, j, dist[r[keep], c[keep]].astype(np.int64)], axis=1))
    if not found:
        return np.empty((0, 3), dtype=np.int64)
    return _sorted_pairs(np.concatenate(found).astype(np.int64))


def _sorted_pairs(pairs: np.ndarray) -> np.ndarray:
    if pairs.shape[0] == 0:
        return np.empty((0, 3), dtype=np.int64)
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    return np.ascontiguousarray(pairs[order])


# ---------------------------------------------------------------------------------------------
# Groups of identical hashes


@dataclass(frozen=True)
class HashGroups:
    """The distinct hash values of an input, and which input positions hold each.

    values: sorted distinct uint64 values. inverse: for each input position, its index in values.
    """

    values: np.ndarray
    inverse: np.ndarray

    @property
    def counts(self) -> np.ndarray:
        return np.bincount(self.inverse, minlength=self.values.size)

    def members(self, value_index: int) -> np.ndarray:
        """Input positions (ascending) whose hash is values[value_index]."""
        order, starts = self._grouped()
        return order[starts[value_index] : starts[value_index + 1]]

    def duplicate_groups(self) -> list[np.ndarray]:
        """Input positions of each hash value held by two or more inputs."""
        order, starts = self._grouped()
        sizes = np.diff(starts)
        return [order[starts[v] : starts[v + 1]] for v in np.flatnonzero(sizes > 1)]

    def _grouped(self) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(self.inverse, kind="stable")
        starts = np.zeros(self.values.size + 1, dtype=np.int64)
        np.cumsum(self.counts, out=starts[1:])
        return order, starts


def group_identical(hashes: Sequence[int] | np.ndarray) -> HashGroups:
    h = _as_uint64(hashes)
    values, inverse = np.unique(h, return_inverse=True)
    return HashGroups(values=values, inverse=inverse.ravel().astype(np.int64))


@dataclass(frozen=True)
class NearPairs:
    """Result of the self-join, kept compact when many inputs share one hash.

    groups: the distinct values and the input positions of each.
    pairs: (k, 3) int64 rows (u, v, distance), u < v indexes into groups.values, 1 <= distance;
    pairs of inputs with equal hashes (distance 0) are implied by the groups.
    """

    groups: HashGroups
    pairs: np.ndarray
    threshold: int

    def expand(self, ordered: bool = True) -> np.ndarray:
        """Every (i, j, distance) of input positions, i < j, sorted; what brute force returns.
        (`ordered=False`: the same rows, in no given order.)

        Includes the distance-0 pairs within each group of identical hashes: a group of c inputs
        gives c*(c-1)/2 rows, so prefer `groups` and `pairs` when groups may be large.
        """
        rows = np.concatenate(list(self.expand_chunks()))
        return _sorted_pairs(rows) if ordered else rows

    def expand_chunks(self, rows: int = 1 << 20) -> Iterator[np.ndarray]:
        """`expand(ordered=False)` a part at a time: the pairs within groups, then those between
        groups `rows` distinct pairs at a time (spelling out millions of pairs at once held
        ~100 bytes of temporaries a pair)."""
        order, starts = self.groups._grouped()
        sizes = np.diff(starts)
        yield _within_group_pairs(order, starts, sizes)
        for lo in range(0, self.pairs.shape[0], rows):
            yield _cross_group_pairs(order, starts, sizes, self.pairs[lo : lo + rows])


def _within_group_pairs(order: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    parts = [np.empty((0, 3), dtype=np.int64)]
    for size in np.unique(sizes[sizes > 1]):
        group_starts = starts[:-1][sizes == size]
        a, b = np.triu_indices(int(size), 1)
        i = order[group_starts[:, None] + a[None, :]].ravel()
        j = order[group_starts[:, None] + b[None, :]].ravel()
        parts.append(np.stack([np.minimum(i, j), np.maximum(i, j), np.zeros_like(i)], axis=1))
    return np.concatenate(parts)


def _cross_group_pairs(
    order: np.ndarray, starts: np.ndarray, sizes: np.ndarray, pairs: np.ndarray
) -> np.ndarray:
    u, v, d = pairs[:, 0], pairs[:, 1], pairs[:, 2]
    cu, cv = sizes[u], sizes[v]
    per_pair = cu * cv
    row = np.repeat(np.arange(pairs.shape[0]), per_pair)
    first = np.zeros(pairs.shape[0], dtype=np.int64)
    np.cumsum(per_pair[:-1], out=first[1:])
    local = np.arange(row.size) - first[row]
    i = order[starts[u[row]] + local // cv[row]]
    j = order[starts[v[row]] + local % cv[row]]
    return np.stack([np.minimum(i, j), np.maximum(i, j), d[row]], axis=1)


# ---------------------------------------------------------------------------------------------
# Block plans


@dataclass(frozen=True)
class _Block:
    shift: int
    bits: int
    radius: int  # -1: this block need not be searched

    @property
    def mask(self) -> int:
        return (1 << self.bits) - 1


def _blocks(m: int, threshold: int) -> tuple[_Block, ...]:
    """m blocks covering the 64 bits, with the radii of the refined pigeonhole bound.

    Larger blocks come first and take the larger radius: for them the same radius enumerates
    relatively fewer neighbouring buckets.
    """
    base, extra = divmod(BITS, m)
    sizes = [base + 1] * extra + [base] * (m - extra)
    r, a = divmod(threshold, m)
    blocks, shift = [], 0
    for k, bits in enumerate(sizes):
        blocks.append(_Block(shift=shift, bits=bits, radius=r if k <= a else r - 1))
        shift += bits
    return tuple(blocks)


def _ball(bits: int, radius: int) -> int:
    return sum(comb(bits, w) for w in range(radius + 1))


def _plan(n: int, threshold: int) -> tuple[_Block, ...]:
    """The block count with the least estimated work for n uniformly spread distinct hashes.

    Work per block = bucket probes + candidate comparisons (one xor and popcount each). A probe
    is a random read of the bucket table and measured about 16 times a comparison at 1M hashes.
    """
    best = None
    for m in range(-(-BITS // _MAX_BLOCK_BITS), BITS + 1):
        blocks = _blocks(m, threshold)
        cost = 0.0
        for b in blocks:
            if b.radius < 0:
                continue
            ball = _ball(b.bits, b.radius)
            cost += 16 * ball * min(1 << b.bits, n) / 2 + ball * n * n / 2 / (1 << b.bits)
        if best is None or cost < best[0]:
            best = (cost, blocks)
    return best[1]


@cache
def _flip_masks(bits: int, radius: int) -> np.ndarray:
    """All values of `bits` bits with at most `radius` bits set, 0 first."""
    masks = [0]
    for w in range(1, radius + 1):
        for combo in combinations(range(bits), w):
            masks.append(sum(1 << p for p in combo))
    return np.array(masks, dtype=np.uint64)


# ---------------------------------------------------------------------------------------------
# Compiled kernels


@intrinsic
def _popcnt(typingctx, x):
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@numba.njit(nogil=True, cache=True)
def _first_block(x, y, shifts, block_masks, radii, upto):
    """Whether an earlier block than `upto` already qualifies the pair (and so reports it)."""
    diff = x ^ y
    for k in range(upto):
        if radii[k] >= 0 and np.int64(_popcnt((diff >> shifts[k]) & block_masks[k])) <= radii[k]:
            return True
    return False


@numba.njit(nogil=True, cache=True)
def _append(out, n, i, j, d):
    """`out` with row n set to (i, j, d); a copy twice the size first when it is full."""
    if n == out.shape[0]:
        grown = np.empty((2 * n, 3), dtype=np.int64)
        grown[:n] = out[:n]
        out = grown
    out[n, 0] = i
    out[n, 1] = j
    out[n, 2] = d
    return out


@numba.njit(nogil=True, cache=True)
def _join_block(
    sorted_h,
    sorted_pos,
    starts,
    occupied,
    lo,
    hi,
    flips,
    threshold,
    shifts,
    block_masks,
    radii,
    k,
    max_bucket,
):
    """Pairs found by block k among buckets occupied[lo:hi]: (i, j, d) with d <= threshold.

    A bucket b is compared with itself and with every bucket b ^ f, f a flip mask, once
    (from its smaller side); a pair that an earlier block qualifies is left to that block.
    """
    out = np.empty((1024, 3), dtype=np.int64)
    n = 0
    t = np.uint64(threshold)
    hit_q = np.empty(max_bucket + 1, dtype=np.int64)
    for oi in range(lo, hi):
        b = occupied[oi]
        s0 = starts[b]
        e0 = starts[b + 1]
        for fi in range(flips.size):
            f = flips[fi]
            b2 = b ^ f
            if f == 0:
                s1 = s0
                e1 = e0
            elif b < b2:
                s1 = starts[b2]
                e1 = starts[b2 + 1]
                if s1 == e1:
                    continue
            else:
                continue
            for p in range(s0, e0):
                x = sorted_h[p]
                q0 = p + 1 if f == 0 else s1
                # branch-free scan of the other bucket; hits are rare, so handle them after
                m = 0
                for q in range(q0, e1):
                    hit_q[m] = q
                    m += _popcnt(x ^ sorted_h[q]) <= t
                for hi_ in range(m):
                    q = hit_q[hi_]
                    y = sorted_h[q]
                    if k > 0 and _first_block(x, y, shifts, block_masks, radii, k):
                        continue
                    i = sorted_pos[p]
                    j = sorted_pos[q]
                    out = _append(out, n, min(i, j), max(i, j), np.int64(_popcnt(x ^ y)))
                    n += 1
    return out[:n]


def _block_arrays(blocks: tuple[_Block, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(shifts, masks, radii) of the blocks, as the kernels take them."""
    return (
        np.array([b.shift for b in blocks], dtype=np.uint64),
        np.array([b.mask for b in blocks], dtype=np.uint64),
        np.array([b.radius for b in blocks], dtype=np.int64),
    )


def _bucket_table(values: np.ndarray, block: _Block) -> tuple[np.ndarray, ...]:
    """(order, starts, counts): the positions sorted by the block's value, ties in position
    order (a radix sort when the values fit 16 bits, several times quicker than int64 keys);
    where each value's bucket starts in that order (one entry more than values); bucket sizes."""
    keys = ((values >> np.uint64(block.shift)) & np.uint64(block.mask)).astype(np.int64)
    order = np.argsort(keys.astype(np.uint16) if block.bits <= 16 else keys, kind="stable")
    counts = np.bincount(keys, minlength=1 << block.bits)
    starts = np.zeros((1 << block.bits) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    return order, starts, counts


def _threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def _mih_pairs(values: np.ndarray, threshold: int, blocks: tuple[_Block, ...]) -> np.ndarray:
    """Self-join of distinct uint64 values by multi-index hashing; rows (u, v, d), u < v."""
    shifts, block_masks, radii = _block_arrays(blocks)
    parts = []
    threads = _threads()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for k, block in enumerate(blocks):
            if block.radius < 0:
                continue
            order, starts, counts = _bucket_table(values, block)
            occupied = np.flatnonzero(counts).astype(np.uint64)
            sorted_h = values[order]
            sorted_pos = order.astype(np.int64)
            flips = _flip_masks(block.bits, block.radius)
            # many more chunks than threads, so that uneven buckets even out
            bounds = np.linspace(0, occupied.size, 8 * threads + 1).astype(np.int64)
            jobs = [
                pool.submit(
                    _join_block,
                    sorted_h,
                    sorted_pos,
                    starts,
                    occupied,
                    int(lo),
                    int(hi),
                    flips,
                    threshold,
                    shifts,
                    block_masks,
                    radii,
                    k,
                    int(counts.max()),
                )
                for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
                if hi > lo
            ]
            parts.extend(job.result() for job in jobs)
    if not parts:
        return np.empty((0, 3), dtype=np.int64)
    return np.concatenate(parts)


# ---------------------------------------------------------------------------------------------
# Public self-join


def near_groups(
    hashes: Sequence[int] | np.ndarray,
    threshold: int,
    *,
    method: str = "auto",
    ordered: bool = True,
) -> NearPairs:
    """Group identical hashes, then find every pair of distinct values within `threshold`.

    method: "auto" (brute force for small inputs, else multi-index hashing), "mih" or "brute".
    The result is exact either way. `ordered=False`: its pairs in no given order.
    """
    threshold = _check_threshold(threshold)
    if method not in ("auto", "mih", "brute"):
        raise UsageError(f"method {method!r} must be one of auto, mih, brute")
    groups = group_identical(hashes)
    values = groups.values
    if values.size < 2 or threshold == 0:
        pairs = np.empty((0, 3), dtype=np.int64)
    elif method == "brute" or (method == "auto" and values.size < BRUTE_FORCE_BELOW):
        pairs = brute_force_pairs(values, threshold)
    else:
        pairs = _mih_pairs(values, threshold, _plan(values.size, threshold))
        pairs = _sorted_pairs(pairs) if ordered else pairs
    return NearPairs(groups=groups, pairs=pairs, threshold=threshold)


def near_pairs(
    hashes: Sequence[int] | np.ndarray,
    threshold: int,
    *,
    method: str = "auto",
    ordered: bool = True,
) -> np.ndarray:
    """Every (i, j, distance), i < j, of input positions within `threshold`, sorted by (i, j)
    (`ordered=False`: in no given order).

    Equal to `brute_force_pairs`. Identical hashes make this quadratic in their count; use
    `near_groups` to keep them as groups.
    """
    return near_groups(hashes, threshold, method=method).expand(ordered)


# ---------------------------------------------------------------------------------------------
# Incremental queries


class HashIndex:
    """Hashes bucketed by four 16-bit blocks, for one-at-a-time exact queries.

    `query(h, t)` enumerates, per block, the buckets within that block's pigeonhole radius; at a
    million hashes and t = 10 that is about 430 buckets and 6,500 comparisons, not a million.
    """

    _BLOCKS = 4

    def __init__(self, hashes: Sequence[int] | np.ndarray) -> None:
        self.groups = group_identical(hashes)
        self._order, self._group_starts = self.groups._grouped()
        values = self.groups.values
        self._tables = []
        for block in _blocks(self._BLOCKS, 0):
            self._tables.append(_bucket_table(values, block)[:2])

    def __len__(self) -> int:
        return int(self.groups.inverse.size)

    def query(self, h: int, threshold: int) -> np.ndarray:
        """(position, distance) rows for every indexed hash within `threshold` of h, by position."""
        threshold = _check_threshold(threshold)
        h = np.uint64(h)
        values = self.groups.values
        found = []
        for block, (order, starts) in zip(
            _blocks(self._BLOCKS, threshold), self._tables, strict=True
        ):
            if block.radius < 0:
                continue
            key = (int(h) >> block.shift) & block.mask
            buckets = (np.uint64(key) ^ _flip_masks(block.bits, block.radius)).astype(np.int64)
            lo, hi = starts[buckets], starts[buckets + 1]
            sizes = hi - lo
            first = np.zeros(sizes.size, dtype=np.int64)
            np.cumsum(sizes[:-1], out=first[1:])
            row = np.repeat(np.arange(sizes.size), sizes)
            found.append(order[lo[row] + np.arange(row.size) - first[row]])
        candidates = np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.int64)
        dist = _popcount(values[candidates] ^ h).astype(np.int64)
        hits = candidates[dist <= threshold]
        hit_dist = dist[dist <= threshold]
        sizes = self._group_starts[hits + 1] - self._group_starts[hits]
        row = np.repeat(np.arange(hits.size), sizes)
        first = np.zeros(hits.size, dtype=np.int64)
        np.cumsum(sizes[:-1], out=first[1:])
        positions = self._order[self._group_starts[hits[row]] + np.arange(row.size) - first[row]]
        result = np.stack([positions, hit_dist[row]], axis=1).astype(np.int64)
        return result[np.argsort(result[:, 0], kind="stable")]

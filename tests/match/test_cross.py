"""Near pairs between two sets of 64-bit hashes: equal to brute force, whatever the input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from photoverify.dedupe.core.errors import UsageError
from photoverify.dedupe.match import cross, index

U64 = st.integers(min_value=0, max_value=2**64 - 1)


@st.composite
def two_sets(draw, max_size: int = 50) -> tuple[list[int], list[int]]:
    """Random hashes, and a second set of near copies of them (0..20 bits flipped), exact
    copies and others."""
    a = draw(st.lists(U64, max_size=max_size))
    b = draw(st.lists(U64, max_size=max_size // 2))
    if a:
        for _ in range(draw(st.integers(0, max_size))):
            bits = draw(st.sets(st.integers(0, 63), max_size=20))
            b.append(draw(st.sampled_from(a)) ^ sum(1 << x for x in bits))
        b += draw(st.lists(st.sampled_from(a), max_size=5))
    return a, draw(st.permutations(b))


def slow_cross(a: list[int], b: list[int], threshold: int) -> list[list[int]]:
    """The definition, in plain Python."""
    return [
        [i, j, (x ^ y).bit_count()]
        for i, x in enumerate(a)
        for j, y in enumerate(b)
        if (x ^ y).bit_count() <= threshold
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sets=two_sets(), threshold=st.integers(0, 16))
def test_cross_pairs_equal_brute_force(sets, threshold):
    a, b = sets
    expected = slow_cross(a, b, threshold)
    assert cross.brute_force_cross_pairs(a, b, threshold).tolist() == expected
    for method in ("mih", "auto"):
        assert cross.cross_pairs(a, b, threshold, method=method).tolist() == expected
        # either side may be the larger: the smaller one probes
        swapped = cross.cross_pairs(b, a, threshold, method=method).tolist()
        assert sorted([j, i, d] for i, j, d in swapped) == expected
        # unordered: the same rows, either way round
        for x, y, flip in ((a, b, False), (b, a, True)):
            rows = cross.cross_pairs(x, y, threshold, method=method, ordered=False).tolist()
            assert sorted([j, i, d] if flip else [i, j, d] for i, j, d in rows) == expected


@pytest.mark.slow
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sets=two_sets(max_size=30), threshold=st.integers(0, 24), m=st.integers(3, 24))
def test_every_block_count_is_exact(sets, threshold, m):
    # the planner picks one block count; the pigeonhole radii must hold for all of them
    a, b = (np.array(s, dtype=np.uint64) for s in sets)
    got = cross._mih_cross(a, b, threshold, index._blocks(m, threshold))
    assert index._sorted_pairs(got).tolist() == slow_cross(sets[0], sets[1], threshold)


def test_planted_pairs_among_many_through_the_planner():
    """Past the brute-force size: every planted pair and every exact copy, nothing else."""
    rng = np.random.default_rng(3)
    a = rng.integers(0, 2**64, size=3_000, dtype=np.uint64, endpoint=False)
    b = rng.integers(0, 2**64, size=25_000, dtype=np.uint64, endpoint=False)
    flips = [sum(1 << int(x) for x in rng.choice(64, d, replace=False)) for d in range(10)]
    for k, f in enumerate(flips):
        b[k * 7] = a[k * 11] ^ np.uint64(f)
    b[-1] = b[-2] = a[-1]
    assert a.size * b.size >= cross.BRUTE_FORCE_CELLS
    got = cross.cross_pairs(a, b, 8)
    assert got.tolist() == cross.brute_force_cross_pairs(a, b, 8).tolist()
    assert {(11 * k, 7 * k) for k in range(9)} <= {(i, j) for i, j, _ in got.tolist()}
    assert [a.size - 1, b.size - 2, 0] in got.tolist() and [a.size - 1, b.size - 1, 0] in (
        got.tolist()
    )


def test_empty_sides_and_bad_arguments():
    assert cross.cross_pairs([], [1, 2], 3).shape == (0, 3)
    assert cross.cross_pairs([1, 2], [], 3, method="mih").shape == (0, 3)
    with pytest.raises(UsageError):
        cross.cross_pairs([1], [2], 65)
    with pytest.raises(UsageError):
        cross.cross_pairs([1], [2], 3, method="fast")

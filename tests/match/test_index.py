"""Exact near-pair search over 64-bit hashes: equal to brute force, whatever the input."""

from __future__ import annotations

import io

import imagehash
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from photoverify.dedupe.core.errors import PhotoverifyError, UsageError
from photoverify.dedupe.match import index

U64 = st.integers(min_value=0, max_value=2**64 - 1)


@st.composite
def hash_sets(draw, max_size: int = 60) -> list[int]:
    """Random hashes, near copies of them (0..20 bits flipped) and exact duplicates."""
    base = draw(st.lists(U64, max_size=max_size))
    out = list(base)
    if base:
        for _ in range(draw(st.integers(0, max_size))):
            h = draw(st.sampled_from(base))
            bits = draw(st.sets(st.integers(0, 63), max_size=20))
            out.append(h ^ sum(1 << b for b in bits))
        out += draw(st.lists(st.sampled_from(out), max_size=10))
    return draw(st.permutations(out))


def slow_pairs(hashes: list[int], threshold: int) -> list[tuple[int, int, int]]:
    """The definition, in plain Python."""
    return [
        (i, j, (hashes[i] ^ hashes[j]).bit_count())
        for i in range(len(hashes))
        for j in range(i + 1, len(hashes))
        if (hashes[i] ^ hashes[j]).bit_count() <= threshold
    ]


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hashes=hash_sets(), threshold=st.integers(0, 16))
def test_near_pairs_equals_brute_force(hashes, threshold):
    expected = slow_pairs(hashes, threshold)
    assert index.brute_force_pairs(hashes, threshold).tolist() == [list(p) for p in expected]
    for method in ("mih", "auto"):
        assert index.near_pairs(hashes, threshold, method=method).tolist() == [
            list(p) for p in expected
        ]
        unordered = index.near_pairs(hashes, threshold, method=method, ordered=False)
        assert sorted(unordered.tolist()) == [list(p) for p in expected]
        # spelled out a few distinct pairs at a time (as a million images' are): the same rows
        groups = index.near_groups(hashes, threshold, method=method, ordered=False)
        rows = [r for part in groups.expand_chunks(rows=3) for r in part.tolist()]
        assert sorted(rows) == [list(p) for p in expected]


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hashes=hash_sets(max_size=40), threshold=st.integers(0, 24), m=st.integers(3, 24))
def test_every_block_count_is_exact(hashes, threshold, m):
    # the planner picks one block count; the pigeonhole radii must hold for all of them
    values = np.unique(np.array(hashes, dtype=np.uint64))
    got = index._sorted_pairs(index._mih_pairs(values, threshold, index._blocks(m, threshold)))
    assert got.tolist() == index.brute_force_pairs(values, threshold).tolist()


@pytest.mark.slow
def test_large_planted_set_through_the_planner():
    rng = np.random.default_rng(7)
    hashes = rng.integers(0, 2**64, size=30_000, dtype=np.uint64, endpoint=False)
    for d in range(13):
        flips = np.zeros(200, dtype=np.uint64)
        for r in range(200):
            for bit in rng.choice(64, size=d, replace=False):
                flips[r] |= np.uint64(1) << np.uint64(bit)
        hashes[1000 + d * 200 : 1200 + d * 200] = hashes[d * 200 : 200 + d * 200] ^ flips
    for threshold in (0, 6, 10, 16):
        result = index.near_pairs(hashes, threshold)
        assert result.tolist() == index.brute_force_pairs(hashes, threshold).tolist()
    assert len(index.near_pairs(hashes, 10)) >= 11 * 200  # the planted pairs at 0..10


def test_empty_and_single():
    for hashes in ([], [123], np.empty(0, dtype=np.uint64)):
        assert index.near_pairs(hashes, 10).shape == (0, 3)
        assert index.brute_force_pairs(hashes, 10).shape == (0, 3)


def test_many_identical_hashes_stay_one_group():
    hashes = np.full(1000, 0xDEADBEEF, dtype=np.uint64)
    hashes = np.concatenate([hashes, np.array([0xDEADBEEF ^ 0b111, 0xFFFF << 40], np.uint64)])
    result = index.near_groups(hashes, 5, method="mih")
    # 1,000 copies are one value: one pair between values, not half a million
    assert result.groups.values.size == 3
    assert result.pairs.tolist() == [[0, 1, 3]]
    assert result.groups.duplicate_groups()[0].tolist() == list(range(1000))
    copies = int(np.searchsorted(result.groups.values, np.uint64(0xDEADBEEF)))
    assert result.groups.members(copies).tolist() == list(range(1000))
    assert result.groups.members(copies - 1).tolist() == [1000]  # 0xDEADBEE8 sorts first
    full = result.expand()
    assert len(full) == 1000 * 999 // 2 + 1000
    chunked = np.concatenate(list(result.expand_chunks(rows=1)))
    assert sorted(chunked.tolist()) == full.tolist()
    assert full.tolist() == index.brute_force_pairs(hashes, 5).tolist()


def test_all_pairs_at_threshold_64():
    hashes = [0, 2**64 - 1, 0x0F0F, 12345]
    assert len(index.near_pairs(hashes, 64, method="mih")) == 6


def test_bad_threshold_and_method_are_usage_errors():
    with pytest.raises(UsageError, match="threshold"):
        index.near_pairs([1, 2], -1)
    with pytest.raises(UsageError, match="threshold"):
        index.near_pairs([1, 2], 65)
    with pytest.raises(UsageError, match="method"):
        index.near_pairs([1, 2], 3, method="faiss")


@given(st.lists(U64, max_size=30))
def test_hex_round_trip(values):
    hexes = [f"{v:016x}" for v in values]
    assert index.hex_to_uint64(hexes).tolist() == values


@pytest.mark.parametrize("bad", ["abc", "0123456789abcdeg", "0123 56789abcdef", None, "0" * 17])
def test_hex_rejects_what_is_not_16_hex_digits(bad):
    with pytest.raises(PhotoverifyError, match="item 1"):
        index.hex_to_uint64(["0123456789abcdef", bad])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hashes=hash_sets(), query_from=U64, threshold=st.integers(0, 16), data=st.data())
def test_index_query_equals_scan(hashes, query_from, threshold, data):
    probe = (
        data.draw(st.sampled_from(hashes)) if hashes and data.draw(st.booleans()) else query_from
    )
    expected = [
        [i, (h ^ probe).bit_count()]
        for i, h in enumerate(hashes)
        if (h ^ probe).bit_count() <= threshold
    ]
    found = index.HashIndex(hashes).query(probe, threshold)
    assert found.tolist() == expected


def test_index_query_on_a_large_index():
    rng = np.random.default_rng(3)
    hashes = rng.integers(0, 2**64, size=200_000, dtype=np.uint64, endpoint=False)
    idx = index.HashIndex(hashes)
    assert len(idx) == 200_000
    probe = int(hashes[123]) ^ 0b1011  # distance 3 from hash 123
    dist = np.bitwise_count(hashes ^ np.uint64(probe))
    expected = np.flatnonzero(dist <= 12)
    found = idx.query(probe, 12)
    assert found[:, 0].tolist() == expected.tolist()
    assert [123, 3] in found.tolist()


def test_real_photo_hashes_match_imagehash_distances(corpus, tmp_path):
    # imagehash's own difference is the ground truth for distances between real photos
    jpgs = sorted((corpus / "exif-samples" / "jpg").glob("*.jpg"))[:12]
    assert jpgs
    hashes = [imagehash.phash(Image.open(p)) for p in jpgs]
    # a re-encoded, downscaled copy of the first photo: a near duplicate by construction
    with Image.open(jpgs[0]) as img:
        buf = io.BytesIO()
        img.convert("RGB").resize((img.width // 2, img.height // 2)).save(buf, "JPEG", quality=60)
    hashes.append(imagehash.phash(Image.open(buf)))
    values = index.hex_to_uint64([str(h) for h in hashes])
    result = index.near_pairs(values, 10, method="mih")
    expected = [
        [i, j, hashes[i] - hashes[j]]
        for i in range(len(hashes))
        for j in range(i + 1, len(hashes))
        if hashes[i] - hashes[j] <= 10
    ]
    assert result.tolist() == expected
    assert [0, len(hashes) - 1] in result[:, :2].tolist()

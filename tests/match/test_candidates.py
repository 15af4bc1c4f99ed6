"""Which pairs judge looks at: turned, mirrored and cropped copies of real photos found among
others, the same pairs as the self-join of every orientation hash that found them before."""

from __future__ import annotations

import numpy as np
from conftest import CAMERA_JPEGS
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageOps

from photoverify.dedupe.catalog import signature as sig
from photoverify.dedupe.core.records import FileRecord
from photoverify.dedupe.match import candidates
from photoverify.dedupe.match.index import near_pairs


def _record(name: str, im: Image.Image | None) -> FileRecord:
    blob = None if im is None else sig.picture_signature(im)
    return FileRecord(f"/lib/{name}", "/lib", 1, 0, 0, 0, kind="image", signature=blob)


def _self_join_pairs(images: list[FileRecord]) -> set[tuple[int, int]]:
    """The earlier definition: one self-join of the uprights and all their variants, keeping
    the pairs of an upright and another picture's variant."""
    signed, hashes = candidates.orientation_hashes(images)
    n, turns = len(signed), hashes.shape[1] - 1
    flat = np.concatenate([hashes[:, 0], hashes[:, 1:].reshape(-1)])
    out = set()
    for x, y, _ in near_pairs(flat, candidates.TURNED_HASH_DISTANCE):
        if x < n <= y and signed[int(x)] != signed[(int(y) - n) // turns]:
            i, j = signed[int(x)], signed[(int(y) - n) // turns]
            out.add((min(i, j), max(i, j)))
    return out


def test_turned_and_cropped_copies_are_candidates(corpus):
    photos = [Image.open(corpus / "exif-samples/jpg" / f).convert("RGB") for f in CAMERA_JPEGS]
    w, h = photos[2].size
    images = [_record(f"p{i}.jpg", im) for i, im in enumerate(photos)]
    images += [
        _record("turned.jpg", photos[0].transpose(Image.Transpose.ROTATE_90)),
        _record("mirrored.jpg", ImageOps.mirror(photos[1])),
        _record("cropped.jpg", photos[2].crop((w // 10, h // 10, w - w // 10, h - h // 10))),
        _record("unsigned.jpg", None),
        _record("foreign.jpg", None),
    ]
    images[-1].signature = b"\x09" * sig.SIZE  # a version this code cannot read
    found = {tuple(p) for p in candidates.turned_pairs(images).tolist()}
    n = len(photos)
    assert {(0, n), (1, n + 1), (2, n + 2)} <= found
    assert all(n + 3 not in p and n + 4 not in p for p in found)
    assert found == _self_join_pairs(images)
    # the variants joined a few images' worth at a time (as a million images are): the same
    table, candidates.TURNED_TABLE = candidates.TURNED_TABLE, 20
    try:
        assert {tuple(p) for p in candidates.turned_pairs(images).tolist()} == found
    finally:
        candidates.TURNED_TABLE = table
    # every candidate once, i < j, in order (an array of pairs, not a set of tuples)
    pairs = [tuple(p) for p in candidates.candidate_pairs(images, 10).tolist()]
    assert pairs == sorted(set(pairs)) and all(i < j for i, j in pairs)
    assert found <= set(pairs)


def test_signatures_read_in_one_buffer_equal_one_at_a_time(corpus):
    blobs = [
        sig.picture_signature(Image.open(corpus / "exif-samples/jpg" / name))
        for name in CAMERA_JPEGS[:3]
    ]
    blobs[1:1] = [None, b"", b"\x02" * 5, b"\x07" + blobs[0][1:]]
    ok, grids = sig.unpack_grids(blobs)
    assert ok == [0, 5, 6]
    assert all(np.array_equal(g, sig.unpack(blobs[i]).L) for i, g in zip(ok, grids, strict=True))
    assert sig.unpack_grids([None])[1].shape == (0, sig.GRID, sig.GRID)


@given(st.lists(st.integers(-(2**62), 2**62) | st.integers(-3, 3), max_size=200))
def test_unique_in_place_equals_numpy_unique(values):
    keys = np.array(values, dtype=np.int64)
    assert candidates.unique_in_place(keys.copy()).tolist() == np.unique(keys).tolist()

"""The keeper policy: pure, ranked, explained, independent of input order."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from photoverify.dedupe.core.records import FileRecord, Metadata
from photoverify.dedupe.match.policy import (
    choose_keeper,
    deciding_criterion,
    name_penalty,
    telling_names,
)


def _rec(path, fmt="JPEG", w=100, h=100, **meta) -> FileRecord:
    return FileRecord(
        path=path,
        root="/",
        size=1,
        mtime_ns=0,
        inode=0,
        device=0,
        blake3="b",
        kind="image",
        format=fmt,
        width=w,
        height=h,
        metadata=Metadata(**meta),
    )


def test_original_format_beats_larger_conversion():
    heic = _rec("/a/IMG_1.HEIC", "HEIC", 4032, 3024)
    jpeg = _rec("/b/IMG_1.JPG", "JPEG", 4032, 3024, gps_lat=1.0, gps_lon=2.0)
    keeper, reason = choose_keeper([jpeg, heic])
    assert keeper is heic and "HEIC is the original format, JPEG a conversion" in reason


def test_pixels_then_metadata_then_name():
    big = _rec("/a/x (1).jpg", w=4000, h=3000)
    small = _rec("/a/x.jpg", w=2048, h=1536)
    assert choose_keeper([small, big])[0] is big
    rich = _rec("/a/y (1).jpg", captured_at="2020-01-01T00:00:00", make="Apple")
    poor = _rec("/a/y.jpg")
    keeper, reason = choose_keeper([poor, rich])
    assert keeper is rich and "more metadata" in reason
    plain, suffixed = _rec("/a/z.jpg"), _rec("/a/z-1234.jpg")
    keeper, reason = choose_keeper([suffixed, plain])
    assert keeper is plain and "shorter name" in reason


def test_prefer_root_wins():
    ref = _rec("/ref/IMG_1.JPG", w=100, h=100)
    other = _rec("/new/IMG_1.HEIC", "HEIC", 4000, 3000)
    keeper, reason = choose_keeper([other, ref], prefer=["/ref"])
    assert keeper is ref and "preferred" in reason


def test_name_penalty_counts_suffixes():
    assert name_penalty("/a/IMG_1.JPG") == 0
    assert name_penalty("/a/IMG_1 (1).JPG") == 1
    assert name_penalty("/a/IMG_1 (1)-1234.JPG") == 2
    assert name_penalty("/a/IMG_1_edited.JPG") == 1


records = st.builds(
    _rec,
    st.from_regex(r"\A/[a-c]/IMG_[0-9]{1,2}( \(1\)|-1234|_edited)?\.(JPG|HEIC)\Z"),
    st.sampled_from(["JPEG", "HEIC", "PNG"]),
    st.sampled_from([100, 2048, 4032]),
    st.sampled_from([100, 1536, 3024]),
    captured_at=st.one_of(
        st.none(), st.sampled_from(["2020-01-01T00:00:00", "2019-01-01T00:00:00"])
    ),
)


@given(st.lists(records, min_size=1, max_size=8, unique_by=lambda r: r.path), st.randoms())
def test_keeper_is_a_member_and_independent_of_order(members, rnd):
    keeper, reason = choose_keeper(members)
    assert keeper in members and reason
    shuffled = members[:]
    rnd.shuffle(shuffled)
    again, reason_again = choose_keeper(shuffled)
    assert again.path == keeper.path and reason_again == reason


def test_keeper_reason_names_copies_from_the_folder_where_they_part():
    """Not the shortest telling suffix (`03/IMG_1000.HEIC kept over Photos/IMG_1000.HEIC`, folders
    no reader can place) but each path from the first folder the copies do not share, as the dupes
    table shows them; copies in one folder are named by their bare names."""
    camera = _rec("/lib/Camera Roll/2019/03/IMG_1000.HEIC", "HEIC")
    icloud = _rec("/lib/iCloud Photos Part 1 of 2/Photos/IMG_1000.HEIC", "HEIC")
    suffixed = _rec("/lib/Camera Roll/2019/03/IMG_1000 (1).HEIC", "HEIC")
    keeper, reason = choose_keeper([icloud, suffixed, camera])
    assert keeper is camera
    assert reason.startswith(
        "Camera Roll/2019/03/IMG_1000.HEIC kept over iCloud Photos Part 1 of 2/Photos/IMG_1000.HEIC"
    )
    assert "over Camera Roll/2019/03/IMG_1000 (1).HEIC:" in reason
    keeper, reason = choose_keeper([suffixed, camera])
    assert reason.startswith("IMG_1000.HEIC kept over IMG_1000 (1).HEIC:")


@given(st.lists(records, min_size=2, max_size=8, unique_by=lambda r: r.path))
def test_each_copy_is_named_with_the_criterion_that_decides_against_it(members):
    # the reason gives, for each other copy, deciding_criterion's words: the first criterion
    # on which the keeper beats it
    keeper, reason = choose_keeper(members)
    for other in members:
        if other is not keeper:
            assert deciding_criterion(keeper, other) in reason


def _telling_by_the_book(paths):
    """telling_names as os.path defines it: commonpath of the folders, relpath from there."""
    if len(paths) == 1:
        return {paths[0]: os.path.basename(paths[0])}
    try:
        shared = os.path.commonpath([os.path.dirname(p) for p in paths])
    except ValueError:
        shared = ""
    if shared in ("", os.sep):
        return {p: p for p in paths}
    return {p: os.path.relpath(p, shared) for p in paths}


_component = st.sampled_from(["", ".", "..", "a", "b", "b-c", "b c", ".h", "ü", "a.", "..x"])
_paths = st.builds(
    lambda lead, parts: lead + "/".join(parts),
    st.sampled_from(["/", "", "//", "./"]),
    st.lists(_component, min_size=1, max_size=5),
)


@given(st.lists(_paths, min_size=1, max_size=5, unique=True))
def test_telling_names_are_relpath_from_commonpath(paths):
    """The sliced fast path names every copy as os.path.relpath from os.path.commonpath would,
    whatever the paths hold (empty, dot and dot-dot components, relative ones, odd names)."""
    try:
        expected = _telling_by_the_book(paths)
    except ValueError as exc:  # relpath refuses an empty path: so must the fast path
        with pytest.raises(ValueError, match=str(exc)):
            telling_names(paths)
        return
    assert telling_names(paths) == expected


@given(st.lists(st.lists(st.sampled_from(["a", "b", "b-c", "b.c", "ab"]), min_size=1,
                         max_size=4), min_size=2, max_size=6))  # fmt: skip
def test_telling_names_of_walked_paths_are_sliced_right(parts):
    """Clean absolute paths (what walks give) take the fast path: the same names as os.path's."""
    paths = list(dict.fromkeys("/r/" + "/".join(p) + ".jpg" for p in parts))
    assert telling_names(paths) == _telling_by_the_book(paths)

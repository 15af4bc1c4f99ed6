"""The duplicate benchmark's scoring: pairwise precision/recall, burst and edit merges, group
agreement, and the readers of the peer tools' real output."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.bench_dupes import (
    FID_VIEW,
    agreement,
    blank_line_groups,
    burst_merges,
    derived_merges,
    distinct_bytes,
    findimagedupes_output,
    group_set,
    identical_within,
    pairs_of,
    photoverify_groups,
    rdfind_groups,
    rmlint_groups,
    score,
)

names = st.sampled_from([f"f{i}" for i in range(8)])
groupings = st.lists(st.lists(names, max_size=5), max_size=5)


def test_pairs_of_counts_each_unordered_pair_once_within_the_universe():
    assert pairs_of([["b", "a", "c"], ["d"]]) == {("a", "b"), ("a", "c"), ("b", "c")}
    assert pairs_of([["b", "a", "c"]], universe={"a", "c"}) == {("a", "c")}
    assert pairs_of([["a", "a"]]) == set()


def test_score_precision_and_recall():
    truth = pairs_of([["a", "b", "c"]])  # 3 pairs
    predicted = pairs_of([["a", "b"], ["c", "d"]])  # 1 right, 1 wrong
    s = score(predicted, truth)
    assert (s.tp, s.fp, s.fn) == (1, 1, 2)
    assert s.precision == 0.5 and s.recall == pytest.approx(1 / 3)
    assert score(set(), truth).precision == 1.0 and score(set(), truth).recall == 0.0


@given(groupings, groupings)
def test_score_is_bounded_and_perfect_on_itself(pred, truth):
    p, t = pairs_of(pred), pairs_of(truth)
    s = score(p, t)
    assert 0.0 <= s.precision <= 1.0 and 0.0 <= s.recall <= 1.0
    assert s.tp + s.fn == len(t) and s.tp + s.fp == len(p)
    assert score(t, t).precision == 1.0 and score(t, t).recall == 1.0


@given(groupings)
def test_group_order_and_member_order_do_not_matter(groups):
    shuffled = [list(reversed(g)) for g in reversed(groups)]
    assert pairs_of(groups) == pairs_of(shuffled)
    assert group_set(groups) == group_set(shuffled)


def _truth():
    def f(path, role, photo, blake3, burst=None):
        return {"path": path, "role": role, "photo_id": photo, "blake3": blake3, "burst_id": burst}

    return {
        "files": [
            f("IMG_1.HEIC", "burst", "P1", "h1", "B"),
            f("IMG_2.HEIC", "burst", "P1.b1", "h2", "B"),
            f("copy/IMG_2.HEIC", "copy", "P1.b1", "h2", "B"),
            f("IMG_3.JPG", "original", "P3", "h3"),
            f("IMG_E3.JPG", "edit", "P3", "h4"),
        ],
        "groups": {"similar": [["IMG_1.HEIC", "IMG_2.HEIC", "copy/IMG_2.HEIC"]]},
    }


def test_burst_merge_is_two_frames_not_a_frame_and_its_copy():
    truth = _truth()
    pred = pairs_of([["IMG_1.HEIC", "IMG_2.HEIC", "copy/IMG_2.HEIC"]])
    assert burst_merges(pred, truth) == {
        ("IMG_1.HEIC", "IMG_2.HEIC"),
        ("IMG_1.HEIC", "copy/IMG_2.HEIC"),
    }
    assert burst_merges(pairs_of([["IMG_2.HEIC", "copy/IMG_2.HEIC"]]), truth) == set()


def test_edit_merged_with_its_original_is_counted():
    truth = _truth()
    assert derived_merges(pairs_of([["IMG_3.JPG", "IMG_E3.JPG"]]), truth) == {
        ("IMG_3.JPG", "IMG_E3.JPG")
    }
    assert derived_merges(pairs_of([["IMG_2.HEIC", "copy/IMG_2.HEIC"]]), truth) == set()


def test_distinct_bytes_drops_identical_pairs():
    b3 = {"a": "1", "b": "1", "c": "2"}
    assert distinct_bytes(pairs_of([["a", "b", "c"]]), b3) == {("a", "c"), ("b", "c")}


def test_agreement_and_identical_within_clusters():
    ours = group_set(
        identical_within([["a", "b", "c", "d"]], {"a": "1", "b": "1", "c": "2", "d": "2"})
    )
    theirs = group_set([["b", "a"], ["c", "d"], ["x", "y"], ["z"]])
    assert agreement(ours, theirs) == (2, 0, 1)
    assert group_set([["a", "b", "e"]], keep={"a", "b"}) == {frozenset({"a", "b"})}


def test_photoverify_groups_take_keeper_and_members_relative_to_root():
    result = {"clusters": [{"keeper": "/r/a", "members": [{"path": "/r/a"}, {"path": "/r/x/b"}]}]}
    assert photoverify_groups(result, "/r") == [["a", "x/b"]]


@pytest.fixture
def twin_tree(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    (root / "Camera Roll").mkdir(parents=True)
    (root / "Camera Roll" / "IMG 1.JPG").write_bytes(b"same bytes" * 100)
    (root / "copy of IMG 1.JPG").write_bytes(b"same bytes" * 100)
    (root / "other.JPG").write_bytes(b"other bytes" * 100)
    return root


EXPECTED = {frozenset({"Camera Roll/IMG 1.JPG", "copy of IMG 1.JPG"})}


@pytest.mark.parametrize("tool", ["jdupes", "fdupes"])
def test_blank_line_groups_reads_real_output(tool, twin_tree):
    if not shutil.which(tool):
        pytest.skip(f"{tool} not installed")
    out = subprocess.run([tool, "-r", str(twin_tree)], capture_output=True, text=True).stdout
    assert group_set(blank_line_groups(out, str(twin_tree))) == EXPECTED


def test_rdfind_groups_reads_real_output(twin_tree, tmp_path):
    if not shutil.which("rdfind"):
        pytest.skip("rdfind not installed")
    res = tmp_path / "results.txt"
    subprocess.run(
        ["rdfind", "-dryrun", "true", "-outputname", str(res), str(twin_tree)],
        check=True,
        capture_output=True,
    )
    assert group_set(rdfind_groups(res.read_text(), str(twin_tree))) == EXPECTED


def test_rmlint_groups_reads_real_output(twin_tree, tmp_path):
    if not shutil.which("rmlint"):
        pytest.skip("rmlint not installed")
    res = tmp_path / "rmlint.json"
    subprocess.run(
        ["rmlint", str(twin_tree), "-o", f"json:{res}"], cwd=tmp_path, capture_output=True
    )
    doc = json.loads(res.read_text())
    assert group_set(rmlint_groups(doc, str(twin_tree))) == EXPECTED


def test_findimagedupes_output_reads_groups_and_fingerprinted_files(tmp_path):
    if not shutil.which("findimagedupes"):
        pytest.skip("findimagedupes not installed")
    import numpy as np
    from PIL import Image

    root = tmp_path / "imgs"
    root.mkdir()
    cells = (np.random.default_rng(1).random((12, 16, 3)) * 255).astype("uint8")
    im = Image.fromarray(cells).resize((320, 240), Image.Resampling.BICUBIC)
    im.save(root / "a b.png")
    im.resize((160, 120)).save(root / "small.jpg", quality=85)
    (root / "notes.txt").write_text("not an image")
    out = subprocess.run(
        ["findimagedupes", "-R", "-v", "fp", "-i", FID_VIEW, str(root)],
        capture_output=True,
        text=True,
    ).stdout
    groups, readable = findimagedupes_output(out, str(root))
    assert readable == {"a b.png", "small.jpg"}
    assert group_set(groups) == {frozenset({"a b.png", "small.jpg"})}

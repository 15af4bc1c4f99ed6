"""Fixity: the pure matching rules (property-tested) and real trees with planted faults."""

from __future__ import annotations

import posixpath
import shutil
import unicodedata
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photoverify.verify.manifest import read_manifest, write_manifest
from photoverify.verify.manifest.fixity import (
    Expected,
    Observed,
    check_fixity,
    classify,
    select_for_hashing,
)

DISK_OUTCOMES = {"matched", "changed", "moved", "duplicated", "new", "unreadable"}


# ---------------------------------------------------------------- pure rules


def test_classify_small_cases() -> None:
    exp = {
        "a/1.jpg": Expected("d1", 10),
        "a/2.jpg": Expected("d2", 20),
        "b.jpg": Expected("d3", 30),
        "c.jpg": Expected("d4", 40),
        "gone.jpg": Expected("d5", 50),
    }
    obs = {
        "z/1.jpg": Observed(10, "d1"),  # folder a renamed to z
        "z/2.jpg": Observed(20, "d2"),
        "b.jpg": Observed(30, "d3"),
        "b copy.jpg": Observed(30, "d3"),
        "c.jpg": Observed(41),  # size differs: not hashed
        "fresh.jpg": Observed(7),
    }
    got = {(o.key, o.outcome, o.other) for o in classify(exp, obs)}
    assert got == {
        ("z/1.jpg", "moved", "a/1.jpg"),
        ("z/2.jpg", "moved", "a/2.jpg"),
        ("b.jpg", "matched", None),
        ("b copy.jpg", "duplicated", "b.jpg"),
        ("c.jpg", "changed", None),
        ("fresh.jpg", "new", None),
        ("gone.jpg", "missing", None),
    }


def test_move_pairs_by_file_name_first() -> None:
    exp = {"a/x.jpg": Expected("d"), "a/y.jpg": Expected("d")}  # same content twice
    obs = {"b/y.jpg": Observed(1, "d"), "b/x.jpg": Observed(1, "d")}
    got = {(o.key, o.other) for o in classify(exp, obs) if o.outcome == "moved"}
    assert got == {("b/x.jpg", "a/x.jpg"), ("b/y.jpg", "a/y.jpg")}


def test_moved_away_and_replaced() -> None:
    exp = {"p.jpg": Expected("old")}
    obs = {"p.jpg": Observed(1, "other"), "q.jpg": Observed(1, "old")}
    got = {(o.key, o.outcome, o.other_state) for o in classify(exp, obs)}
    assert got == {("p.jpg", "changed", None), ("q.jpg", "moved", "changed")}


def test_size_prefilter() -> None:
    exp = {"a": Expected("d", 10), "b": Expected("e", 20)}
    chosen = select_for_hashing(exp, {"a": 10, "b": 21, "x": 20, "y": 99})
    assert chosen == {"a", "x"}  # b: size differs; y: no manifest entry that large
    unsized = {"a": Expected("d", None)}
    assert select_for_hashing(unsized, {"a": 5, "y": 99}) == {"a", "y"}


@st.composite
def scenarios(draw):
    """A manifest of unique contents, and a tree after random operations on it.

    Each file gets at most one operation, so the expected outcome of every path is known.
    """
    n = draw(st.integers(1, 12))
    dirs = ["", "d1/", "d2/"]
    names = [f"{draw(st.sampled_from(dirs))}f{i}.jpg" for i in range(n)]
    manifest = {p: Expected(f"c{i}", 100 + i) for i, p in enumerate(names)}
    ops = draw(
        st.lists(
            st.sampled_from(["keep", "rename", "delete", "modify", "copy", "truncate"]),
            min_size=n,
            max_size=n,
        )
    )
    renamed_dir = draw(st.booleans())
    tree: dict[str, Observed] = {}
    expect: dict[str, tuple[str, str | None]] = {}
    for i, (p, op) in enumerate(zip(names, ops, strict=True)):
        e = manifest[p]
        if op == "keep":
            tree[p] = Observed(e.size, e.digest)
            expect[p] = ("matched", None)
        elif op == "rename":
            q = ("moved/" + p) if renamed_dir else f"renamed{i}.jpg"
            tree[q] = Observed(e.size, e.digest)
            expect[q] = ("moved", p)
        elif op == "delete":
            expect[p] = ("missing", None)
        elif op == "modify":
            tree[p] = Observed(e.size, f"modified{i}")
            expect[p] = ("changed", None)
        elif op == "truncate":
            tree[p] = Observed(e.size - 50, None)
            expect[p] = ("changed", None)
        elif op == "copy":
            tree[p] = Observed(e.size, e.digest)
            tree[f"copies/{p}"] = Observed(e.size, e.digest)
            expect[p] = ("matched", None)
            expect[f"copies/{p}"] = ("duplicated", p)
    for j in range(draw(st.integers(0, 3))):
        tree[f"new{j}.jpg"] = Observed(7, f"fresh{j}")
        expect[f"new{j}.jpg"] = ("new", None)
    return manifest, tree, expect


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_random_operations_give_exactly_the_expected_outcomes(scenario) -> None:
    manifest, tree, expect = scenario
    got = {o.key: (o.outcome, o.other) for o in classify(manifest, tree)}
    assert got == expect


digests = st.sampled_from(["d0", "d1", "d2", "d3"])
keys = st.sampled_from([f"{d}{n}" for d in ("", "x/", "y/") for n in "abcde"])


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(keys, digests, max_size=10),
    st.dictionaries(keys, st.one_of(digests, st.none()), max_size=10),
)
def test_every_path_and_entry_is_accounted_for_once(exp_d, obs_d) -> None:
    """With repeated contents anywhere, each disk path gets one outcome and each manifest entry
    is accounted for once: by its own path, by a missing finding, or as the source of one move."""
    exp = {k: Expected(d) for k, d in exp_d.items()}
    obs = {k: Observed(1, d) for k, d in obs_d.items()}
    outcomes = classify(exp, obs)
    on_disk = Counter(o.key for o in outcomes if o.outcome in DISK_OUTCOMES)
    assert on_disk == Counter(obs.keys())
    gone = set(exp) - set(obs)
    missing = [o.key for o in outcomes if o.outcome == "missing"]
    moved_from_missing = [
        o.other for o in outcomes if o.outcome == "moved" and o.other_state == "missing"
    ]
    assert sorted(missing + moved_from_missing) == sorted(gone)
    for o in outcomes:
        if o.outcome == "moved":
            assert o.key not in exp and exp[o.other].digest == obs[o.key].digest
        if o.outcome == "duplicated":
            assert obs[o.key].digest in {e.digest for e in exp.values()}
        if o.outcome == "new":
            assert obs[o.key].digest not in {e.digest for e in exp.values()}


# ---------------------------------------------------------------- real files, planted faults


SAMPLE = {  # folder in the copy -> the corpus folder whose files it holds
    "exif-org": "exif-samples/jpg",  # old camera JPEGs
    "gps": "immich-test-assets/metadata/dates",  # photos with GPS or capture times
    "orientation": "exif-samples/jpg/orientation",
}


def copy_sample(corpus: Path, dest: Path) -> list[str]:
    rels = []
    for sub, folder in SAMPLE.items():
        for f in sorted((corpus / folder).iterdir()):
            if f.is_file() and f.stat().st_size < 400_000:
                (dest / sub).mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, dest / sub / f.name)
                rels.append(f"{sub}/{f.name}")
    assert len(rels) >= 20
    return rels


@pytest.mark.parametrize("fmt", ["json", "b3sum", "hashdeep"])
def test_planted_faults_are_reported_exactly(corpus: Path, tmp_path: Path, fmt: str) -> None:
    root = tmp_path / "lib"
    rels = copy_sample(corpus, root)
    manifest_path = tmp_path / f"before.{fmt}"
    write_manifest(root, manifest_path, fmt=fmt)
    manifest = read_manifest(manifest_path)

    flipped, truncated, deleted, duplicated = (
        "exif-org/" + sorted(p for p in rels if p.startswith("exif-org/"))[i].split("/")[1]
        for i in range(4)
    )
    data = bytearray((root / flipped).read_bytes())
    data[len(data) // 2] ^= 0x01
    (root / flipped).write_bytes(bytes(data))
    with open(root / truncated, "r+b") as fh:
        fh.truncate(1000)
    (root / deleted).unlink()
    shutil.copy2(root / duplicated, root / "copy of dup.jpg")
    (root / "gps").rename(root / "gps renamed")
    gps_files = [p for p in rels if p.startswith("gps/")]

    hashed = []
    result = check_fixity(root, manifest, progress=lambda i, n, rel: hashed.append(rel))
    by_outcome: dict[str, set[str]] = {}
    for f in result.findings:
        by_outcome.setdefault(f.outcome, set()).add(f.path)
    expected_other = len(rels) - 4 - len(gps_files)
    assert by_outcome.pop("changed") == {flipped, truncated}
    assert by_outcome.pop("missing") == {deleted}
    assert by_outcome.pop("duplicated") == {"copy of dup.jpg"}
    assert by_outcome.pop("moved") == {p.replace("gps/", "gps renamed/") for p in gps_files}
    assert len(by_outcome.pop("matched")) == expected_other + 1  # + the duplicate's original
    assert by_outcome == {}
    assert result.counts["moved"] == len(gps_files) and not result.ok
    moved = {f.path: f.evidence for f in result.findings if f.outcome == "moved"}
    assert all(ev["from"] == p.replace("gps renamed/", "gps/") for p, ev in moved.items())
    dup = next(f for f in result.findings if f.outcome == "duplicated")
    assert dup.evidence["copy_of"] == duplicated and dup.check == "fixity"
    flip = next(f for f in result.findings if f.path == flipped)
    assert flip.severity == "error" and flip.evidence["expected"] != flip.evidence["actual"]
    if manifest.entries[0].size is not None:
        assert truncated not in hashed  # the size alone said it changed
    else:
        assert truncated in hashed


def test_clean_copy_all_matched_and_nfd_tree(corpus: Path, tmp_path: Path) -> None:
    root = tmp_path / "lib"
    rels = copy_sample(corpus, root)
    nfd = unicodedata.normalize("NFD", "Noël")
    (root / "orientation").rename(root / nfd)
    m = write_manifest(root, tmp_path / "m.json", fmt="json")
    nfc_copy = tmp_path / "nfc"
    shutil.copytree(root, nfc_copy)
    (nfc_copy / nfd).rename(nfc_copy / unicodedata.normalize("NFC", nfd))
    result = check_fixity(nfc_copy, read_manifest(tmp_path / "m.json"))
    assert result.counts["matched"] == len(rels) == len(m.entries) and result.ok


def test_unreadable_path_is_a_finding(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    (root / "a.jpg").write_bytes(b"aaaa")
    (root / "b.jpg").write_bytes(b"bbbb")
    m = write_manifest(root, tmp_path / "m.b3", fmt="b3sum")

    def known(abs_path, st_, alg):  # the file vanishes between listing and reading
        if abs_path.endswith("b.jpg"):
            Path(abs_path).unlink()
        return None

    result = check_fixity(root, m, known_digest=known)
    assert {(f.path, f.outcome) for f in result.findings} == {
        ("a.jpg", "matched"),
        ("b.jpg", "unreadable"),
    }
    assert "No such file" in next(f for f in result.findings if f.outcome == "unreadable").message


def test_known_digest_short_circuits_hashing(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    (root / "a.jpg").write_bytes(b"aaaa")
    m = write_manifest(root, tmp_path / "m.b3", fmt="b3sum")
    (root / "a.jpg").write_bytes(b"bbbb")  # changed, but the catalog claims the old digest
    old = m.entries[0].digests["blake3"]
    result = check_fixity(root, m, known_digest=lambda p, s, a: old)
    assert result.counts["matched"] == 1  # proves the callback's value was used, not a re-read
    assert check_fixity(root, m).counts["changed"] == 1


def test_manifest_inside_root_is_not_new(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    (root / "a.jpg").write_bytes(b"aaaa")
    m = write_manifest(root, root / "B3SUMS", fmt="b3sum")
    result = check_fixity(root, read_manifest(root / "B3SUMS"))
    assert result.counts == {**dict.fromkeys(result.counts, 0), "matched": 1}
    assert posixpath.basename(m.source) == "B3SUMS"

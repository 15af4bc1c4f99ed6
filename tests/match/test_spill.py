"""The relation log: the same sequence whether it stays in memory or moves to disk."""

from __future__ import annotations

import os
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photoverify.dedupe.core.errors import EnvironmentProblem
from photoverify.dedupe.core.records import Relation
from photoverify.dedupe.match import spill
from photoverify.dedupe.match.spill import RelationLog

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_evidence = st.dictionaries(
    st.sampled_from(["why", "phash_distance", "pixels", "decided_by"]),
    st.one_of(st.integers(), _text, st.none(), st.dictionaries(_text, st.floats(allow_nan=False))),
    max_size=4,
)
_relations = st.lists(
    st.builds(Relation, _text, _text, st.sampled_from(["derived", "similar"]), _evidence),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(_relations, st.integers(0, 70), st.integers(1, 7), st.data())
def test_a_log_reads_back_what_was_appended_in_order(items, keep, batch, data):
    spill.BATCH, saved = batch, spill.BATCH  # small batches: many pickles in one file
    try:
        log = RelationLog(items, keep=keep)
    finally:
        spill.BATCH = saved
    assert log.spilled == (len(items) > keep)
    assert list(log) == items and len(log) == len(items) and log == items
    assert list(log) == items  # read again: each iteration starts at the beginning
    assert [(x, y) for x in log for y in log] == [(x, y) for x in items for y in items]  # nested
    assert log[:5] == tuple(items[:5]) and log[-3:] == tuple(items[-3:])
    if items:
        i = data.draw(st.integers(-len(items), len(items) - 1))
        assert log[i] == items[i]
    log.close()


def test_a_spilled_log_writes_a_file_of_its_own_and_removes_it():
    items = [Relation(f"/a/{i}", f"/b/{i}", "similar", {"why": "pixels differ"}) for i in range(50)]
    log = RelationLog(items, keep=10)
    name = log._file.name
    assert log.spilled and os.path.exists(name) and os.path.getsize(name) > 0
    assert len(log._pending) < len(items)  # most of them are on disk, not in memory
    log.close()
    assert not os.path.exists(name)


def test_a_log_that_cannot_make_its_file_says_where_and_why(tmp_path, monkeypatch):
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("a file, where TMPDIR names a folder")
    monkeypatch.setattr(tempfile, "tempdir", str(not_a_folder))
    with pytest.raises(EnvironmentProblem, match=r"notes.txt: cannot keep the relations .*TMPDIR"):
        RelationLog([Relation("/a", "/b", "similar", {})], keep=0)


def test_a_log_on_a_full_disk_says_where_and_why(monkeypatch):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    log = RelationLog([Relation("/a", "/b", "similar", {})], keep=0)
    full = open("/dev/full", "wb")  # every write fails with ENOSPC, as on a full disk
    monkeypatch.setattr(log, "_file", full)
    with pytest.raises(EnvironmentProblem, match=r"/dev/full: cannot keep .*No space left"):
        log.extend([Relation("/c", "/d", "similar", {})] * spill.BATCH)
    full.close()

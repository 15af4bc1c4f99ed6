"""RecordTable: records held as columns give back, field by field, the records that went in,
whatever the values (non-UTF-8 names, digests that are not hex, ints past int64), and answer
the column questions (content identity, hashes, kinds) as the records would."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from photoverify.dedupe.catalog.store import Catalog
from photoverify.dedupe.core.records import FileRecord, Metadata
from photoverify.dedupe.match import table as table_module
from photoverify.dedupe.match.index import hex_to_uint64
from photoverify.dedupe.match.table import RecordTable, as_table

_HEX = "0123456789abcdef"
_names = st.text(
    st.characters(codec="utf-8") | st.sampled_from("\udc80\udcff\udce9/ \n"), min_size=1
)
_digests = st.one_of(
    st.none(),
    st.just(""),
    st.text(_HEX, min_size=64, max_size=64),
    st.sampled_from(["a" * 64, "b" * 64]),  # repeated: copies
    st.text(_HEX.upper(), min_size=64, max_size=64),
    st.text(min_size=1, max_size=70),
)
_hashes = st.one_of(st.none(), st.text(_HEX, min_size=16, max_size=16), st.just("NOT-HEX"))
_ints = st.one_of(
    st.none(), st.integers(-(2**63), 2**63 - 1), st.integers(2**63, 2**70), st.booleans()
)
_SHARED = Metadata()  # one object for many records, as the catalog reads empty metadata
_text = st.one_of(st.none(), st.text(st.characters(codec="utf-8") | st.sampled_from("\udce9")))
_metas = st.one_of(
    st.just(_SHARED),
    st.sampled_from([Metadata(content_id="X"), Metadata(make="Apple", captured_at="2020")]),
    st.builds(
        Metadata,
        captured_at=_text,
        gps_lat=st.one_of(st.none(), st.floats(allow_nan=False)),
        gps_lon=st.one_of(st.none(), st.floats(allow_nan=False)),
        make=_text,
        content_id=_text,
        rating=st.one_of(st.none(), st.integers(-(2**70), 2**70), st.booleans()),
        width=st.one_of(st.none(), st.integers(0, 2**40)),
    ),
    st.just(None),  # not a Metadata: kept as it is
    st.just(Metadata(title=frozenset({"x"}))),  # a value marshal holds
    st.just(Metadata(title=object())),  # and one it does not: kept as it is
)


@st.composite
def _records(draw) -> FileRecord:
    return FileRecord(
        path="/lib/" + draw(_names),
        root=draw(st.sampled_from(["/lib", "/other"])),
        size=draw(_ints),
        mtime_ns=draw(_ints),
        inode=draw(_ints),
        device=draw(st.one_of(st.integers(0, 5), st.none())),
        blake3=draw(_digests),
        kind=draw(st.sampled_from(["image", "video", "sidecar", "other"])),
        format=draw(st.sampled_from([None, "JPEG", "PNG", "CR2"])),
        width=draw(_ints),
        height=draw(_ints),
        duration=draw(st.one_of(st.none(), st.floats(allow_nan=False))),
        codec=draw(st.sampled_from([None, "h264"])),
        phash=draw(_hashes),
        dhash=draw(_hashes),
        phash_method=draw(st.sampled_from([None, "jpeg-draft", "full"])),
        decode_ok=draw(st.sampled_from([None, True, False])),
        decode_error=draw(st.sampled_from([None, "truncated"])),
        signature=draw(st.one_of(st.none(), st.binary(max_size=20))),
        frames=draw(_ints),
        metadata=draw(_metas),
        error=draw(st.sampled_from([None, "vanished"])),
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(_records(), max_size=12), st.integers(1, 5))
def test_records_come_back_field_by_field(records, chunk):
    saved = table_module.CHUNK, table_module.BATCH
    table_module.CHUNK = table_module.BATCH = chunk  # chunk and batch boundaries anywhere
    try:
        table = RecordTable.from_records(records)
        assert list(table) == records
    finally:
        table_module.CHUNK, table_module.BATCH = saved
    assert len(table) == len(records)
    assert [table[i] for i in range(len(records))] == records
    assert table[1:3] == records[1:3]
    assert list(table.paths()) == [r.path for r in records]
    in_order = [os.fsencode(r.path) for r in records] == sorted(
        os.fsencode(r.path) for r in records
    )
    assert table.path_sorted == in_order
    assert list(as_table(records)) == sorted(records, key=lambda r: os.fsencode(r.path))
    picked = [k for k in range(len(records)) if k % 2 == 0][::-1]
    assert list(table.take(picked)) == [records[k] for k in picked]
    assert table.records(picked) == [records[k] for k in picked]
    assert (
        table.take(picked).records(range(len(picked)))[::-1] == [records[k] for k in picked][::-1]
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(_records(), max_size=12))
def test_columns_answer_as_the_records_would(records):
    table = RecordTable.from_records(records)
    ids = table.content_ids()
    for i, a in enumerate(records):
        assert (ids[i] < 0) == (a.blake3 is None)
        for j, b in enumerate(records):
            if a.blake3 is not None and b.blake3 is not None:
                assert (ids[i] == ids[j]) == (a.blake3 == b.blake3)
    assert table.present("phash").tolist() == [bool(r.phash) for r in records]
    assert table.is_in("kind", lambda k: k == "image").tolist() == [
        r.kind == "image" for r in records
    ]
    assert table.is_in("decode_ok", bool).tolist() == [bool(r.decode_ok) for r in records]
    assert table.is_in("metadata", lambda m: m is not None and m.content_id == "X").tolist() == [
        r.metadata is not None and r.metadata.content_id == "X" for r in records
    ]
    hashes = table.hashes("phash")
    if any(r.phash == "NOT-HEX" for r in records):
        assert hashes is None
    else:
        have = [k for k, r in enumerate(records) if r.phash]
        assert hashes[have].tolist() == hex_to_uint64([records[k].phash for k in have]).tolist()


def test_a_catalog_read_packs_into_a_table(corpus_catalog):
    # what `dupes` holds: the real corpus's records read for matching, as columns
    with Catalog(corpus_catalog[0]) as cat:
        expected = list(cat.library_records(signatures=False, for_matching=True))
        table = RecordTable.from_records(cat.library_records(signatures=False, for_matching=True))
    assert len(expected) > 40 and table.path_sorted and list(table) == expected
    digests = {r.blake3 for r in expected if r.blake3}
    assert len(set(table.content_ids().tolist()) - {-1}) == len(digests)
    assert any(r.metadata.make for r in expected)  # camera files: metadata comes back too

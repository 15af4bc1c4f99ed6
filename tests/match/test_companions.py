"""Sidecar and Live Photo naming: which file a sidecar belongs to."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from photoverify.dedupe.core.records import Asset, FileRecord, Metadata
from photoverify.dedupe.match.companions import find_assets, sidecar_targets


def test_sidecar_name_forms():
    assert sidecar_targets("IMG_1234.XMP") == [("stem", "img_1234")]
    assert sidecar_targets("IMG_1234.JPG.xmp") == [
        ("name", "img_1234.jpg"),
        ("stem", "img_1234.jpg"),
    ]
    assert sidecar_targets("IMG_O1234.AAE") == [("stem", "img_o1234"), ("stem", "img_1234")]
    assert sidecar_targets("IMG_1234.JPG.supplemental-metadata.json") == [("name", "img_1234.jpg")]
    assert sidecar_targets("IMG_1234.JPG.supplemental-met.json") == [("name", "img_1234.jpg")]
    assert sidecar_targets("IMG_1234.JPG.json") == [("name", "img_1234.jpg")]
    assert sidecar_targets("IMG_1234.JPG.supplemental-metadata(1).json")[0] == (
        "name",
        "img_1234(1).jpg",
    )
    assert sidecar_targets("notes.txt") == []


@given(
    st.from_regex(r"\A[A-Za-z0-9_]{1,20}\Z"),
    st.sampled_from(["JPG", "HEIC", "png", "MOV"]),
    st.integers(1, len("supplemental-metadata")),
)
def test_every_truncation_of_takeout_names_points_at_the_media(stem, ext, cut):
    name = f"{stem}.{ext}.{'supplemental-metadata'[:cut]}.json"
    assert sidecar_targets(name)[0] == ("name", f"{stem}.{ext}".lower())


def _rec(path: str, kind: str, fmt: str, **meta) -> FileRecord:
    return FileRecord(
        path=path,
        root="/l",
        size=10,
        mtime_ns=0,
        inode=0,
        device=0,
        blake3=path,
        kind=kind,
        format=fmt,
        metadata=Metadata(**meta),
        duration=2.5,
    )


def test_live_photo_by_id_across_folders_and_by_name_and_time():
    recs = [
        _rec(
            "/l/a/IMG_1.HEIC",
            "image",
            "HEIC",
            content_id="X",
            captured_at="2020-01-01T10:00:00.1+01:00",
        ),
        _rec("/l/b/clip.MOV", "video", "MOV", content_id="X"),
        _rec("/l/a/IMG_2.JPG", "image", "JPEG", captured_at="2020-01-01T11:00:00"),
        _rec("/l/a/IMG_2.MOV", "video", "MOV", captured_at="2020-01-01T11:00:01"),
        _rec("/l/a/IMG_3.JPG", "image", "JPEG", captured_at="2020-01-01T12:00:00"),
        _rec("/l/a/IMG_3.MOV", "video", "MOV", captured_at="2020-01-01T12:05:00"),
        _rec("/l/a/IMG_2.XMP", "sidecar", "XMP"),
        _rec("/l/a/IMG_O3.AAE", "sidecar", "AAE"),
        _rec("/l/a/DSC_1.NEF", "image", "NEF"),
        _rec("/l/a/DSC_1.JPG", "image", "JPEG"),
    ]
    assets, relations = find_assets(recs)
    by_primary = {a.primary: set(a.companions) for a in assets}
    assert by_primary["/l/a/IMG_1.HEIC"] == {"/l/b/clip.MOV"}
    assert by_primary["/l/a/IMG_2.JPG"] == {"/l/a/IMG_2.MOV", "/l/a/IMG_2.XMP"}
    assert by_primary["/l/a/IMG_3.JPG"] == {"/l/a/IMG_O3.AAE"}  # the MOV is 5 minutes off
    assert "/l/a/IMG_3.MOV" in by_primary
    assert by_primary["/l/a/DSC_1.NEF"] == {"/l/a/DSC_1.JPG"}
    every = [p for a in assets for p in (a.primary, *a.companions)]
    assert sorted(every) == sorted(r.path for r in recs)  # each file in exactly one asset
    assert all(r.kind == "companion" for r in relations)


_FILES = st.tuples(
    st.sampled_from(["/l/a", "/l/b", "/l/a/sub"]),
    st.sampled_from(["IMG_1", "IMG_2", "IMG_O1", "DSC_1"]),
    st.sampled_from(
        [
            ("image", "JPEG", ".JPG"),
            ("image", "HEIC", ".HEIC"),
            ("image", "NEF", ".NEF"),
            ("video", "MOV", ".MOV"),
            ("sidecar", "XMP", ".XMP"),
            ("sidecar", "AAE", ".AAE"),
            ("sidecar", "JSON", ".JPG.json"),
            ("other", None, ".txt"),
        ]
    ),
    st.sampled_from([None, "X", "Y"]),
    st.sampled_from([None, "2020-01-01T10:00:00", "2020-01-01T10:00:01", "2020-01-01T11:00:00"]),
)


@settings(max_examples=300)
@given(st.lists(_FILES, max_size=14))
@example(  # a still alone in its folder, tied by its ContentIdentifier to a video elsewhere
    [
        ("/l/b", "IMG_1", ("image", "HEIC", ".HEIC"), "X", None),
        ("/l/a", "IMG_2", ("video", "MOV", ".MOV"), "X", None),
    ]
)
def test_only_files_that_can_be_tied_are_grouped(files):
    # find_assets groups only the files in a folder with a sidecar, a video or a RAW, and the
    # stills sharing a video's ContentIdentifier: the same assets and relations as grouping all
    from photoverify.dedupe.match import companions

    recs = {}
    for folder, stem, (kind, fmt, ext), cid, at in files:
        recs[f"{folder}/{stem}{ext}"] = _rec(
            f"{folder}/{stem}{ext}", kind, fmt, content_id=cid, captured_at=at
        )
    narrowed = find_assets(list(recs.values()))
    involved = companions._involved
    companions._involved = lambda table: np.arange(len(table))  # every file grouped
    try:
        whole = find_assets(list(recs.values()))
    finally:
        companions._involved = involved
    assert narrowed == whole


def _reference_assets(paths: list[str], owner: dict[str, str]) -> list[Asset]:
    """The earlier list-based grouping: one asset per file that no other owns, with what it
    owns (transitively), in the order of the asset's first file."""

    def root_of(path: str) -> str:
        seen = set()
        while path in owner and path not in seen:
            seen.add(path)
            path = owner[path]
        return path

    companions: dict[str, list[str]] = {root_of(c): [] for c in owner}
    order: list[str] = []
    for path in paths:
        key = root_of(path) if path in owner else path
        if key not in order:
            order.append(key)
        if path in owner:
            companions[key].append(path)
    return [Asset(p, tuple(companions.get(p, ()))) for p in order if p not in owner]


@settings(max_examples=300)
@given(st.lists(_FILES, max_size=14))
def test_assets_are_listed_as_the_list_based_grouping_did(files):
    recs = {}
    for folder, stem, (kind, fmt, ext), cid, at in files:
        path = f"{folder}/{stem}{ext}"
        recs[path] = _rec(path, kind, fmt, content_id=cid, captured_at=at)
    assets, relations = find_assets(list(recs.values()))
    media = sorted(
        (p for p, r in recs.items() if r.kind in ("image", "video", "sidecar")), key=str.encode
    )
    owner = {rel.b: rel.a for rel in relations}
    expected = _reference_assets(media, owner)
    assert assets == expected and list(assets) == expected
    assert [assets[i] for i in range(len(assets))] == expected
    assert assets[-1:] == expected[-1:] if expected else not assets
    with pytest.raises(IndexError):
        assets[len(expected)]

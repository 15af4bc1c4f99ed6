"""Sidecar and Live Photo naming: which file a sidecar belongs to."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from photoverify.dedupe.core.records import FileRecord, Metadata
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

"""An asset's capture time and GPS from its file and its sidecars together (XMP, Google Takeout
JSON), on real files: Pillow-made photos, sidecars written as Takeout and exiftool write them, the
real scanner and the real audit. And RAW+JPEG pairs with a DNG (ProRAW) as their RAW."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import run_json
from media import exiftool
from PIL import Image

from photoverify.dedupe.catalog.store import Catalog
from photoverify.dedupe.match.companions import asset_metadata, find_assets
from photoverify.verify.audit.libraries import audit_libraries

# (name, Unix capture time, lat, lon): what a Takeout export's JSON holds and its JPEG does not
TAKEOUT = [
    ("IMG_0001.JPG", 1618156073, 40.2346, -76.2871),
    ("IMG_0002.JPG", 1500000000, -33.8688, 151.2093),
    ("PXL_20230101_120000.jpg", 1672574400, 51.5007, -0.1246),
]
ISO = {
    1618156073: "2021-04-11T15:47:53+00:00",
    1500000000: "2017-07-14T02:40:00+00:00",
    1672574400: "2023-01-01T12:00:00+00:00",
}


def _photo(path: Path, seed: int) -> Path:
    """A JPEG with no metadata at all, its own pixels (so no two are one photo)."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(blocks).resize((256, 192), Image.Resampling.NEAREST).save(path, quality=92)
    return path


def _takeout_json(photo: Path, stamp: int, lat: float, lon: float) -> Path:
    side = photo.with_name(photo.name + ".supplemental-metadata.json")
    side.write_text(
        json.dumps(
            {
                "title": photo.name,
                "photoTakenTime": {"timestamp": str(stamp), "formatted": "..."},
                "creationTime": {"timestamp": "1700000000", "formatted": "..."},
                "geoData": {"latitude": lat, "longitude": lon, "altitude": 0.0},
                "geoDataExif": {"latitude": 0.0, "longitude": 0.0, "altitude": 0.0},
            }
        ),
        "utf-8",
    )
    return side


@pytest.fixture(scope="module")
def takeout(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("takeout") / "Takeout" / "Google Photos" / "Photos from 2021"
    root.mkdir(parents=True)
    for i, (name, stamp, lat, lon) in enumerate(TAKEOUT):
        _takeout_json(_photo(root / name, i), stamp, lat, lon)
    return root.parents[1]


def test_takeout_json_sidecars_are_read_and_named_as_the_source(takeout, tmp_path):
    db = tmp_path / "c.sqlite"
    run_json("scan", str(takeout), "--catalog", str(db))
    shown = {Path(r["path"]).name: r for r in run_json("show", str(takeout), "--catalog", str(db))}
    for name, stamp, lat, lon in TAKEOUT:
        photo, side = shown[name], shown[name + ".supplemental-metadata.json"]
        assert photo["captured_at"] is None and photo["gps"] is None  # the JPEG holds nothing
        assert side["captured_at"] == ISO[stamp]
        assert side["captured_source"] == "JSON:PhotoTakenTimeTimestamp"
        assert (
            side["gps"] == {"lat": lat, "lon": lon} and side["gps_source"] == "JSON:GeoDataLatitude"
        )
    with Catalog(db) as cat:
        records = list(cat.all_records())
    by_path = {r.path: r for r in records}
    assets, _ = find_assets(records)
    assert len(assets) == len(TAKEOUT)
    for a in assets:
        meta = asset_metadata(by_path[a.primary], [by_path[c] for c in a.companions])
        name = Path(a.primary).name
        _, stamp, lat, lon = next(t for t in TAKEOUT if t[0] == name)
        assert (meta.captured_at, meta.gps) == (ISO[stamp], {"lat": lat, "lon": lon})
        assert (
            meta.captured_source
            == f"{name}.supplemental-metadata.json: JSON:PhotoTakenTimeTimestamp"
        )
        assert meta.gps_source == f"{name}.supplemental-metadata.json: JSON:GeoDataLatitude"


def _audit(src: Path, dst: Path, db: Path):
    with Catalog(db) as cat:
        return audit_libraries([str(src)], str(dst), catalog=cat)


def test_audit_of_a_migration_that_keeps_the_takeout_sidecars_finds_nothing(takeout, tmp_path):
    dst = tmp_path / "dst"
    shutil.copytree(takeout, dst)
    result = _audit(takeout, dst, tmp_path / "c.sqlite")
    assert result.findings == [] and result.ok


def test_audit_of_a_migration_that_drops_the_takeout_sidecars_reports_what_they_held(
    takeout, tmp_path
):
    dst = tmp_path / "dst"
    shutil.copytree(takeout, dst)
    for side in dst.rglob("*.json"):
        side.unlink()
    result = _audit(takeout, dst, tmp_path / "c.sqlite")
    found = {(Path(f.path).name, f.outcome) for f in result.findings}
    for name, *_ in TAKEOUT:
        assert {(name, "capture-time-lost"), (name, "gps-lost"), (name, "sidecar-lost")} <= found
    lost = next(f for f in result.findings if f.outcome == "capture-time-lost")
    assert "supplemental-metadata.json: JSON:PhotoTakenTimeTimestamp" in lost.message
    assert not result.ok and result.exit_code == 1


def _with_exif(path: Path, seed: int) -> Path:
    _photo(path, seed)
    exiftool(
        "-DateTimeOriginal=2019:06:01 08:30:00",
        "-GPSLatitude=48.8584",
        "-GPSLatitudeRef=N",
        "-GPSLongitude=2.2945",
        "-GPSLongitudeRef=E",
        str(path),
    )
    return path


def test_gps_moved_from_the_file_into_its_xmp_sidecar_is_not_lost(tmp_path):
    """A migration that strips the position from the JPEG and writes it to an XMP beside it (as
    Lightroom and digiKam can) kept it; one that strips it and writes no sidecar lost it."""
    src, kept, gone = tmp_path / "src", tmp_path / "kept", tmp_path / "gone"
    for d in (src, kept, gone):
        d.mkdir()
    _with_exif(src / "DSC_0001.JPG", 7)
    for d in (kept, gone):
        shutil.copy2(src / "DSC_0001.JPG", d / "DSC_0001.JPG")
        exiftool("-gps:all=", str(d / "DSC_0001.JPG"))
    exiftool(
        "-XMP-exif:GPSLatitude=48.8584",
        "-XMP-exif:GPSLongitude=2.2945",
        "-o",
        str(kept / "DSC_0001.xmp"),
        str(src / "DSC_0001.JPG"),
    )
    ok = _audit(src, kept, tmp_path / "c.sqlite")
    assert [f.outcome for f in ok.findings] == [] and ok.ok
    lost = _audit(src, gone, tmp_path / "c.sqlite")
    assert [f.outcome for f in lost.findings] == ["gps-lost"]


def test_a_dropped_sidecar_whose_file_holds_the_values_loses_only_the_sidecar(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    _with_exif(src / "DSC_0002.JPG", 8)
    exiftool("-o", str(src / "DSC_0002.xmp"), "-tagsFromFile", str(src / "DSC_0002.JPG"),
             "-XMP-exif:all<EXIF:all", str(src / "DSC_0002.JPG"))  # fmt: skip
    shutil.copytree(src, dst)
    (dst / "DSC_0002.xmp").unlink()
    result = _audit(src, dst, tmp_path / "c.sqlite")
    assert [(Path(f.path).name, f.outcome) for f in result.findings] == [
        ("DSC_0002.JPG", "sidecar-lost")
    ]


def test_a_dng_raw_and_its_jpeg_and_xmp_travel_as_one_asset(corpus, tmp_path):
    """ProRAW and a camera's DNG+JPEG: the DNG is the primary, the JPEG and the XMP follow it."""
    lib = tmp_path / "lib"
    lib.mkdir()
    dng = lib / "IMG_0007.DNG"
    shutil.copy2(corpus / "exif-samples/tiff/Arbitro.tiff", dng)
    exiftool("-IFD0:DNGVersion=1 4 0 0", "-DateTimeOriginal=2022:03:04 05:06:07", str(dng))
    with Image.open(dng) as im:
        im.convert("RGB").save(lib / "IMG_0007.JPG", quality=90)
    exiftool("-tagsFromFile", str(dng), "-DateTimeOriginal", str(lib / "IMG_0007.JPG"))
    exiftool("-XMP-xmp:Rating=5", "-o", str(lib / "IMG_0007.DNG.xmp"), str(dng))
    db = tmp_path / "c.sqlite"
    run_json("scan", str(lib), "--catalog", str(db))
    shown = {Path(r["path"]).name: r for r in run_json("show", str(lib), "--catalog", str(db))}
    assert shown["IMG_0007.DNG"]["format"] == "DNG"
    assets = run_json("dupes", str(lib), "--catalog", str(db))["assets"]
    assert [
        (Path(a["primary"]).name, sorted(Path(c).name for c in a["companions"])) for a in assets
    ] == [("IMG_0007.DNG", ["IMG_0007.DNG.xmp", "IMG_0007.JPG"])]
    dst = tmp_path / "dst"
    shutil.copytree(lib, dst)
    (dst / "IMG_0007.JPG").unlink()
    result = _audit(lib, dst, tmp_path / "c.sqlite")
    assert [(Path(f.path).name, f.outcome) for f in result.findings] == [
        ("IMG_0007.DNG", "companion-lost")
    ]


def test_title_keywords_and_rating_of_an_asset_come_from_its_xmp_and_are_audited(tmp_path):
    src, moved, gone = tmp_path / "src", tmp_path / "moved", tmp_path / "gone"
    src.mkdir()
    _photo(src / "IMG_0100.JPG", 11)
    exiftool(
        "-XMP-dc:Title=Harbour at dawn",
        "-XMP-dc:Subject=boats",
        "-XMP-dc:Subject=sea, dawn",
        "-XMP-xmp:Rating=4",
        "-o",
        str(src / "IMG_0100.xmp"),
        str(src / "IMG_0100.JPG"),
    )
    db = tmp_path / "c.sqlite"
    run_json("scan", str(src), "--catalog", str(db))
    with Catalog(db) as cat:
        records = {Path(r.path).name: r for r in cat.all_records()}
    meta = asset_metadata(records["IMG_0100.JPG"], [records["IMG_0100.xmp"]])
    assert (meta.title, meta.keywords, meta.rating) == ("Harbour at dawn", "boats; sea, dawn", 4)
    shutil.copytree(src, moved)
    shutil.copytree(src, gone)
    for d in (moved, gone):
        (d / "IMG_0100.xmp").unlink()
    exiftool("-tagsFromFile", str(src / "IMG_0100.xmp"), "-XMP:all", str(moved / "IMG_0100.JPG"))
    kept = _audit(src, moved, tmp_path / "c.sqlite")
    assert [f.outcome for f in kept.findings] == ["sidecar-lost"]
    lost = _audit(src, gone, tmp_path / "c.sqlite")
    labels = next(f for f in lost.findings if f.outcome == "labels-lost")
    assert labels.severity == "error" and labels.evidence["lost"] == {
        "title": "Harbour at dawn",
        "keywords": "boats; sea, dawn",
        "rating": 4,
    }


def test_png_exif_chunk_and_quicktime_keys_time_and_place(tmp_path):
    """A PNG's eXIf chunk is EXIF; a MOV's Apple keys give local time with its offset and an
    ISO 6709 location. Written by Pillow and PyAV, read back through the real scanner."""
    import av

    lib = tmp_path / "lib"
    lib.mkdir()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(lib / "shot.png")
    exiftool(  # exiftool writes EXIF into a PNG as an eXIf chunk
        "-EXIF:DateTimeOriginal=2020:02:29 23:59:58",  # a leap day
        "-EXIF:OffsetTimeOriginal=+05:30",
        str(lib / "shot.png"),
    )
    with av.open(str(lib / "clip.mov"), "w", format="mov",
                 options={"movflags": "use_metadata_tags"}) as out:  # fmt: skip
        out.metadata["com.apple.quicktime.creationdate"] = "2021-04-11T15:47:53-0500"
        out.metadata["com.apple.quicktime.location.ISO6709"] = "+40.2346-076.2871+012.300/"
        stream = out.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(10):
            frame = np.full((48, 64, 3), i * 20, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    db = tmp_path / "c.sqlite"
    run_json("scan", str(lib), "--catalog", str(db))
    shown = {Path(r["path"]).name: r for r in run_json("show", str(lib), "--catalog", str(db))}
    png, mov = shown["shot.png"], shown["clip.mov"]
    assert (png["captured_at"], png["captured_source"]) == (
        "2020-02-29T23:59:58+05:30",
        "EXIF:DateTimeOriginal",
    )
    assert (mov["captured_at"], mov["captured_source"]) == (
        "2021-04-11T15:47:53-05:00",
        "QuickTime:CreationDate",
    )
    assert mov["gps"] == {"lat": 40.2346, "lon": -76.2871}
    assert mov["gps_source"] == "QuickTime:GPSCoordinates"


def test_audit_command_on_a_takeout_migration_with_and_without_its_json_sidecars(takeout, tmp_path):
    """The acceptance of issue 13 through the real command line: `audit SRC --against DEST`
    of a copy that keeps the Takeout sidecars exits 0 with no finding; of one that dropped
    them exits 1 and names, per photo, the capture time and place the sidecar alone held."""
    from conftest import run_cli

    kept, dropped = tmp_path / "kept", tmp_path / "dropped"
    shutil.copytree(takeout, kept)
    shutil.copytree(takeout, dropped)
    for side in dropped.rglob("*.json"):
        side.unlink()
    db = str(tmp_path / "c.sqlite")
    ok = run_json("audit", str(takeout), "--against", str(kept), "--catalog", db)
    assert ok["findings"] == []
    proc = run_cli(
        "audit", str(takeout), "--against", str(dropped), "--catalog", db, "--json", check=(1,)
    )
    found = {(Path(f["path"]).name, f["outcome"]) for f in json.loads(proc.stdout)["findings"]}
    for name, *_ in TAKEOUT:
        assert {(name, "capture-time-lost"), (name, "gps-lost"), (name, "sidecar-lost")} <= found

"""The audit on real files: a source library built from the corpus, a DEST with planted losses
made by Pillow, PyAV and the real exiftool, and a DEST written by the real `photoverify apply`."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import UNSHIPPED_GPS as GPS
from conftest import run_cli, run_json
from hypothesis import given
from hypothesis import strategies as st
from media import convert, exiftool, make_video, transcode

from photoverify.dedupe.catalog.store import Catalog
from photoverify.dedupe.core.findings import Finding
from photoverify.dedupe.core.records import FileRecord, Metadata
from photoverify.verify.audit.libraries import audit_libraries, audit_records
from photoverify.verify.audit.metadata import classify_capture
from photoverify.verify.audit.outcomes import OUTCOMES
from photoverify.verify.report.model import build_report, render_terminal, section_of

CID = "570F1469-09C7-4E50-9875-05F21D5BD166"
CAMERA = [  # real camera JPEGs every checkout has (tests/data/real)
    "immich-test-assets/metadata/gps-position/thompson-springs.jpg",  # GPS stripped in DEST
    "exif-samples/jpg/Canon_DIGITAL_IXUS_400.jpg",  # its clock shifted a day in DEST
    "exif-samples/jpg/Kodak_CX7530.jpg",  # its XMP sidecar dropped in DEST
    "exif-samples/jpg/orientation/landscape_1.jpg",  # downscaled 600x450 -> 320x240 in DEST
    "exif-samples/jpg/Fujifilm_FinePix_E500.jpg",  # a second copy in DEST
    "immich-test-assets/formats/jpg/el_torcal_rocks.jpg",  # a downscaled copy in DEST
    "exif-samples/jpg/Canon_40D.jpg",
    "exif-samples/jpg/Nikon_D70.jpg",
    "exif-samples/jpg/Pentax_K10D.jpg",
    "exif-samples/jpg/Panasonic_DMC-FZ30.jpg",
    "exif-samples/jpg/Fujifilm_FinePix6900ZOOM.jpg",
    "exif-samples/jpg/Konica_Minolta_DiMAGE_Z3.jpg",
    "exif-samples/jpg/Nikon_COOLPIX_P1.jpg",
    "exif-samples/jpg/Olympus_C8080WZ.jpg",
    "exif-samples/jpg/Ricoh_Caplio_RR330.jpg",
    "exif-samples/jpg/Samsung_Digimax_i50_MP3.jpg",
    "exif-samples/jpg/Sony_HDR-HC3.jpg",
    "immich-test-assets/metadata/tags/picasa.jpg",
]
PHONE = [
    "exif-samples/heic/IMG_5195.HEIC",
    "exif-samples/heic/mobile/iphone_13_pro_max.HEIC",
    "immich-test-assets/formats/heic/IMG_2682.heic",
]


def live_mov(path: Path, *, content_id: str | None, creation: str) -> Path:
    """A Live Photo motion clip: PyAV's muxer writes the QuickTime Keys that exiftool 12.57
    cannot (com.apple.quicktime.content.identifier) with movflags=use_metadata_tags."""
    with av.open(str(path), "w", format="mov", options={"movflags": "use_metadata_tags"}) as out:
        if content_id:
            out.metadata["com.apple.quicktime.content.identifier"] = content_id
        out.metadata["com.apple.quicktime.creationdate"] = creation
        stream = out.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(20):
            frame = np.full((48, 64, 3), (i * 12) % 256, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def source(corpus, tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("audit") / "src"
    (src / "camera").mkdir(parents=True)
    (src / "phone").mkdir()
    for rel in CAMERA:
        shutil.copy2(corpus / rel, src / "camera" / Path(rel).name)
    for rel in PHONE:
        shutil.copy2(corpus / rel, src / "phone" / Path(rel).name)
    live_mov(src / "phone/IMG_5195.MOV", content_id=CID, creation="2021-04-11T15:47:53-0500")
    # A second Live Photo, paired by name and capture time (the still has no ContentIdentifier).
    live_mov(
        src / "phone/iphone_13_pro_max.MOV", content_id=None, creation="2022-02-16T12:55:41+0100"
    )
    shutil.copy2(corpus / "exiftool-samples/XMP.xmp", src / "phone/IMG_5195.XMP")
    shutil.copy2(corpus / "exiftool-samples/PLUS.xmp", src / "camera/Kodak_CX7530.XMP")
    return src


@pytest.fixture(scope="module")
def planted(source, tmp_path_factory) -> Path:
    """DEST: a copy of the source with one planted loss per line below."""
    dst = tmp_path_factory.mktemp("audit-dst") / "dst"
    shutil.copytree(source, dst)
    cam, phone = dst / "camera", dst / "phone"
    (cam / "Canon_40D.jpg").unlink()  # removed
    (cam / "Nikon_D70.jpg").unlink()  # removed
    convert(source / "phone/IMG_5195.HEIC", phone / "IMG_5195.JPG", quality=88)  # with metadata
    (phone / "IMG_5195.HEIC").unlink()
    (phone / "IMG_5195.MOV").unlink()  # Live Photo motion dropped
    convert(
        source / "phone/IMG_2682.heic", phone / "IMG_2682.jpg", quality=85, keep_metadata=False
    )  # converted without metadata
    (phone / "IMG_2682.heic").unlink()
    exiftool("-gps:all=", str(cam / "thompson-springs.jpg"))  # GPS stripped
    exiftool("-AllDates+=2", "-OffsetTime*=+03:00", str(phone / "iphone_13_pro_max.HEIC"))
    exiftool("-AllDates+=24", str(cam / "Canon_DIGITAL_IXUS_400.jpg"))  # a wrong date
    (cam / "Kodak_CX7530.XMP").unlink()  # sidecar dropped
    convert(source / "camera/landscape_1.jpg", cam / "landscape_1.jpg", max_side=320)  # downscaled
    return dst


@pytest.fixture(scope="module")
def catalog_path(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("audit-db") / "catalog.sqlite"


@pytest.fixture(scope="module")
def planted_result(source, planted, catalog_path):
    with Catalog(catalog_path) as cat:
        return audit_libraries([str(source)], str(planted), catalog=cat)


def _problems(result) -> set[tuple[str, str]]:
    return {(Path(f.path).name, f.outcome) for f in result.findings if f.severity != "info"}


def test_each_planted_loss_is_reported_with_its_kind_and_nothing_else(planted_result):
    assert _problems(planted_result) == {
        ("Canon_40D.jpg", "missing"),
        ("Nikon_D70.jpg", "missing"),
        ("IMG_5195.JPG", "live-photo-motion-lost"),
        ("IMG_2682.jpg", "capture-time-lost"),
        ("IMG_2682.jpg", "gps-lost"),
        ("IMG_2682.jpg", "camera-lost"),
        ("thompson-springs.jpg", "gps-lost"),
        ("iphone_13_pro_max.HEIC", "capture-time-zone-shift"),
        ("Canon_DIGITAL_IXUS_400.jpg", "capture-time-shifted"),
        ("Kodak_CX7530.jpg", "sidecar-lost"),
        ("landscape_1.jpg", "resolution-reduced"),
    }
    assert not planted_result.ok and planted_result.exit_code == 1


def test_every_source_asset_is_accounted_for(planted_result, source):
    by_name = {Path(a.source).name: a for a in planted_result.assets}
    assert len(by_name) == len(CAMERA) + len(PHONE)  # MOVs and XMPs travel inside assets
    heic = by_name["IMG_5195.HEIC"]
    assert heic.outcome == "converted" and heic.match == "same-photo"
    assert heic.changes["format"] == ["HEIC", "JPEG"]
    assert {Path(c).name for c in heic.companions} == {"IMG_5195.MOV", "IMG_5195.XMP"}
    assert [Path(c).name for c in heic.dest_companions] == ["IMG_5195.XMP"]
    assert by_name["landscape_1.jpg"].changes["pixels"] == [[600, 450], [320, 240]]
    assert by_name["Canon_DIGITAL_IXUS_400.jpg"].outcome == "converted"
    assert by_name["Kodak_CX7530.jpg"].outcome == "present"
    assert by_name["Canon_40D.jpg"].outcome == "missing"
    live = by_name["iphone_13_pro_max.HEIC"]
    assert [Path(c).name for c in live.dest_companions] == ["iphone_13_pro_max.MOV"]
    counts = planted_result.counts
    assert counts["missing"] == 2 and counts["extra"] == 0 and counts["merged"] == 0
    assert counts["present"] + counts["converted"] == len(CAMERA) + len(PHONE) - 2
    assert counts["converted"] == 6


def test_losses_say_by_how_much(planted_result):
    f = {(Path(f.path).name, f.outcome): f for f in planted_result.findings}
    day = f[("Canon_DIGITAL_IXUS_400.jpg", "capture-time-shifted")]
    assert day.severity == "error"
    assert day.evidence["shift_seconds"] == 86400 and day.evidence["shift"] == "+1 d"
    zone = f[("iphone_13_pro_max.HEIC", "capture-time-zone-shift")]
    assert zone.severity == "warning"
    assert zone.evidence["shift_hours"] == 2 and zone.evidence["instant_same"] is True
    assert (zone.evidence["offset_before"], zone.evidence["offset_after"]) == ("+01:00", "+03:00")
    small = f[("landscape_1.jpg", "resolution-reduced")]
    assert small.evidence["source_size"] == [600, 450] and small.evidence["dest_size"] == [320, 240]
    gps = f[("IMG_2682.jpg", "gps-lost")]
    assert gps.evidence["source"].endswith("IMG_2682.heic")
    motion = f[("IMG_5195.JPG", "live-photo-motion-lost")]
    assert motion.evidence["source"].endswith("IMG_5195.MOV")
    assert motion.evidence["content_id"] == CID


def test_json_and_report_render(planted_result, tmp_path):
    doc = json.loads(json.dumps(planted_result.to_json()))
    assert doc["schema"] == "photoverify.audit/1" and doc["ok"] is False
    assert {a["outcome"] for a in doc["assets"]} == {"present", "converted", "missing"}
    model = build_report(
        planted_result.findings,
        counts=planted_result.counts,
        records=planted_result.records,
        title="audit",
    )
    sections = {s.id: {g.outcome for g in s.groups} for s in model.sections}
    assert sections["missing"] == {"missing"}
    assert {
        "gps-lost",
        "capture-time-lost",
        "live-photo-motion-lost",
        "sidecar-lost",
        "camera-lost",
    } <= sections["metadata"]
    assert model.summary_counts["present"] > 0
    from rich.console import Console

    console = Console(record=True, width=160)
    render_terminal(model, console)
    assert "live-photo-motion-lost" in console.export_text()


def test_unchanged_copy_audits_clean_and_extras_are_noted(source, tmp_path, catalog_path):
    dst = tmp_path / "copy"
    shutil.copytree(source, dst)
    with Catalog(catalog_path) as cat:
        clean = audit_libraries([str(source)], str(dst), catalog=cat)
    assert clean.findings == [] and clean.ok and clean.exit_code == 0
    assert clean.counts["present"] == len(CAMERA) + len(PHONE)
    # A second copy of a photo and a new photo in DEST: extras (warnings), not losses.
    twin = "Fujifilm_FinePix_E500"
    shutil.copy2(dst / f"camera/{twin}.jpg", dst / f"camera/{twin} (1).jpg")
    convert(source / "camera/el_torcal_rocks.jpg", dst / "el_torcal_rocks-small.jpg", max_side=200)
    with Catalog(catalog_path) as cat:
        more = audit_libraries([str(source)], str(dst), catalog=cat)
    extras = {Path(f.path).name: f for f in more.findings}
    assert set(extras) == {f"{twin} (1).jpg", "el_torcal_rocks-small.jpg"}
    assert all(f.outcome == "extra" and f.severity == "warning" for f in extras.values())
    assert extras[f"{twin} (1).jpg"].evidence["copy_of"].endswith(f"{twin}.jpg")
    small = extras["el_torcal_rocks-small.jpg"]
    assert small.evidence["same_photo_as"].endswith("el_torcal_rocks.jpg")
    assert more.ok


@pytest.mark.slow
def test_two_source_copies_and_one_in_dest_is_merged(corpus, tmp_path):
    a, b, dst = tmp_path / "a", tmp_path / "b", tmp_path / "dst"
    for d in (a, b, dst):
        d.mkdir()
    heic = corpus / "exif-samples/heic/IMG_5195.HEIC"
    shutil.copy2(heic, a / "IMG_5195.HEIC")
    shutil.copy2(heic, b / "IMG_5195.HEIC")
    convert(heic, b / "IMG_5195-small.jpg", max_side=800)  # same photo, smaller
    shutil.copy2(heic, dst / "IMG_5195.HEIC")
    with Catalog(tmp_path / "c.sqlite") as cat:
        result = audit_libraries([str(a), str(b)], str(dst), catalog=cat)
    rows = {str(Path(r.source).relative_to(tmp_path)): r for r in result.assets}
    assert rows["a/IMG_5195.HEIC"].outcome == "present"
    assert rows["b/IMG_5195.HEIC"].outcome == "merged"
    assert rows["b/IMG_5195.HEIC"].via == str(a / "IMG_5195.HEIC")
    assert rows["b/IMG_5195-small.jpg"].outcome == "merged"
    assert rows["b/IMG_5195-small.jpg"].match == "same-photo"
    assert result.findings == [] and result.counts["merged"] == 2


@pytest.mark.full_corpus(GPS)
def test_a_source_that_does_not_decode_is_flagged_broken_in_source_not_lost(corpus, tmp_path):
    """A photo already truncated in the source is copied as it is and arrives with identical
    bytes: the audit flags it (`broken-in-source`, a warning, why it does not decode) and says
    plainly that nothing was lost in the move, instead of calling it `present` and all well."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    shutil.copy2(corpus / "exif-samples/jpg/gps/DSCN0010.jpg", src / "DSCN0010.jpg")
    data = (corpus / "exif-samples/jpg/Canon_40D.jpg").read_bytes()
    (src / "Canon_40D.jpg").write_bytes(data[: len(data) // 2])
    shutil.copytree(src, dst)
    db = str(tmp_path / "c.sqlite")
    result = run_json("audit", str(src), "--against", str(dst), "--catalog", db)
    broken = [f for f in result["findings"] if f["outcome"] == "broken-in-source"]
    assert [f["path"] for f in broken] == [str(src / "Canon_40D.jpg")]
    assert broken[0]["severity"] == "warning" and "does not decode" in broken[0]["message"]
    assert result["exit_code"] == 0 and result["counts"]["present"] == 2
    text = run_cli("audit", str(src), "--against", str(dst), "--catalog", db,
                   env={"COLUMNS": "100"}).stdout  # fmt: skip
    assert "Nothing lost in the move; 1 file was already broken in the original" in text, text
    assert "Canon_40D.jpg" in text and "Error:" not in text, text
    page = tmp_path / "audit.html"
    run_cli("audit", str(src), "--against", str(dst), "--catalog", db, "--report", str(page))
    assert 'class="verdict warn">Nothing lost in the move; 1 file was already' in page.read_text()


def test_a_video_transcoded_with_its_metadata_stripped_is_converted(corpus, tmp_path):
    """No ContentIdentifier and no capture time on either side: the first frames and the
    durations still tell that the MP4 in DEST is the MOV from the source."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    photo = corpus / "immich-test-assets/formats/jpg/el_torcal_rocks.jpg"
    other = corpus / "exif-samples/jpg/orientation/landscape_1.jpg"
    make_video(src / "clip.MOV", seconds=2, size=(320, 240), photo=photo)
    make_video(src / "gone.MOV", seconds=2, size=(320, 240), photo=other)
    transcode(src / "clip.MOV", dst / "clip.mp4", size=(160, 120))
    with Catalog(tmp_path / "c.sqlite") as cat:
        result = audit_libraries([str(src)], str(dst), catalog=cat)
    rows = {Path(r.source).name: r for r in result.assets}
    assert rows["clip.MOV"].outcome == "converted" and rows["clip.MOV"].match == "first-frame"
    assert rows["clip.MOV"].dest == str(dst / "clip.mp4")
    assert rows["gone.MOV"].outcome == "missing"


def test_overlapping_trees_are_refused(source, tmp_path):
    from photoverify.dedupe.core.errors import UsageError

    with Catalog(tmp_path / "c.sqlite") as cat, pytest.raises(UsageError, match="overlaps"):
        audit_libraries([str(source)], str(source / "camera"), catalog=cat)


# ---------------------------------------------------------------------------- the ledger


def test_ledger_of_a_real_apply_is_checked(corpus, tmp_path):
    src, dest, db = tmp_path / "src", tmp_path / "dest", tmp_path / "c.sqlite"
    (src / "x").mkdir(parents=True)
    for name in ("Canon_40D.jpg", "Nikon_D70.jpg", "Pentax_K10D.jpg"):
        shutil.copy2(corpus / "exif-samples/jpg" / name, src / name)
    shutil.copy2(corpus / "exif-samples/jpg/Canon_40D.jpg", src / "x/Canon_40D.jpg")
    plan = tmp_path / "plan.json"
    run_cli("plan", str(src), "--dest", str(dest), "-o", str(plan), "--catalog", str(db), "-q")
    run_json("apply", str(plan))
    with Catalog(db) as cat:
        good = audit_libraries([str(src)], str(dest), catalog=cat)
    assert good.findings == [] and good.ledger["verified"] == 3
    assert good.counts["present"] == 3 and good.counts["merged"] == 1  # the duplicate

    ledger = json.loads((dest / "photoverify-ledger.json").read_text())
    placed = {
        Path(e["source"]).name + (":x" if "/x/" in e["source"] else ""): e
        for e in ledger["entries"]
    }
    (dest / placed["Nikon_D70.jpg"]["new_path"]).unlink()
    with open(dest / placed["Pentax_K10D.jpg"]["new_path"], "ab") as fh:
        fh.write(b"\0" * 16)  # the same pixels, other bytes
    with Catalog(db) as cat:
        bad = audit_libraries([str(src)], str(dest), catalog=cat)
    got = {(Path(f.path).name, f.outcome) for f in bad.findings}
    assert got == {
        ("Nikon_D70.jpg", "missing"),
        ("Nikon_D70.jpg", "ledger-target-missing"),
        ("Pentax_K10D.jpg", "ledger-target-changed"),
    }
    assert bad.exit_code == 1


def test_ledger_lists_every_source(tmp_path):
    """Pure: a source the ledger does not name, and a ledger that is not one."""
    rec = FileRecord("/s/a.jpg", "/s", 1, 0, 0, 0, blake3="aa", kind="image")
    res = audit_records(
        [rec],
        [],
        sources=["/s"],
        dest="/d",
        ledger={"format": "photoverify-ledger", "entries": []},
        ledger_path="/d/photoverify-ledger.json",
    )
    assert {f.outcome for f in res.findings} == {"missing", "ledger-source-unlisted"}
    res = audit_records(
        [],
        [],
        sources=["/s"],
        dest="/d",
        ledger={"entries": 3},
        ledger_path="/d/photoverify-ledger.json",
    )
    assert [f.outcome for f in res.findings] == ["ledger-unreadable"]


# ---------------------------------------------------------------------------- pure decisions


BASE = datetime(2021, 4, 11, 15, 47, 53)


def _iso(t: datetime, sub: str | None = "054", off: str | None = "-05:00") -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{sub}" if sub else "") + (off or "")


@given(st.integers(-28, 28).filter(lambda n: n != 0), st.sampled_from([None, "-05:00"]))
def test_whole_half_hours_up_to_14_h_are_a_zone_shift(halves, offset):
    got = classify_capture(
        _iso(BASE, off=offset), _iso(BASE + timedelta(minutes=30 * halves), off=offset)
    )
    assert got is not None and got[:2] == ("capture-time-zone-shift", "warning")
    assert got[2]["shift_hours"] == halves / 2


@given(st.integers(1, 3650), st.booleans(), st.integers(0, 59))
def test_days_or_odd_minutes_are_a_shifted_date(days, back, minutes):
    delta = timedelta(days=days, minutes=minutes) * (-1 if back else 1)
    outcome, severity, ev = classify_capture(_iso(BASE), _iso(BASE + delta))
    assert (outcome, severity) == ("capture-time-shifted", "error")
    assert ev["shift_seconds"] == delta.total_seconds()


@given(st.integers(-14, 14))
def test_the_same_instant_in_another_zone_keeps_its_instant(hours):
    offset = timedelta(hours=-5 + hours)
    sign = "+" if offset >= timedelta(0) else "-"
    text = f"{sign}{abs(int(offset.total_seconds())) // 3600:02d}:00"
    got = classify_capture(_iso(BASE), _iso(BASE + timedelta(hours=hours), off=text))
    if hours == 0:
        assert got is None
    else:
        assert got[0] == "capture-time-zone-shift" and got[2]["instant_same"] is True


def test_lost_and_precision_lost():
    assert classify_capture(_iso(BASE), None)[:2] == ("capture-time-lost", "error")
    out = classify_capture(_iso(BASE), _iso(BASE, sub=None, off=None))
    assert out[:2] == ("capture-time-precision-lost", "warning")
    assert set(out[2]["lost"]) == {"offset", "subseconds"}
    assert classify_capture(None, _iso(BASE)) is None


def test_where_each_outcome_lands_in_the_report():
    """section_of as it stands: the integrator's change (see docs/audit.md) moves the capture
    time and GPS outcomes that do not end in -lost into the metadata section."""
    land = {o: section_of(Finding("/p", "audit", s, o, "m")) for o, s in OUTCOMES.items()}
    assert land["missing"] == land["ledger-target-missing"] == "missing"
    assert land["ledger-duplicate-target-missing"] == "missing"
    for o in (
        "capture-time-lost",
        "gps-lost",
        "camera-lost",
        "sidecar-lost",
        "live-photo-motion-lost",
        "capture-time-precision-lost",
        "companion-lost",
    ):
        assert land[o] == "metadata", o
    assert land["extra"] == land["ledger-source-unlisted"] == "notes"
    assert land["ledger-target-changed"] == land["resolution-reduced"] == "failed"
    assert land["ledger-source-not-audited"] is None


def test_metadata_compare_on_records_needs_no_files():
    meta = Metadata(
        captured_at="2020-01-01T10:00:00", gps_lat=1.0, gps_lon=2.0, make="A", model="B"
    )
    src = FileRecord(
        "/s/a.jpg",
        "/s",
        1,
        0,
        0,
        0,
        blake3="aa",
        kind="image",
        width=400,
        height=300,
        metadata=meta,
        phash="0" * 16,
        dhash="0" * 16,
        format="JPEG",
    )
    moved = Metadata(
        captured_at="2020-01-01T10:00:00", gps_lat=1.001, gps_lon=2.0, make="A", model="B"
    )
    dst = FileRecord(
        "/d/a.jpg",
        "/d",
        1,
        0,
        0,
        0,
        blake3="bb",
        kind="image",
        width=400,
        height=300,
        metadata=moved,
        phash="0" * 16,
        dhash="0" * 16,
        format="JPEG",
    )
    res = audit_records([src], [dst], sources=["/s"], dest="/d")
    assert [(f.outcome, round(f.evidence["distance_m"])) for f in res.findings] == [
        ("gps-moved", 111)
    ]
    assert res.assets[0].outcome == "converted" and res.assets[0].changes == {"bytes": [1, 1]}


# ---------------------------------------------------------------------------- DEST's records


def _plan_and_apply(src: Path, dest: Path, plan: Path, db: Path) -> dict:
    run_cli("plan", str(src), "--dest", str(dest), "-o", str(plan), "--catalog", str(db), "-q")
    return run_json("apply", str(plan))


def test_a_second_apply_into_one_dest_keeps_the_first_ones_records(corpus, tmp_path):
    """Two plans applied into one DEST: the ledger, CSV and manifest cover all ten photos (the
    second apply once replaced the first's records), `b3sum --check` passes for all ten, and
    audit checks every ledger entry."""
    import subprocess

    photos = [corpus / rel for rel in CAMERA[:10]]
    dest, db = tmp_path / "dest", tmp_path / "c.sqlite"
    sources = [tmp_path / "first", tmp_path / "second"]
    for n, src in enumerate(sources):
        src.mkdir()
        for p in photos[n * 5 : n * 5 + 5]:
            shutil.copy2(p, src / p.name)
        _plan_and_apply(src, dest, tmp_path / f"plan{n}.json", db)
    placed = sorted(p for p in dest.rglob("*.jpg"))
    assert len(placed) == 10
    ledger = json.loads((dest / "photoverify-ledger.json").read_bytes().decode("utf-8"))
    assert sorted(Path(e["source"]).name for e in ledger["entries"]) == sorted(
        p.name for p in photos
    )
    assert len(ledger["applies"]) == 2
    csv_rows = (dest / "photoverify-ledger.csv").read_text("utf-8").splitlines()
    assert len(csv_rows) == 1 + 10
    check = subprocess.run(["b3sum", "--check", "photoverify-manifest.b3"], cwd=dest,
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0 and check.stdout.count(": OK") == 10, check.stdout

    audited = run_json("audit", *map(str, sources), "--against", str(dest), "--catalog", str(db))
    assert audited["ok"] and audited["ledger"]["verified"] == 10, audited["ledger"]

    # The same plan applied again is recorded once, not twice.
    run_json("apply", str(tmp_path / "plan1.json"))
    again = json.loads((dest / "photoverify-ledger.json").read_bytes().decode("utf-8"))
    assert len(again["entries"]) == 10 and len(again["applies"]) == 2

    # Undoing the first plan takes its rows out and keeps the second's.
    run_json("undo", str(tmp_path / "plan0.json.journal"))
    left = json.loads((dest / "photoverify-ledger.json").read_bytes().decode("utf-8"))
    assert [a["plan"] for a in left["applies"]] == [str(tmp_path / "plan1.json")]
    assert sorted(Path(e["source"]).name for e in left["entries"]) == sorted(
        p.name for p in photos[5:]
    )
    check = subprocess.run(["b3sum", "--check", "photoverify-manifest.b3"], cwd=dest,
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0 and check.stdout.count(": OK") == 5, check.stdout
    run_json("undo", str(tmp_path / "plan1.json.journal"))
    assert not list(dest.rglob("*.*")), list(dest.rglob("*"))  # no photo, no report left


def test_apply_refuses_to_replace_a_ledger_it_cannot_extend(corpus, tmp_path):
    src, dest, db = tmp_path / "src", tmp_path / "dest", tmp_path / "c.sqlite"
    src.mkdir()
    dest.mkdir()
    shutil.copy2(corpus / CAMERA[0], src / "a.jpg")
    (dest / "photoverify-ledger.json").write_text('{"format": "something else"}')
    plan = tmp_path / "plan.json"
    run_cli("plan", str(src), "--dest", str(dest), "-o", str(plan), "--catalog", str(db), "-q")
    proc = run_cli("apply", str(plan), check=(2,))
    assert proc.stderr.count("\n") == 1 and "photoverify-ledger.json" in proc.stderr
    assert "not a photoverify ledger" in proc.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["photoverify-ledger.json"]


@pytest.mark.slow
def test_a_name_that_is_not_utf8_leaves_every_record_valid_utf8(corpus, tmp_path):
    """`caf\\xe9.jpg` (Latin-1): plan, ledger, CSV and manifest are valid UTF-8 that json.load
    and b3sum read, the one escaping (`\\udce9`) gives the bytes back, and audit reads the
    ledger apply wrote."""
    import os
    import subprocess

    src, dest, db = tmp_path / "src", tmp_path / "dest", tmp_path / "c.sqlite"
    src.mkdir()
    name = os.fsencode(src) + b"/caf\xe9.jpg"
    shutil.copy2(corpus / "exif-samples/jpg/Canon_40D.jpg", name)
    plan = tmp_path / "plan.json"
    _plan_and_apply(src, dest, plan, db)
    doc = json.loads(plan.read_bytes().decode("utf-8"))
    assert [os.fsencode(e["source"]) for e in doc["entries"]] == [name]
    assert b"\\udce9" in plan.read_bytes()
    ledger = json.loads((dest / "photoverify-ledger.json").read_bytes().decode("utf-8"))
    assert [os.fsencode(e["source"]) for e in ledger["entries"]] == [name]
    (dest / "photoverify-ledger.csv").read_bytes().decode("utf-8")
    check = subprocess.run(["b3sum", "--check", "photoverify-manifest.b3"], cwd=dest,
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0 and check.stdout.count(": OK") == 1, check.stdout

    audited = run_json("audit", str(src), "--against", str(dest), "--catalog", str(db))
    assert audited["ok"], audited["findings"]
    assert audited["ledger"]["verified"] == 1 and "error" not in audited["ledger"]


def test_a_version_1_ledger_is_extended_not_replaced(corpus, tmp_path):
    """A DEST written by an older apply (ledger version 1) keeps its rows when a new plan is
    applied into it; rerunning the plan that wrote it does not list its rows twice."""
    dest, db = tmp_path / "dest", tmp_path / "c.sqlite"
    for n, rel in enumerate(CAMERA[:2]):
        src = tmp_path / f"src{n}"
        src.mkdir()
        shutil.copy2(corpus / rel, src / Path(rel).name)
        _plan_and_apply(src, dest, tmp_path / f"plan{n}.json", db)
        if n == 0:  # as the version-1 writer wrote it
            path = dest / "photoverify-ledger.json"
            v2 = json.loads(path.read_text("utf-8"))
            (first,) = v2["applies"]
            rows = [{k: v for k, v in r.items() if k != "apply"} for r in v2["entries"]]
            path.write_text(json.dumps({
                "format": "photoverify-ledger", "version": 1, "dest": v2["dest"],
                "mode": first["mode"], "plan_created": first["plan_created"], "entries": rows,
            }))  # fmt: skip
    ledger = json.loads((dest / "photoverify-ledger.json").read_text("utf-8"))
    assert ledger["version"] == 2 and [a["plan"] for a in ledger["applies"]] == [
        None,
        str(tmp_path / "plan1.json"),
    ]
    assert sorted(Path(e["source"]).name for e in ledger["entries"]) == sorted(
        Path(rel).name for rel in CAMERA[:2]
    )
    run_json("apply", str(tmp_path / "plan0.json"))
    again = json.loads((dest / "photoverify-ledger.json").read_text("utf-8"))
    assert len(again["entries"]) == 2 and len(again["applies"]) == 2


def test_a_copy_damaged_in_place_is_not_a_conversion(corpus, tmp_path):
    """A byte flipped in DEST (same name, format and size; no ledger to compare with) was
    passed as `converted` with ok true. A re-encode beside it stays a clean conversion."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    photos = [
        "exif-samples/jpg/Canon_40D.jpg",
        "immich-test-assets/formats/jpg/el_torcal_rocks.jpg",
    ]
    for rel in photos:
        shutil.copy2(corpus / rel, src / Path(rel).name)
    shutil.copytree(src, dst)
    damaged = dst / "Canon_40D.jpg"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0x01
    damaged.write_bytes(bytes(data))
    (dst / "el_torcal_rocks.jpg").unlink()
    # a real re-encode
    convert(src / "el_torcal_rocks.jpg", dst / "el_torcal_rocks.jpg", quality=90)
    out = run_cli(
        "audit", str(src), "--against", str(dst), "--catalog", str(tmp_path / "c.sqlite"),
        "--json", check=(1,),
    )  # fmt: skip
    result = json.loads(out.stdout)
    assert result["ok"] is False
    problems = {(Path(f["path"]).name, f["outcome"]) for f in result["findings"]}
    assert problems == {("Canon_40D.jpg", "content-altered")}
    rows = {Path(r["source"]).name: r for r in result["assets"]}
    assert rows["el_torcal_rocks.jpg"]["outcome"] == "converted"

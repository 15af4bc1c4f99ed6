"""Metadata merge (plan --merge-metadata, apply's metadata step) on a library made from real
corpus photos: keepers stripped of what their duplicates, sidecars (a Takeout JSON, a real
Lightroom XMP in UTF-16) and Apple's Photo Details.csv still hold. Everything runs for real:
the CLI's scan and plan, exiftool, the decoders, apply in a subprocess killed with SIGKILL."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, apply_plan, run_json, undo
from conftest import UNSHIPPED_GPS as GPS
from hypothesis import given, settings
from hypothesis import strategies as st
from media import exiftool
from PIL import Image

from photoverify.dedupe.catalog.store import Catalog
from photoverify.dedupe.core.hashing import hash_file
from photoverify.dedupe.move.journal import CRASH_ENV, CRASH_FILE_ENV, read_journal
from photoverify.dedupe.move.metamerge import Donor, agree, decide
from photoverify.dedupe.move.metasources import own_values, read_labels
from photoverify.dedupe.move.metawrite import MERGE_TMP, exiftool_tags, picture_hash
from photoverify.dedupe.move.planfile import read_plan
from photoverify.verify.audit.libraries import audit_libraries

REGIONS = {
    "AppliedToDimensions": {"W": 320, "H": 240, "Unit": "pixel"},
    "RegionList": [
        {"Area": {"X": 0.25, "Y": 0.5, "W": 0.1, "H": 0.2, "Unit": "normalized"},
         "Name": "Ann", "Type": "Face"}
    ],
}  # fmt: skip


# ---- the decision (pure) ----------------------------------------------------------------------


def test_keeper_values_are_never_replaced_and_far_apart_values_conflict():
    own = {"captured_at": "2020-01-01T10:00:00", "gps": {"lat": 48.0, "lon": 2.0}}
    donors = [
        Donor("b.jpg", {"captured_at": "2020-01-02T10:00:00", "gps": {"lat": 48.0001, "lon": 2.0},
                        "title": "Paris", "keywords": ["a", "b"]}),
        Donor("c.xmp", {"title": "Paris", "keywords": ["b", "c"], "rating": 3}),
        Donor("d.json", {"rating": 4}),
    ]  # fmt: skip
    m = decide(own, donors)
    got = {f["field"]: f["value"] for f in m.fields}
    # time a day apart: a conflict with the keeper's own; GPS 11 m away: the same fix, kept
    assert got == {"title": "Paris", "keywords": ["a", "b", "c"]}
    conflicts = {c["field"]: c for c in m.conflicts}
    assert conflicts["captured_at"]["keeper"] == "2020-01-01T10:00:00"
    assert conflicts["captured_at"]["values"] == [{"value": "2020-01-02T10:00:00",
                                                   "from": "b.jpg"}]  # fmt: skip
    assert conflicts["rating"]["keeper"] is None
    assert [v["value"] for v in conflicts["rating"]["values"]] == [3, 4]
    assert set(conflicts) == {"captured_at", "rating"}


def test_time_zone_and_minute_precision_agree_gps_kilometres_apart_do_not():
    assert agree("captured_at", "2020-01-01T10:00:00+02:00", "2020-01-01T08:00:30+00:00")
    assert agree("captured_at", "2020-01-01T10:00:12.5", "2020-01-01T10:00:00+00:00")
    # a local clock without its zone beside UTC (Takeout, Apple's CSV): the same instant
    assert agree("captured_at", "2020-01-01T10:00:00", "2020-01-01T15:30:00+00:00")
    assert not agree("captured_at", "2020-01-01T10:00:00", "2020-01-01T10:20:00+00:00")
    assert not agree("captured_at", "2020-01-01T10:00:00+02:00", "2020-01-01T12:00:00+02:00")
    assert not agree("captured_at", "2020-01-01T10:00:00", "2020-01-02T10:00:00+00:00")
    assert not agree("captured_at", "2020-01-01T10:00:00", "2020-01-01T12:00:00")
    assert not agree("gps", {"lat": 43.0, "lon": 11.0}, {"lat": 43.5, "lon": 11.0})


def test_exiftool_tags_split_the_capture_time_and_sign_the_position():
    fields = [
        {"field": "captured_at", "value": "2019-07-04T10:11:12.37-04:00", "from": "x"},
        {"field": "gps", "value": {"lat": -33.5, "lon": -70.25}, "from": "x"},
    ]
    tags = exiftool_tags(fields, "JPEG", False)
    assert tags["EXIF:DateTimeOriginal"] == "2019:07:04 10:11:12"
    assert tags["EXIF:SubSecTimeOriginal"] == "37" and tags["EXIF:OffsetTimeOriginal"] == "-04:00"
    assert (tags["EXIF:GPSLatitude"], tags["EXIF:GPSLatitudeRef"]) == (33.5, "S")
    assert (tags["EXIF:GPSLongitude"], tags["EXIF:GPSLongitudeRef"]) == (70.25, "W")
    side = exiftool_tags(fields, "CR2", True)
    assert side["XMP-exif:DateTimeOriginal"] == "2019:07:04 10:11:12.37-04:00"
    assert side["XMP-exif:GPSLatitude"] == -33.5


# ---- a library made from real photos ----------------------------------------------------------


def _half(src: Path, dst: Path, div: int = 2) -> Path:
    """A smaller copy that keeps the EXIF: the same photo, another file."""
    with Image.open(src) as im:
        exif = im.info.get("exif")
        small = im.convert("RGB").resize((im.width // div, im.height // div))
        small.save(dst, quality=90, **({"exif": exif} if exif else {}))
    return dst


def _stripped(src: Path, dst: Path, *what: str) -> Path:
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o644)
    exiftool(*what, str(dst))
    return dst


def make_library(corpus: Path, root: Path) -> dict[str, Path]:
    gps = corpus / "exif-samples/jpg/gps"
    for d in ("keep", "dups", "takeout", "lr", "conflict", "apple", "phone", "export"):
        (root / d).mkdir(parents=True)
    f: dict[str, Path] = {}
    # a keeper stripped of everything; its smaller duplicate has the camera's time and GPS and
    # a title, description, keywords and a face region added as a person would
    f["keeper"] = _stripped(gps / "DSCN0010.jpg", root / "keep/DSCN0010.jpg", "-all=")
    f["donor"] = _half(gps / "DSCN0010.jpg", root / "dups/DSCN0010_small.jpg")
    exiftool("-XMP-dc:Title=Harbour at dusk", "-XMP-dc:Description=From the pier",
             "-XMP-dc:Subject=harbour", "-XMP-dc:Subject=boats", str(f["donor"]))  # fmt: skip
    regions = root / "regions.json"
    regions.write_text(json.dumps([{"SourceFile": "*", "XMP-mwg-rs:RegionInfo": REGIONS}]))
    exiftool("-n", f"-json={regions}", str(f["donor"]))
    regions.unlink()
    # a Takeout JSON sidecar with photoTakenTime and geoData
    f["takeout"] = _stripped(gps / "DSCN0012.jpg", root / "takeout/DSCN0012.jpg", "-all=")
    (root / "takeout/DSCN0012.jpg.supplemental-metadata.json").write_text(json.dumps({
        "title": "DSCN0012.jpg", "photoTakenTime": {"timestamp": "1224692919"},
        "geoData": {"latitude": 43.4675, "longitude": 11.8815, "altitude": 0.0}}))  # fmt: skip
    # a real Lightroom XMP sidecar (UTF-16), its xmp:CreateDate the only capture time
    f["lr"] = _stripped(gps / "DSCN0021.jpg", root / "lr/DSCN0021.jpg", "-all=")
    shutil.copyfile(corpus / "immich-test-assets/metadata/xmp/dates/2010.xmp",
                    root / "lr/DSCN0021.xmp")  # fmt: skip
    # two duplicates whose positions are 55 km apart: reported, not merged
    f["conflict"] = _stripped(gps / "DSCN0025.jpg", root / "conflict/DSCN0025.jpg", "-gps:all=")
    _half(gps / "DSCN0025.jpg", root / "dups/DSCN0025_a.jpg")
    far = _half(gps / "DSCN0025.jpg", root / "dups/DSCN0025_b.jpg", 3)
    exiftool("-n", "-GPSLatitude=43.96", "-GPSLatitudeRef=N", str(far))
    # Apple's CSV: originalCreationDate and a favourite for a photo with no capture time
    f["apple"] = _stripped(gps / "DSCN0027.jpg", root / "apple/DSCN0027.jpg", "-alldates=")
    with open(root / "apple/Photo Details.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["imgName", "fileChecksum", "favorite", "hidden", "deleted",
                    "originalCreationDate", "viewCount", "importDate"])  # fmt: skip
        w.writerow(["DSCN0027.jpg", "", "Yes", "No", "No", "Monday May 1,2017 10:00 AM GMT",
                    "", ""])  # fmt: skip
    # a real iPhone HEIC whose GPS was stripped, and the JPEG exported from it with GPS
    heic = corpus / "exif-samples/heic/IMG_5195.HEIC"
    f["heic"] = _stripped(heic, root / "phone/IMG_5195.HEIC", "-gps:all=")
    import pillow_heif

    pillow_heif.register_heif_opener()
    with Image.open(heic) as im:
        im.convert("RGB").save(root / "export/IMG_5195.JPG", quality=92, exif=im.info["exif"])
    return f


@pytest.fixture(scope="module")
def library(corpus, tmp_path_factory):
    base = tmp_path_factory.mktemp("merge")
    files = make_library(corpus, base / "src")
    db = base / "c.sqlite"
    run_json("scan", str(base / "src"), "--catalog", str(db))
    plan_path = base / "plan.json"
    out = run_json("plan", str(base / "src"), "--dest", str(base / "dest"), "-o", str(plan_path),
                   "--catalog", str(db), "--merge-metadata")  # fmt: skip
    assert out["metadata_merge"] == {"files": 5, "fields": 12, "conflicts": 1}
    return base, files, plan_path


def _values(paths: list[str], db: Path) -> dict[str, dict]:
    """What the project's exiftool readers say each file holds."""
    with Catalog(db) as cat:
        recs = {r.path: r for r in cat.records(paths)}
    labels = read_labels(paths)
    return {p: own_values(recs[p], labels.get(p)) for p in paths}


def _same(field: str, a, b) -> bool:
    if field == "gps":
        return math.isclose(a["lat"], b["lat"], abs_tol=1e-6) and math.isclose(
            a["lon"], b["lon"], abs_tol=1e-6
        )
    return a == b


@pytest.mark.full_corpus(GPS)
def test_every_missing_field_arrives_equal_to_the_donor_conflicts_stay_out(library, tmp_path):
    base, files, plan_path = library
    src = base / "src"
    plan = read_plan(plan_path)
    assert plan.options["merge_metadata"] is True
    merges = {Path(e.source).name: e for e in plan.entries if e.merge}
    expect = {
        "DSCN0010.jpg": {"captured_at", "gps", "title", "description", "keywords", "regions"},
        "DSCN0012.jpg": {"captured_at", "gps"},
        "DSCN0021.jpg": {"captured_at"},
        "DSCN0027.jpg": {"captured_at", "rating"},
        "IMG_5195.HEIC": {"gps"},
    }
    got = {n: {f["field"] for f in e.merge["fields"]} for n, e in merges.items()}
    assert {n: v for n, v in got.items() if v} == expect
    # a keeper whose only capture time arrives by the merge is planned by it, as DEST will have it
    assert {n: e.target for n, e in merges.items() if n in ("DSCN0010.jpg", "DSCN0012.jpg",
            "DSCN0021.jpg", "DSCN0027.jpg")} == {  # fmt: skip
        "DSCN0010.jpg": "2008/10/DSCN0010.jpg", "DSCN0012.jpg": "2008/10/DSCN0012.jpg",
        "DSCN0021.jpg": "2010/09/DSCN0021.jpg", "DSCN0027.jpg": "2017/05/DSCN0027.jpg"}  # fmt: skip
    assert merges["DSCN0010.jpg"].captured_at == "2008-10-22T16:28:39"
    conflict = merges["DSCN0025.jpg"].merge
    assert conflict["fields"] == [] and [c["field"] for c in conflict["conflicts"]] == ["gps"]
    assert {Path(v["from"]).name for v in conflict["conflicts"][0]["values"]} == {
        "DSCN0025_a.jpg", "DSCN0025_b.jpg"}  # fmt: skip

    before = {str(p): hash_file(p)["blake3"] for p in src.rglob("*") if p.is_file()}
    work = tmp_path / "plan.json"
    shutil.copyfile(plan_path, work)
    result = apply_plan(work)
    assert result.ok and result.findings == [], [f.line() for f in result.findings]
    assert {str(p): hash_file(p)["blake3"] for p in src.rglob("*") if p.is_file()} == before

    dest = Path(plan.dest)
    db = tmp_path / "dest.sqlite"
    run_json("scan", str(dest), str(src), "--catalog", str(db))
    targets = {e.source: str(dest / e.target) for e in plan.entries if e.merge}
    donors = sorted({f["from"] for e in merges.values() for f in e.merge["fields"]
                     if os.path.isabs(f["from"])})  # fmt: skip
    seen = _values(sorted(targets.values()) + sorted(targets) + donors, db)
    for source, e in ((e.source, e) for e in merges.values()):
        after, mine = seen[targets[source]], seen[source]
        for f in e.merge["fields"]:
            want = seen[f["from"]][f["field"]] if f["from"] in seen else f["value"]
            assert _same(f["field"], after[f["field"]], want), (source, f, after)
            assert f["field"] not in mine  # the source itself was not written
        for c in e.merge["conflicts"]:
            assert after.get(c["field"]) == mine.get(c["field"])  # nothing merged
        # the picture decodes to the same pixels, the copy's bytes are the ledger's
        assert picture_hash(targets[source], e.merge["format"]) == picture_hash(
            source, e.merge["format"])  # fmt: skip
    # the Takeout time is UTC; Apple's CSV gives minutes in GMT; the XMP keeps its offset
    assert seen[targets[str(files["takeout"])]]["captured_at"] == "2008-10-22T16:28:39+00:00"
    assert seen[targets[str(files["apple"])]]["captured_at"] == "2017-05-01T10:00:00+00:00"
    assert seen[targets[str(files["lr"])]]["captured_at"] == "2010-09-27T14:35:33+02:00"
    assert seen[targets[str(files["keeper"])]]["regions"] == REGIONS
    ledger = json.loads((dest / "photoverify-ledger.json").read_text())
    rows = {r["source"]: r for r in ledger["entries"]}
    for source, target in targets.items():
        row = rows[source]
        assert row["blake3"] == hash_file(target)["blake3"]
        if row.get("merge"):
            assert row["merge"]["source_blake3"] == before[source] != row["blake3"]
    check = subprocess.run(["b3sum", "--check", "photoverify-manifest.b3"], cwd=dest,
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    # audit: each merged copy is its source, present, with the fields reported as gained
    with Catalog(db) as cat:
        audit = audit_libraries([str(src)], str(dest), catalog=cat)
    rows = {a.source: a for a in audit.assets}
    gained = {f.path: f for f in audit.findings if f.outcome == "metadata-gained"}
    for source, e in ((e.source, e) for e in merges.values() if e.merge["fields"]):
        row = rows[source]
        assert (row.outcome, row.match, row.changes) == ("present", "identical", {}), row
        assert "metadata-gained" in row.findings, row
        assert set(gained[targets[source]].evidence["gained"]) == {
            f["field"] for f in e.merge["fields"]}  # fmt: skip
    # what the duplicate had arrived (its camera is no merged field: the keeper lacks it)
    assert rows[str(src / "dups/DSCN0010_small.jpg")].findings == ("camera-lost",)
    assert not [f for f in audit.findings if f.outcome in ("content-altered", "extra",
                                                            "ledger-target-changed")]  # fmt: skip
    # a re-run changes nothing; undo removes every file, merged or not
    again = apply_plan(work)
    assert again.ok and again.bytes_written == 0 and again.findings == []
    undo(str(work) + ".journal")
    assert [p for p in dest.rglob("*") if p.is_file()] == []


def test_a_keeper_with_keywords_receives_the_ones_it_lacks_case_insensitively():
    donors = [Donor("b.jpg", {"keywords": ["harbour", "boats"]}),
              Donor("c.xmp", {"keywords": ["BOATS", "Sunset"]})]  # fmt: skip
    (f,) = decide({"keywords": ["Harbour"]}, donors).fields
    assert f["value"] == ["Harbour", "boats", "Sunset"]  # the keeper's first, never replaced
    assert f["added"] == [{"value": "boats", "from": "b.jpg"}, {"value": "Sunset", "from": "c.xmp"}]
    assert decide({"keywords": ["boats", "HARBOUR", "sunset"]}, donors).empty


@pytest.mark.full_corpus(GPS)
def test_keywords_union_through_the_cli_on_real_files(corpus, tmp_path):
    """A keeper tagged `Harbour` and two smaller duplicates tagged by someone else: DEST's copy
    holds the union, the keeper's word first, as exiftool reads it; the sources are unchanged."""
    src = tmp_path / "src"
    for d in ("keep", "a", "b"):
        (src / d).mkdir(parents=True)
    photo = corpus / "exif-samples/jpg/gps/DSCN0010.jpg"
    keeper = src / "keep/DSCN0010.jpg"
    shutil.copyfile(photo, keeper)
    exiftool("-XMP-dc:Subject=Harbour", str(keeper))
    small = _half(photo, src / "a/DSCN0010_a.jpg")
    exiftool("-XMP-dc:Subject=harbour", "-XMP-dc:Subject=boats", str(small))
    smaller = _half(photo, src / "b/DSCN0010_b.jpg", 3)
    exiftool("-XMP-dc:Subject=Boats", "-XMP-dc:Subject=Sunset", str(smaller))
    before = {str(p): hash_file(p)["blake3"] for p in src.rglob("*") if p.is_file()}
    db, plan_path = tmp_path / "c.sqlite", tmp_path / "plan.json"
    run_json("scan", str(src), "--catalog", str(db))
    run_json("plan", str(src), "--dest", str(tmp_path / "dest"), "-o", str(plan_path),
             "--catalog", str(db), "--merge-metadata",
             "--csv", str(tmp_path / "plan.csv"))  # fmt: skip
    entry = next(e for e in read_plan(plan_path).entries if e.merge)
    assert entry.source == str(keeper)
    with open(tmp_path / "plan.csv", newline="", encoding="utf-8") as fh:
        rows = {r["original path"]: r for r in csv.DictReader(fh)}
    assert rows[str(keeper)]["merged fields"] == "keywords (+boats, Sunset)"
    assert rows[str(small)]["merged fields"] == ""
    (f,) = [f for f in entry.merge["fields"] if f["field"] == "keywords"]
    assert f["added"] == [{"value": "boats", "from": str(small)},
                          {"value": "Sunset", "from": str(smaller)}]  # fmt: skip
    assert json.loads(plan_path.read_text())["version"] == 3
    out = run_json("apply", str(plan_path))
    assert out["merge"]["written"] == 1, out
    copy = tmp_path / "dest" / entry.target
    read = subprocess.run(["exiftool", "-j", "-XMP-dc:Subject", str(copy)], capture_output=True)
    got = json.loads(read.stdout)[0]["Subject"]
    assert got == ["Harbour", "boats", "Sunset"]
    assert {str(p): hash_file(p)["blake3"] for p in src.rglob("*") if p.is_file()} == before


@pytest.mark.full_corpus(GPS)
def test_version_1_plan_still_reads_and_applies(library, tmp_path):
    base, _, plan_path = library
    doc = json.loads(plan_path.read_text())
    doc["version"] = 1
    for e in doc["entries"]:
        del e["merge"]
    old = tmp_path / "v1.json"
    old.write_text(json.dumps(doc))
    result = apply_plan(old)
    assert result.ok and result.findings == []
    ledger = json.loads((Path(doc["dest"]) / "photoverify-ledger.json").read_text())
    assert not any("merge" in r for r in ledger["entries"])
    undo(str(old) + ".journal")


# ---- crash safety of the metadata step --------------------------------------------------------

RUN = """
import json, sys
import photoverify.dedupe.move.apply as a
from photoverify.verify.manifest import render_b3sum

trace = []
class J(a.Journal):
    def write(self, op, **kw):
        trace.append(op)
        super().write(op, **kw)
    def step(self):
        trace.append("step")
        super().step()
a.Journal = J
r = a.apply_plan(sys.argv[1], mode=sys.argv[2], force_space=True, render_manifest=render_b3sum)
print(json.dumps({"fates": r.fates, "findings": len(r.findings), "trace": trace}))
"""


def _run(plan: Path, mode: str = "copy", **crash: int) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in (CRASH_ENV, CRASH_FILE_ENV)}
    if "after" in crash:
        env[CRASH_ENV] = str(crash["after"])
    if "step" in crash:
        env[CRASH_FILE_ENV] = str(crash["step"])
    return subprocess.run([sys.executable, "-c", RUN, str(plan), mode], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def _dest_files(dest: Path) -> dict[str, bytes]:
    return {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*")
            if p.is_file() and "ledger" not in p.name}  # fmt: skip


@pytest.mark.full_corpus(GPS)
def test_sigkill_in_the_metadata_step_then_resume_and_undo(library, tmp_path):
    base, _, plan_path = library
    work = tmp_path / "plan.json"
    shutil.copyfile(plan_path, work)
    dest = Path(read_plan(work).dest)
    ref = _run(work)
    assert ref.returncode == 0, ref.stderr
    reference = json.loads(ref.stdout)
    trace = reference["trace"]
    ops = [r["op"] for r in read_journal(str(work) + ".journal")]
    assert ops.count("merged") == 5 and ops.count("merge-ready") == 5
    ref_files = _dest_files(dest)
    # journal writes: the first two merges whole, and the last merge up to the report
    writes = [op for op in trace if op != "step"]
    merge_at = [n + 1 for n, op in enumerate(writes) if op.startswith("merge")]
    points = merge_at[:6] + merge_at[-3:] + [merge_at[0] - 1, merge_at[-1] + 1]
    # file steps: the rename of each merged copy (after its merge-ready record)
    steps = [trace[:k].count("step") + 1 for k, op in enumerate(trace)
             if op == "step" and k and trace[k - 1] == "merge-ready"]  # fmt: skip
    assert len(steps) == 5
    kills = [{"after": n} for n in sorted(set(points))] + [{"step": n} for n in steps[:3]]
    for crash in kills:
        shutil.rmtree(dest)
        os.unlink(str(work) + ".journal")
        killed = _run(work, **crash)
        assert killed.returncode == -signal.SIGKILL, (crash, killed.stderr)
        done = _run(work)
        assert done.returncode == 0, (crash, done.stderr)
        out = json.loads(done.stdout)
        assert (out["fates"], out["findings"]) == (reference["fates"], 0), crash
        assert not list(dest.rglob(f"*{MERGE_TMP}*")), crash
        assert _dest_files(dest) == ref_files, crash
    # undo of a run killed inside the metadata step leaves DEST as it was before apply
    shutil.rmtree(dest)
    os.unlink(str(work) + ".journal")
    assert _run(work, after=merge_at[4]).returncode == -signal.SIGKILL
    undo(str(work) + ".journal")
    assert [p for p in dest.rglob("*") if p.is_file()] == []


@pytest.fixture()
def movable(corpus, tmp_path):
    """A library of its own (move removes its sources), planned with --merge-metadata; a
    pristine copy of the sources to put back between runs."""
    make_library(corpus, tmp_path / "src")
    db, plan_path = tmp_path / "c.sqlite", tmp_path / "plan.json"
    run_json("scan", str(tmp_path / "src"), "--catalog", str(db))
    run_json("plan", str(tmp_path / "src"), "--dest", str(tmp_path / "dest"), "-o",
             str(plan_path), "--catalog", str(db), "--merge-metadata")  # fmt: skip
    shutil.copytree(tmp_path / "src", tmp_path / "pristine")
    return tmp_path, plan_path


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hash_file(p)["blake3"] for p in root.rglob("*")
            if p.is_file()}  # fmt: skip


@pytest.mark.full_corpus(GPS)
def test_move_writes_the_merge_into_the_copy_and_undo_puts_the_sources_back(movable):
    """The DEST copy of a move is not the source: it receives the merge before the source is
    removed. undo rebuilds each source byte for byte from its merged copy."""
    base, plan_path = movable
    src, dest = base / "src", base / "dest"
    before = _tree(src)
    out = run_json("apply", str(plan_path), "--mode", "move")
    assert out["ok"] and out["findings"] == [], out["findings"]
    assert out["merge"] == {"written": 5, "sidecars": 0, "fields": 12, "conflicts": 1,
                            "refused": 0, "skipped": 0, "failed": 0}  # fmt: skip
    plan = read_plan(plan_path)
    merged = [e for e in plan.entries if e.merge and e.merge["fields"]]
    for e in merged:
        assert not os.path.exists(e.source)
        copy = dest / e.target
        assert hash_file(copy)["blake3"] != e.blake3  # the copy received its merge
        rel = Path(e.source).relative_to(src).as_posix()
        assert picture_hash(str(copy), e.merge["format"]) == picture_hash(
            str(base / "pristine" / rel), e.merge["format"])  # fmt: skip
    premerge = sorted(base.glob("plan.json.journal.premerge-*"))
    assert len(premerge) == 5 and max(p.stat().st_size for p in premerge) < 64 * 1024
    run_json("undo", str(plan_path) + ".journal")
    assert _tree(src) == before  # every source as it was, merged or not
    assert [p for p in dest.rglob("*") if p.is_file()] == []
    assert list(base.glob("plan.json.journal.premerge-*")) == []


@pytest.mark.full_corpus(GPS)
def test_sigkill_in_a_moves_metadata_step_then_resume_or_undo(movable):
    base, plan_path = movable
    src, dest, journal = base / "src", base / "dest", Path(str(plan_path) + ".journal")
    before = _tree(src)

    def fresh() -> None:
        shutil.rmtree(src)
        shutil.copytree(base / "pristine", src)
        shutil.rmtree(dest, ignore_errors=True)
        journal.unlink(missing_ok=True)
        for p in base.glob("plan.json.journal.premerge-*"):
            p.unlink()

    ref = _run(plan_path, "move")
    assert ref.returncode == 0, ref.stderr
    reference = json.loads(ref.stdout)
    assert reference["findings"] == 0 and reference["fates"]["moved"] >= 5
    ref_files, trace = _dest_files(dest), reference["trace"]
    writes = [op for op in trace if op != "step"]
    merge_at = [n + 1 for n, op in enumerate(writes) if op.startswith("merge")]
    # each merge's records, the unlink and the moved after it (the source is gone: undo rebuilds it)
    points = merge_at[:6] + [merge_at[2] + 1, merge_at[2] + 2, merge_at[5] + 2, merge_at[0] - 1]
    steps = [trace[:k].count("step") + 1 for k, op in enumerate(trace)
             if op == "step" and k and trace[k - 1] == "merge-ready"]  # fmt: skip
    kills = [{"after": n} for n in sorted(set(points))] + [{"step": n} for n in steps[:2]]
    sources = [e.source for e in read_plan(plan_path).entries if e.merge and e.merge["fields"]]
    rebuilt = 0  # kills after which a merged entry's source was gone: undo rebuilt it
    for crash in kills:
        fresh()
        killed = _run(plan_path, "move", **crash)
        assert killed.returncode == -signal.SIGKILL, (crash, killed.stderr)
        done = _run(plan_path, "move")
        assert done.returncode == 0, (crash, done.stderr)
        out = json.loads(done.stdout)
        assert (out["fates"], out["findings"]) == (reference["fates"], 0), crash
        assert not list(dest.rglob(f"*{MERGE_TMP}*")), crash
        assert _dest_files(dest) == ref_files, crash
        # killed again at the same point, then undone: the sources are back byte for byte
        fresh()
        assert _run(plan_path, "move", **crash).returncode == -signal.SIGKILL, crash
        rebuilt += any(not os.path.exists(s) for s in sources)
        undo(str(journal))
        assert _tree(src) == before, crash
        assert [p for p in dest.rglob("*") if p.is_file()] == [], crash
        assert list(base.glob("plan.json.journal.premerge-*")) == [], crash
    assert rebuilt >= 2


def _plan_the_merge(src, tmp_path):
    """Scan SRC and plan its move with the metadata merge: (catalog, plan, the entry merged)."""
    db = tmp_path / "c.sqlite"
    run_json("scan", str(src), "--catalog", str(db))
    plan_path = tmp_path / "plan.json"
    run_json("plan", str(src), "--dest", str(tmp_path / "dest"), "-o", str(plan_path),
             "--catalog", str(db), "--merge-metadata")  # fmt: skip
    return db, plan_path, next(e for e in read_plan(plan_path).entries if e.merge)


@pytest.mark.full_corpus(GPS)
def test_a_dng_keeper_gets_an_xmp_sidecar_and_its_bytes_stay(corpus, tmp_path):
    """A format exiftool does not rewrite safely here (DNG): the merge goes into `NAME.DNG.xmp`
    beside the untouched copy, the scanner reads it back as the asset's, undo removes it."""
    from media import make_dng

    src = tmp_path / "src"
    (src / "raw").mkdir(parents=True)
    (src / "jpg").mkdir()
    donor = corpus / "exif-samples/jpg/gps/DSCN0040.jpg"
    shutil.copyfile(donor, src / "jpg/DSCN0040.jpg")
    with Image.open(donor) as im:
        dng = make_dng(src / "raw/DSCN0040.DNG", im.convert("RGB"))
    db, plan_path, entry = _plan_the_merge(src, tmp_path)
    assert entry.source == str(dng) and entry.merge["write"] == "sidecar"
    assert entry.merge["sidecar"] == entry.target + ".xmp"
    assert {f["field"] for f in entry.merge["fields"]} == {"captured_at", "gps"}
    result = apply_plan(plan_path)
    assert result.ok and result.findings == [], [f.line() for f in result.findings]
    dest = tmp_path / "dest"
    copy, side = dest / entry.target, dest / entry.merge["sidecar"]
    assert copy.read_bytes() == dng.read_bytes() and side.is_file()
    check = subprocess.run(["b3sum", "--check", "photoverify-manifest.b3"], cwd=dest,
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0 and f"{entry.merge['sidecar']}: OK" in check.stdout
    # what the scanner reads of the DEST asset (DNG + its sidecar) is the donor's
    run_json("scan", str(dest), "--catalog", str(db))
    from photoverify.dedupe.match.companions import asset_metadata

    with Catalog(db) as cat:
        got = asset_metadata(*cat.records([str(copy)]), cat.records([str(side)]))
        want = cat.records([str(src / "jpg/DSCN0040.jpg")])[0].metadata
    assert got.captured_at == want.captured_at
    assert math.isclose(got.gps_lat, want.gps_lat, abs_tol=1e-6)
    assert math.isclose(got.gps_lon, want.gps_lon, abs_tol=1e-6)
    undo(str(plan_path) + ".journal")
    assert [p for p in dest.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m["fields"][0].update(value=20080101), "captured_at: value 20080101 has"),
        (lambda m: m["fields"][1].update(value={"lat": 95, "lon": 1}), "gps: value"),
        (lambda m: m["fields"][0].update(field="colour"), "field 'colour' is not one of"),
        (lambda m: m.update(write="inline"), "write must be"),
        (lambda m: m["fields"][0].update(added=[]), "keywords added must list"),
        (lambda m: m.pop("conflicts"), "must have exactly the fields"),
    ],
)
@pytest.mark.full_corpus(GPS)
def test_a_hand_edited_merge_is_refused_naming_the_entry(library, tmp_path, edit, message):
    from photoverify.dedupe.core.errors import PlanError

    _, _, plan_path = library
    doc = json.loads(plan_path.read_text())
    n, entry = next((n, e) for n, e in enumerate(doc["entries"])
                    if e["merge"] and [f["field"] for f in e["merge"]["fields"][:2]]
                    == ["captured_at", "gps"])  # fmt: skip
    edit(entry["merge"])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(PlanError, match=f"entry {n}: merge .*{message}"):
        read_plan(bad)


@pytest.mark.full_corpus(GPS)
def test_hardlink_mode_leaves_merges_unwritten_and_says_so(library, tmp_path):
    """A hardlinked target is the source's own inode: writing it would write the source."""
    base, _, plan_path = library
    before = {str(p): hash_file(p)["blake3"] for p in (base / "src").rglob("*") if p.is_file()}
    work = tmp_path / "plan.json"
    shutil.copyfile(plan_path, work)
    result = apply_plan(work, mode="hardlink")
    skipped = [f for f in result.findings if f.outcome == "merge-skipped"]
    assert len(skipped) == 5 and all(f.severity == "warning" for f in skipped)
    # one plain line that says why: the target is the source's own file
    assert skipped[0].message.endswith("metadata merge not written: the target is a hardlink "
                                       "of the source (one file), so writing it would change "
                                       "the source") and "\n" not in skipped[0].message  # fmt: skip
    assert {str(p): hash_file(p)["blake3"] for p in (base / "src").rglob("*")
            if p.is_file()} == before  # fmt: skip
    ledger = json.loads((Path(read_plan(work).dest) / "photoverify-ledger.json").read_text())
    assert not any("merge" in r for r in ledger["entries"])
    undo(str(work) + ".journal")


@pytest.mark.full_corpus(GPS)
def test_a_mov_keeper_receives_its_mp4_exports_time_and_place(corpus, tmp_path):
    """Videos: QuickTime Keys CreationDate and GPSCoordinates written into the DEST MOV; the
    decoded frames hash the same before and after (FFmpeg)."""
    from media import make_video, transcode

    src = tmp_path / "src"
    (src / "cam").mkdir(parents=True)
    (src / "export").mkdir()
    clip = make_video(src / "cam/clip.MOV", seconds=2, size=(320, 240),
                      photo=corpus / "exif-samples/jpg/gps/DSCN0010.jpg")  # fmt: skip
    mp4 = transcode(clip, src / "export/clip.mp4", size=(160, 120))
    exiftool("-n", "-Keys:CreationDate=2019:07:04 10:11:12-04:00",
             "-Keys:GPSCoordinates=43.4674 11.8851", str(mp4))  # fmt: skip
    db, plan_path, entry = _plan_the_merge(src, tmp_path)
    assert entry.source == str(clip) and entry.merge["write"] == "file"
    assert {f["field"] for f in entry.merge["fields"]} == {"captured_at", "gps"}
    result = apply_plan(plan_path)
    assert result.ok and result.findings == [], [f.line() for f in result.findings]
    copy = tmp_path / "dest" / entry.target
    assert picture_hash(str(copy), "MOV") == picture_hash(str(clip), "MOV")
    assert hash_file(copy)["blake3"] != hash_file(clip)["blake3"]
    run_json("scan", str(tmp_path / "dest"), "--catalog", str(db))
    got = _values([str(copy), str(mp4), str(clip)], db)
    assert got[str(copy)]["captured_at"] == got[str(mp4)]["captured_at"]
    assert _same("gps", got[str(copy)]["gps"], got[str(mp4)]["gps"])
    assert "gps" not in got[str(clip)] and "captured_at" not in got[str(clip)]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=8,
)  # fmt: skip
_field = st.fixed_dictionaries({
    "field": st.sampled_from(["captured_at", "gps", "title", "description", "keywords",
                              "rating", "regions"]) | _json,
    "value": _json, "from": _json})  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({
    "format": st.just("JPEG") | _json, "write": st.sampled_from(["file", "sidecar"]) | _json,
    "sidecar": st.just("a/b.CR2.xmp") | _json, "fields": st.lists(_field, max_size=3) | _json,
    "conflicts": st.just([]) | _json, "refused": st.none() | _json}) | _json)  # fmt: skip
def test_any_merge_object_is_read_or_refused_never_a_crash(merge):
    """A hand-edited `merge` is either valid (and then every value has its field's shape, so
    exiftool_tags takes it) or named as wrong; check_plan takes whatever read_plan accepted."""
    import tempfile

    from photoverify.dedupe.core.errors import PlanError
    from photoverify.dedupe.move.plan import check_plan

    entry = {"source": "/src/a.jpg", "blake3": "0" * 64, "size": 1, "captured_at": None,
             "action": "keep", "target": "x/a.jpg", "cluster": None, "reason": None,
             "merge": merge}  # fmt: skip
    doc = {"format": "photoverify-plan", "version": 2, "created": "", "roots": ["/src"],
           "dest": "/nonexistent-dest", "catalog": "c", "options": {}, "bytes_to_write": 1,
           "dest_free_bytes": None, "entries": [entry]}  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".json") as fh:
        json.dump(doc, fh)
        fh.flush()
        try:
            plan = read_plan(fh.name)
        except PlanError:
            return
    check_plan(plan, verify_sources=False)
    m = plan.entries[0].merge
    if m:
        exiftool_tags(m["fields"], m["format"], m["write"] == "sidecar")

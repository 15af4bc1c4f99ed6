"""The scanner against the real corpus and against bad input made in the test."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import shutil
import struct
import subprocess
import time
import unicodedata
import zlib
from datetime import datetime
from pathlib import Path

import pytest
from conftest import run_cli, run_json
from media import make_video, png_chunks

from photoverify.dedupe.catalog.executors import InlineExecutor
from photoverify.dedupe.catalog.fingerprint import fingerprint
from photoverify.dedupe.catalog.metadata import MetadataReader, capture_time
from photoverify.dedupe.catalog.scan import scan
from photoverify.dedupe.catalog.store import SCHEMA_VERSION, Catalog
from photoverify.dedupe.core.records import DECODED_FIELDS, Candidate
from photoverify.dedupe.match.companions import asset_metadata, find_assets


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.mark.slow
def test_scan_records_every_corpus_file_with_b3sum_hashes(corpus, corpus_catalog):
    db, result = corpus_catalog
    files = _files(corpus)
    assert result["files"] == len(files) and result["new"] == len(files)
    shown = run_json("show", str(corpus), "--catalog", str(db))
    by_path = {r["path"]: r for r in shown}
    assert set(by_path) == {str(p) for p in files}
    out = subprocess.run(
        ["b3sum", "--no-names", *map(str, files)], capture_output=True, text=True, check=True
    ).stdout.split()
    for path, digest in zip(files, out, strict=True):
        assert by_path[str(path)]["blake3"] == digest, path


def _exiftool_time(text: object) -> str | None:
    """exiftool's date text as ISO 8601 (`2022:01:10 15:15:44.31-04:00` ->
    `2022-01-10T15:15:44.31-04:00`); None when it is no real date and time (0000:00:00,
    2021:02:31, a date alone)."""
    text = str(text).strip()
    try:
        moment = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    rest = text[19:].strip().replace("Z", "+00:00")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + rest


def _parts(iso: str) -> tuple[str, str, str]:
    """(date and time to the second, sub-seconds, offset)."""
    frac = iso[19:].split("+")[0].split("-")[0]
    return iso[:19], frac, iso[19 + len(frac) :]


def _same_moment(ours: str | None, theirs: str) -> bool:
    """Ours is exiftool's value: the same second, and the sub-seconds and offset exiftool gives
    (ours may be more precise than one place, never different)."""
    if ours is None:
        return False
    (o_sec, o_frac, o_zone), (t_sec, t_frac, t_zone) = _parts(ours), _parts(theirs)
    return o_sec == t_sec and (not t_frac or o_frac == t_frac) and (not t_zone or o_zone == t_zone)


def _values(tags: dict, group0: str | None, name: str) -> list[str]:
    """Every real date exiftool gives for `name` (in one family-0 group, or any), as ISO. Not
    XMP's pdf namespace: its CreationDate is when a PDF was made (ExtendedXMP.jpg)."""
    out = []
    for key, value in tags.items():
        parts = key.split(":")
        if parts[-1] == name and (group0 is None or parts[0] == group0) and "XMP-pdf" not in parts:
            iso = _exiftool_time(value)
            if iso is not None:
                out.append(iso)
    return out


# Tags that can hold when a photo was taken; used only to say "exiftool found none", never to
# rank them (the precedence is the scanner's, checked through captured_source below).
_TIME_NAMES = ("DateTimeOriginal", "CreationDate", "DateCreated", "CreateDate", "CreationTime")


def _exiftool_gps(tags: dict) -> tuple[float, float] | None:
    """exiftool's own position: its composite (EXIF with the Ref signs, QuickTime keys), else
    the signed XMP-exif pair an XMP sidecar holds."""
    for prefix in ("Composite:", "XMP:XMP-exif:"):
        lat, lon = tags.get(prefix + "GPSLatitude"), tags.get(prefix + "GPSLongitude")
        if lat is not None and lon is not None:
            return float(lat), float(lon)
    return None


@pytest.mark.full_corpus("its 120+ files, olympus-d320l's APP12 date and a MakerNotes date")
def test_capture_time_and_gps_equal_exiftool(corpus, corpus_catalog, tmp_path):
    """Issue 13's acceptance, for every corpus file (a file added to the corpus is checked too),
    against exiftool's own `-a -G0:1 -n` output, not a copy of the scanner's precedence:
    captured_at is exiftool's DateTimeOriginal (its composite with sub-seconds and offset, else
    whichever group holds it); a file with none has a time exiftool gives under the tag named
    by captured_source, or none when exiftool has none; GPS is exiftool's. XMP sidecars are
    files of the corpus and are checked the same way."""
    db, _ = corpus_catalog
    raw = json.loads(
        subprocess.run(
            ["exiftool", "-j", "-a", "-G0:1", "-n", "-r", str(corpus)],
            capture_output=True,
            text=True,
        ).stdout
    )
    records = {r["path"]: r for r in run_json("show", str(corpus), "--catalog", str(db))}
    assert {t["SourceFile"] for t in raw} <= set(records)
    utf16 = [t for t in raw if str(t.get("File:MIMEEncoding", "")).startswith("utf-16")]
    for tags in utf16:  # exiftool 12.57 reads nothing of a UTF-16 XMP: ask it about a UTF-8 copy
        copy = tmp_path / "utf8.xmp"
        copy.write_text(Path(tags["SourceFile"]).read_bytes().decode("utf-16"), "utf-8")
        again = json.loads(
            subprocess.run(
                ["exiftool", "-j", "-a", "-G0:1", "-n", str(copy)], capture_output=True, text=True
            ).stdout  # fmt: skip
        )[0]
        tags.update({k: v for k, v in again.items() if k.startswith(("XMP:", "Composite:"))})
    agree, by_dto, sources = 0, 0, set()
    for tags in raw:
        path = tags["SourceFile"]
        rec = records[path]
        ours, source = rec["captured_at"], rec["captured_source"]
        composite = _exiftool_time(tags.get("Composite:SubSecDateTimeOriginal") or "")
        originals = [composite] if composite else _values(tags, None, "DateTimeOriginal")
        if originals:
            by_dto += 1
            assert any(_same_moment(ours, t) for t in originals), (path, ours, originals)
        elif ours is None:
            assert not any(_values(tags, None, n) for n in _TIME_NAMES), path
        if ours is not None:
            group0, name = source.split("+")[0].split(":")
            given = _values(tags, group0, name)
            if name == "DateCreated" and group0 == "IPTC":  # a date and a time in two datasets
                given = [_exiftool_time(f"{tags['IPTC:DateCreated']} {tags['IPTC:TimeCreated']}")]
            assert any(_same_moment(ours, t) for t in given), (path, source, ours, given)
        gps = _exiftool_gps(tags)
        if gps is None:
            assert rec["gps"] is None and rec["gps_source"] is None, path
        else:
            assert rec["gps"] == {"lat": pytest.approx(gps[0]), "lon": pytest.approx(gps[1])}
            assert rec["gps_source"] is not None, path
        sources |= {source, rec["gps_source"]}
        agree += 1
    # an asset whose photo holds no time or place takes its sidecar's: exiftool's value of one
    # of its XMP/JSON sidecars (XMP.jpg + XMP.xmp hold both; a corpus file added may not)
    with Catalog(db) as cat:
        cataloged = {r.path: r for r in cat.all_records()}
    exif_of = {t["SourceFile"]: t for t in raw}
    assets, _ = find_assets(cataloged.values())
    for asset in assets:
        sides = [c for c in asset.companions if cataloged[c].kind == "sidecar" and c in exif_of]
        if not sides or asset.primary not in exif_of:
            continue
        meta = asset_metadata(cataloged[asset.primary], [cataloged[c] for c in asset.companions])
        if records[asset.primary]["captured_at"] is None:
            side_times = [records[c]["captured_at"] for c in sides if records[c]["captured_at"]]
            assert (meta.captured_at in side_times) if side_times else meta.captured_at is None
        else:
            assert meta.captured_at == records[asset.primary]["captured_at"]
        if records[asset.primary]["gps"] is None:
            side_gps = [_exiftool_gps(exif_of[c]) for c in sides if _exiftool_gps(exif_of[c])]
            got = (meta.gps_lat, meta.gps_lon) if meta.gps else None
            assert (got in side_gps) if side_gps else got is None, asset.primary
    # files exiftool does not read hold nothing we claim to have read
    for path in set(records) - {t["SourceFile"] for t in raw}:
        assert records[path]["captured_at"] is None and records[path]["gps"] is None, path
    assert agree == len(raw) > 120 and by_dto > 70
    # the places issue 13 found unread are read now (the corpus holds one of each)
    assert {"APP12:DateTimeOriginal", "MakerNotes:DateTimeOriginal", "XMP:GPSLatitude"} <= sources
    by_name = {Path(p).name: r for p, r in records.items()}
    assert by_name["olympus-d320l.jpg"]["captured_at"] == "1998-10-29T22:06:59"
    assert by_name["iso-value-array.xmp"]["gps"] == {
        "lat": pytest.approx(40.2346, abs=1e-4),
        "lon": pytest.approx(-76.2871, abs=1e-4),
    }
    # immich's UTF-16 XMP sidecars (a mangled BOM: exiftool 12.57 reads none of their tags)
    assert len(utf16) == 3
    for year in ("2000", "2010", "2020"):
        assert by_name[f"{year}.xmp"]["captured_at"] == f"{year}-09-27T14:35:33+02:00"
    # exiftool composes IPTC's offset into DateTimeOriginal; XMP's sub-seconds are kept with it
    assert by_name["thompson-springs.jpg"]["captured_at"] == "2022-01-10T15:15:44.31-04:00"


def test_heic_metadata_and_live_photo_id(corpus, corpus_catalog):
    db, _ = corpus_catalog
    rec = run_json("show", str(corpus / "exif-samples/heic/IMG_5195.HEIC"), "--catalog", str(db))[0]
    assert rec["format"] == "HEIC" and rec["kind"] == "image"
    assert rec["captured_at"] == "2021-04-11T15:47:53.054-05:00"
    assert rec["content_id"] == "570F1469-09C7-4E50-9875-05F21D5BD166"  # MakerNote MediaGroupUUID
    assert rec["make"] == "Apple" and rec["model"] == "iPhone 11 Pro Max"
    assert len(rec["phash"]) == 16 and len(rec["dhash"]) == 16 and rec["decode_ok"] is True
    assert (rec["width"], rec["height"]) == (2566, 3313)


def test_kinds_and_formats_come_from_bytes(corpus, corpus_catalog):
    db, _ = corpus_catalog
    recs = {Path(r["path"]).name: r for r in run_json("show", str(corpus), "--catalog", str(db))}
    assert (recs["PLIST.aae"]["kind"], recs["PLIST.aae"]["format"]) == ("sidecar", "AAE")
    assert recs["XMP.xmp"]["kind"] == "sidecar"
    assert (recs["QuickTime.mov"]["kind"], recs["QuickTime.mov"]["format"]) == ("video", "MOV")
    assert recs["density_plot.png"]["format"] == "PNG"
    assert recs["QuickTime.mov"]["decode_ok"] is False  # metadata only, no playable frames
    assert recs["QuickTime.heic"]["decode_ok"] is False


def test_rescan_of_unchanged_tree_reads_nothing(corpus, corpus_catalog, tmp_path):
    db, first = corpus_catalog
    copy = tmp_path / "cat.sqlite"
    shutil.copy(db, copy)
    second = run_json("scan", str(corpus), "--catalog", str(copy))
    assert second["unchanged"] == first["files"] and second["new"] == 0
    assert second["bytes_read"] == 0 and second["changed"] == 0


def test_changed_added_and_removed_files_are_rescanned(corpus, tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("Canon_40D.jpg", "Nikon_D70.jpg", "Pentax_K10D.jpg"):
        shutil.copy(corpus / "exif-samples/jpg" / name, lib / name)
    db = tmp_path / "c.sqlite"
    run_json("scan", str(lib), "--catalog", str(db))
    (lib / "Pentax_K10D.jpg").unlink()
    with open(lib / "Canon_40D.jpg", "ab") as fh:
        fh.write(b"\0")
    shutil.copy(corpus / "exif-samples/jpg/Sony_HDR-HC3.jpg", lib / "new.jpg")
    res = run_json("scan", str(lib), "--catalog", str(db))
    assert (res["new"], res["changed"], res["unchanged"], res["removed"]) == (1, 1, 1, 1)
    shown = run_json("show", str(lib), "--catalog", str(db))
    assert sorted(Path(r["path"]).name for r in shown) == [
        "Canon_40D.jpg",
        "Nikon_D70.jpg",
        "new.jpg",
    ]


def _bomb_png(path: Path) -> None:
    """A tiny PNG whose header claims 30000 x 30000 pixels, with a kilobyte of picture data."""
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    path.write_bytes(png_chunks((b"IHDR", ihdr), (b"IDAT", zlib.compress(b"\0" * 1000))))


def test_bad_input_never_stops_a_scan(corpus, tmp_path):
    lib = tmp_path / "bad"
    lib.mkdir()
    jpg = corpus / "immich-test-assets/metadata/gps-position/thompson-springs.jpg"  # GPS, time
    heic = corpus / "exif-samples/heic/mobile/iphone_13_pro_max.HEIC"
    (lib / "empty.jpg").write_bytes(b"")
    shutil.copy(corpus / "immich-test-assets/formats/png/density_plot.png", lib / "png.jpg")
    (lib / "truncated.jpg").write_bytes(jpg.read_bytes()[:20000])
    (lib / "truncated.heic").write_bytes(heic.read_bytes()[: heic.stat().st_size * 2 // 3])
    clip = make_video(tmp_path / "clip.MOV", seconds=2, size=(320, 240), photo=jpg)
    (lib / "truncated.MOV").write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    _bomb_png(lib / "bomb.png")
    nfd = unicodedata.normalize("NFD", "Ca\u0301diz é.jpg")
    shutil.copy(jpg, lib / nfd)
    shutil.copy(jpg, lib / "new\nline.jpg")
    shutil.copy(jpg, os.path.join(os.fsencode(lib), b"bad-\xff\xfe-utf8.jpg"))
    shutil.copy(jpg, lib / "-n -delete_original.jpg")
    res = run_json("scan", str(lib), "--catalog", str(tmp_path / "c.sqlite"), check=(1,))
    assert res["files"] == 10 and res["new"] == 10
    errors = {Path(e["path"]).name: e["error"] for e in res["errors"]}
    # its first frame decodes and its header states the full length: exiftool sees the cut
    assert "truncated" in errors["truncated.MOV"].lower()
    assert "empty" in errors["empty.jpg"]
    assert "Truncated" in errors["truncated.jpg"] or "truncated" in errors["truncated.jpg"]
    assert "truncated" in errors["truncated.heic"].lower()
    # over the decode budget, so not decoded, but its data runs out long before its size
    assert "truncated: its compressed picture inflates to 1,000 of" in errors["bomb.png"]
    assert set(errors) == {
        "empty.jpg", "truncated.jpg", "truncated.heic", "truncated.MOV", "bomb.png"}  # fmt: skip

    with Catalog(tmp_path / "c.sqlite") as cat:
        recs = {os.path.basename(r.path): r for r in cat.all_records()}
    assert recs["png.jpg"].format == "PNG" and recs["png.jpg"].decode_ok
    good = subprocess.run(
        ["b3sum", "--no-names", str(jpg)], capture_output=True, text=True
    ).stdout.strip()
    for name in (
        nfd,
        "new\nline.jpg",
        os.fsdecode(b"bad-\xff\xfe-utf8.jpg"),
        "-n -delete_original.jpg",
    ):
        rec = recs[name]
        assert rec.blake3 == good, name
        assert rec.metadata.captured_at == "2022-01-10T15:15:44.31-04:00", name  # exiftool read it
        assert rec.metadata.gps is not None, name
    assert (lib / "-n -delete_original.jpg").exists()  # never taken as an exiftool option


def test_scan_never_writes_inside_roots(corpus, tmp_path):
    lib = tmp_path / "ro"
    shutil.copytree(corpus / "immich-test-assets/metadata/dates", lib)
    before = sorted(p.name for p in lib.rglob("*"))
    lib.chmod(0o555)
    try:
        run_json("scan", str(lib), "--catalog", str(tmp_path / "c.sqlite"))
    finally:
        lib.chmod(0o755)
    assert sorted(p.name for p in lib.rglob("*")) == before


def _without_root_powers() -> tuple[str, ...]:
    """Root reads mode-000 files anyway: drop the capabilities that let it."""
    if os.geteuid() != 0:
        return ()
    caps = "-dac_override,-dac_read_search"
    return ("setpriv", "--bounding-set", caps, "--inh-caps", caps)


def test_unreadable_files_and_folders_are_reported(corpus, tmp_path):
    lib = tmp_path / "perm"
    lib.mkdir()
    shutil.copy(corpus / "exif-samples/jpg/Canon_40D.jpg", lib / "ok.jpg")
    shutil.copy(corpus / "exif-samples/jpg/Nikon_D70.jpg", lib / "locked.jpg")
    (lib / "locked.jpg").chmod(0)
    (lib / "closed").mkdir()
    shutil.copy(corpus / "exif-samples/jpg/Nikon_D70.jpg", lib / "closed" / "x.jpg")
    (lib / "closed").chmod(0)
    try:
        proc = run_cli(
            "scan",
            str(lib),
            "--catalog",
            str(tmp_path / "c.sqlite"),
            "--json",
            prefix=_without_root_powers(),
            check=(1,),  # the run worked and found problems
        )
    finally:
        (lib / "closed").chmod(0o755)
    res = json.loads(proc.stdout)
    errors = {Path(e["path"]).name: e["error"] for e in res["errors"]}
    assert "unreadable" in errors["locked.jpg"] and "Permission denied" in errors["locked.jpg"]
    assert "unreadable folder" in errors["closed"]
    assert res["files"] == 2


def test_symlinks_not_followed_and_loops_reported(corpus, tmp_path):
    lib = tmp_path / "links"
    (lib / "a").mkdir(parents=True)
    shutil.copy(corpus / "exif-samples/jpg/Canon_40D.jpg", lib / "a" / "one.jpg")
    (lib / "a" / "loop").symlink_to(lib)
    (lib / "alias.jpg").symlink_to(lib / "a" / "one.jpg")
    res = run_json("scan", str(lib), "--catalog", str(tmp_path / "c.sqlite"))
    assert res["files"] == 1 and res["errors"] == []
    res = run_json(
        "scan", str(lib), "--catalog", str(tmp_path / "d.sqlite"), "--follow-symlinks", check=(1,)
    )
    assert any("loop" in e["error"] for e in res["errors"])
    assert res["files"] == 2  # one.jpg, and alias.jpg as a file of its own name


def test_followed_symlink_is_fingerprinted_like_its_target(tmp_path):
    from PIL import Image

    lib = tmp_path / "links"
    lib.mkdir()
    Image.effect_mandelbrot((300, 200), (-2, -1, 1, 1), 50).convert("RGB").save(lib / "one.jpg")
    (lib / "alias.jpg").symlink_to(lib / "one.jpg")
    db = str(tmp_path / "c.sqlite")
    res = run_json("scan", str(lib), "--catalog", db, "--follow-symlinks")
    assert res["errors"] == [] and res["files"] == 2
    shown = {Path(r["path"]).name: r for r in run_json("show", str(lib), "--catalog", db)}
    # not "changed while being scanned": the change check looks at the target that was read
    assert shown["alias.jpg"]["error"] is None and shown["alias.jpg"]["decode_ok"] is True
    assert shown["alias.jpg"]["blake3"] == shown["one.jpg"]["blake3"] is not None


def test_file_changing_or_vanishing_during_fingerprint(corpus, tmp_path):
    path = tmp_path / "moving.jpg"
    shutil.copy(corpus / "exif-samples/jpg/Canon_40D.jpg", path)
    st = path.stat()
    cand = Candidate(str(path), str(tmp_path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
    with MetadataReader() as reader:
        meta = reader.read([str(path)])[0]
    time.sleep(0.01)
    with open(path, "ab") as fh:
        fh.write(b"more")
    rec = fingerprint(cand, meta)
    assert rec.error and "changed while being scanned" in rec.error and rec.blake3 is None
    path.unlink()
    assert fingerprint(cand, meta).error == "vanished during the scan"


def test_scan_in_process_matches_subprocess_pool(corpus, corpus_catalog, tmp_path):
    """The executor seam: the same records from threads in-process as from the process pool."""
    db, _ = corpus_catalog
    sub = corpus / "immich-test-assets/metadata/dates"
    with Catalog(tmp_path / "t.sqlite") as cat:
        scan([str(sub)], cat, workers=0)
        mine = {r.path: (r.blake3, r.phash, r.metadata.captured_at) for r in cat.all_records()}
    with Catalog(db) as cat:
        theirs = {
            r.path: (r.blake3, r.phash, r.metadata.captured_at)
            for r in cat.records(under=[str(sub)])
        }
    assert mine == theirs and len(mine) == sum(1 for p in sub.iterdir() if p.is_file())


def test_capture_time_priority_prefers_original():
    tags = {
        "EXIF:CreateDate": "2020:01:01 00:00:00",
        "EXIF:DateTimeOriginal": "2019:05:05 10:00:00",
        "EXIF:OffsetTimeOriginal": "+02:00",
    }
    assert capture_time(tags) == ("2019-05-05T10:00:00+02:00", "EXIF:DateTimeOriginal")
    assert (
        capture_time({"QuickTime:CreateDate": "2005:08:11 14:03:54"})[0]
        == "2005-08-11T14:03:54+00:00"
    )
    assert capture_time({"EXIF:DateTimeOriginal": "0000:00:00 00:00:00"}) == (None, None)


def test_catalog_is_wal_and_versioned(tmp_path):
    with Catalog(tmp_path / "c.sqlite") as cat:
        assert cat.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cat.schema_version == SCHEMA_VERSION
    import sqlite3

    db = sqlite3.connect(tmp_path / "c.sqlite")
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    proc = run_cli("scan", str(tmp_path), "--catalog", str(tmp_path / "c.sqlite"), check=False)
    assert proc.returncode == 3 and "newer than this photoverify" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_doctor_reports_tools(tmp_path):
    proc = run_cli("doctor", "--json", "--catalog", str(tmp_path / "x.sqlite"))
    data = json.loads(proc.stdout)
    names = {c["name"]: c for c in data["checks"]}
    assert names["exiftool"]["ok"] and names["exiftool"]["version"]
    assert "libheif" in names["libheif (pillow-heif)"]["version"]
    assert data["catalog"].endswith("x.sqlite")


def test_version_1_catalog_is_migrated_and_keeps_its_records(corpus, tmp_path):
    import sqlite3

    from photoverify.dedupe.catalog.store import MIGRATIONS

    db_path = tmp_path / "old.sqlite"
    db = sqlite3.connect(db_path)
    db.executescript(MIGRATIONS[1])
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(corpus / "exif-samples/jpg/Canon_40D.jpg", lib / "a.jpg")
    run_json("scan", str(lib), "--catalog", str(db_path))
    with Catalog(db_path) as cat:
        assert cat.schema_version == SCHEMA_VERSION
        names = {row[1] for row in cat.db.execute("PRAGMA index_list(files)")}
        assert "files_size" in names and cat.count() == 1


@pytest.mark.full_corpus("exif-org/olympus-d320l.jpg, whose only capture time is in APP12")
def test_version_2_catalog_gains_the_sources_and_reads_old_metadata_again(corpus, tmp_path):
    """A file cataloged by a photoverify that read a fixed tag list (its APP12 capture time
    unseen) is read again after the migration, though it did not change."""
    import sqlite3

    from photoverify.dedupe.catalog.store import MIGRATIONS

    lib = tmp_path / "lib"
    lib.mkdir()
    photo = lib / "olympus.jpg"
    shutil.copy(corpus / "exif-samples/jpg/exif-org/olympus-d320l.jpg", photo)
    st = photo.stat()
    db_path = tmp_path / "old.sqlite"
    db = sqlite3.connect(db_path)
    db.executescript(MIGRATIONS[1] + MIGRATIONS[2])
    old_metadata = {"captured_at": None, "captured_source": None, "gps_lat": None}
    db.execute(
        "INSERT INTO files (path, path_text, root, size, mtime_ns, inode, device, kind, format, "
        "metadata_json, scanned_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'image', 'JPEG', ?, '2026')",
        (
            os.fsencode(photo),
            str(photo),
            os.fsencode(lib),
            st.st_size,
            st.st_mtime_ns,
            st.st_ino,
            st.st_dev,
            json.dumps(old_metadata),
        ),
    )
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    run_json("scan", str(lib), "--catalog", str(db_path))
    rec = run_json("show", str(photo), "--catalog", str(db_path))[0]
    assert rec["captured_at"] == "1998-10-29T22:06:59"
    assert rec["captured_source"] == "APP12:DateTimeOriginal" and rec["gps_source"] is None
    with Catalog(db_path) as cat:
        assert cat.schema_version == SCHEMA_VERSION
        row = cat.db.execute("SELECT captured_source, gps_source FROM files").fetchone()
        assert row == ("APP12:DateTimeOriginal", None)
    second = run_json("scan", str(lib), "--catalog", str(db_path))
    assert second["unchanged"] == 1 and second["bytes_read"] == 0  # read again once, not always


def test_identical_copies_take_over_decoded_facts(corpus, tmp_path):
    heic = corpus / "exif-samples/heic/IMG_5195.HEIC"
    copy = tmp_path / "copy.HEIC"
    shutil.copy(heic, copy)
    st = copy.stat()
    cand = Candidate(str(copy), str(tmp_path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
    with MetadataReader() as reader:
        meta = reader.read([str(copy)])[0]
    known: dict = {}
    first = fingerprint(cand, meta, known=known)
    assert known[first.blake3]["phash"] == first.phash and first.decode_ok
    # what is known for these bytes is taken over, not decoded again
    known[first.blake3] = {**known[first.blake3], "phash": "0123456789abcdef"}
    again = fingerprint(cand, meta, known=known)
    assert again.phash == "0123456789abcdef" and again.blake3 == first.blake3


def test_a_new_copy_reuses_the_catalog_facts_of_its_original(corpus, tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(corpus / "exif-samples/heic/IMG_5195.HEIC", lib / "IMG_5195.HEIC")
    db = tmp_path / "c.sqlite"
    run_json("scan", str(lib), "--catalog", str(db))
    with Catalog(db) as cat:  # mark the original's facts, to see them travel
        cat.db.execute("UPDATE files SET phash = 'fedcba9876543210'")
        cat.db.commit()
    shutil.copy(lib / "IMG_5195.HEIC", lib / "IMG_5195 (1).HEIC")
    run_json("scan", str(lib), "--catalog", str(db))
    with Catalog(db) as cat:
        copy = cat.records([str(lib / "IMG_5195 (1).HEIC")])[0]
    assert copy.phash == "fedcba9876543210" and copy.decode_ok
    # --full-decode is asked to decode: it takes nothing over
    os.utime(lib / "IMG_5195 (1).HEIC", ns=(copy.mtime_ns + 10**9, copy.mtime_ns + 10**9))
    run_json("scan", str(lib), "--catalog", str(db), "--full-decode")
    with Catalog(db) as cat:
        decoded = cat.records([str(lib / "IMG_5195 (1).HEIC")])[0]
    assert decoded.phash not in (None, "fedcba9876543210")


def test_scan_leaves_no_exiftool_temp_folders(tmp_path):
    from PIL import Image

    lib, tmp = tmp_path / "lib", tmp_path / "tmp"
    lib.mkdir()
    tmp.mkdir()
    pic = Image.effect_mandelbrot((64, 48), (-2, -1, 1, 1), 30).convert("RGB")
    pic.save(lib / "plain.jpg")
    pic.save(lib / "new\nline.jpg")  # a name exiftool takes through a private symlink
    res = run_json(
        "scan", str(lib), "--catalog", str(tmp_path / "c.sqlite"), "--workers", "2",
        env={"TMPDIR": str(tmp)},
    )  # fmt: skip
    assert res["files"] == 2 and res["errors"] == []
    assert [p.name for p in tmp.iterdir() if p.name.startswith("photoverify-exiftool-")] == []


def test_impossible_capture_dates_are_refused_with_the_reason_in_show(corpus, tmp_path):
    """A camera JPEG whose DateTimeOriginal exiftool writes as 2021:02:31 and CreateDate as
    0000:00:00: no capture time is made up, and `show --json` says why each was refused."""
    lib = tmp_path / "lib"
    lib.mkdir()
    photo = lib / "a.jpg"
    shutil.copy(corpus / "exif-samples/jpg/Canon_40D.jpg", photo)
    subprocess.run(
        ["exiftool", "-q", "-overwrite_original", "-n", "-DateTimeOriginal=2021:02:31 10:00:00",
         "-CreateDate=0000:00:00 00:00:00", str(photo)],
        check=True,
    )  # fmt: skip
    db = str(tmp_path / "c.sqlite")
    run_json("scan", str(lib), "--catalog", db)
    rec = run_json("show", str(photo), "--catalog", db)[0]
    assert rec["captured_at"] is None and rec["captured_source"] is None
    assert rec["captured_refused"] == (
        "EXIF:DateTimeOriginal: '2021:02:31 10:00:00' names a day that does not exist; "
        "EXIF:CreateDate: '0000:00:00 00:00:00' is a zero date (the camera's clock was not set)"
    )


class PicklingExecutor(InlineExecutor):
    """Runs each call in this thread after the pickling round trip a process pool or a cluster
    puts its arguments through, and keeps (function, bytes) of what each call carried."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []

    def submit(self, fn, /, *args, **kwargs):
        blob = pickle.dumps((fn, args, kwargs))
        self.sent.append((fn.__name__, len(blob)))
        fn, args, kwargs = pickle.loads(blob)
        return super().submit(fn, *args, **kwargs)


def test_a_batch_carries_its_files_not_catalog_rows(corpus, tmp_path):
    """Issue 16: each batch carried every decoded catalog row of its files' sizes to the worker
    (6,868 rows, 1 MB per 48 files at 100k files). What a batch weighs no longer grows with the
    catalog, and identical copies still take the catalog's decoded facts over."""
    src = corpus / "immich-test-assets/metadata/dates"
    with Catalog(tmp_path / "small.sqlite") as cat:
        scan([str(src)], cat, workers=0)
        originals = {Path(r.path).name: r for r in cat.all_records()}
    shutil.copy(tmp_path / "small.sqlite", tmp_path / "big.sqlite")
    with Catalog(tmp_path / "big.sqlite") as cat:  # 1,200 more decoded pictures of those sizes
        cat.upsert(
            dataclasses.replace(rec, path=f"/elsewhere/{n}-{name}", blake3=f"{n:060x}{i:04x}")
            for n in range(300)
            for i, (name, rec) in enumerate(originals.items())
        )
    lib = tmp_path / "lib"
    shutil.copytree(src, lib)
    victim = sorted(originals)[0]  # same size as its original, other bytes
    data = bytearray((lib / victim).read_bytes())
    data[-100] ^= 0xFF
    (lib / f"flipped-{victim}").write_bytes(bytes(data))

    sent = {}
    for name in ("big", "small"):
        pool = PicklingExecutor()
        with Catalog(tmp_path / f"{name}.sqlite") as cat:
            scan([str(lib)], cat, executor=pool)
            copies = {Path(r.path).name: r for r in cat.records(under=[str(lib)])}
        sent[name] = pool.sent
        for file, rec in originals.items():
            assert [getattr(copies[file], f) for f in DECODED_FIELDS] == [
                getattr(rec, f) for f in DECODED_FIELDS
            ]
        assert copies[f"flipped-{victim}"].decode_ok is not None
    # one batch of 5 files, as heavy with 1,204 catalog rows of their sizes as with 4
    assert sent["big"][0] == sent["small"][0] and sent["big"][0][1] < 8_000
    # then the one file whose bytes the catalog does not hold, decoded (the second scan's
    # worker, this process, remembers it: it has no second call)
    assert [fn for fn, _ in sent["big"]] == ["fingerprint_batch", "decode_batch"]


def test_no_more_calls_are_in_flight_than_the_runner_has_slots(corpus, tmp_path):
    """The scan keeps at most `slots` batches in flight, second trips (put-off files) included:
    a scan that queued one batch more each round queued the whole tree, held it in memory and
    waited on thousands of futures at a time (a million files: 60 % of a core in `wait`)."""
    from concurrent.futures import ProcessPoolExecutor

    from photoverify.dedupe.catalog.executors import LocalRunner

    class Counting(LocalRunner):
        most = 0

        def wait_any(self, pending: set) -> set:
            Counting.most = max(Counting.most, len(pending))
            return super().wait_any(pending)

    lib = tmp_path / "lib"
    lib.mkdir()
    src = sorted((corpus / "exif-samples/jpg").glob("*.jpg"))
    for n in range(120):  # same sizes over and over: most files take a second trip
        shutil.copy(src[n % 8], lib / f"{n:03d}.jpg")
        with open(lib / f"{n:03d}.jpg", "r+b") as fh:  # new bytes, same size: decoded again
            fh.seek(-3, 2)
            fh.write(n.to_bytes(1, "big"))
    with Catalog(tmp_path / "c.sqlite") as cat:
        runner = Counting(ProcessPoolExecutor(2), slots=3, own=True)
        result = scan([str(lib)], cat, executor=runner)
        assert result.new == 120 and cat.count() == 120
    assert 1 <= Counting.most <= 3

"""Apple privacy exports: Photo Details CSVs from the library generator and hand-built from real
corpus files, checked through the real scanner and exiftool."""

from __future__ import annotations

import base64
import csv
import hashlib
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.make_library import _apple_date, make_library
from photoverify.dedupe.catalog.apple_csv import (
    is_photo_details,
    parse_apple_date,
    parse_photo_details,
    read_photo_details,
)
from photoverify.dedupe.catalog.scan import scan
from photoverify.dedupe.catalog.store import Catalog
from photoverify.verify.audit.libraries import audit_libraries
from photoverify.verify.checks.apple import check_export, checksum_digests, checksum_variant


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)))
def test_apple_dates_parse_to_the_minute(moment):
    text = _apple_date(moment.replace(tzinfo=UTC))
    assert parse_apple_date(text) == moment.replace(second=0, microsecond=0)


def test_apple_date_forms():
    assert parse_apple_date("Saturday June 4,2022 12:11 PM GMT") == datetime(2022, 6, 4, 12, 11)
    assert parse_apple_date("Saturday June 4,2022 12:11 AM GMT") == datetime(2022, 6, 4, 0, 11)
    assert parse_apple_date("June 4, 2022 13:05 GMT") == datetime(2022, 6, 4, 13, 5)
    for bad in ("", "4 juin 2022 12:11", "Saturday June 31,2022 12:11 PM GMT", "13:00 PM"):
        assert parse_apple_date(bad) is None


@given(st.binary(min_size=0, max_size=256), st.binary(min_size=21, max_size=21))
def test_checksum_variants(data, other):
    digests = {"sha1": hashlib.sha1(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest()}
    sha1 = hashlib.sha1(data).digest()
    assert checksum_variant(base64.b64encode(b"\x01" + sha1).decode(), digests) == "0x01+sha1"
    assert checksum_variant(base64.b64encode(sha1).decode(), digests) == "sha1"
    sha256 = hashlib.sha256(data).digest()[:20]
    assert checksum_variant(base64.b64encode(b"\x01" + sha256).decode(), digests) == (
        "0x01+sha256-first-20"
    )
    if other[1:] not in (sha1, sha256):
        assert checksum_variant(base64.b64encode(other).decode(), digests) is None
    assert checksum_variant("not base64!", digests) is None


def test_names_and_bad_csvs(tmp_path):
    assert is_photo_details("/x/Photo Details.csv") and is_photo_details("/x/Photo Details-1.csv")
    assert not is_photo_details("/x/Photos.csv")
    assert parse_photo_details("a,b\n1,2\n", "/x/Photo Details.csv").error
    assert parse_photo_details("", "/x/Photo Details.csv").error == "empty file"
    bad = tmp_path / "Photo Details.csv"
    bad.write_bytes(b"\x80\x81 not text")
    assert read_photo_details(str(bad)).error == "not UTF-8 or UTF-16 text"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    lib = tmp_path_factory.mktemp("applegen") / "lib"
    make_library(lib, 8, seed=3, size="small", workers=2)
    db = tmp_path_factory.mktemp("applegen-db") / "c.sqlite"
    with Catalog(db) as cat:
        scan([str(lib)], cat)
        records = cat.records(under=[str(lib)])
    return lib, records


@pytest.mark.slow
def test_generated_export_checks_clean_and_its_checksums_match(generated):
    lib, records = generated
    csvs = sorted(r.path for r in records if is_photo_details(r.path))
    assert len(csvs) == 2  # one per part
    parts = [read_photo_details(p) for p in csvs]
    rows = sum(len(p.rows) for p in parts)
    media = [
        r.path
        for r in records
        if Path(r.path).parent.name == "Photos" and r.kind in ("image", "video")
    ]
    result = check_export(parts, records, digests=checksum_digests(media))
    assert [f for f in result.findings if f.severity != "info"] == []
    # The generator writes plain SHA-1 (20 bytes): every row matches that variant.
    assert result.counts["apple-checksum-matched"] == rows == len(media) > 0
    assert {p["part"] for p in result.parts} == {
        "iCloud Photos Part 1 of 2",
        "iCloud Photos Part 2 of 2",
    }


def test_generated_export_with_a_file_gone_and_a_date_moved(generated, tmp_path):
    lib, records = generated
    part = lib / "iCloud Photos Part 1 of 2" / "Photos"
    csv_path = part / "Photo Details.csv"
    parsed = read_photo_details(str(csv_path))
    gone = parsed.rows[0].name
    kept = [r for r in records if Path(r.path).name != gone]
    lines = csv_path.read_text().splitlines()
    second = next(csv.reader([lines[2]]))
    second[5] = "Monday January 1,2001 1:00 AM GMT"
    buf = tmp_path / "Photo Details.csv"
    with open(buf, "w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(
            [next(csv.reader([lines[0]])), next(csv.reader([lines[1]])), second]
        )
    edited = parse_photo_details(buf.read_text(), str(csv_path))
    result = check_export([edited], kept)
    got = {(Path(f.path).name, f.outcome) for f in result.findings}
    assert (gone, "apple-file-missing") in got
    assert (second[0], "apple-capture-time-differs") in got
    unlisted = {n for n, o in got if o == "apple-unlisted-file"}
    assert unlisted == {
        Path(r.path).name
        for r in kept
        if Path(r.path).parent == part and r.kind in ("image", "video")
    } - {second[0]}


def _gmt(dt: datetime) -> str:
    return _apple_date(dt.astimezone(UTC))


def test_real_files_in_a_localized_export_feed_the_audit(corpus, tmp_path):
    """A German export (`iCloud Fotos Teil 1 von 1/Fotos/Photo Details-1.csv`) of real photos,
    audited against a copy: the CSV's findings come with the audit's."""
    src = tmp_path / "src" / "iCloud Fotos Teil 1 von 1" / "Fotos"
    src.mkdir(parents=True)
    heic = corpus / "exif-samples/heic/IMG_5195.HEIC"
    shutil.copy2(heic, src / "IMG_5195.HEIC")
    shutil.copy2(corpus / "exif-samples/heic/mobile/iphone_13_pro_max.HEIC", src)
    shutil.copy2(corpus / "exif-samples/jpg/Canon_40D.jpg", src)
    shutil.copy2(corpus / "immich-test-assets/metadata/dates/gps-datetime.jpg", src)
    salted = base64.b64encode(b"\x01" + bytes(range(20))).decode()
    real = base64.b64encode(b"\x01" + hashlib.sha1(heic.read_bytes()).digest()).decode()
    rows = [
        # 15:47:53 -05:00 is 20:47 GMT
        [
            "IMG_5195.HEIC",
            real,
            "Yes",
            "No",
            "No",
            "Sunday April 11,2021 8:47 PM GMT",
            "3",
            "Sunday April 11,2021 9:00 PM GMT",
        ],
        # 12:55:41 +01:00 is 11:55 GMT; the CSV says a day later
        [
            "iphone_13_pro_max.HEIC",
            salted,
            "No",
            "No",
            "No",
            "Thursday February 17,2022 11:55 AM GMT",
            "0",
            "",
        ],
        ["gps-datetime.jpg", salted, "No", "No", "No", "Monday May 1,2017 10:00 AM GMT", "", ""],
        ["IMG_9999.HEIC", salted, "No", "No", "No", "Monday May 1,2017 10:00 AM GMT", "", ""],
    ]
    with open(src / "Photo Details-1.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(
            [
                "imgName",
                "fileChecksum",
                "favorite",
                "hidden",
                "deleted",
                "originalCreationDate",
                "viewCount",
                "importDate",
            ]
        )
        w.writerows(rows)
    dst = tmp_path / "dst"
    shutil.copytree(tmp_path / "src", dst)
    with Catalog(tmp_path / "c.sqlite") as cat:
        result = audit_libraries(
            [str(tmp_path / "src")], str(dst), catalog=cat, apple_checksum=True
        )
    got = {(Path(f.path).name, f.outcome, f.severity) for f in result.findings}
    assert got == {
        ("IMG_9999.HEIC", "apple-file-missing", "error"),
        ("Canon_40D.jpg", "apple-unlisted-file", "warning"),
        ("iphone_13_pro_max.HEIC", "apple-capture-time-differs", "warning"),
        ("gps-datetime.jpg", "apple-capture-time-only-in-csv", "warning"),
        ("iphone_13_pro_max.HEIC", "apple-checksum-unconfirmed", "info"),
        ("gps-datetime.jpg", "apple-checksum-unconfirmed", "info"),
    }
    assert result.counts["apple-checksum-matched"] == 1
    assert result.counts["apple-checksum-unconfirmed"] == 2
    assert result.counts["present"] == 4  # the photos themselves all arrived
    part = result.apple["parts"][0]
    assert part["part"] == "iCloud Fotos Teil 1 von 1"
    assert (part["rows_without_file"], part["files_without_row"]) == (1, 1)
    row = next(a for a in result.assets if a.source.endswith("IMG_5195.HEIC"))
    assert row.apple["favorite"] is True and row.apple["view_count"] == 3

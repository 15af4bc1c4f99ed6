"""exiftool output -> normalized metadata: the date parser and the capture-time priority."""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photoverify.dedupe.catalog.metadata import (
    MetadataReader,
    capture_time,
    capture_times,
    gps_position,
    normalize,
    normalize_datetime,
)
from photoverify.dedupe.core.timeparse import parse, seconds_apart

moments = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2099, 12, 31))
offsets = st.one_of(st.none(), st.sampled_from(["+00:00", "-05:00", "+05:30", "+14:00", "Z"]))
subsecs = st.one_of(st.none(), st.from_regex(r"\A[0-9]{1,6}\Z"))


@given(moments, subsecs, offsets)
def test_exiftool_dates_round_trip_to_iso(moment, subsec, offset):
    text = moment.strftime("%Y:%m:%d %H:%M:%S")
    iso = normalize_datetime(text, subsec, offset)
    assert iso is not None and iso.startswith(moment.strftime("%Y-%m-%dT%H:%M:%S"))
    parsed = parse(iso)
    assert parsed is not None and parsed.wall == moment.replace(microsecond=0)
    assert parsed.subsec == subsec
    if offset:
        assert iso.endswith("+00:00" if offset == "Z" else offset)
    assert seconds_apart(iso, iso) == 0


@given(st.text(max_size=30))
def test_garbage_dates_never_raise(text):
    result = normalize_datetime(text)
    assert result is None or parse(result) is not None


def test_zero_and_invalid_dates_are_absent():
    assert normalize_datetime("0000:00:00 00:00:00") is None
    assert normalize_datetime("2020:13:01 00:00:00") is None
    assert normalize_datetime("    ") is None


def test_inline_offset_and_subseconds_win_over_separate_tags():
    assert (
        normalize_datetime("2021:04:11 15:47:53.5+02:00", "999", "-05:00")
        == "2021-04-11T15:47:53.5+02:00"
    )


def test_normalize_reads_apple_ids_and_gps():
    meta = normalize(
        {
            "EXIF:DateTimeOriginal": "2021:04:11 15:47:53",
            "EXIF:SubSecTimeOriginal": "054",
            "EXIF:OffsetTimeOriginal": "-05:00",
            "Composite:GPSLatitude": 39.05,
            "Composite:GPSLongitude": -94.28,
            "EXIF:Make": "Apple",
            "MakerNotes:MediaGroupUUID": "570F",
            "File:FileType": "HEIC",
        }
    )
    assert meta.captured_at == "2021-04-11T15:47:53.054-05:00"
    assert meta.gps == {"lat": 39.05, "lon": -94.28}
    assert meta.content_id == "570F" and meta.make == "Apple" and meta.file_type == "HEIC"
    assert normalize({"Composite:GPSLatitude": 95.0, "Composite:GPSLongitude": 1.0}).gps is None
    newer = normalize({"MakerNotes:ContentIdentifier": "ABC"})
    assert newer.content_id == "ABC"


def test_a_reader_outlives_the_thread_that_started_exiftool(corpus):
    """pyexiftool's exiftool gets SIGTERM when the thread that started it ends; a reader kept
    past that thread (as a caller's own thread pool would) starts it again, quietly, and reads
    the whole batch."""
    paths = sorted(str(p) for p in corpus.rglob("*.jpg"))[:5]
    with MetadataReader() as reader:
        worker = threading.Thread(target=reader.read, args=(paths[:1],))
        worker.start()
        worker.join()
        deadline = time.monotonic() + 10
        while reader.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not reader.alive()  # ended with its thread
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            metas = reader.read(paths)
        assert not [w for w in caught if "died" in str(w.message)]
        assert all(m.error is None and m.width for m in metas)


def _bytes_read(pid: int) -> int:
    with open(f"/proc/{pid}/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("rchar:"))


@pytest.mark.full_corpus("exif-org/olympus-d320l.jpg, whose only capture time is in APP12")
def test_exiftool_killed_mid_read_is_restarted_not_waited_for_forever(corpus):
    """pyexiftool alone spins forever on the pipe of an exiftool that died mid-answer. The kill
    comes once exiftool is seen reading the batch's files (its read bytes grow), never on a
    timer that a fast read could beat, and the test checks that the read was still going."""
    paths = sorted(str(p) for p in corpus.rglob("*") if p.is_file()) * 4
    with MetadataReader() as reader:
        reader.read(paths[:1])
        pid = reader.pid
        assert pid is not None
        baseline = _bytes_read(pid)
        out: list = []
        # the pid is taken in the reading thread: an exiftool started from a thread is ended by
        # Linux when that thread ends (pyexiftool's PR_SET_PDEATHSIG), so after join it is gone
        worker = threading.Thread(
            target=lambda: out.append((reader.read(paths), reader.pid)), daemon=True
        )
        worker.start()
        deadline = time.monotonic() + 60
        while _bytes_read(pid) < baseline + 256 * 1024 and time.monotonic() < deadline:
            time.sleep(0.001)
        unanswered = not out
        os.kill(pid, signal.SIGKILL)
        assert unanswered, "the read ended before exiftool was killed: nothing was tested"
        worker.join(300)
        assert not worker.is_alive(), "read never returned after exiftool was killed"
        metas, new_pid = out[0]
        assert len(metas) == len(paths)
        assert new_pid not in (None, pid)  # a new exiftool answered
        read = [m for m in metas if m.error is None]
        assert len(read) > 0.9 * len(paths)  # re-read one by one after the restart
        by_path = dict(zip(paths, metas, strict=True))
        olympus = next(p for p in paths if p.endswith("olympus-d320l.jpg"))
        assert by_path[olympus].captured_source == "APP12:DateTimeOriginal"


def test_capture_time_wherever_exiftool_finds_it_in_precedence():
    # -G0:1 keys (what the reader asks for) and -G keys both work
    assert normalize({"APP12:APP12:DateTimeOriginal": "1998:10:29 22:06:59"}).captured_source == (
        "APP12:DateTimeOriginal"
    )
    both = {
        "MakerNotes:Canon:DateTimeOriginal": "2000:10:27 22:56:26",
        "XMP:XMP-exif:DateTimeOriginal": "2000:10:27 22:56:27.5+01:00",
    }
    assert capture_times(both)[:2] == ("2000-10-27T22:56:27.5+01:00", "XMP:DateTimeOriginal")
    iptc = {"IPTC:DateCreated": "2022:01:10", "IPTC:TimeCreated": "15:15:44-04:00"}
    assert capture_time(iptc) == ("2022-01-10T15:15:44-04:00", "IPTC:DateCreated+TimeCreated")
    apple = {
        "QuickTime:Keys:CreationDate": "2021:04:11 15:47:53-05:00",
        "QuickTime:QuickTime:CreateDate": "2021:04:11 20:47:54",
    }
    assert capture_time(apple) == ("2021-04-11T15:47:53-05:00", "QuickTime:CreationDate")
    del apple["QuickTime:Keys:CreationDate"]
    assert capture_time(apple) == ("2021-04-11T20:47:54+00:00", "QuickTime:CreateDate")  # UTC
    takeout = {"JSON:PhotoTakenTimeTimestamp": 1618156073}
    assert capture_time(takeout) == ("2021-04-11T15:47:53+00:00", "JSON:PhotoTakenTimeTimestamp")
    assert capture_time({"PNG:CreationTime": "2007:02:13 06:34:38"})[1] == "PNG:CreationTime"


def test_impossible_dates_are_refused_with_a_reason_and_the_next_place_used():
    iso, source, refused = capture_times(
        {
            "EXIF:ExifIFD:DateTimeOriginal": "2021:02:31 10:00:00",
            "XMP:XMP-exif:DateTimeOriginal": "0000:00:00 00:00:00",
            "EXIF:ExifIFD:CreateDate": "2021:02:28 10:00:00",
        }
    )
    assert (iso, source) == ("2021-02-28T10:00:00", "EXIF:CreateDate")
    assert refused == [
        "EXIF:DateTimeOriginal: '2021:02:31 10:00:00' names a day that does not exist",
        "XMP:DateTimeOriginal: '0000:00:00 00:00:00' is a zero date"
        " (the camera's clock was not set)",
    ]
    meta = normalize({"EXIF:DateTimeOriginal": "2021:02:29 25:00:00"})
    assert meta.captured_at is None and "does not exist" in meta.captured_refused
    assert normalize_datetime("2020:02:29 23:59:59") == "2020-02-29T23:59:59"  # a leap day


def test_gps_wherever_exiftool_finds_it_with_its_source():
    exif = {
        "EXIF:GPS:GPSLatitude": 39.115,
        "EXIF:GPS:GPSLatitudeRef": "N",
        "EXIF:GPS:GPSLongitude": 108.4,
        "EXIF:GPS:GPSLongitudeRef": "W",
        "XMP:XMP-exif:GPSLatitude": 1.0,
        "XMP:XMP-exif:GPSLongitude": 2.0,
    }
    assert gps_position(exif) == (39.115, -108.4, "EXIF:GPSLatitude")
    del exif["EXIF:GPS:GPSLatitudeRef"]  # no hemisphere: not a position (as exiftool's)
    assert gps_position(exif) == (1.0, 2.0, "XMP:GPSLatitude")
    qt = {"QuickTime:Keys:GPSCoordinates": "40.2346 -76.2871 12.3"}
    assert gps_position(qt) == (40.2346, -76.2871, "QuickTime:GPSCoordinates")
    takeout = {
        "JSON:GeoDataLatitude": 0.0,
        "JSON:GeoDataLongitude": 0.0,
        "JSON:GeoDataExifLatitude": 40.2346,
        "JSON:GeoDataExifLongitude": -76.2871,
    }
    assert gps_position(takeout) == (40.2346, -76.2871, "JSON:GeoDataExifLatitude")
    assert gps_position({"JSON:GeoDataLatitude": 0.0, "JSON:GeoDataLongitude": 0.0}) == (
        None,
        None,
        None,
    )
    assert normalize({"XMP:GPSLatitude": 91.0, "XMP:GPSLongitude": 1.0}).gps is None


def test_title_keywords_and_rating():
    meta = normalize(
        {
            "XMP:XMP-dc:Title": "Harbour",
            "IPTC:IPTC:ObjectName": "other",
            "IPTC:IPTC:Keywords": ["boats", "sea, dawn"],
            "XMP:XMP-xmp:Rating": 0,
            "EXIF:IFD0:Rating": 3,
        }
    )
    assert (meta.title, meta.keywords, meta.rating) == ("Harbour", "boats; sea, dawn", 3)
    assert normalize({"XMP:Rating": 0}).rating is None  # XMP's "unrated"
    assert normalize({"XMP:Rating": -1, "IPTC:Keywords": "one, word"}).keywords == "one, word"


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "EXIF:ExifIFD:DateTimeOriginal",
                "APP12:APP12:DateTimeOriginal",
                "IPTC:IPTC:DateCreated",
                "IPTC:IPTC:TimeCreated",
                "JSON:JSON:PhotoTakenTimeTimestamp",
                "EXIF:GPS:GPSLatitude",
                "EXIF:GPS:GPSLatitudeRef",
                "EXIF:GPS:GPSLongitude",
                "QuickTime:Keys:GPSCoordinates",
                "JSON:JSON:GeoDataLatitude",
                "JSON:JSON:GeoDataLongitude",
            ]
        ),
        st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.none()),
    )
)
def test_normalize_never_raises_and_gives_parseable_times(tags):
    meta = normalize(tags)
    assert meta.captured_at is None or parse(meta.captured_at) is not None
    assert (meta.captured_at is None) == (meta.captured_source is None)
    assert (meta.gps is None) == (meta.gps_source is None)
    if meta.gps is not None:
        assert abs(meta.gps_lat) <= 90 and abs(meta.gps_lon) <= 180


def test_a_time_without_its_offset_takes_it_from_a_place_holding_the_same_second():
    """thompson-springs.jpg: XMP photoshop:DateCreated `15:15:44.31`, IPTC `15:15:44-04:00`;
    exiftool's DateTimeOriginal is `15:15:44-04:00`. An offset that was assumed (QuickTime's
    UTC header, Takeout's Unix time) is never borrowed, nor one of another second."""
    both = {
        "XMP:XMP-photoshop:DateCreated": "2022:01:10 15:15:44.31",
        "IPTC:IPTC:DateCreated": "2022:01:10",
        "IPTC:IPTC:TimeCreated": "15:15:44-04:00",
    }
    assert capture_time(both) == ("2022-01-10T15:15:44.31-04:00", "XMP:DateCreated")
    utc = {
        "XMP:XMP-exif:DateTimeOriginal": "2022:01:10 15:15:44",
        "QuickTime:QuickTime:CreateDate": "2022:01:10 15:15:44",
    }
    assert capture_time(utc) == ("2022-01-10T15:15:44", "XMP:DateTimeOriginal")
    other = {
        "EXIF:ExifIFD:DateTimeOriginal": "2022:01:10 15:15:44",
        "XMP:XMP-exif:DateTimeOriginal": "2022:01:10 15:15:45.5+02:00",
    }
    assert capture_time(other) == ("2022-01-10T15:15:44", "EXIF:DateTimeOriginal")


def test_xmp_in_a_jpeg_2000_box_is_xmp():
    """exiftool 12.57 groups the XMP of a JP2 (Pillow's Tests/images/balloon_eciRGBv2_aware.jp2)
    as `XML:XML-xmp`: it is read as XMP."""
    tags = {
        "XML:XML-xmp:CreateDate": "2008:07:19 16:14:14-07:00",
        "XML:XML-xmp:ModifyDate": "2012:09:03 13:59:48",
    }
    assert capture_time(tags) == ("2008-07-19T16:14:14-07:00", "XMP:CreateDate")


_JSON_JUNK = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False),
        st.text(max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=40, deadline=None)
@given(
    stamp=st.integers(86_400 * 366, 4_102_444_799),
    as_text=st.booleans(),
    lat=st.floats(-90, 90).filter(lambda f: abs(f) > 1e-6),
    lon=st.floats(-180, 180).filter(lambda f: abs(f) > 1e-6),
    junk=_JSON_JUNK,
)
@pytest.mark.slow
def test_takeout_json_through_the_real_exiftool(tmp_path_factory, stamp, as_text, lat, lon, junk):
    """A Google Takeout sidecar as Takeout writes one (timestamps as text or numbers), with any
    JSON beside and inside it, read by the real exiftool: the capture time is the timestamp in
    UTC and the position geoData's; junk where they should be never raises and gives no value
    that is not a real time or position."""
    import json

    folder = tmp_path_factory.mktemp("takeout")
    good, bad = folder / "a.jpg.json", folder / "b.jpg.json"
    good.write_text(json.dumps({
        "title": "a.jpg",
        "photoTakenTime": {"timestamp": str(stamp) if as_text else stamp, "formatted": "x"},
        "geoData": {"latitude": lat, "longitude": lon, "altitude": 0.0},
        "extra": junk,
    }))  # fmt: skip
    bad.write_text(json.dumps({"photoTakenTime": {"timestamp": junk}, "geoData": junk}))
    with MetadataReader() as reader:
        read_good, read_bad = reader.read([str(good), str(bad)])
    want = datetime.fromtimestamp(stamp, tz=__import__("datetime").UTC)
    assert read_good.captured_at == want.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    assert read_good.captured_source == "JSON:PhotoTakenTimeTimestamp"
    assert abs(read_good.gps_lat - lat) < 1e-6 and abs(read_good.gps_lon - lon) < 1e-6
    assert read_bad.captured_at is None or parse(read_bad.captured_at) is not None
    if read_bad.gps is not None:
        assert abs(read_bad.gps_lat) <= 90 and abs(read_bad.gps_lon) <= 180

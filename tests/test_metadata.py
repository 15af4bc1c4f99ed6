"""exiftool output -> normalized metadata: the date parser and the capture-time priority."""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings
from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from photoverify.dedupe.metadata import MetadataReader, normalize, normalize_datetime
from photoverify.dedupe.timeparse import parse, seconds_apart

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


def test_exiftool_killed_mid_read_is_restarted_not_waited_for_forever(corpus):
    """pyexiftool alone spins forever on the pipe of an exiftool that died mid-answer."""
    paths = sorted(str(p) for p in corpus.rglob("*") if p.is_file()) * 4  # a few seconds
    with MetadataReader() as reader:
        reader.read(paths[:1])
        killer = threading.Timer(0.3, os.kill, (reader.pid, signal.SIGKILL))
        out: list = []
        worker = threading.Thread(target=lambda: out.append(reader.read(paths)), daemon=True)
        killer.start()
        worker.start()
        worker.join(300)
        assert not worker.is_alive(), "read never returned after exiftool was killed"
        metas = out[0]
        assert len(metas) == len(paths)
        read = [m for m in metas if m.error is None]
        assert len(read) > 0.9 * len(paths)  # re-read one by one after the restart

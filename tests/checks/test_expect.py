"""Expectation rules (parser and evaluator) and the manifest's built-in metadata expectations."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import REAL
from hypothesis import given, settings
from hypothesis import strategies as st

from photoverify.dedupe.catalog.scan import scan
from photoverify.dedupe.catalog.store import Catalog
from photoverify.dedupe.core.errors import UsageError
from photoverify.dedupe.core.records import FileRecord, Metadata
from photoverify.verify.checks.expect import (
    CHECKS,
    REQUIRABLE,
    Rule,
    check_against_manifest,
    check_expectations,
    compare_capture,
    distance_m,
    glob_match,
    load_rules,
    parse_rules,
)
from photoverify.verify.manifest import Manifest, ManifestEntry

REPO = Path(__file__).resolve().parents[2]

PICKS = [
    "immich-test-assets/metadata/dates/datetimeoriginal-gps.jpg",  # GPS, EXIF capture time
    "exif-samples/jpg/Canon_40D.jpg",  # capture time, no GPS
    "exif-samples/jpg/orientation/landscape_1.jpg",  # neither
    "exif-samples/jpg/Fujifilm_FinePix6900ZOOM.jpg",  # captured 2001-02-19
    "exif-samples/jpg/WWL_(Polaroid)_ION230.jpg",  # captured 2026-11-24 (clock set wrong)
    "exif-samples/heic/IMG_5195.HEIC",  # iPhone still with a ContentIdentifier, no MOV
    "exif-samples/tiff/BSG1.tiff",
    "immich-test-assets/formats/heic/IMG_2682.heic",
]


@pytest.fixture(scope="module")
def real() -> Path:
    return REAL


def _short_clip(path: Path) -> None:
    with av.open(str(path), "w", format="mov") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(20):
            img = np.full((48, 64, 3), i * 10, np.uint8)
            for p in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in stream.encode():
            out.mux(p)


@pytest.fixture(scope="module")
def scanned(real, tmp_path_factory) -> tuple[Path, list[FileRecord]]:
    base = tmp_path_factory.mktemp("expect")
    root = base / "lib"
    for rel in PICKS:
        dst = root / rel.split("/")[-2] / rel.split("/")[-1]
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(real / rel, dst)
    # A second copy of the iPhone still with the motion half of its Live Photo beside it
    # (same name, a 2-second MOV): that one is complete.
    (root / "live").mkdir()
    shutil.copy2(real / PICKS[5], root / "live" / "IMG_5195.HEIC")
    _short_clip(root / "live" / "IMG_5195.MOV")
    with Catalog(base / "catalog.sqlite") as catalog:
        scan([str(root)], catalog, workers=2)
        records = catalog.records(under=[str(root)])
    return root, records


def _by(findings, rule=None) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in findings:
        if rule is None or f.evidence.get("rule") == rule:
            out.setdefault(f.path, set()).add(f.outcome)
    return out


# ---------------------------------------------------------------------------- rules file


def test_the_example_rules_file_loads():
    rules = load_rules(REPO / "examples" / "expect.toml")
    assert [r.name for r in rules][:2] == [
        "every photo and video has a capture time",
        "phone photos have a place",
    ]
    gps = rules[1]
    assert gps.severity == "warning" and gps.formats == ("HEIC", "JPEG")
    assert rules[2].captured_after == datetime(1990, 1, 1) and rules[2].captured_not_in_future
    assert rules[0].line == 5 and rules[1].line == 10


@pytest.mark.parametrize(
    "text, message",
    [
        (
            '[[rule]]\nname = "a"\nrequires = ["gps"]\n',
            r"x.toml:1: rule 'a': unknown key 'requires'",
        ),
        ('[[rule]]\nname = "a"\nrequire = ["gsp"]\n', r"x.toml:1: rule 'a': cannot require 'gsp'"),
        ('[[rule]]\nname = "a"\nkinds = ["image"]\n', r"rule 'a': checks nothing"),
        ('[[rule]]\nrequire = ["gps"]\n', r"x.toml:1: rule without a name"),
        (
            '[[rule]]\nname = "a"\nrequire = ["gps"]\n\n[[rule]]\nname = "a"\nrequire = ["gps"]\n',
            r"x.toml:5: rule name 'a' is used twice",
        ),
        ('[[rule]]\nname = "a"\ncaptured_after = "1990-13-01"\n', r"is not a date"),
        ('[[rule]]\nname = "a"\nkinds = ["photo"]\nrequire=["gps"]\n', r"unknown kind 'photo'"),
        ('[[rule]]\nname = "a"\nseverity = "fatal"\nrequire=["gps"]\n', r"severity must be"),
        ('[[rule]]\nname = "a"\nlive_photo_complete = "yes"\n', r"must be true or false"),
        ('[[rule]]\nname = "a"\nrequire = "gps" "x"\n', r"x.toml: invalid TOML: .*line 3"),
        ('[rules]\nname = "a"\n', r"unknown top-level key 'rules'"),
    ],
)
def test_bad_rules_files_fail_with_one_line_naming_file_line_and_rule(tmp_path, text, message):
    path = tmp_path / "x.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message) as info:
        load_rules(path)
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2


def test_missing_rules_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="cannot read rules file"):
        load_rules(tmp_path / "nope.toml")


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, date):
        return value.isoformat()
    return "[" + ", ".join(_toml_value(v) for v in value) + "]"


names = st.text(st.characters(codec="utf-8", exclude_characters="\x7f"), min_size=1, max_size=20)
names = names.filter(lambda s: s.strip() != "")
word_lists = st.lists(st.sampled_from(["JPEG", "heic", "PNG", "MOV", "mp4"]), max_size=3)
rule_tables = st.fixed_dictionaries(
    {"name": names},
    optional={
        "severity": st.sampled_from(["error", "warning", "info"]),
        "kinds": st.lists(st.sampled_from(["image", "video", "sidecar", "other"]), max_size=4),
        "formats": word_lists,
        "paths": st.lists(st.sampled_from(["*.jpg", "DCIM/**", "a/*/b?.png"]), max_size=2),
        "require": st.lists(st.sampled_from(sorted(REQUIRABLE)), max_size=3),
        "captured_after": st.dates(date(1900, 1, 1), date(2100, 1, 1)),
        "captured_not_in_future": st.booleans(),
        "live_photo_complete": st.booleans(),
        "allowed_formats": word_lists,
    },
).filter(lambda t: any(k in t for k in CHECKS))


@settings(max_examples=80, deadline=None)
@given(tables=st.lists(rule_tables, min_size=1, max_size=4, unique_by=lambda t: t["name"]))
def test_rules_written_as_toml_read_back_as_written(tables):
    text = "# rules\n" + "\n".join(
        "[[rule]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in t.items()) for t in tables
    )
    rules = parse_rules(text, "gen.toml")
    assert len(rules) == len(tables)
    line = 2
    for rule, table in zip(rules, tables, strict=True):
        assert rule.line == line
        line += len(table) + 2  # its keys and the blank line after them
        assert rule.name == table["name"]
        assert rule.severity == table.get("severity", "error")
        assert rule.kinds == tuple(table.get("kinds", ("image", "video")))
        if "formats" in table:
            assert rule.formats == tuple(f.upper() for f in table["formats"])
        assert rule.require == tuple(table.get("require", ()))
        if "captured_after" in table:
            d = table["captured_after"]
            assert rule.captured_after == datetime(d.year, d.month, d.day)
        assert rule.live_photo_complete == table.get("live_photo_complete", False)


# ---------------------------------------------------------------------------- globs


segments = st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=6)


@given(st.lists(segments, min_size=1, max_size=4))
def test_glob_literal_and_depth_properties(parts):
    path = "/".join(parts)
    assert glob_match(path, path)
    assert glob_match(path.upper(), path)  # case-insensitive
    assert glob_match("**/" + parts[-1], path)
    assert glob_match(parts[-1], path)  # a bare name matches at any depth
    assert glob_match("**", path)
    # `*` stays within one folder level
    assert glob_match("/".join("*" for _ in parts), path)
    if len(parts) > 1:
        assert glob_match(parts[0] + "/**", path)
    if len(parts) > 2:  # a pattern with a "/" is anchored: one `*` per level, no more
        assert not glob_match("/".join("*" for _ in parts[1:]), path)


def test_glob_classes_and_question_mark():
    assert glob_match("DCIM/IMG_[0-9]???.HEIC", "dcim/img_1234.heic")
    assert not glob_match("DCIM/IMG_[!0-9]*.HEIC", "DCIM/IMG_1234.HEIC")
    assert not glob_match("DCIM/?.jpg", "DCIM/a/b.jpg")
    assert glob_match("**/Screenshots/**", "2020/Screenshots/x.png")


# ---------------------------------------------------------------------------- evaluation


def test_rules_over_real_records(scanned):
    root, records = scanned
    rules = parse_rules(
        """
[[rule]]
name = "time"
require = ["captured_at"]

[[rule]]
name = "gps on phones"
kinds = ["image"]
formats = ["HEIC", "JPEG"]
exclude_paths = ["orientation/**"]
require = ["gps", "captured_at"]
severity = "warning"

[[rule]]
name = "plausible"
captured_after = 2002-01-01
captured_not_in_future = true

[[rule]]
name = "live"
live_photo_complete = true

[[rule]]
name = "formats"
allowed_formats = ["HEIC", "JPEG", "MOV"]
""",
        "t.toml",
    )
    now = datetime(2026, 6, 1, tzinfo=UTC)
    findings = check_expectations(records, rules, now=now, root=str(root))
    got = {(f.path, f.evidence["rule"], f.outcome) for f in findings}
    assert got == {
        ("orientation/landscape_1.jpg", "time", "metadata-absent"),
        ("tiff/BSG1.tiff", "time", "metadata-absent"),
        ("jpg/Canon_40D.jpg", "gps on phones", "metadata-absent"),
        ("jpg/WWL_(Polaroid)_ION230.jpg", "gps on phones", "metadata-absent"),
        ("jpg/Fujifilm_FinePix6900ZOOM.jpg", "gps on phones", "metadata-absent"),
        ("live/IMG_5195.MOV", "time", "metadata-absent"),
        ("jpg/Fujifilm_FinePix6900ZOOM.jpg", "plausible", "capture-time-implausible"),
        ("jpg/WWL_(Polaroid)_ION230.jpg", "plausible", "capture-time-implausible"),
        ("heic/IMG_5195.HEIC", "live", "live-photo-incomplete"),
        ("tiff/BSG1.tiff", "formats", "format-not-allowed"),
    }
    by_key = {(f.path, f.evidence["rule"]): f for f in findings}
    gps = by_key[("jpg/Canon_40D.jpg", "gps on phones")]
    assert gps.severity == "warning" and gps.evidence["absent"] == ["gps"]
    old = by_key[("jpg/Fujifilm_FinePix6900ZOOM.jpg", "plausible")]
    assert old.evidence["captured_at"].startswith("2001-02-19") and old.severity == "error"
    assert "before 2002-01-01" in old.message
    future = by_key[("jpg/WWL_(Polaroid)_ION230.jpg", "plausible")]
    assert "in the future" in future.message and future.evidence["now"].startswith("2026-06-01")
    live = by_key[("heic/IMG_5195.HEIC", "live")]
    assert live.evidence["content_id"] == "570F1469-09C7-4E50-9875-05F21D5BD166"
    # The same rules a year later: the 2026 photo is no longer in the future.
    later = check_expectations(records, rules, now=now + timedelta(days=365), root=str(root))
    assert ("jpg/WWL_(Polaroid)_ION230.jpg", "plausible") not in {
        (f.path, f.evidence["rule"]) for f in later
    }


def _rec(captured_at=None, **kw) -> FileRecord:
    meta = Metadata(captured_at=captured_at, **kw.pop("meta", {}))
    return FileRecord(
        path="/r/a.jpg",
        root="/r",
        size=1,
        mtime_ns=0,
        inode=0,
        device=0,
        kind=kw.pop("kind", "image"),
        format=kw.pop("format", "JPEG"),
        metadata=meta,
        **kw,
    )


wall_clocks = st.datetimes(datetime(1950, 1, 1), datetime(2090, 1, 1))
offsets = st.one_of(
    st.none(), st.integers(-12 * 4, 14 * 4).map(lambda q: timedelta(minutes=15 * q))
)


def _iso(wall: datetime, offset: timedelta | None) -> str:
    text = wall.replace(microsecond=0).isoformat()
    if offset is None:
        return text
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


@settings(max_examples=150, deadline=None)
@given(wall=wall_clocks, offset=offsets, after=wall_clocks, before=wall_clocks, now=wall_clocks)
def test_capture_range_rules_match_a_direct_model(wall, offset, after, before, now):
    wall = wall.replace(microsecond=0)
    rule = Rule("r", captured_after=after, captured_before=before, captured_not_in_future=True)
    now_utc = now.replace(tzinfo=UTC)
    findings = check_expectations([_rec(_iso(wall, offset))], [rule], now=now_utc)
    instant = wall - offset if offset is not None else None
    future = instant > now if instant is not None else wall > now + timedelta(hours=14)
    expected = wall < after or wall >= before or future
    assert [f.outcome for f in findings] == (["capture-time-implausible"] if expected else [])


@given(
    present=st.sets(st.sampled_from(["captured_at", "gps", "make"])),
    required=st.lists(st.sampled_from(["captured_at", "gps", "make"]), min_size=1, unique=True),
)
def test_require_reports_exactly_the_absent_fields(present, required):
    meta = {}
    if "gps" in present:
        meta.update(gps_lat=1.0, gps_lon=2.0)
    if "make" in present:
        meta["make"] = "Apple"
    rec = _rec("2020-01-01T00:00:00" if "captured_at" in present else None, meta=meta)
    findings = check_expectations([rec], [Rule("r", require=tuple(required))])
    absent = [f for f in required if f not in present]
    assert [f.evidence["absent"] for f in findings] == ([absent] if absent else [])


def test_selectors_and_unreadable_records():
    rule = Rule("r", require=("gps",), kinds=("video",))
    assert check_expectations([_rec()], [rule]) == []  # an image: not selected
    assert check_expectations([_rec(kind="video", format="MOV")], [rule])
    assert check_expectations([_rec(kind="video", error="unreadable")], [rule]) == []
    by_format = Rule("r", require=("gps",), formats=("HEIC",))
    assert check_expectations([_rec()], [by_format]) == []
    by_path = Rule("r", require=("gps",), paths=("DCIM/**",))
    assert check_expectations([_rec()], [by_path]) == []


# ---------------------------------------------------------------------------- against a manifest


def _manifest(extra: dict, digest: str = "0" * 64) -> Manifest:
    return Manifest(
        "blake3", "json", [ManifestEntry("a.jpg", {"blake3": digest}, 1, 0, extra)], "m.json", "/r"
    )


@pytest.mark.parametrize(
    "expected, actual, outcome",
    [
        ("2020-05-01T10:00:00", None, "capture-time-lost"),
        ("2020-05-01T10:00:00", "2020-05-01T11:00:00", "capture-time-changed"),
        ("2020-05-01T10:00:00.120", "2020-05-01T10:00:00.450", "capture-time-changed"),
        ("2020-05-01T10:00:00.12+02:00", "2020-05-01T10:00:00", "capture-time-precision-lost"),
        ("2020-05-01T10:00:00+02:00", "2020-05-01T08:00:00+00:00", None),  # same instant
        ("2020-05-01T10:00:00.1", "2020-05-01T10:00:00.100", None),
        ("2020-05-01T10:00:00", "2020-05-01T10:00:00", None),
    ],
)
def test_capture_time_against_the_manifest(expected, actual, outcome):
    findings = check_against_manifest([_rec(actual)], _manifest({"captured_at": expected}))
    assert [f.outcome for f in findings] == ([outcome] if outcome else [])
    for f in findings:
        assert f.path == "a.jpg" and f.evidence["expected"] == expected
        assert f.evidence["actual"] == actual and f.evidence["rule"] == "manifest"
    if outcome == "capture-time-changed" and "11:00" in (actual or ""):
        assert findings[0].evidence["seconds_apart"] == 3600


def test_gps_against_the_manifest():
    place = {"lat": 43.4674483333333, "lon": 11.8851266666639}
    m = _manifest({"gps": place})
    lost = check_against_manifest([_rec()], m)
    assert [(f.outcome, f.severity) for f in lost] == [("gps-lost", "error")]
    moved = check_against_manifest(
        [_rec(meta={"gps_lat": 43.4684483333333, "gps_lon": 11.8851266666639})], m
    )
    assert [f.outcome for f in moved] == ["gps-moved"]
    assert moved[0].evidence["distance_m"] == pytest.approx(111.2, abs=0.5)
    rounded = check_against_manifest([_rec(meta={"gps_lat": 43.467448, "gps_lon": 11.885127})], m)
    assert rounded == []  # centimetres: within the tolerance
    # Bytes equal to the manifest's: nothing can have changed, nothing is compared.
    same = _rec(blake3="ab" * 32)
    assert check_against_manifest([same], _manifest({"gps": place}, "ab" * 32)) == []


@given(st.floats(-89, 89), st.floats(-179, 179), st.floats(-89, 89), st.floats(-179, 179))
def test_distance_is_a_metric(lat1, lon1, lat2, lon2):
    a, b = {"lat": lat1, "lon": lon1}, {"lat": lat2, "lon": lon2}
    assert distance_m(a, a) == pytest.approx(0, abs=1e-6)
    assert distance_m(a, b) == pytest.approx(distance_m(b, a))
    assert 0 <= distance_m(a, b) <= 20_015_087  # half the Earth's circumference


@given(wall=wall_clocks, offset=offsets)
def test_a_capture_time_always_keeps_itself(wall, offset):
    text = _iso(wall, offset)
    assert compare_capture(text, text) is None
    assert compare_capture(text, None)[0] == "capture-time-lost"


def test_exiftool_edits_are_seen(scanned, tmp_path):
    """Real exiftool edits of a real file: GPS stripped, clock shifted by an hour."""
    root, records = scanned
    rec = next(r for r in records if r.path.endswith("datetimeoriginal-gps.jpg"))
    m = Manifest(
        "blake3",
        "json",
        [
            ManifestEntry(
                "gps/datetimeoriginal-gps.jpg",
                {"blake3": rec.blake3},
                rec.size,
                rec.mtime_ns,
                {"captured_at": rec.metadata.captured_at, "gps": rec.metadata.gps},
            )
        ],
        "m.json",
    )
    lib = tmp_path / "lib"
    (lib / "gps").mkdir(parents=True)
    target = lib / "gps" / "datetimeoriginal-gps.jpg"
    shutil.copy2(rec.path, target)
    subprocess.run(
        ["exiftool", "-q", "-gps:all=", "-AllDates+=1", "-overwrite_original", str(target)],
        check=True,
    )
    with Catalog(tmp_path / "c.sqlite") as catalog:
        scan([str(lib)], catalog, workers=0)
        edited = catalog.records(under=[str(lib)])
    findings = check_against_manifest(edited, m, root=str(lib))
    assert {f.outcome for f in findings} == {"gps-lost", "capture-time-changed"}

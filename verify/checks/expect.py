"""Metadata expectations: what the files of a library should carry, checked over catalog records.

Two sources of expectations:

* a rules file (TOML, format in docs/expect-rules.md): `load_rules` parses and validates it,
  `check_expectations` evaluates the rules over records;
* a photoverify JSON manifest, which recorded each file's capture time and GPS position when it
  was written: `check_against_manifest` reports files that have since lost or changed them.

Both are pure over records (no file is read here) and make one Finding per failure, with
``check == "expect"``, the rule's name in ``evidence["rule"]`` and the values seen.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from photoverify.dedupe.core.errors import UsageError
from photoverify.dedupe.core.findings import Finding
from photoverify.dedupe.core.records import KINDS, FileRecord
from photoverify.dedupe.core.timeparse import parse as parse_time
from photoverify.dedupe.core.timeparse import same_second, seconds_apart, subsec_equal
from photoverify.dedupe.match.companions import find_assets
from photoverify.verify.manifest import Manifest, path_key

CHECK = "expect"
DEFAULT_KINDS = ("image", "video")
# Fields a rule can `require`, and how each is read off a record.
REQUIRABLE: dict[str, Any] = {
    "captured_at": lambda r: r.metadata.captured_at,
    "gps": lambda r: r.metadata.gps,
    "make": lambda r: r.metadata.make,
    "model": lambda r: r.metadata.model,
    "software": lambda r: r.metadata.software,
    "content_id": lambda r: r.metadata.content_id,
    "image_unique_id": lambda r: r.metadata.image_unique_id,
    "orientation": lambda r: r.metadata.orientation,
    "dimensions": lambda r: (r.width, r.height) if r.width and r.height else None,
    "duration": lambda r: r.duration,
}
SELECTORS = ("kinds", "formats", "paths", "exclude_paths")
CHECKS = (
    "require",
    "captured_after",
    "captured_before",
    "captured_not_in_future",
    "live_photo_complete",
    "allowed_formats",
)
KEYS = ("name", "severity", *SELECTORS, *CHECKS)
SEVERITIES = ("error", "warning", "info")
# A capture time without a UTC offset is local to somewhere: it is "in the future" only when it
# is later than the latest wall clock on Earth (UTC+14) now.
LATEST_OFFSET = timedelta(hours=14)
GPS_TOLERANCE_M = 1.0  # a position written back through EXIF rationals may move by centimetres
EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class Rule:
    name: str
    line: int | None = None  # where its [[rule]] header is in the rules file
    severity: str = "error"
    kinds: tuple[str, ...] = DEFAULT_KINDS
    formats: tuple[str, ...] | None = None  # upper-case; None: any format
    paths: tuple[str, ...] = ()  # globs; when given, one must match
    exclude_paths: tuple[str, ...] = ()
    require: tuple[str, ...] = ()
    captured_after: datetime | None = None  # naive wall clock
    captured_before: datetime | None = None
    captured_not_in_future: bool = False
    live_photo_complete: bool = False
    allowed_formats: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "severity": self.severity}
        for key in (*SELECTORS, *CHECKS):
            value = getattr(self, key)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            if value not in (None, False, [], ()) or key == "kinds":
                out[key] = value
        return out


# ---------------------------------------------------------------------------- globs


@lru_cache(maxsize=1024)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A path glob as a regex over "/"-separated relative paths, case-insensitive.

    ``*`` and ``?`` stay within one path component, ``**`` spans any number of them
    (``**/`` also none), ``[abc]``/``[!abc]`` are character classes. A pattern without ``/``
    matches the file name at any depth, as in .gitignore.
    """
    if "/" not in pattern:
        pattern = "**/" + pattern
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                out.append(re.escape(c))
                i += 1
                continue
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def glob_match(pattern: str, path: str) -> bool:
    return glob_regex(pattern).fullmatch(path) is not None


# ---------------------------------------------------------------------------- the rules file


def _rule_lines(text: str) -> list[int]:
    """Line numbers of the [[rule]] headers, in order."""
    header = re.compile(r"\s*\[\[\s*rule\s*\]\]")
    # TOML lines end at LF only; str.splitlines would also split at U+2028 and friends.
    return [i + 1 for i, line in enumerate(text.split("\n")) if header.match(line)]


def _bound(value: Any, where: str, key: str) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise UsageError(
                f"{where}: {key} = {value!r} is not a date (write YYYY-MM-DD)"
            ) from None
        return parsed.replace(tzinfo=None)
    raise UsageError(f"{where}: {key} must be a date, not {type(value).__name__}")


def _strings(value: Any, where: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UsageError(f"{where}: {key} must be a list of strings")
    return tuple(value)


def _known(
    value: Any, where: str, key: str, known: Collection[str], complaint: str
) -> tuple[str, ...]:
    """A list of strings each of which is one of `known`; the first that is not is named."""
    words = _strings(value, where, key)
    bad = [w for w in words if w not in known]
    if bad:
        raise UsageError(f"{where}: {complaint} {bad[0]!r} (known: {', '.join(known)})")
    return words


def parse_rule(table: Mapping[str, Any], where: str) -> Rule:
    """One [[rule]] table -> Rule. `where` prefixes error messages ("FILE:LINE")."""
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f'{where}: rule without a name (add name = "...")')
    where = f"{where}: rule {name!r}"
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(KEYS)})")
    if not any(k in table for k in CHECKS):
        raise UsageError(f"{where}: checks nothing (give one of {', '.join(CHECKS)})")
    kw: dict[str, Any] = {"name": name}
    severity = table.get("severity", "error")
    if severity not in SEVERITIES:
        raise UsageError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
    kw["severity"] = severity
    if "kinds" in table:
        kw["kinds"] = _known(table["kinds"], where, "kinds", KINDS, "unknown kind")
    for key in ("formats", "allowed_formats"):
        if key in table:
            kw[key] = tuple(f.upper() for f in _strings(table[key], where, key))
    for key in ("paths", "exclude_paths"):
        if key in table:
            kw[key] = _strings(table[key], where, key)
    if "require" in table:
        kw["require"] = _known(table["require"], where, "require", REQUIRABLE, "cannot require")
    for key in ("captured_after", "captured_before"):
        if key in table:
            kw[key] = _bound(table[key], where, key)
    for key in ("captured_not_in_future", "live_photo_complete"):
        if key in table:
            if not isinstance(table[key], bool):
                raise UsageError(f"{where}: {key} must be true or false")
            kw[key] = table[key]
    return Rule(**kw)


def parse_rules(text: str, source: str = "<rules>") -> list[Rule]:
    """The text of a rules file -> rules. Raises UsageError naming source, line and rule."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{source}: invalid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses into nested arrays and inline tables
        raise UsageError(f"{source}: invalid TOML: nested too deeply") from None
    unknown = sorted(set(doc) - {"rule"})
    if unknown:
        raise UsageError(f"{source}: unknown top-level key {unknown[0]!r} (rules are [[rule]])")
    tables = doc.get("rule", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise UsageError(f"{source}: 'rule' must be an array of tables ([[rule]])")
    lines = _rule_lines(text)
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, table in enumerate(tables):
        line = lines[i] if i < len(lines) else None
        rule = parse_rule(table, f"{source}:{line or '?'}")
        if rule.name in seen:
            raise UsageError(f"{source}:{line or '?'}: rule name {rule.name!r} is used twice")
        seen.add(rule.name)
        rules.append(replace(rule, line=line))
    return rules


def load_rules(path: str | os.PathLike) -> list[Rule]:
    """Read and validate a rules file."""
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read rules file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: rules file is not UTF-8: {exc.reason}") from None
    return parse_rules(text, os.fspath(path))


# ---------------------------------------------------------------------------- evaluation


def _shown(rec: FileRecord, root: str | None) -> str:
    base = root if root is not None else rec.root
    if not base:
        return rec.path
    return os.path.relpath(rec.path, base).replace(os.sep, "/")


def applies(rule: Rule, rec: FileRecord, rel: str) -> bool:
    """Whether a rule's selection takes in this record (rel: its path relative to the root)."""
    if rec.kind not in rule.kinds:
        return False
    if rule.formats is not None and (rec.format or "").upper() not in rule.formats:
        return False
    if rule.paths and not any(glob_match(p, rel) for p in rule.paths):
        return False
    return not any(glob_match(p, rel) for p in rule.exclude_paths)


def _expect(rule: Rule, rel: str, outcome: str, message: str, evidence: dict[str, Any]) -> Finding:
    return Finding(
        rel,
        CHECK,
        rule.severity,
        outcome,
        f"{rel}: {message} (rule {rule.name!r})",
        {"rule": rule.name, **evidence},
    )


def incomplete_live_photos(records: Iterable[FileRecord]) -> set[str]:
    """Paths of stills that carry an Apple ContentIdentifier but have no motion video with them."""
    recs = list(records)
    kinds = {r.path: r.kind for r in recs}
    _assets, relations = find_assets(recs)
    with_motion = {
        rel.a for rel in relations if rel.kind == "companion" and kinds.get(rel.b) == "video"
    }
    return {
        r.path
        for r in recs
        if r.kind == "image" and r.metadata.content_id and r.path not in with_motion
    }


def evaluate(
    rule: Rule, rec: FileRecord, rel: str, now: datetime, incomplete: set[str]
) -> list[Finding]:
    """The failures of one rule on one record it applies to. Pure."""
    out: list[Finding] = []
    if rule.require:
        absent = [f for f in rule.require if REQUIRABLE[f](rec) in (None, "")]
        if absent:
            out.append(
                _expect(
                    rule,
                    rel,
                    "metadata-absent",
                    f"has no {', '.join(absent)}",
                    {"absent": absent, "required": list(rule.require)},
                )
            )
    captured = parse_time(rec.metadata.captured_at)
    if captured is not None:
        too_early = rule.captured_after is not None and captured.wall < rule.captured_after
        too_late = rule.captured_before is not None and captured.wall >= rule.captured_before
        future = False
        if rule.captured_not_in_future:
            now_utc = now.astimezone(UTC).replace(tzinfo=None)
            instant = captured.instant
            future = (
                instant > now_utc
                if instant is not None
                else (captured.wall > now_utc + LATEST_OFFSET)
            )
        if too_early or too_late or future:
            why = (
                f"before {rule.captured_after:%Y-%m-%d %H:%M:%S}"
                if too_early
                else f"not before {rule.captured_before:%Y-%m-%d %H:%M:%S}"
                if too_late
                else "in the future"
            )
            evidence = {"captured_at": rec.metadata.captured_at}
            if rule.captured_after is not None:
                evidence["captured_after"] = rule.captured_after.isoformat()
            if rule.captured_before is not None:
                evidence["captured_before"] = rule.captured_before.isoformat()
            if future:
                evidence["now"] = now.astimezone(UTC).isoformat(timespec="seconds")
            out.append(
                _expect(
                    rule,
                    rel,
                    "capture-time-implausible",
                    f"captured {rec.metadata.captured_at}, {why}",
                    evidence,
                )
            )
    if rule.live_photo_complete and rec.path in incomplete:
        out.append(
            _expect(
                rule,
                rel,
                "live-photo-incomplete",
                f"Live Photo still (ContentIdentifier {rec.metadata.content_id}) "
                "without its motion video",
                {"content_id": rec.metadata.content_id},
            )
        )
    if rule.allowed_formats is not None and (rec.format or "").upper() not in rule.allowed_formats:
        out.append(
            _expect(
                rule,
                rel,
                "format-not-allowed",
                f"format {rec.format or 'unknown'} is not one of {', '.join(rule.allowed_formats)}",
                {"format": rec.format, "allowed": list(rule.allowed_formats)},
            )
        )
    return out


def check_expectations(
    records: Iterable[FileRecord],
    rules: list[Rule],
    *,
    now: datetime | None = None,
    root: str | None = None,
) -> list[Finding]:
    """Every rule over every record it applies to; one Finding per failure.

    Paths (for `paths` globs and in findings) are relative to `root`, else to each record's scan
    root. Records that could not be read (``error`` set) are left to the checks that report them.
    """
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    recs = [r for r in records if r.error is None]
    incomplete = (
        incomplete_live_photos(recs) if any(r.live_photo_complete for r in rules) else set()
    )
    findings = []
    for rec in recs:
        rel = _shown(rec, root)
        for rule in rules:
            if applies(rule, rec, rel):
                findings.extend(evaluate(rule, rec, rel, now, incomplete))
    findings.sort(key=lambda f: (f.path, f.evidence.get("rule", ""), f.outcome))
    return findings


# ---------------------------------------------------------------------------- against a manifest


def distance_m(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Great-circle distance in metres between two {lat, lon} points (haversine)."""
    lat1, lat2 = math.radians(a["lat"]), math.radians(b["lat"])
    dlat = lat2 - lat1
    dlon = math.radians(b["lon"] - a["lon"])
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def compare_capture(expected: str, actual: str | None) -> tuple[str, str, dict] | None:
    """(outcome, severity, evidence) when `actual` does not keep the capture time `expected`."""
    evidence: dict[str, Any] = {"expected": expected, "actual": actual}
    if actual is None:
        return "capture-time-lost", "error", evidence
    if actual == expected:
        return None
    pe, pa = parse_time(expected), parse_time(actual)
    if pe is None or pa is None:
        return "capture-time-changed", "error", evidence
    if not same_second(pe, pa) or subsec_equal(pe, pa) is False:
        evidence["seconds_apart"] = seconds_apart(expected, actual)
        return "capture-time-changed", "error", evidence
    lost = []
    if pe.offset is not None and pa.offset is None:
        lost.append("offset")
    if pe.subsec is not None and pa.subsec is None:
        lost.append("subseconds")
    if lost:
        evidence["lost"] = lost
        return "capture-time-precision-lost", "warning", evidence
    return None  # the same moment, written differently


def check_against_manifest(
    records: Iterable[FileRecord],
    manifest: Manifest,
    *,
    root: str | None = None,
    gps_tolerance_m: float = GPS_TOLERANCE_M,
) -> list[Finding]:
    """Files whose capture time or GPS position differ from what the manifest recorded.

    Only files at a manifest path are compared (a moved or copied file has the recorded bytes,
    so it has the recorded metadata); a file whose BLAKE3 equals the manifest's is skipped for the
    same reason. Outcomes: capture-time-lost, capture-time-changed (error),
    capture-time-precision-lost (warning: same second, offset or sub-seconds dropped), gps-lost,
    gps-moved (error, evidence distance_m).
    """
    entries = {path_key(e.path): e for e in manifest.entries if e.extra}
    findings: list[Finding] = []
    for rec in records:
        if rec.error is not None:
            continue
        rel = _shown(rec, root)
        entry = entries.get(path_key(rel))
        if entry is None:
            continue
        if manifest.algorithm == "blake3" and entry.digests.get("blake3") == rec.blake3:
            continue
        expected_time = entry.extra.get("captured_at")
        if isinstance(expected_time, str):
            findings.extend(_capture_findings(rel, expected_time, rec.metadata.captured_at))
        expected_gps = entry.extra.get("gps")
        if isinstance(expected_gps, dict) and {"lat", "lon"} <= set(expected_gps):
            findings.extend(_gps_findings(rel, expected_gps, rec.metadata.gps, gps_tolerance_m))
    findings.sort(key=lambda f: (f.path, f.outcome))
    return findings


def _capture_findings(rel: str, expected_time: str, actual: str | None) -> list[Finding]:
    """A finding when the capture time differs from the manifest's (none when it is the same)."""
    diff = compare_capture(expected_time, actual)
    if diff is None:
        return []
    outcome, severity, evidence = diff
    if outcome == "capture-time-lost":
        message = f"capture time {expected_time} is gone"
    elif outcome == "capture-time-changed":
        message = f"capture time changed from {expected_time} to {actual}"
    else:
        lost = " and ".join(evidence.get("lost", []))
        message = f"capture time {expected_time} is now {actual} (lost its {lost})"
    evidence = {"rule": "manifest", **evidence}
    return [Finding(rel, CHECK, severity, outcome, f"{rel}: {message}", evidence)]


def _gps_findings(
    rel: str, expected: dict, actual: Mapping[str, float] | None, tolerance_m: float
) -> list[Finding]:
    """A finding when the GPS position is gone or moved more than tolerance_m."""
    if actual is None:
        return [
            Finding(
                rel,
                CHECK,
                "error",
                "gps-lost",
                f"{rel}: GPS position {expected['lat']:.6f}, {expected['lon']:.6f} is gone",
                {"rule": "manifest", "expected": expected, "actual": None},
            )
        ]
    moved = distance_m(expected, actual)
    if moved > tolerance_m:
        message = f"{rel}: GPS position moved {moved:.1f} m"
        evidence = {"rule": "manifest", "expected": expected, "actual": actual}
        evidence["distance_m"] = round(moved, 3)
        return [Finding(rel, CHECK, "error", "gps-moved", message, evidence)]
    return []

"""Apple's data-and-privacy export of iCloud Photos: each `Photo Details*.csv` checked against
the files of its folder (the CSVs are read by dedupe.catalog.apple_csv).

`check_export` pairs each CSV's rows with the media files of the CSV's folder and reports rows
without a file, files without a row, and capture times that disagree with `originalCreationDate`.
The `fileChecksum` column (28 base64 characters; in real exports 21 bytes starting with 0x01) is
believed to be a salted SHA-1 of the file: `checksum_variant` tries the unsalted forms we can
compute, and a file that matches none is only "unconfirmed", never called corrupt.

Hashing files is the only I/O here (`checksum_digests`); the checks are pure over catalog
records and the CSVs' rows.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from photoverify.dedupe.catalog.apple_csv import ApplePart, AppleRow
from photoverify.dedupe.core.findings import Finding
from photoverify.dedupe.core.hashing import hash_file
from photoverify.dedupe.core.records import FileRecord
from photoverify.dedupe.core.timeparse import parse as parse_time

CHECK = "audit"
# The CSV gives minutes (truncated or rounded): one minute either way is the same capture.
DATE_TOLERANCE = timedelta(minutes=1)
# A capture time without a UTC offset is local somewhere: it matches the CSV's GMT time when the
# difference is a whole quarter hour of at most 14 hours (within the tolerance).
MAX_ZONE = timedelta(hours=14)
CHECKSUM_ALGORITHMS = ("sha1", "sha256")
# (name, algorithm, bytes of the digest kept): what an unsalted fileChecksum could be.
CHECKSUM_VARIANTS = (("sha1", "sha1", 20), ("sha256-first-20", "sha256", 20))


def checksum_variant(checksum: str | None, digests: Mapping[str, str]) -> str | None:
    """Which unsalted form of the file's hash `fileChecksum` is (digests: algorithm -> hex), or
    None. Both the 21-byte form (0x01 + 20 bytes) and a bare 20-byte digest are understood."""
    if not checksum:
        return None
    try:
        raw = base64.b64decode(checksum, validate=True)
    except (binascii.Error, ValueError):
        return None
    prefixed = len(raw) == 21 and raw[0] == 0x01
    body = raw[1:] if prefixed else raw
    for name, algorithm, keep in CHECKSUM_VARIANTS:
        hexdigest = digests.get(algorithm)
        if hexdigest and len(body) == keep and bytes.fromhex(hexdigest)[:keep] == body:
            return f"0x01+{name}" if prefixed else name
    return None


def checksum_shape(checksum: str | None) -> str:
    """What the checksum looks like: `0x01+20 bytes`, `20 bytes`, `N bytes` or `not base64`."""
    try:
        raw = base64.b64decode(checksum or "", validate=True)
    except (binascii.Error, ValueError):
        return "not base64"
    if len(raw) == 21 and raw[0] == 0x01:
        return "0x01+20 bytes"
    return f"{len(raw)} bytes"


def checksum_digests(paths: Iterable[str]) -> dict[str, dict[str, str]]:
    """{path: {algorithm: hex}} for the checksum check; a file that cannot be read is left out."""
    out: dict[str, dict[str, str]] = {}
    for p in paths:
        try:
            out[p] = hash_file(p, CHECKSUM_ALGORITHMS)
        except OSError:
            continue
    return out


# ---------------------------------------------------------------------------- the check (pure)


@dataclass
class AppleCheck:
    findings: list[Finding]
    counts: dict[str, int]
    parts: list[dict[str, Any]]
    rows_by_file: dict[str, AppleRow]  # media path -> its row

    def to_json(self) -> dict[str, Any]:
        return {"parts": self.parts, "counts": self.counts}

    def add(self, path: str, severity: str, outcome: str, message: str, **evidence: Any) -> None:
        """One finding, counted under its outcome."""
        self.findings.append(
            Finding(path, CHECK, severity, outcome, f"{path}: {message}", evidence)
        )
        self.counts[outcome] = self.counts.get(outcome, 0) + 1


def compare_creation(row: AppleRow, rec: FileRecord) -> tuple[str, dict[str, Any]] | None:
    """(outcome, evidence) when the file's capture time disagrees with originalCreationDate."""
    if row.created is None:
        return None
    captured = rec.metadata.captured_at
    evidence: dict[str, Any] = {
        "csv_date": row.created_text,
        "csv_utc": row.created.isoformat() + "Z",
        "captured_at": captured,
    }
    t = parse_time(captured)
    if t is None:
        return "apple-capture-time-only-in-csv", evidence
    frac = timedelta(seconds=float("0." + t.subsec)) if t.subsec else timedelta(0)
    if t.instant is not None:
        delta = t.instant + frac - row.created
        evidence["seconds_apart"] = round(delta.total_seconds(), 3)
        return (
            None
            if abs(delta) <= DATE_TOLERANCE + timedelta(seconds=1)
            else ("apple-capture-time-differs", evidence)
        )
    # No offset in the file: any zone up to 14 h could explain a whole number of quarter hours.
    delta = t.wall + frac - row.created
    quarter = timedelta(minutes=15)
    nearest = round(delta / quarter) * quarter
    if abs(nearest) <= MAX_ZONE and abs(delta - nearest) <= DATE_TOLERANCE + timedelta(seconds=1):
        return None
    evidence["seconds_apart"] = round(delta.total_seconds(), 3)
    evidence["offset"] = "unknown"
    return "apple-capture-time-differs", evidence


def check_export(
    parts: list[ApplePart],
    records: Iterable[FileRecord],
    *,
    digests: Mapping[str, Mapping[str, str]] | None = None,
) -> AppleCheck:
    """Rows against the media files of each CSV's folder.

    Outcomes (check "audit"): apple-csv-unreadable (error), apple-file-missing (error: a row
    whose file is not in the folder), apple-unlisted-file (warning: a media file no row names),
    apple-capture-time-differs (warning: more than a minute from originalCreationDate),
    apple-capture-time-only-in-csv (warning: the file carries no capture time, only the CSV
    does), apple-checksum-unconfirmed (info, only when `digests` are given: no unsalted hash of
    the file equals fileChecksum).
    """
    by_folder: dict[str, list[FileRecord]] = {}
    for r in records:
        if r.kind in ("image", "video"):
            by_folder.setdefault(os.path.dirname(r.path), []).append(r)
    counts = {
        "apple-rows": 0,
        "apple-file-missing": 0,
        "apple-unlisted-file": 0,
        "apple-capture-time-differs": 0,
        "apple-capture-time-only-in-csv": 0,
    }
    if digests is not None:
        counts.update({"apple-checksum-matched": 0, "apple-checksum-unconfirmed": 0})
    check = AppleCheck([], counts, [], {})
    for part in sorted(parts, key=lambda p: p.csv):
        check.parts.append(_check_part(check, part, by_folder.get(part.folder, []), digests))
    return check


def _check_part(
    check: AppleCheck,
    part: ApplePart,
    media: list[FileRecord],
    digests: Mapping[str, Mapping[str, str]] | None,
) -> dict[str, Any]:
    """One CSV against the media files of its folder: its findings go to `check`; returns the
    part's summary."""
    summary: dict[str, Any] = {"csv": part.csv, "part": part.part, "rows": len(part.rows)}
    if part.error:
        check.add(part.csv, "error", "apple-csv-unreadable", part.error, part=part.part)
        summary["error"] = part.error
        return summary
    exact = {os.path.basename(r.path): r for r in media}
    folded = {os.path.basename(r.path).casefold(): r for r in media}
    part_counts = {
        "files": len(media),
        "rows_without_file": 0,
        "files_without_row": 0,
        "dates_differ": 0,
        "checksum_matched": 0,
        "checksum_unconfirmed": 0,
    }
    listed: set[str] = set()
    for row in part.rows:
        check.counts["apple-rows"] += 1
        rec = exact.get(row.name) or folded.get(row.name.casefold())
        _check_row(check, part, row, rec, part_counts, digests)
        if rec is not None:
            listed.add(rec.path)
    for rec in sorted(media, key=lambda r: r.path):
        if rec.path not in listed:
            part_counts["files_without_row"] += 1
            check.add(
                rec.path,
                "warning",
                "apple-unlisted-file",
                f"in the folder of {os.path.basename(part.csv)} but no row names it",
                part=part.part,
                csv=part.csv,
            )
    summary.update(part_counts)
    return summary


def _check_row(
    check: AppleCheck,
    part: ApplePart,
    row: AppleRow,
    rec: FileRecord | None,
    part_counts: dict[str, int],
    digests: Mapping[str, Mapping[str, str]] | None,
) -> None:
    """One row against the file it names (`rec`, None when the folder has no such file)."""
    where = {"part": part.part, "csv": part.csv, "line": row.line}
    if rec is None:
        part_counts["rows_without_file"] += 1
        check.add(
            os.path.join(part.folder, row.name),
            "error",
            "apple-file-missing",
            f"listed in {os.path.basename(part.csv)} (line {row.line}) but not in the folder",
            **where,
            csv_date=row.created_text,
        )
        return
    check.rows_by_file[rec.path] = row
    diff = compare_creation(row, rec)
    if diff is not None:
        outcome, evidence = diff
        part_counts["dates_differ"] += 1
        if outcome == "apple-capture-time-only-in-csv":
            message = f"carries no capture time; only the CSV knows it ({row.created_text})"
        else:
            message = (
                f"capture time {rec.metadata.captured_at} differs from the "
                f"export's {row.created_text}"
            )
        check.add(rec.path, "warning", outcome, message, **where, **evidence)
    if digests is None:
        return
    if checksum_variant(row.checksum, digests.get(rec.path, {})):
        check.counts["apple-checksum-matched"] += 1
        part_counts["checksum_matched"] += 1
        return
    part_counts["checksum_unconfirmed"] += 1
    check.add(
        rec.path,
        "info",
        "apple-checksum-unconfirmed",
        "fileChecksum matches no unsalted hash of the file (Apple salts it; "
        "this alone says nothing about corruption)",
        **where,
        checksum=row.checksum,
        shape=checksum_shape(row.checksum),
        tried=[v[0] for v in CHECKSUM_VARIANTS],
        hashed=rec.path in digests,
    )

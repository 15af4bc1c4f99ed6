"""Apple's data-and-privacy export of iCloud Photos: `Photo Details*.csv` read and checked.

An export comes in parts (`iCloud Photos Part 1 of 2/Photos/Photo Details.csv`, or
`Photo Details-1.csv`, with folder names in the account's language). Each CSV lists the photos of
its own folder: `imgName, fileChecksum, favorite, hidden, deleted, originalCreationDate, viewCount,
importDate`, dates written `Saturday June 4,2022 12:11 PM GMT`.

`check_export` pairs each CSV's rows with the media files of the CSV's folder and reports rows
without a file, files without a row, and capture times that disagree with `originalCreationDate`.
The `fileChecksum` column (28 base64 characters; in real exports 21 bytes starting with 0x01) is
believed to be a salted SHA-1 of the file: `checksum_variant` tries the unsalted forms we can
compute, and a file that matches none is only "unconfirmed", never called corrupt.

Reading CSVs and hashing files are the only I/O here (`read_photo_details`, `checksum_digests`);
the checks are pure over catalog records.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import csv
import io
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from photoverify.dedupe.core.hashing import hash_file
from photoverify.dedupe.core.records import FileRecord, Finding
from photoverify.dedupe.core.timeparse import parse as parse_time

CHECK = "audit"
COLUMNS = (
    "imgName",
    "fileChecksum",
    "favorite",
    "hidden",
    "deleted",
    "originalCreationDate",
    "viewCount",
    "importDate",
)
NAME_PATTERN = re.compile(r"^photo details.*\.csv$", re.IGNORECASE)
# The CSV gives minutes (truncated or rounded): one minute either way is the same capture.
DATE_TOLERANCE = timedelta(minutes=1)
# A capture time without a UTC offset is local somewhere: it matches the CSV's GMT time when the
# difference is a whole quarter hour of at most 14 hours (within the tolerance).
MAX_ZONE = timedelta(hours=14)
CHECKSUM_ALGORITHMS = ("sha1", "sha256")
# (name, algorithm, bytes of the digest kept): what an unsalted fileChecksum could be.
CHECKSUM_VARIANTS = (("sha1", "sha1", 20), ("sha256-first-20", "sha256", 20))
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        (
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        )
    )
}
_DATE = re.compile(
    r"^\s*(?:[A-Za-z]+,?\s+)?(?P<month>[A-Za-z]+)\.?\s+(?P<day>\d{1,2}),\s*(?P<year>\d{4})"
    r"\s+(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?\s*(?P<ampm>[AaPp][Mm])?"
    r"\s*(?:GMT|UTC|Z)?\s*$"
)


@dataclass(frozen=True)
class AppleRow:
    """One row of a Photo Details CSV."""

    csv: str
    line: int
    name: str
    checksum: str | None
    favorite: bool | None
    hidden: bool | None
    deleted: bool | None
    created: datetime | None  # originalCreationDate, naive UTC
    created_text: str | None
    view_count: int | None
    imported: datetime | None  # naive UTC

    def to_json(self) -> dict[str, Any]:
        return {
            "csv": self.csv,
            "line": self.line,
            "name": self.name,
            "checksum": self.checksum,
            "favorite": self.favorite,
            "hidden": self.hidden,
            "deleted": self.deleted,
            "created": self.created.isoformat() + "Z" if self.created else None,
            "created_text": self.created_text,
            "view_count": self.view_count,
            "imported": self.imported.isoformat() + "Z" if self.imported else None,
        }


@dataclass
class ApplePart:
    """One CSV and its rows; `error` when the file could not be read as a Photo Details CSV."""

    csv: str
    rows: list[AppleRow] = field(default_factory=list)
    error: str | None = None

    @property
    def folder(self) -> str:
        return os.path.dirname(self.csv)

    @property
    def part(self) -> str:
        """The name people know the part by: the export folder above `Photos/`, else the CSV."""
        folder = self.folder
        parent = os.path.basename(os.path.dirname(folder))
        return parent or os.path.basename(folder) or os.path.basename(self.csv)


# ---------------------------------------------------------------------------- parsing (pure)


def parse_apple_date(text: str | None) -> datetime | None:
    """`Saturday June 4,2022 12:11 PM GMT` -> naive UTC datetime; None when not that form."""
    if not text:
        return None
    m = _DATE.match(text)
    if not m:
        return None
    month = _MONTHS.get(m["month"].lower()) or next(
        (
            n
            for name, n in _MONTHS.items()
            if len(m["month"]) >= 3 and name.startswith(m["month"].lower())
        ),
        None,
    )
    if month is None:
        return None
    hour = int(m["h"])
    if m["ampm"]:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if m["ampm"].lower() == "pm" else 0)
    try:
        return datetime(int(m["year"]), month, int(m["day"]), hour, int(m["m"]), int(m["s"] or 0))
    except ValueError:
        return None


def _flag(value: str | None) -> bool | None:
    v = (value or "").strip().lower()
    if v in ("yes", "true", "1"):
        return True
    if v in ("no", "false", "0"):
        return False
    return None


def parse_photo_details(text: str, csv_path: str) -> ApplePart:
    """The text of one Photo Details CSV -> its rows (a bad file gives `error`, not a raise)."""
    part = ApplePart(csv_path)
    # Rows end at CR/LF only: str.splitlines would also cut at U+2028, U+0085 or \x1c, which a
    # file name may hold, and it breaks quoted fields that span lines.
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        part.error = "empty file"
        return part
    except csv.Error as exc:
        part.error = f"not CSV: {exc}"
        return part
    header = [h.strip().lstrip("\ufeff") for h in header]
    if "imgName" not in header:
        part.error = "no imgName column (not a Photo Details CSV)"
        return part
    col = {name: header.index(name) for name in COLUMNS if name in header}

    def get(row: list[str], name: str) -> str | None:
        i = col.get(name)
        if i is None or i >= len(row):
            return None
        return row[i].strip() or None

    try:
        for line, row in enumerate(reader, start=2):
            name = get(row, "imgName")
            if not name:
                continue
            created_text = get(row, "originalCreationDate")
            views = get(row, "viewCount")
            part.rows.append(
                AppleRow(
                    csv=csv_path,
                    line=line,
                    name=name,
                    checksum=get(row, "fileChecksum"),
                    favorite=_flag(get(row, "favorite")),
                    hidden=_flag(get(row, "hidden")),
                    deleted=_flag(get(row, "deleted")),
                    created=parse_apple_date(created_text),
                    created_text=created_text,
                    view_count=_count(views),
                    imported=parse_apple_date(get(row, "importDate")),
                )
            )
    except csv.Error as exc:
        part.error = f"not CSV at line {reader.line_num}: {exc}"
    return part


def _count(text: str | None) -> int | None:
    # str.isdigit() accepts "²", which int() refuses; and int() refuses 5,000 digits.
    return int(text) if text and re.fullmatch(r"[0-9]{1,18}", text) else None


def is_photo_details(path: str) -> bool:
    return NAME_PATTERN.match(os.path.basename(path)) is not None


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


# ---------------------------------------------------------------------------- I/O at the edges


def read_photo_details(path: str) -> ApplePart:
    """Read one CSV; an unreadable file becomes an ApplePart with `error`."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return ApplePart(path, error=f"cannot read: {exc.strerror or exc}")
    text = decode_csv(data)
    if text is None:
        return ApplePart(path, error="not UTF-8 or UTF-16 text")
    return parse_photo_details(text, path)


def decode_csv(data: bytes) -> str | None:
    """The text of a CSV in UTF-8 or UTF-16 (with a BOM, or without one when its NULs show the
    byte order, as a spreadsheet's "Unicode text" export may be), or None."""
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        encodings = ["utf-16"]
    else:
        # UTF-16 of ASCII is valid UTF-8 too (NUL is a character), so the NUL test goes first.
        encodings = ["utf-8-sig"]
        if len(data) >= 2 and len(data) % 2 == 0:
            if data[1] == 0 and data[0] != 0:
                encodings.insert(0, "utf-16-le")
            elif data[0] == 0 and data[1] != 0:
                encodings.insert(0, "utf-16-be")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


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
    findings: list[Finding] = []
    counts = {
        "apple-rows": 0,
        "apple-file-missing": 0,
        "apple-unlisted-file": 0,
        "apple-capture-time-differs": 0,
        "apple-capture-time-only-in-csv": 0,
    }
    if digests is not None:
        counts.update({"apple-checksum-matched": 0, "apple-checksum-unconfirmed": 0})
    summaries: list[dict[str, Any]] = []
    rows_by_file: dict[str, AppleRow] = {}

    def add(path: str, severity: str, outcome: str, message: str, **evidence: Any) -> None:
        findings.append(Finding(path, CHECK, severity, outcome, f"{path}: {message}", evidence))
        counts[outcome] = counts.get(outcome, 0) + 1

    for part in sorted(parts, key=lambda p: p.csv):
        summary: dict[str, Any] = {"csv": part.csv, "part": part.part, "rows": len(part.rows)}
        summaries.append(summary)
        if part.error:
            add(part.csv, "error", "apple-csv-unreadable", part.error, part=part.part)
            summary["error"] = part.error
            continue
        media = by_folder.get(part.folder, [])
        exact = {os.path.basename(r.path): r for r in media}
        folded = {os.path.basename(r.path).casefold(): r for r in media}
        listed: set[str] = set()
        part_counts = {
            "files": len(media),
            "rows_without_file": 0,
            "files_without_row": 0,
            "dates_differ": 0,
            "checksum_matched": 0,
            "checksum_unconfirmed": 0,
        }
        for row in part.rows:
            counts["apple-rows"] += 1
            rec = exact.get(row.name) or folded.get(row.name.casefold())
            where = {"part": part.part, "csv": part.csv, "line": row.line}
            if rec is None:
                part_counts["rows_without_file"] += 1
                add(
                    os.path.join(part.folder, row.name),
                    "error",
                    "apple-file-missing",
                    f"listed in {os.path.basename(part.csv)} (line {row.line}) but not in the "
                    "folder",
                    **where,
                    csv_date=row.created_text,
                )
                continue
            listed.add(rec.path)
            rows_by_file[rec.path] = row
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
                add(rec.path, "warning", outcome, message, **where, **evidence)
            if digests is not None:
                variant = checksum_variant(row.checksum, digests.get(rec.path, {}))
                if variant:
                    counts["apple-checksum-matched"] += 1
                    part_counts["checksum_matched"] += 1
                else:
                    part_counts["checksum_unconfirmed"] += 1
                    add(
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
        for rec in sorted(media, key=lambda r: r.path):
            if rec.path not in listed:
                part_counts["files_without_row"] += 1
                add(
                    rec.path,
                    "warning",
                    "apple-unlisted-file",
                    f"in the folder of {os.path.basename(part.csv)} but no row names it",
                    part=part.part,
                    csv=part.csv,
                )
        summary.update(part_counts)
    return AppleCheck(findings, counts, summaries, rows_by_file)

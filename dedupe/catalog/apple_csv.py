"""Apple's data-and-privacy export of iCloud Photos: `Photo Details*.csv` read in.

An export comes in parts (`iCloud Photos Part 1 of 2/Photos/Photo Details.csv`, or
`Photo Details-1.csv`, with folder names in the account's language). Each CSV lists the photos of
its own folder: `imgName, fileChecksum, favorite, hidden, deleted, originalCreationDate, viewCount,
importDate`, dates written `Saturday June 4,2022 12:11 PM GMT`.

`read_photo_details` reads one CSV (UTF-8 or UTF-16) into an `ApplePart` of `AppleRow`s; a file
that cannot be read or parsed gives an `ApplePart` with `error`, never a raise. Parsing
(`parse_photo_details`, `parse_apple_date`) is pure. verify.checks.apple checks an export's rows
against its files; dedupe.move.metasources takes the rows as metadata donors.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from photoverify.dedupe.core.timeparse import date_match, wall_clock

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
    m = date_match(_DATE, text)
    if m is None:
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
    return wall_clock(int(m["year"]), month, int(m["day"]), hour, int(m["m"]), int(m["s"] or 0))


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

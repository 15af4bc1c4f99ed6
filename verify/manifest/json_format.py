"""The ``json`` format, photoverify's own, written and read: a head line, then one entry per
line, paths NFC, written by dedupe.jsonio's one JSON writer (an undecodable name byte 0xXY is
the escape ``\\udcXY``: docs/plan-format.md). Two names with one NFC form (two files on Linux)
are both written as they are. An entry may carry the file's capture time and GPS position, which
verify holds the file to.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from photoverify.dedupe.core.errors import ManifestError
from photoverify.dedupe.core.hashing import ALGORITHMS
from photoverify.dedupe.core.jsonio import json_bytes, parse_json
from photoverify.dedupe.core.timeparse import now_iso
from photoverify.verify.manifest.entries import HEX_LENGTH, Manifest, ManifestEntry, path_key
from photoverify.verify.manifest.parsing import add_entry, checked_path

# ---------------------------------------------------------------------------- writing


def render_json(root: str | Path, algorithm: str, entries: list[ManifestEntry]) -> bytes:
    head = {
        "version": 1,
        "format": "photoverify-manifest",
        "algorithm": algorithm,
        "root": str(root),
        "created": now_iso(zulu=True),
    }
    rows = []
    spelled = _spellings([e.path for e in entries])
    for e in entries:
        row: dict[str, Any] = {
            "path": spelled[e.path],
            "size": e.size,
            "mtime_ns": e.mtime_ns,
            algorithm: e.digests[algorithm],
        }
        row.update(e.extra)
        rows.append(json_bytes(row))
    return json_bytes(head)[:-1] + b', "entries": [\n' + b",\n".join(rows) + b"\n]}\n"


def _spellings(paths: list[str]) -> dict[str, str]:
    """How the JSON manifest writes each path: NFC, except for names that share their NFC form
    with another file's (two files on Linux), which keep their own spelling so both are
    listed."""
    keys: dict[str, int] = {}
    for p in paths:
        keys[path_key(p)] = keys.get(path_key(p), 0) + 1
    return {p: path_key(p) if keys[path_key(p)] == 1 else p for p in paths}


# ---------------------------------------------------------------------------- reading


_JSON_PATH = re.compile(r'"path"\s*:\s*"([^"\\]*(?:\\.[^"\\]*)*)"')


class _PathLines:
    """The line of each entry's "path" value in a JSON manifest's text, in one pass.

    Searching the text for each entry's path instead (as this once did) is quadratic: 40k
    entries took minutes. The "path" keys are scanned lazily, in step with the entries: in a
    manifest written in entry order each entry takes the next one and nothing is stored; a value
    passed over on the way is kept for its entry. A value this scan cannot decode (a hand-written
    escape) has no line.
    """

    def __init__(self, text: str) -> None:
        self.found = self._scan(text)
        self.passed: dict[str, deque[int]] = {}

    @staticmethod
    def _scan(text: str) -> Iterator[tuple[str, int]]:
        lineno, pos = 1, 0
        for m in _JSON_PATH.finditer(text):
            lineno += text.count("\n", pos, m.start())
            pos = m.start()
            raw = m.group(1)
            try:
                yield (json.loads(f'"{raw}"') if "\\" in raw else raw), lineno
            except ValueError:
                continue

    def take(self, value: str) -> int | None:
        waiting = self.passed.get(value)
        if waiting:
            return waiting.popleft()
        for found, lineno in self.found:
            if found == value:
                return lineno
            self.passed.setdefault(found, deque()).append(lineno)
        return None


def _is_position(value: Any) -> bool:
    """{"lat": number, "lon": number} that verify can measure a distance with: finite, and
    (an int of any length being valid JSON) within what a float holds."""
    return isinstance(value, dict) and all(
        isinstance(value.get(k), int | float)
        and not isinstance(value.get(k), bool)
        and -1e300 <= value[k] <= 1e300  # False for NaN too
        for k in ("lat", "lon")
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _NotOnePerLine(Exception):
    """The JSON manifest is not laid out one entry per line: parse it as one document."""


def _one_per_line(text: str) -> tuple[Any, Iterator[tuple[Any, int | None]]] | None:
    """(head, (row, line) pairs) of a JSON manifest written as `render_json` writes it: the head
    and `"entries": [` on line 1, one entry per line, `]}` last. None for any other layout.

    The rows are parsed one line at a time, so a million of them never exist at once (a whole-
    document parse of 1M entries peaks ~400 MB higher). A line that is not one entry raises
    _NotOnePerLine while iterating; the caller then parses the whole document, which accepts
    the same documents and finds the error a whole-document parse would.
    """
    first_nl = text.find("\n")
    head_line = text[:first_nl].rstrip()
    if first_nl < 0 or not head_line.endswith('"entries": ['):
        return None
    try:
        head = json.loads(head_line + "]}")
    except (ValueError, RecursionError):
        return None
    end = len(text.rstrip())
    if text[:end].endswith("\n]}"):
        last_nl = end - 3
    elif text[:end].endswith("\r\n]}"):
        last_nl = end - 4
    else:
        return None

    def rows() -> Iterator[tuple[Any, int | None]]:
        lineno, start = 1, first_nl + 1
        pending: str | None = None  # a row is known complete when the next one starts
        pending_line = 0
        while start <= last_nl:
            stop = text.find("\n", start)
            stop = last_nl if stop < 0 or stop > last_nl else stop
            line = text[start:stop].strip()
            lineno, start = lineno + 1, stop + 1
            if not line:
                continue
            if pending is not None:
                if not pending.endswith(","):
                    raise _NotOnePerLine
                yield _row(pending[:-1]), pending_line
            pending, pending_line = line, lineno
        if pending is not None:
            if pending.endswith(","):
                raise _NotOnePerLine
            yield _row(pending), pending_line

    return head, rows()


def _row(line: str) -> Any:
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        raise _NotOnePerLine from None


def _document_rows(p: Path, text: str) -> tuple[Any, Iterator[tuple[Any, int | None]]]:
    doc = parse_json(text, str(p), ManifestError)
    if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list):
        return doc, iter(())
    rows, path_lines = doc["entries"], _PathLines(text)

    def pairs() -> Iterator[tuple[Any, int | None]]:
        for i in range(len(rows)):
            row, rows[i] = rows[i], None  # each row's dict freed once read
            raw_path = row.get("path") if isinstance(row, dict) else None
            yield row, path_lines.take(raw_path) if isinstance(raw_path, str) else None

    return doc, pairs()


def read_json(p: Path, text: str) -> Manifest:
    laid_out = _one_per_line(text)
    try:
        return _json_manifest(p, *(laid_out or _document_rows(p, text)))
    except _NotOnePerLine:
        return _json_manifest(p, *_document_rows(p, text))


def _json_manifest(p: Path, doc: Any, rows: Iterator[tuple[Any, int | None]]) -> Manifest:
    if not isinstance(doc, dict) or doc.get("format") != "photoverify-manifest":
        raise ManifestError(f"{p}:1: not a photoverify manifest")
    if doc.get("version") != 1:
        raise ManifestError(f"{p}:1: unsupported manifest version {doc.get('version')!r}")
    alg = doc.get("algorithm")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        raise ManifestError(f"{p}:1: unsupported algorithm {alg!r}")
    if not isinstance(doc.get("entries"), list):
        raise ManifestError(f"{p}:1: no entries list")
    root = doc.get("root")
    if root is not None and not isinstance(root, str):
        raise ManifestError(f"{p}:1: root {root!r} is not a path")
    entries: dict[str, ManifestEntry] = {}
    for i, (row, lineno) in enumerate(rows):
        raw_path = row.get("path") if isinstance(row, dict) else None
        where = f"{p}:{lineno or '?'} (entry {i})"
        if not isinstance(raw_path, str):
            raise ManifestError(f"{where}: entry without a path")
        digest = row.get(alg)
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-fA-F]+", digest):
            raise ManifestError(f"{where}: entry without a {alg} digest")
        if len(digest) != HEX_LENGTH[alg]:
            raise ManifestError(f"{where}: {alg} digest has {len(digest)} hex digits")
        size, mtime = row.get("size"), row.get("mtime_ns")
        if size is not None and (not _is_int(size) or size < 0):
            raise ManifestError(f"{where}: size {size!r} is not a byte count")
        if mtime is not None and not _is_int(mtime):
            raise ManifestError(f"{where}: mtime_ns {mtime!r} is not a number of nanoseconds")
        rel = checked_path(raw_path, where)
        extra = {k: row[k] for k in ("captured_at", "gps") if row.get(k) is not None}
        if not isinstance(extra.get("captured_at", ""), str):
            raise ManifestError(f"{where}: captured_at {extra['captured_at']!r} is not a time")
        if "gps" in extra and not _is_position(extra["gps"]):
            raise ManifestError(f"{where}: gps {extra['gps']!r} is not a lat/lon position")
        entry = ManifestEntry(rel, {alg: digest.lower()}, size, mtime, extra, lineno)
        add_entry(entries, entry, where)
    return Manifest(alg, "json", list(entries.values()), str(p), root)

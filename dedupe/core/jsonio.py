"""Reading JSON that came from outside (plans, ledgers, manifests, verify output), and writing
the JSON photoverify leaves for others (plans, ledgers, journals, JSON manifests).

One home for the rule that no JSON file can crash a run: whatever the bytes, the caller gets a
document or the project's error class with one line naming the file (and the line where the
parser knows it). `json.loads` raises RecursionError on deeply nested input and a bare
ValueError on an over-long integer; both are turned into that one line here.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from typing import Any

from photoverify.dedupe.core.errors import PhotoverifyError, UsageError

_SURROGATE = re.compile("[\ud800-\udfff]")


def json_bytes(doc: Any, indent: int | None = None) -> bytes:
    """`doc` as UTF-8 JSON that any JSON reader accepts, whatever the file names in it.

    A name byte that is not UTF-8 (0xE9 in a Latin-1 `caf\\xe9.jpg`) reaches Python as the lone
    surrogate U+DCE9 (PEP 383, `os.fsdecode`). It is written as the JSON escape `\\udce9`: the
    file stays valid UTF-8, `json.load` gives back the same string and `os.fsencode` of it the
    original bytes. That is photoverify's one escaping for undecodable bytes, in every JSON file
    it writes; every other character is written as itself (UTF-8), so names stay readable.
    """
    return escape_surrogates(json.dumps(doc, indent=indent, ensure_ascii=False)).encode("utf-8")


def escape_surrogates(text: str) -> str:
    """Each lone surrogate (an undecodable name byte) as its `\\udcXX` escape; see json_bytes.
    In a JSON string that is the JSON escape; in the ledger's CSV, the same spelling."""
    if _SURROGATE.search(text):
        return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


def parse_json(text: str, source: str, error: type[PhotoverifyError] = UsageError) -> Any:
    """The document in `text` (read from `source`), or `error` with one line naming it."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{source}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise error(f"{source}: not valid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer longer than int() accepts
        raise error(f"{source}: not valid JSON: {exc}") from None


def read_text(
    path: str | os.PathLike, error: type[PhotoverifyError] = UsageError, what: str = "file"
) -> str:
    """A file's text: UTF-8, undecodable bytes kept as surrogates, a leading BOM dropped; or
    UTF-16 when it starts with a UTF-16 BOM (what Windows PowerShell 5's `>` writes)."""
    where = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise error(f"{where}: {what} not found") from None
    except OSError as exc:
        raise error(f"{where}: cannot read {what}: {exc.strerror or exc}") from None
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        try:
            return data.decode("utf-16")  # the BOM tells the byte order and is consumed
        except UnicodeDecodeError as exc:
            raise error(f"{where}: {what} starts as UTF-16 but is not: {exc.reason}") from None
    text = data.decode("utf-8", "surrogateescape")
    return text[1:] if text.startswith("\ufeff") else text


def read_json(
    path: str | os.PathLike, error: type[PhotoverifyError] = UsageError, what: str = "file"
) -> Any:
    """The JSON document in a file, or `error` with one line naming the file."""
    return parse_json(read_text(path, error, what), os.fspath(path), error)

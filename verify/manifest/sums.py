"""The line formats ``b3sum`` / ``sha256sum`` / ``sha1sum`` / ``md5sum``, written and read.

``HASH  path`` lines, as the GNU tools and ``b3sum`` write them. A name holding a backslash or a
newline is written on a line that starts with ``\\``, with ``\\\\`` and ``\\n`` escapes (what
both ``b3sum --check`` and coreutils accept; a carriage return is written raw because b3sum 1.2
rejects the ``\\r`` escape that coreutils 9 writes). Reading also accepts the binary marker
``HASH *path``, the ``\\r`` escape and BSD/``--tag`` lines ``SHA256 (path) = HASH``. A top-level
file named ``-`` is written ``./-`` (``-`` alone means standard input to the peers).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from photoverify.dedupe.core.errors import ManifestError
from photoverify.verify.manifest.entries import (
    HEX_LENGTH,
    LINE_FORMATS,
    PLAIN_PATH,
    Manifest,
    ManifestEntry,
)
from photoverify.verify.manifest.parsing import add_entry, checked_path, split_lines

# ---------------------------------------------------------------------------- writing


def _escape_sum_name(name: str) -> tuple[bool, str]:
    # A trailing CR would read as a CRLF line end, so only that one is escaped (b3sum 1.2
    # rejects the escape, coreutils accepts it).
    trailing_cr = name.endswith("\r")
    if "\\" not in name and "\n" not in name and not trailing_cr:
        return False, name
    text = name.replace("\\", "\\\\").replace("\n", "\\n")
    return True, text[:-1] + "\\r" if trailing_cr else text


def sum_line(digest: str, name: str) -> bytes:
    if name == "-":  # b3sum and coreutils read a file named "-" as standard input
        name = "./-"
    escaped, text = _escape_sum_name(name)
    return (("\\" if escaped else "") + f"{digest}  {text}\n").encode("utf-8", "surrogateescape")


# ---------------------------------------------------------------------------- reading


_SUM_LINE = re.compile(r"^([0-9a-fA-F]+) [ *](.*)$", re.S)
_TAG_LINE = re.compile(r"^([A-Za-z0-9-]+) \((.*)\) = ([0-9a-fA-F]+)$", re.S)
_TAG_NAMES = {"md5": "md5", "sha1": "sha1", "sha256": "sha256", "blake3": "blake3"}


def sum_algorithm_hint(text: str, name: str) -> str | None:
    """The algorithm a sum file holds, from a BSD tag, the hex length, then the file name."""
    for raw in split_lines(text):
        line = raw.lstrip("\\")
        if not line.strip() or line.startswith("#"):
            continue
        m = _TAG_LINE.match(line)
        if m:
            return _TAG_NAMES.get(m.group(1).lower())
        m = _SUM_LINE.match(line)
        if not m:
            return None
        n = len(m.group(1))
        if n == 40:
            return "sha1"
        if n == 32:
            return "md5"
        if n != 64:
            return None
        lname = name.lower()
        if "b3" in lname or "blake3" in lname:
            return "blake3"
        if "sha256" in lname:
            return "sha256"
        return None
    return None


def _unescape(s: str, where: str) -> str:
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            nxt = s[i + 1 : i + 2]
            if nxt == "\\":
                out.append("\\")
            elif nxt == "n":
                out.append("\n")
            elif nxt == "r":
                out.append("\r")
            else:
                raise ManifestError(f"{where}: invalid backslash escape")
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


@dataclass(slots=True)
class _Where:
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@functools.cache
def _plain_sum_line(digits: int) -> re.Pattern[str]:
    """A plain sum line: `digits` lower-case hex digits, one optional "./", then a path already
    in the normal form (entries.PLAIN_PATH, safe_relpath's common case)."""
    return re.compile(rf"^([0-9a-f]{{{digits}}}) [ *](?:\./)?({PLAIN_PATH})\n", re.M)


def _plain_entries(text: str, alg: str) -> list[ManifestEntry] | None:
    """The entries of a manifest made only of plain `alg` sum lines of distinct names in normal
    form, the common case, read by one regular expression; None when any line is anything else
    (a comment, a blank, an escaped, BSD or CRLF line, a name to normalize or refuse, a name
    listed twice): the line-by-line reader then decides, and names the line."""
    if "\\" in text or "\r" in text:
        return None
    body = text if text.endswith("\n") else text + "\n"
    pairs = _plain_sum_line(HEX_LENGTH[alg]).findall(body)
    if len(pairs) != body.count("\n"):
        return None
    entries = {name: ManifestEntry(name, {alg: d}, line=i) for i, (d, name) in enumerate(pairs, 1)}
    return list(entries.values()) if len(entries) == len(pairs) else None


def read_sums(p: Path, text: str, algorithm: str | None) -> Manifest:
    hint = sum_algorithm_hint(text, p.name)
    alg = algorithm or hint or "sha256"
    plain = _plain_entries(text, alg)
    if plain:
        return _sums_manifest(p, plain, alg, algorithm, hint)
    return read_sum_lines(p, text, algorithm, hint)


def read_sum_lines(p: Path, text: str, algorithm: str | None, hint: str | None) -> Manifest:
    """Any sum file, one line at a time (read_sums' way for all but plain lines)."""
    entries: dict[str, ManifestEntry] = {}
    seen_algs: set[str] = set()
    for lineno, raw in enumerate(split_lines(text), 1):
        where = _Where(p, lineno)  # formatted only in a message
        if not raw.strip() or raw.startswith("#"):
            continue
        escaped = raw.startswith("\\")
        line = raw[1:] if escaped else raw
        # the two line forms never both match: a sum line is the common one, so it is tried first
        m = _SUM_LINE.match(line)
        if m:
            digest, name = m.group(1), m.group(2)
            alg = algorithm or hint or "sha256"
        else:
            m = _TAG_LINE.match(line)
            if not m:
                raise ManifestError(f"{where}: not a checksum line")
            tag_alg = _TAG_NAMES.get(m.group(1).lower())
            if tag_alg is None:
                raise ManifestError(f"{where}: unsupported algorithm {m.group(1)!r}")
            name, digest, alg = m.group(2), m.group(3), tag_alg
        if len(digest) != HEX_LENGTH[alg]:
            raise ManifestError(
                f"{where}: digest of {len(digest)} hex digits is not {alg} ({HEX_LENGTH[alg]})"
            )
        if escaped:
            name = _unescape(name, where)
        seen_algs.add(alg)
        rel = checked_path(name, where)
        add_entry(entries, ManifestEntry(rel, {alg: digest.lower()}, line=lineno), where)
    if not entries:
        raise ManifestError(f"{p}: no checksum lines")
    if len(seen_algs) > 1:
        raise ManifestError(f"{p}: mixes algorithms {', '.join(sorted(seen_algs))}")
    return _sums_manifest(p, list(entries.values()), seen_algs.pop(), algorithm, hint)


def _sums_manifest(
    p: Path, entries: list[ManifestEntry], alg: str, algorithm: str | None, hint: str | None
) -> Manifest:
    fmt = next(f for f, a in LINE_FORMATS.items() if a == alg)
    candidates: tuple[str, ...] = (alg,)
    if algorithm is None and hint is None and alg == "sha256":
        # Nothing tells blake3 from sha256 apart: both are 64 hex digits.
        candidates = ("sha256", "blake3")
    return Manifest(alg, fmt, entries, str(p), candidates=candidates)

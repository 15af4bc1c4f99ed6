"""A manifest's records (Manifest, ManifestEntry), the constants of its formats, and its names:
the key two spellings share (path_key), the normal form a read name takes (safe_relpath) and
the names a format cannot hold (unholdable, holdable)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from photoverify.dedupe.core.findings import Finding

LINE_FORMATS = {"b3sum": "blake3", "sha256sum": "sha256", "sha1sum": "sha1", "md5sum": "md5"}
FORMATS = (*LINE_FORMATS, "hashdeep", "bagit", "json")
DEFAULT_ALGORITHM = {**LINE_FORMATS, "hashdeep": "sha256", "bagit": "sha256", "json": "blake3"}
HASHDEEP_ALGORITHMS = ("md5", "sha1", "sha256")  # the ones hashdeep and dedupe.hashing share
BAGIT_ALGORITHMS = ("md5", "sha1", "sha256")
STRENGTH = ("blake3", "sha256", "sha1", "md5")  # preferred first when a manifest has several
HEX_LENGTH = {"blake3": 64, "sha256": 64, "sha1": 40, "md5": 32}
BAG_TAG_FILES = ("bagit.txt", "bag-info.txt")


class FileStat(NamedTuple):
    """What a manifest keeps of a file's stat: its size, modification time and inode, under
    os.stat_result's names. A whole stat_result costs ~600 bytes a file (19 fields, each its own
    int object): 600 MB of a million-file manifest or verify."""

    st_size: int
    st_mtime_ns: int
    st_ino: int


# (path, stat, algorithm) -> the digest known for the file without reading it, or None
KnownDigest = Callable[[str, FileStat, str], "str | None"]
MediaInfo = Callable[[str], "dict[str, Any] | None"]
Progress = Callable[[int, int, str], None]


@dataclass(slots=True)  # a million entries: __dict__ would cost ~100 MB
class ManifestEntry:
    path: str  # relative, "/"-separated, as written in the manifest (or found on disk)
    digests: dict[str, str]
    size: int | None = None
    mtime_ns: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    line: int | None = None  # where it was read from, for messages


@dataclass
class Manifest:
    algorithm: str
    format: str
    entries: list[ManifestEntry]
    source: str  # the manifest file (or bag directory)
    root: str | None = None  # the tree the paths are relative to, when the manifest says
    # Algorithms the digests may be in: a 64-hex line manifest without a name hint may be
    # blake3 or sha256; fixity hashes with both and keeps the one that matches.
    candidates: tuple[str, ...] = ()
    errors: list[Finding] = field(default_factory=list)  # files that could not be written
    digests_reused: int = 0  # written: files whose digest a known_digest gave, contents unread

    def __post_init__(self) -> None:
        if not self.candidates:
            self.candidates = (self.algorithm,)


def path_key(path: str) -> str:
    """The key two spellings of one name share: NFC, so an NFD export matches an NFC copy."""
    return path if path.isascii() else unicodedata.normalize("NFC", path)  # ASCII is NFC


_DRIVE = re.compile(r"^[A-Za-z]:")


# A path already in the normal form, on one line: no drive letter first, names without "/",
# "\\", NUL or a line break, none of them "." or ".." (`$`: the end of the path, or of its line
# in a pattern that reads many lines: sums.read_sums).
PLAIN_PATH = r"(?![A-Za-z]:)(?:(?!\.\.?/)[^/\\\0\n]+/)*(?!\.\.?$)[^/\\\0\n]+"
_PLAIN = re.compile(PLAIN_PATH)


def safe_relpath(raw: str) -> str:
    """Normalize a manifest path to ``a/b/c``; raise ValueError if it could leave the root."""
    plain = raw[2:] if raw.startswith("./") else raw  # `find .` names, as b3sum lists them
    if _PLAIN.fullmatch(plain):
        return plain  # the common case, decided in one match (a million-line manifest)
    if raw == "":
        raise ValueError("empty path")
    if "\0" in raw:
        raise ValueError("path contains a NUL byte")
    if raw.startswith("/") or raw.startswith("\\"):
        raise ValueError(f"absolute path {raw!r}")
    if _DRIVE.match(raw):
        raise ValueError(f"path with a drive letter {raw!r}")
    # A backslash is an ordinary name character here, but "..\x" escapes the root on Windows.
    if any(part == ".." for part in re.split(r"[\\/]", raw)):
        raise ValueError(f"path leaves the root {raw!r}")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if not parts:
        raise ValueError(f"path names no file {raw!r}")
    return "/".join(parts)


def problem(rel: str, outcome: str, message: str) -> Finding:
    return Finding(rel, "manifest", "error", outcome, f"{rel}: {message}")


# bagit-python reads manifests through codecs.open, whose readline splits where str.splitlines
# does: CR and LF are percent-encoded, these have no escape.
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # a name byte that is not UTF-8 (surrogateescape)
_BAGIT_LINE_BREAKS = frozenset("\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def unholdable(fmt: str, rel: str) -> str | None:
    """Why a manifest of format `fmt` cannot hold the name `rel` (None: it can).

    What photoverify's reader refuses (a name starting with a backslash or a drive letter, or
    holding ``..\\``: they leave the root on Windows) is never written. b3sum 1.2 prints a name
    that is not UTF-8 as U+FFFD and its ``--check`` rejects the ``\\r`` escape a trailing CR
    needs; hashdeep's CSV has no escaping for a newline and drops a CR that ends a line; a BagIt
    manifest is UTF-8 and bagit-python splits its lines as str.splitlines does (at VT, FF,
    U+2028…), strips trailing whitespace from them, decodes ``%0A``/``%0D`` (no escape for ``%``
    exists) and only the first two of each.
    """
    try:
        safe_relpath(rel)
    except ValueError as exc:
        return f"photoverify's manifest reader refuses this name ({exc})"
    undecodable = _UNDECODABLE.search(rel) is not None  # one scan, not a generator per char
    if fmt == "b3sum":
        if undecodable:
            return "b3sum cannot hold a name that is not UTF-8"
        if rel.endswith("\r"):
            return "b3sum cannot hold a name ending in a carriage return"
    elif fmt == "hashdeep":
        if "\n" in rel:
            return "hashdeep cannot hold a newline in a name"
        if rel.endswith("\r"):  # hashdeep -k reads `./trail\r` as `./trail`
            return "hashdeep cannot hold a name ending in a carriage return"
    elif fmt == "bagit":
        if undecodable:
            return "a BagIt manifest (UTF-8) cannot hold a name that is not UTF-8"
        if rel != rel.rstrip():
            return "bagit-python strips whitespace at the end of a name"
        if any(c in _BAGIT_LINE_BREAKS for c in rel):
            return "bagit-python reads a manifest with str.splitlines, which ends a line here"
        if re.search("%0[aAdD]", rel):
            return "bagit-python reads %0A and %0D in a name as a newline and a carriage return"
        if rel.count("\n") > 2 or rel.count("\r") > 2:
            return "bagit-python decodes at most two newlines and two carriage returns in a name"
    return None


def holdable(fmt: str, items: list, errors: list[Finding]) -> list:
    """The items (TreeFiles or ManifestEntries) whose names fmt can hold; a finding for each
    other one. A bag cannot hold two names that differ only in Unicode normalization either:
    bagit-python matches names NFC-insensitively, so the NFC spelling is kept."""
    kept = []
    for item in items:
        name = item.path if isinstance(item, ManifestEntry) else item.rel
        reason = unholdable(fmt, name)
        if reason is None:
            kept.append(item)
        else:
            errors.append(problem(name, "unrepresentable", reason))
    if fmt != "bagit":
        return kept
    first: dict[str, str] = {}
    for item in sorted(kept, key=lambda i: (i.rel != path_key(i.rel), i.rel)):
        first.setdefault(path_key(item.rel), item.rel)
    out = []
    for item in kept:
        twin = first[path_key(item.rel)]
        if twin == item.rel:
            out.append(item)
        else:
            errors.append(problem(item.rel, "unrepresentable", (
                f"a BagIt bag cannot hold both it and {twin!r}, the same name in another "
                "Unicode normalization (bagit-python matches names NFC-insensitively)"
            )))  # fmt: skip
    return out

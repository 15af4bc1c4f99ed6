"""Checksum manifests: the formats peer tools read and write, in both directions.

A manifest maps paths relative to a root to content digests (and sizes where the format has
them). Formats, each written and read:

* ``b3sum`` / ``sha256sum`` / ``sha1sum`` / ``md5sum``: ``HASH  path`` lines, as the GNU tools and
  ``b3sum`` write them. A name holding a backslash or a newline is written on a line that starts
  with ``\\``, with ``\\\\`` and ``\\n`` escapes (what both ``b3sum --check`` and coreutils
  accept; a carriage return is written raw because b3sum 1.2 rejects the ``\\r`` escape that
  coreutils 9 writes). Reading also accepts the binary marker ``HASH *path``, the ``\\r`` escape
  and BSD/``--tag`` lines ``SHA256 (path) = HASH``.
* ``hashdeep``: the HASHDEEP-1.0 CSV with sizes, paths written ``./rel`` as ``hashdeep -l`` does.
  Audit it from inside ROOT with ``hashdeep -a -k MANIFEST -r -l .`` (without ``-l`` hashdeep
  compares absolute paths and reports every file as moved). The format has no escaping, so a name
  holding a newline cannot be written: such files are left out and reported in ``errors``.
* ``bagit``: a BagIt 1.0 bag that bagit-python validates. BagIt needs the payload under ``data/``
  and the user's files are never moved, so:

  - ``out_path == root`` (in place): allowed only when ROOT already has a ``data/`` directory;
    the tag files are written into ROOT and the payload is ROOT/data.
  - ``bag_mode="link"`` (default): OUT/data is a tree of *hard links* to ROOT's files. Nothing is
    copied or moved; OUT must be on ROOT's file system. A ``data`` *symlink* to ROOT was tried and
    is refused by bagit-python 1.9 ("Path ... is unsafe": it resolves every payload path with
    realpath and requires it inside the bag), so it is not offered.
  - ``bag_mode="copy"``: the files are copied into OUT/data (then the copies are hashed).

  Payload names are written NFC (bagit-python matches NFC/NFD-insensitively) with CR/LF
  percent-encoded as bagit-python does (it decodes no other escape, so ``%`` is written raw).
* ``json``: photoverify's own, one entry per line, paths NFC, written by dedupe.jsonio's one
  JSON writer (an undecodable name byte 0xXY is the escape ``\\udcXY``: docs/plan-format.md).

Paths are written as they are on disk (``/``-separated) for the line formats and hashdeep, because
their peers open files by the bytes in the manifest and Linux file systems do not normalize
Unicode; ``json`` and ``bagit`` names are NFC, except that two names with one NFC form (two files
on Linux) are both written as they are in ``json``. Reading keeps every spelling as its own entry
and checking matches NFC/NFD-insensitively (see :func:`path_key`, fixity.check_fixity).
Entries that point outside the root are refused, never read.

Every writer goes through :func:`unholdable`: a name a format cannot hold (b3sum: not UTF-8, or
ending in CR; hashdeep: a newline, or ending in CR; BagIt: not UTF-8, trailing whitespace,
``%0A``/``%0D``, line breaks other than CR/LF, NFC twins; any format: a name the reader refuses,
like ``\\x`` or ``C:x``) is left out of that manifest (and of a bag's payload) and reported in
``Manifest.errors``, one finding naming it, so a written manifest always reads back here and
passes its peer's check. A top-level file named ``-`` is written ``./-`` in the line formats
(``-`` alone means standard input to their peers).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import stat as _stat
import unicodedata
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from photoverify.dedupe.core.errors import ManifestError, UsageError
from photoverify.dedupe.core.hashing import ALGORITHMS, hash_file, hash_files
from photoverify.dedupe.core.jsonio import json_bytes, parse_json, read_text
from photoverify.dedupe.core.outfile import write_output
from photoverify.dedupe.core.records import Finding
from photoverify.dedupe.core.timeparse import now_iso

LINE_FORMATS = {"b3sum": "blake3", "sha256sum": "sha256", "sha1sum": "sha1", "md5sum": "md5"}
FORMATS = (*LINE_FORMATS, "hashdeep", "bagit", "json")
DEFAULT_ALGORITHM = {**LINE_FORMATS, "hashdeep": "sha256", "bagit": "sha256", "json": "blake3"}
HASHDEEP_ALGORITHMS = ("md5", "sha1", "sha256")  # the ones hashdeep and dedupe.hashing share
BAGIT_ALGORITHMS = ("md5", "sha1", "sha256")
STRENGTH = ("blake3", "sha256", "sha1", "md5")  # preferred first when a manifest has several
HEX_LENGTH = {"blake3": 64, "sha256": 64, "sha1": 40, "md5": 32}
BAG_TAG_FILES = ("bagit.txt", "bag-info.txt")

KnownDigest = Callable[[str, os.stat_result, str], "str | None"]
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
    return unicodedata.normalize("NFC", path)


_DRIVE = re.compile(r"^[A-Za-z]:")


# A path already in the normal form: names without "/", "\\" or NUL, none of them "." or "..".
_PLAIN = re.compile(r"(?:(?!\.\.?/)[^/\\\0]+/)*(?!\.\.?$)[^/\\\0]+")


def safe_relpath(raw: str) -> str:
    """Normalize a manifest path to ``a/b/c``; raise ValueError if it could leave the root."""
    plain = raw[2:] if raw.startswith("./") else raw  # `find .` names, as b3sum lists them
    if _PLAIN.fullmatch(plain) and not _DRIVE.match(plain):
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


# ---------------------------------------------------------------------------- walking and hashing


@dataclass
class TreeFile:
    rel: str
    abs: str
    stat: os.stat_result


def walk_tree(
    root: str | os.PathLike, skip: tuple[str, ...] = ()
) -> tuple[list[TreeFile], list[Finding]]:
    """Regular files under root, sorted by relative path; symlinks are never followed.

    `skip` holds absolute paths (files or directories) left out, e.g. the manifest itself.
    Returns (files, findings) where findings name what was skipped or could not be listed.
    """
    root_s = os.path.abspath(os.fspath(root))  # so every entry.path below is absolute already
    skip_set = {os.path.abspath(s) for s in skip}
    files: list[TreeFile] = []
    problems: list[Finding] = []

    # A stack, not recursion: a tree a thousand folders deep is a tree like any other. A path
    # longer than PATH_MAX cannot be listed or opened, and is reported like any unreadable one.
    stack = [(root_s, "")]
    while stack:
        directory, rel_prefix = stack.pop()
        try:
            with os.scandir(directory) as it:
                items = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            problems.append(
                _problem(rel_prefix or ".", "unreadable", f"cannot list: {exc.strerror or exc}")
            )
            continue
        subdirs = []
        for entry in items:
            rel = rel_prefix + entry.name
            if entry.path in skip_set:
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                problems.append(_problem(rel, "unreadable", f"cannot stat: {exc}"))
                continue
            if _stat.S_ISDIR(st.st_mode):
                subdirs.append((entry.path, rel + "/"))
            elif _stat.S_ISREG(st.st_mode):
                files.append(TreeFile(rel, entry.path, st))
            else:
                kind = "symlink" if _stat.S_ISLNK(st.st_mode) else "special file"
                problems.append(
                    Finding(rel, "manifest", "warning", "skipped", f"{kind} not followed: {rel}")
                )
        stack.extend(reversed(subdirs))
    files.sort(key=lambda f: f.rel)
    return files, problems


def _problem(rel: str, outcome: str, message: str) -> Finding:
    return Finding(rel, "manifest", "error", outcome, f"{rel}: {message}")


def known_digests(
    f: TreeFile, algorithms: tuple[str, ...], known_digest: KnownDigest
) -> dict[str, str]:
    """The digests of f that known_digest supplies (the stat-only opt-in); nothing is read."""
    digests: dict[str, str] = {}
    for alg in algorithms:
        known = known_digest(f.abs, f.stat, alg)
        if known:
            digests[alg] = known.lower()
    return digests


# ---------------------------------------------------------------------------- writing


def write_manifest(
    root: str | os.PathLike,
    out_path: str | os.PathLike,
    fmt: str = "b3sum",
    algorithm: str | None = None,
    known_digest: KnownDigest | None = None,
    media_info: MediaInfo | None = None,
    progress: Progress | None = None,
    bag_mode: str = "link",
) -> Manifest:
    """Hash every regular file under root and write a manifest of format `fmt` to out_path.

    For ``bagit`` out_path is the bag directory (see the module docstring for `bag_mode`).
    Files that cannot be read are left out and returned in ``Manifest.errors``.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown manifest format {fmt!r}; choose one of {', '.join(FORMATS)}")
    algorithm = _resolve_algorithm(fmt, algorithm)
    root_p = Path(root).absolute()
    out_p = Path(out_path).absolute()
    if not root_p.is_dir():
        raise UsageError(f"{root_p}: not a directory")
    if fmt == "bagit":
        return _write_bag(root_p, out_p, algorithm, known_digest, progress, bag_mode)

    files, errors = walk_tree(root_p, skip=(str(out_p), str(out_p) + ".tmp"))
    files = _holdable(fmt, files, errors)
    entries, reused = _hash_files(files, (algorithm,), known_digest, progress, errors)
    if fmt == "json" and media_info is not None:
        for e in entries:
            info = media_info(str(root_p / e.path)) or {}
            e.extra.update({k: info[k] for k in ("captured_at", "gps") if info.get(k) is not None})

    manifest = Manifest(
        algorithm, fmt, entries, str(out_p), str(root_p), errors=errors, digests_reused=reused
    )
    write_output(out_p, render_manifest(manifest))
    return manifest


def render_manifest(manifest: Manifest) -> bytes:
    """The bytes of a manifest file in manifest.format (any but ``bagit``, which is a directory).

    Lets a caller write a manifest from digests it already holds (e.g. the catalog's, or apply's
    ledger) without walking a tree. Entries need ``size`` for hashdeep. An entry the format
    cannot hold (see :func:`unholdable`) is moved from ``manifest.entries`` to
    ``manifest.errors``, one finding naming it: every manifest written reads back, here and in
    the peer tool.
    """
    manifest.entries = _holdable(manifest.format, manifest.entries, manifest.errors)
    fmt, algorithm, entries = manifest.format, manifest.algorithm, manifest.entries
    if fmt in LINE_FORMATS:
        return b"".join(_sum_line(e.digests[algorithm], e.path) for e in entries)
    if fmt == "hashdeep":
        return _hashdeep_bytes(manifest.root or "", algorithm, entries)
    if fmt == "json":
        return _json_bytes(manifest.root or "", algorithm, entries)
    raise UsageError(f"format {fmt!r} is not a single manifest file")


def render_b3sum(blake3s: dict[str, str], name: str) -> tuple[bytes, list[Finding]]:
    """The b3sum manifest `name` of {relative path: BLAKE3}, sorted by path, and a finding for
    each file it cannot hold (left out): the manifest apply writes into DEST, handed to
    photoverify.dedupe.move's apply_plan and undo, which do not import verify."""
    entries = [ManifestEntry(p, {"blake3": h}) for p, h in sorted(blake3s.items())]
    manifest = Manifest("blake3", "b3sum", entries, name)
    return render_manifest(manifest), manifest.errors


def _resolve_algorithm(fmt: str, algorithm: str | None) -> str:
    if algorithm is None:
        return DEFAULT_ALGORITHM[fmt]
    if algorithm not in ALGORITHMS:
        raise UsageError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    if fmt in LINE_FORMATS and LINE_FORMATS[fmt] != algorithm:
        raise UsageError(f"format {fmt} holds {LINE_FORMATS[fmt]} digests, not {algorithm}")
    if fmt == "hashdeep" and algorithm not in HASHDEEP_ALGORITHMS:
        raise UsageError(f"hashdeep cannot hold {algorithm}; use md5, sha1 or sha256")
    if fmt == "bagit" and algorithm not in BAGIT_ALGORITHMS:
        raise UsageError(f"BagIt cannot hold {algorithm}; use sha256, sha1 or md5")
    return algorithm


def read_digests(
    files: list[TreeFile],
    algorithms: tuple[str, ...],
    known_digest: KnownDigest | None = None,
    workers: int | None = None,
) -> Iterator[tuple[TreeFile, dict[str, str] | OSError, bool]]:
    """(file, its digests or the OSError that stopped the read, whether known_digest supplied
    them) for each file, in order. Every file is read, by a pool of threads, unless the stat-only
    opt-in `known_digest` supplies all its digests."""
    known: dict[str, dict[str, str]] = {}
    if known_digest is not None:
        for f in files:
            if len(d := known_digests(f, algorithms, known_digest)) == len(algorithms):
                known[f.abs] = d
    unknown = [f for f in files if f.abs not in known]
    read = hash_files(
        [f.abs for f in unknown], algorithms, workers, sizes=[f.stat.st_size for f in unknown]
    )
    for f in files:
        if f.abs in known:
            yield f, known[f.abs], True
        else:
            yield f, next(read)[1], False


def _hash_files(
    files: list[TreeFile],
    algorithms: tuple[str, ...],
    known_digest: KnownDigest | None,
    progress: Progress | None,
    errors: list[Finding],
) -> tuple[list[ManifestEntry], int]:
    """(entries, how many digests known_digest supplied); every other file is read."""
    entries, reused = [], 0
    for i, (f, digests, was_known) in enumerate(read_digests(files, algorithms, known_digest)):
        reused += was_known
        if progress is not None:
            progress(i + 1, len(files), f.rel)
        if isinstance(digests, OSError):
            msg = f"cannot read: {digests.strerror or digests}"
            errors.append(_problem(f.rel, "unreadable", msg))
            continue
        entries.append(ManifestEntry(f.rel, digests, f.stat.st_size, f.stat.st_mtime_ns))
    return entries, reused


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


def _holdable(fmt: str, items: list, errors: list[Finding]) -> list:
    """The items (TreeFiles or ManifestEntries) whose names fmt can hold; a finding for each
    other one. A bag cannot hold two names that differ only in Unicode normalization either:
    bagit-python matches names NFC-insensitively, so the NFC spelling is kept."""
    kept = []
    for item in items:
        name = item.rel if isinstance(item, TreeFile) else item.path
        reason = unholdable(fmt, name)
        if reason is None:
            kept.append(item)
        else:
            errors.append(_problem(name, "unrepresentable", reason))
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
            errors.append(_problem(item.rel, "unrepresentable", (
                f"a BagIt bag cannot hold both it and {twin!r}, the same name in another "
                "Unicode normalization (bagit-python matches names NFC-insensitively)"
            )))  # fmt: skip
    return out


def _escape_sum_name(name: str) -> tuple[bool, str]:
    # A trailing CR would read as a CRLF line end, so only that one is escaped (b3sum 1.2
    # rejects the escape, coreutils accepts it).
    trailing_cr = name.endswith("\r")
    if "\\" not in name and "\n" not in name and not trailing_cr:
        return False, name
    text = name.replace("\\", "\\\\").replace("\n", "\\n")
    return True, text[:-1] + "\\r" if trailing_cr else text


def _sum_line(digest: str, name: str) -> bytes:
    if name == "-":  # b3sum and coreutils read a file named "-" as standard input
        name = "./-"
    escaped, text = _escape_sum_name(name)
    return (("\\" if escaped else "") + f"{digest}  {text}\n").encode("utf-8", "surrogateescape")


def _hashdeep_bytes(root: str | Path, algorithm: str, entries: list[ManifestEntry]) -> bytes:
    lines = [
        "%%%% HASHDEEP-1.0\n",
        f"%%%% size,{algorithm},filename\n",
        f"## Invoked from: {root}\n",
        f"## $ photoverify manifest --format hashdeep --algorithm {algorithm}\n",
        "## \n",
    ]
    for e in entries:
        if e.size is None:
            raise UsageError(f"{e.path!r}: hashdeep needs a size")
        lines.append(f"{e.size},{e.digests[algorithm]},./{e.path}\n")
    return "".join(lines).encode("utf-8", "surrogateescape")


def _json_bytes(root: str | Path, algorithm: str, entries: list[ManifestEntry]) -> bytes:
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


def _bag_name(rel: str) -> str:
    return "data/" + path_key(rel).replace("\r", "%0D").replace("\n", "%0A")


def _write_bag(
    root: Path,
    out: Path,
    algorithm: str,
    known_digest: KnownDigest | None,
    progress: Progress | None,
    bag_mode: str,
) -> Manifest:
    if bag_mode not in ("link", "copy"):
        raise UsageError(f"unknown bag mode {bag_mode!r}; choose link or copy")
    in_place = out.resolve() == root.resolve()
    if in_place:
        payload = root / "data"
        if not payload.is_dir() or payload.is_symlink():
            raise UsageError(
                f"{root}: has no data/ directory to bag in place; give an output directory"
            )
        files, errors = walk_tree(payload)
        files = _holdable("bagit", files, errors)  # still in data/: bagit-python will say so
    else:
        if out.resolve().is_relative_to(root.resolve()):
            raise UsageError(f"{out}: the bag directory must not be inside {root}")
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise UsageError(f"{out}: exists and is not an empty directory")
        out.mkdir(parents=True, exist_ok=True)
        if bag_mode == "link" and os.stat(out).st_dev != os.stat(root).st_dev:
            raise UsageError(
                f"{out}: not on the same file system as {root}, so the payload cannot be "
                "hard-linked; use --bag-copy"
            )
        payload = out / "data"
        files, errors = walk_tree(root)
        files = _holdable("bagit", files, errors)  # left out of the payload too
        payload.mkdir()
        for f in files:
            dst = payload / f.rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if bag_mode == "link":
                os.link(f.abs, dst, follow_symlinks=False)
            else:
                shutil.copy2(f.abs, dst, follow_symlinks=False)
        if bag_mode == "copy":
            # What the bag certifies is the copies: hash them, not the originals.
            files, more = walk_tree(payload)
            errors += more
            known_digest = None
    entries, reused = _hash_files(files, (algorithm,), known_digest, progress, errors)
    for e in entries:
        e.path = path_key(e.path)  # the payload written above carries the on-disk spelling

    oxum_bytes = sum(e.size or 0 for e in entries)
    manifest_name = f"manifest-{algorithm}.txt"
    write_output(
        out / manifest_name,
        "".join(f"{e.digests[algorithm]}  {_bag_name(e.path)}\n" for e in entries).encode(),
    )
    write_output(out / "bagit.txt", b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    info = (
        f"Bag-Software-Agent: photoverify\n"
        f"Bagging-Date: {_dt.date.today().isoformat()}\n"
        f"Payload-Oxum: {oxum_bytes}.{len(entries)}\n"
    )
    write_output(out / "bag-info.txt", info.encode())
    tags = "".join(
        f"{hash_file(out / name, (algorithm,))[algorithm]}  {name}\n"
        for name in (*BAG_TAG_FILES, manifest_name)
    )
    write_output(out / f"tagmanifest-{algorithm}.txt", tags.encode())
    return Manifest(
        algorithm, "bagit", entries, str(out), str(payload), errors=errors, digests_reused=reused
    )


# ---------------------------------------------------------------------------- reading


def read_manifest(path: str | os.PathLike, fmt: str | None = None) -> Manifest:
    """Read a manifest file (or a bag directory); the format is detected when fmt is None."""
    p = Path(path)
    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"unknown manifest format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if p.is_dir():
        if fmt not in (None, "bagit"):
            raise ManifestError(f"{p}: is a directory, not a {fmt} manifest")
        return _read_bag(p)
    in_bag = re.fullmatch(r"manifest-\w+\.txt", p.name) and (p.parent / "bagit.txt").exists()
    if fmt == "bagit" or (fmt is None and in_bag):
        return _read_bag(p.parent if p.is_file() else p)
    text = read_text(p, ManifestError, "manifest")
    explicit = fmt is not None
    if fmt is None:
        fmt = detect_format(text, p.name)
    if fmt == "json":
        return _read_json(p, text)
    if fmt == "hashdeep":
        return _read_hashdeep(p, text)
    return _read_sums(p, text, LINE_FORMATS[fmt] if explicit else None)


def detect_format(text: str, name: str = "") -> str:
    """Guess a manifest's format from its content (and, for 64-hex sums, its file name)."""
    head = text.lstrip()
    if head.startswith("%%%% HASHDEEP"):
        return "hashdeep"
    if head.startswith("{"):
        return "json"
    algorithm = _sum_algorithm_hint(text, name)
    for fmt, alg in LINE_FORMATS.items():
        if alg == algorithm:
            return fmt
    return "sha256sum"


_SUM_LINE = re.compile(r"^([0-9a-fA-F]+) [ *](.*)$", re.S)
_TAG_LINE = re.compile(r"^([A-Za-z0-9-]+) \((.*)\) = ([0-9a-fA-F]+)$", re.S)
_TAG_NAMES = {"md5": "md5", "sha1": "sha1", "sha256": "sha256", "blake3": "blake3"}


def _sum_algorithm_hint(text: str, name: str) -> str | None:
    """The algorithm a sum file holds, from a BSD tag, the hex length, then the file name."""
    for raw in _split_lines(text):
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


def _split_lines(text: str) -> Iterator[str]:
    """The lines of a manifest one at a time (a list of a million lines costs ~150 MB)."""
    # A manifest saved on Windows: strip CR only when every line has one, since a lone trailing
    # CR may belong to a name.
    n_lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    n_cr = text.count("\r\n") + (1 if text.endswith("\r") else 0)
    crlf = n_lines > 0 and n_cr == n_lines
    start, end = 0, len(text)
    while start < end:
        stop = text.find("\n", start)
        if stop < 0:
            stop = end
        line = text[start:stop]
        start = stop + 1
        yield line[:-1] if crlf else line


def _checked_path(raw: str, where: str) -> str:
    try:
        return safe_relpath(raw)
    except ValueError as exc:
        raise ManifestError(f"{where}: refused entry: {exc}") from None


def _add(entries: dict[str, ManifestEntry], entry: ManifestEntry, where: str) -> None:
    # Keyed by the exact spelling: NFC and NFD `café` are two files on Linux, both listed.
    # Matching across normalizations is the checker's (fixity.check_fixity).
    key = entry.path
    old = entries.get(key)
    if old is None:
        entries[key] = entry
        return
    for alg, d in entry.digests.items():
        if old.digests.get(alg, d) != d:
            raise ManifestError(f"{where}: {entry.path!r} listed again with another digest")
        old.digests[alg] = d


@dataclass(slots=True)
class _Where:
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


def _read_sums(p: Path, text: str, algorithm: str | None) -> Manifest:
    hint = _sum_algorithm_hint(text, p.name)
    entries: dict[str, ManifestEntry] = {}
    seen_algs: set[str] = set()
    for lineno, raw in enumerate(_split_lines(text), 1):
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
        rel = _checked_path(name, where)
        _add(entries, ManifestEntry(rel, {alg: digest.lower()}, line=lineno), where)
    if not entries:
        raise ManifestError(f"{p}: no checksum lines")
    if len(seen_algs) > 1:
        raise ManifestError(f"{p}: mixes algorithms {', '.join(sorted(seen_algs))}")
    alg = seen_algs.pop()
    fmt = next(f for f, a in LINE_FORMATS.items() if a == alg)
    candidates: tuple[str, ...] = (alg,)
    if algorithm is None and hint is None and alg == "sha256":
        # Nothing tells blake3 from sha256 apart: both are 64 hex digits.
        candidates = ("sha256", "blake3")
    return Manifest(alg, fmt, list(entries.values()), str(p), candidates=candidates)


def _read_hashdeep(p: Path, text: str) -> Manifest:
    entries: dict[str, ManifestEntry] = {}
    columns: list[str] | None = None
    algs_seen: set[str] = set()
    for lineno, line in enumerate(_split_lines(text), 1):
        where = f"{p}:{lineno}"
        if line.startswith("%%%%"):
            body = line[4:].strip()
            if body.startswith("HASHDEEP"):
                if body != "HASHDEEP-1.0":
                    raise ManifestError(f"{where}: unsupported version {body!r}")
                columns = None
                continue
            columns = [c.strip().lower() for c in body.split(",")]
            if len(columns) < 2 or columns[0] != "size" or columns[-1] != "filename":
                raise ManifestError(f"{where}: bad column header {body!r}")
            continue
        if line.startswith("##") or not line.strip():
            continue
        if columns is None:
            raise ManifestError(f"{where}: entry before the %%%% column header")
        fields = line.split(",", len(columns) - 1)
        if len(fields) != len(columns):
            raise ManifestError(f"{where}: expected {len(columns)} fields")
        # int() would also take "-5", " 5", "1_000" and "١٢"; hashdeep writes ASCII digits.
        if not re.fullmatch(r"[0-9]{1,20}", fields[0]):
            raise ManifestError(f"{where}: size {fields[0]!r} is not a number")
        size = int(fields[0])
        digests = {}
        for col, value in zip(columns[1:-1], fields[1:-1], strict=True):
            if not re.fullmatch(r"[0-9a-fA-F]+", value):
                raise ManifestError(f"{where}: {col} digest {value!r} is not hexadecimal")
            if col in HEX_LENGTH and len(value) != HEX_LENGTH[col]:
                raise ManifestError(f"{where}: {col} digest has {len(value)} hex digits")
            digests[col] = value.lower()
        name = fields[-1]
        if name.startswith("/"):
            raise ManifestError(
                f"{where}: refused entry: absolute path {name!r} (write hashdeep files with -l)"
            )
        rel = _checked_path(name, where)
        algs_seen.update(digests)
        _add(entries, ManifestEntry(rel, digests, size=size, line=lineno), where)
    if not entries:
        raise ManifestError(f"{p}: no hashdeep entries")
    usable = [
        a for a in STRENGTH if a in algs_seen and all(a in e.digests for e in entries.values())
    ]
    if not usable:
        raise ManifestError(f"{p}: no supported algorithm among {', '.join(sorted(algs_seen))}")
    return Manifest(usable[0], "hashdeep", list(entries.values()), str(p))


def _read_bag(bag: Path) -> Manifest:
    if not (bag / "bagit.txt").is_file():
        raise ManifestError(f"{bag}: not a bag (no bagit.txt)")
    present = [a for a in ("sha512", *STRENGTH) if (bag / f"manifest-{a}.txt").is_file()]
    usable = [a for a in present if a in BAGIT_ALGORITHMS]
    if not usable:
        raise ManifestError(
            f"{bag}: no payload manifest in a supported algorithm (found: {', '.join(present)})"
        )
    entries: dict[str, ManifestEntry] = {}
    for alg in usable:
        mpath = bag / f"manifest-{alg}.txt"
        text = read_text(mpath, ManifestError, "bag manifest")
        for lineno, line in enumerate(_split_lines(text), 1):
            where = f"{mpath}:{lineno}"
            if not line.strip() or line.startswith("#"):
                continue
            m = re.match(r"^([0-9a-fA-F]+)[ \t]+\*?(.*)$", line, re.S)
            if not m or len(m.group(1)) != HEX_LENGTH[alg]:
                raise ManifestError(f"{where}: not a BagIt manifest line")
            name = m.group(2).replace("%0D", "\r").replace("%0A", "\n")
            name = name.replace("%0d", "\r").replace("%0a", "\n")
            rel = _checked_path(name, where)
            if not rel.startswith("data/"):
                raise ManifestError(f"{where}: refused entry: payload path outside data/ {name!r}")
            _add(entries, ManifestEntry(rel[5:], {alg: m.group(1).lower()}, line=lineno), where)
    best = usable[0]
    if any(best not in e.digests for e in entries.values()):
        raise ManifestError(f"{bag}: manifest-{best}.txt does not list every payload file")
    return Manifest(best, "bagit", list(entries.values()), str(bag), str(bag / "data"))


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
    """(head, (row, line) pairs) of a JSON manifest written as `_json_bytes` writes it: the head
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


def _read_json(p: Path, text: str) -> Manifest:
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
        rel = _checked_path(raw_path, where)
        extra = {k: row[k] for k in ("captured_at", "gps") if row.get(k) is not None}
        if not isinstance(extra.get("captured_at", ""), str):
            raise ManifestError(f"{where}: captured_at {extra['captured_at']!r} is not a time")
        if "gps" in extra and not _is_position(extra["gps"]):
            raise ManifestError(f"{where}: gps {extra['gps']!r} is not a lat/lon position")
        entry = ManifestEntry(rel, {alg: digest.lower()}, size, mtime, extra, lineno)
        _add(entries, entry, where)
    return Manifest(alg, "json", list(entries.values()), str(p), root)

"""A tree on disk as a manifest sees it: its regular files (walk_tree) and their digests, read
by a pool of threads unless the stat-only opt-in supplies them (read_digests)."""

from __future__ import annotations

import os
import stat as _stat
from collections.abc import Iterator
from dataclasses import dataclass
from operator import attrgetter

from photoverify.dedupe.core.findings import Finding
from photoverify.dedupe.core.hashing import hash_files_sized
from photoverify.verify.manifest.entries import (
    FileStat,
    KnownDigest,
    ManifestEntry,
    Progress,
    problem,
)


@dataclass(slots=True)  # a million of them in a million-file tree: no __dict__ each
class TreeFile:
    rel: str
    abs: str
    stat: FileStat | None  # None: walked without a stat (walk_tree's `stat`)


_NAME, _REL = attrgetter("name"), attrgetter("rel")


def walk_tree(
    root: str | os.PathLike, skip: tuple[str, ...] = (), stat: bool = True
) -> tuple[list[TreeFile], list[Finding]]:
    """Regular files under root, sorted by relative path; symlinks are never followed.

    `skip` holds absolute paths (files or directories) left out, e.g. the manifest itself.
    Returns (files, findings) where findings name what was skipped or could not be listed.
    With `stat` False a file's kind is read from its folder's listing (no stat, unless the file
    system does not say) and TreeFile.stat is None: a stat costs ~3 µs a file on Linux, more
    than the rest of the walk, and reading the file tells its size.
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
                items = sorted(it, key=_NAME)
        except OSError as exc:
            problems.append(
                problem(rel_prefix or ".", "unreadable", f"cannot list: {exc.strerror or exc}")
            )
            continue
        subdirs = []
        for entry in items:
            rel = rel_prefix + entry.name
            if entry.path in skip_set:
                continue
            try:
                if stat:
                    st = entry.stat(follow_symlinks=False)
                    mode = st.st_mode
                else:  # the kind alone, from the listing's d_type
                    mode = _kind(entry)
            except OSError as exc:
                problems.append(problem(rel, "unreadable", f"cannot stat: {exc}"))
                continue
            if _stat.S_ISDIR(mode):
                subdirs.append((entry.path, rel + "/"))
            elif _stat.S_ISREG(mode):
                got = FileStat(st.st_size, st.st_mtime_ns, st.st_ino) if stat else None
                files.append(TreeFile(rel, entry.path, got))
            else:
                kind = "symlink" if _stat.S_ISLNK(mode) else "special file"
                problems.append(
                    Finding(rel, "manifest", "warning", "skipped", f"{kind} not followed: {rel}")
                )
        stack.extend(reversed(subdirs))
    files.sort(key=_REL)
    return files, problems


def _kind(entry: os.DirEntry) -> int:
    """The file type bits of an entry, from its folder's listing where the file system gives
    them (DirEntry stats the entry itself where it does not)."""
    if entry.is_symlink():
        return _stat.S_IFLNK
    if entry.is_dir(follow_symlinks=False):
        return _stat.S_IFDIR
    if entry.is_file(follow_symlinks=False):
        return _stat.S_IFREG
    return _stat.S_IFIFO  # a device, pipe or socket: not a regular file, whichever


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


def read_digests(
    files: list[TreeFile],
    algorithms: tuple[str, ...],
    known_digest: KnownDigest | None = None,
    workers: int | None = None,
) -> Iterator[tuple[TreeFile, dict[str, str] | OSError, bool, int | None]]:
    """(file, its digests or the OSError that stopped the read, whether known_digest supplied
    them, its size) for each file, in order. Every file is read, by a pool of threads, unless
    the stat-only opt-in `known_digest` supplies all its digests. The size is the walk's, or
    for a file walked without a stat the size it had when opened to be read (None when it
    could not be)."""
    known: dict[str, dict[str, str]] = {}
    if known_digest is not None:
        for f in files:
            if f.stat and len(d := known_digests(f, algorithms, known_digest)) == len(algorithms):
                known[f.abs] = d
    unknown = [f for f in files if f.abs not in known]
    read = hash_files_sized(
        [f.abs for f in unknown],
        algorithms,
        [f.stat.st_size if f.stat else None for f in unknown],
        workers,
    )
    for f in files:
        if f.abs in known:
            yield f, known[f.abs], True, f.stat.st_size  # type: ignore[union-attr]
        else:
            _path, size, got = next(read)
            yield f, got, False, size


def hash_tree_files(
    files: list[TreeFile],
    algorithms: tuple[str, ...],
    known_digest: KnownDigest | None,
    progress: Progress | None,
    errors: list[Finding],
) -> tuple[list[ManifestEntry], int]:
    """(entries, how many digests known_digest supplied); every other file is read."""
    entries, reused = [], 0
    for i, (f, digests, was_known, size) in enumerate(
        read_digests(files, algorithms, known_digest)
    ):
        reused += was_known
        if progress is not None:
            progress(i + 1, len(files), f.rel)
        if isinstance(digests, OSError):
            msg = f"cannot read: {digests.strerror or digests}"
            errors.append(problem(f.rel, "unreadable", msg))
            continue
        mtime_ns = f.stat.st_mtime_ns if f.stat else None
        entries.append(ManifestEntry(f.rel, digests, size, mtime_ns))
    return entries, reused

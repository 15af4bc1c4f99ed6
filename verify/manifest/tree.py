"""A tree on disk as a manifest sees it: its regular files (walk_tree) and their digests, read
by a pool of threads unless the stat-only opt-in supplies them (read_digests)."""

from __future__ import annotations

import os
import stat as _stat
from collections.abc import Iterator
from dataclasses import dataclass

from photoverify.dedupe.core.hashing import hash_files
from photoverify.dedupe.core.records import Finding
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
    stat: FileStat


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
                problem(rel_prefix or ".", "unreadable", f"cannot list: {exc.strerror or exc}")
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
                problems.append(problem(rel, "unreadable", f"cannot stat: {exc}"))
                continue
            if _stat.S_ISDIR(st.st_mode):
                subdirs.append((entry.path, rel + "/"))
            elif _stat.S_ISREG(st.st_mode):
                files.append(
                    TreeFile(rel, entry.path, FileStat(st.st_size, st.st_mtime_ns, st.st_ino))
                )
            else:
                kind = "symlink" if _stat.S_ISLNK(st.st_mode) else "special file"
                problems.append(
                    Finding(rel, "manifest", "warning", "skipped", f"{kind} not followed: {rel}")
                )
        stack.extend(reversed(subdirs))
    files.sort(key=lambda f: f.rel)
    return files, problems


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


def hash_tree_files(
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
            errors.append(problem(f.rel, "unreadable", msg))
            continue
        entries.append(ManifestEntry(f.rel, digests, f.stat.st_size, f.stat.st_mtime_ns))
    return entries, reused

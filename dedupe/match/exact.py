"""Exact duplicates from bytes alone, as jdupes and rmlint find them: no scan, no catalog.

Files are walked (`dedupe.walk`), grouped by size, and only files that share a size are read:
first a head and tail block (a cheap hash that tells most same-size files apart), then, for
those still together, the whole file with BLAKE3 (`dedupe.hashing`, a pool of threads over
memory maps). Files with equal BLAKE3 form a cluster of kind ``identical``, and the keeper is
chosen by the same policy as `dupes` (`dedupe.policy`): for identical bytes every criterion drawn
from the content (format, pixels, metadata, capture time) ties, so the keeper is the one a full
scan would pick too (preferred root, then name, then path).

What counts as a duplicate, as jdupes decides it by default:

* empty files are never duplicates (nothing would be freed by removing one);
* symbolic links are not followed (unless asked), so a link is not a copy of its target;
* hard links to one file are one file: only its first path (in byte order) is considered,
  since removing another name frees no space and loses nothing.

A file that cannot be read is a Finding, never a stop: it is left out of every cluster.
`exact_clusters` is the pure part; `exact_asset_clusters` makes the same decision over a scanned
catalog's records for `plan --exact` (identical bytes merged, re-encoded copies kept).
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import blake3

from photoverify.dedupe.catalog.walk import WalkError, walk
from photoverify.dedupe.core.findings import Finding
from photoverify.dedupe.core.hashing import hash_files
from photoverify.dedupe.core.records import Cluster, ClusterMember, DupesResult, FileRecord
from photoverify.dedupe.match.policy import choose_keeper

BLOCK = 4096  # the head and the tail block read first (jdupes' partial hash reads 4 KiB)
# A file this small is hashed whole at once: reading its head and tail first saves nothing.
WHOLE_AT_ONCE = 4 * BLOCK
HEAD_BATCH = 256  # files whose head and tail one task of the pool reads


@dataclass
class ExactResult:
    dupes: DupesResult
    errors: list[Finding] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.dupes.to_json(),
            "exact": self.stats,
            "errors": [f.to_json() for f in self.errors],
        }


# ---------------------------------------------------------------------------- pure decisions


def colliding(groups: Iterable[list[str]]) -> list[list[str]]:
    """The groups that still hold two files or more."""
    return [g for g in groups if len(g) >= 2]


def group_by(items: Iterable[tuple[str, object]]) -> list[list[str]]:
    """Paths grouped by key, each group in the order given, groups in order of their first path
    (sorted input gives sorted groups). Pure."""
    groups: dict[object, list[str]] = defaultdict(list)
    for path, key in items:
        groups[key].append(path)
    return list(groups.values())


def exact_clusters(records: Sequence[FileRecord], prefer: Sequence[str] = ()) -> DupesResult:
    """Clusters of records with equal BLAKE3 (empty and unreadable files left out), a keeper
    each by the dupes policy. Pure: `dupes --exact` and `plan --exact` both decide here."""
    by_digest: dict[str, list[FileRecord]] = defaultdict(list)
    for r in records:
        if r.blake3 and r.size > 0 and r.error is None:
            by_digest[r.blake3].append(r)
    found = []  # (keeper's path as bytes, keeper's path, reason, members)
    for digest, members in by_digest.items():
        if len(members) < 2:
            continue
        keeper, reason = choose_keeper(members, prefer)
        out = [ClusterMember(keeper.path, "keeper", 0, {})]
        # the others in path order: ranking them again would cost a second policy pass (the
        # name criterion's suffix search) per file, for an order no decision rests on
        for r in sorted(members, key=lambda r: os.fsencode(r.path)):
            if r.path != keeper.path:
                ev = {"blake3": digest, "decided_by": "bytes (BLAKE3)"}
                out.append(ClusterMember(r.path, "identical", 0, ev))
        found.append((os.fsencode(keeper.path), keeper.path, reason, tuple(out)))
    found.sort(key=lambda f: f[0])  # numbered in the keepers' byte order
    numbered = tuple(
        Cluster(f"c{i + 1:05d}", "identical", keeper, reason, members)
        for i, (_, keeper, reason, members) in enumerate(found)
    )
    return DupesResult(numbered, (), ())


def exact_asset_clusters(records: Sequence[FileRecord], prefer: Sequence[str] = ()) -> DupesResult:
    """What `plan --exact` merges: exact_clusters over the primary files of assets, with the
    assets, as `dupes` treats identical bytes: a companion (Live Photo MOV, sidecar) travels with
    its primary and is never proposed as a duplicate itself (two photos' identical AAE sidecars
    stay two). Pure."""
    from photoverify.dedupe.match.companions import find_assets  # numpy: not for dupes --exact

    assets, _ = find_assets(records)
    primaries = {a.primary for a in assets}
    clusters = exact_clusters([r for r in records if r.path in primaries], prefer).clusters
    return DupesResult(clusters, (), tuple(assets))


# ---------------------------------------------------------------------------- I/O edge


def _head_tails(batch: list[tuple[str, int]]) -> list[bytes | OSError]:
    """For each (path, size): BLAKE3 of its first and last BLOCK bytes, or why it could not be
    read. A batch a task, so that a tree of small files pays no future per file."""
    out: list[bytes | OSError] = []
    for path, size in batch:
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                data = os.pread(fd, BLOCK, 0) + os.pread(fd, BLOCK, max(BLOCK, size - BLOCK))
            finally:
                os.close(fd)
        except OSError as exc:
            out.append(exc)
            continue
        out.append(blake3.blake3(data).digest())
    return out


def _trusted(
    by_size: list[list[str]], files: Mapping[str, Any], known: Mapping[str, tuple]
) -> tuple[list[tuple[str, str]], list[list[str]]]:
    """((path, BLAKE3) of the same-size files whose stat equals the catalog's, the BLAKE3 its
    entry holds; the groups of the others, still to read). Pure."""
    digests, rest = [], []
    for group in by_size:
        unread = []
        for path in group:
            c, entry = files[path], known.get(path)
            if entry is not None and entry[:3] == (c.size, c.mtime_ns, c.inode):
                digests.append((path, entry[3]))
            else:
                unread.append(path)
        if unread:
            rest.append(unread)
    return digests, rest


def _shared_records(digests: list[tuple[str, str]], files: Mapping[str, Any]) -> list[FileRecord]:
    """Records of the files whose BLAKE3 another file shares: the only ones a cluster can hold
    (a record costs ~3 µs; a tree of 20,000 files mostly unique needs few). Pure."""
    count = Counter(d for _, d in digests)
    out = []
    for path, digest in digests:
        if count[digest] > 1:
            c = files[path]
            out.append(FileRecord(c.path, c.root, c.size, c.mtime_ns, c.inode, c.device, digest))
    return out


def _unreadable(path: str, exc: OSError) -> Finding:
    why = exc.strerror or str(exc)
    return Finding(path, "exact", "error", "unreadable", f"{path}: cannot read: {why}", {})


def _head_tail_all(items: list[tuple[str, int]], workers: int) -> list[bytes | OSError]:
    batches = [items[i : i + HEAD_BATCH] for i in range(0, len(items), HEAD_BATCH)]
    if workers <= 1 or len(batches) <= 1:
        return [h for b in batches for h in _head_tails(b)]
    from concurrent.futures import ThreadPoolExecutor  # ~4 ms: only when blocks are read

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [h for got in pool.map(_head_tails, batches) for h in got]


def find_exact(
    roots: Iterable[str],
    *,
    prefer: Sequence[str] = (),
    follow_symlinks: bool = False,
    workers: int | None = None,
    known: Callable[[list[str]], Mapping[str, tuple[int, int, int, str]]] | None = None,
) -> ExactResult:
    """Exact duplicate clusters under `roots`; see the module docstring. Reads only files that
    share their size with another, and of those only the head and tail of files that a block
    already tells apart.

    `known` (the stat-only opt-in, `--trust-stat`): given the paths of the same-size files, what
    a catalog holds of them, path -> (size, mtime_ns, inode, BLAKE3). A same-size file whose stat
    equals its entry is not read: it takes that BLAKE3. The others are read whole (their head and
    tail cannot tell them from the files not read)."""
    workers = workers or min(32, (os.cpu_count() or 1) + 2)
    errors: list[Finding] = []
    files: dict[str, object] = {}  # path -> Candidate, one path per (device, inode)
    seen_inodes: set[tuple[int, int]] = set()
    walked = []
    for item in walk(roots, follow_symlinks=follow_symlinks):
        if isinstance(item, WalkError):
            errors.append(Finding(item.path, "exact", "error", "unreadable",
                                  f"{item.path}: {item.error}", {}))  # fmt: skip
        elif item.size > 0:
            walked.append(item)
    sizes: dict[int, list[str]] = defaultdict(list)
    for c in sorted(walked, key=lambda c: os.fsencode(c.path)):
        if (c.device, c.inode) not in seen_inodes:
            seen_inodes.add((c.device, c.inode))
            files[c.path] = c
            sizes[c.size].append(c.path)
    by_size = colliding(sizes.values())  # group_by((path, size)), in one pass with the above
    same_size = sum(map(len, by_size))
    if known is not None:
        digests, by_size = _trusted(by_size, files, known([p for g in by_size for p in g]))
    else:
        digests = []
    reused = len(digests)

    # small files are hashed whole at once; larger ones are told apart by a head and tail first
    # (unless some of their sizes' files were not read: then all of them are hashed whole)
    whole = [p for g in by_size for p in g if files[p].size <= WHOLE_AT_ONCE or reused]
    partial = [p for g in by_size for p in g if files[p].size > WHOLE_AT_ONCE and not reused]
    heads = _head_tail_all([(p, files[p].size) for p in partial], workers)
    keyed = []
    for path, got in zip(partial, heads, strict=True):
        if isinstance(got, OSError):
            errors.append(_unreadable(path, got))
        else:
            keyed.append((path, (files[path].size, got)))
    after_block = [p for g in colliding(group_by(keyed)) for p in g]

    to_hash = whole + after_block
    sizes = [files[p].size for p in to_hash]
    for path, got in hash_files(to_hash, ("blake3",), workers, sizes=sizes):
        if isinstance(got, OSError):
            errors.append(_unreadable(path, got))
            continue
        digests.append((path, got["blake3"]))
    dupes = exact_clusters(_shared_records(digests, files), prefer)
    stats = {
        "files": len(walked),
        "same_size": same_size,
        "block_read": len(partial),
        "fully_read": len(to_hash),
        "digests_reused": reused,
        "clusters": len(dupes.clusters),
        "duplicates": sum(len(c.members) - 1 for c in dupes.clusters),
    }
    errors.sort(key=lambda f: os.fsencode(f.path))
    return ExactResult(dupes, errors, stats)

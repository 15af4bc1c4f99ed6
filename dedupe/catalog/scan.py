"""walk -> unchanged? -> fingerprint on a pool or cluster -> catalog, in batches, with progress.

What a batch carries is its files (paths and stats), never catalog rows: a file that may be an
identical copy of a decoded catalog file is identified but not decoded by the worker, and takes
the decoded facts of its bytes here, from the catalog by BLAKE3 (or goes back to be decoded)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from photoverify.dedupe.catalog.store import Catalog
from photoverify.dedupe.catalog.walk import WalkError, walk
from photoverify.dedupe.core.hashing import hash_files
from photoverify.dedupe.core.records import Candidate, FileRecord, Metadata

BATCH_FILES = 48
BATCH_BYTES = 256 * 1024 * 1024
MIN_BATCH_FILES = 8  # an exiftool call costs a few ms whatever its size


@dataclass
class ScanResult:
    catalog: str
    roots: list[str]
    files: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    reread_differ: int = 0  # reread: unchanged stat, but the bytes (or their readability) not
    removed: int = 0
    bytes_read: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    # pictures read this scan in a format nothing here decodes (RAW), or in a layout or at a
    # size it does not decode: {format: files}; each by name, with why, in not_checked
    unsupported_formats: dict[str, int] = field(default_factory=dict)
    not_checked: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {
            "catalog": self.catalog,
            "roots": self.roots,
            "files": self.files,
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "reread_differ": self.reread_differ,
            "removed": self.removed,
            "bytes_read": self.bytes_read,
            "errors": self.errors,
            "unsupported_formats": dict(sorted(self.unsupported_formats.items())),
            "not_checked": self.not_checked,
            "seconds": round(self.seconds, 3),
        }


# progress(files_done, bytes_done, files_total, bytes_total)
Progress = Callable[[int, int, int, int], None]


def _batches(cands: list[Candidate], slots: int = 1) -> Iterable[list[Candidate]]:
    """The files in batches of up to BATCH_FILES files or BATCH_BYTES bytes, each at most a
    `slots`-th of the files still to go (but MIN_BATCH_FILES): the last batches shrink, so the
    workers run out of work together instead of one finishing a whole batch alone."""
    start = 0
    while start < len(cands):
        left = len(cands) - start
        most = min(BATCH_FILES, max(MIN_BATCH_FILES, -(-left // slots)))
        end, size = start, 0
        while end < len(cands) and end - start < most and size < BATCH_BYTES:
            size += cands[end].size
            end += 1
        yield cands[start:end]
        start = end


def _record_errors(rec: FileRecord) -> list[dict[str, str]]:
    if rec.error:
        return [{"path": rec.path, "error": rec.error}]
    if rec.decode_ok is False:
        return [{"path": rec.path, "error": f"does not decode: {rec.decode_error}"}]
    return []


def _deferrable(catalog: Catalog, batch: list[Candidate], fast: bool) -> frozenset[int]:
    """Positions of the files that may be identical copies of a decoded catalog file: of
    one of its sizes. The full-decode mode is asked to decode, and takes nothing over."""
    if not fast:
        return frozenset()
    sizes = catalog.decoded_sizes(c.size for c in batch)
    return frozenset(i for i, c in enumerate(batch) if c.size in sizes)


def _take_over(
    catalog: Catalog, records: list[FileRecord], deferred: list[int]
) -> tuple[list[FileRecord], list[tuple[Candidate, Metadata]]]:
    """Put-off files take the decoded facts of their bytes from the catalog; the ones whose
    bytes it does not hold are to be decoded (returned apart, with their metadata)."""
    if not deferred:
        return records, []
    facts = catalog.decoded_facts(records[i].blake3 for i in deferred)
    later, put_off = [], set()
    for i in deferred:
        rec = records[i]
        if rec.blake3 in facts:
            for name, value in facts[rec.blake3].items():
                setattr(rec, name, value)
        else:
            cand = Candidate(rec.path, rec.root, rec.size, rec.mtime_ns, rec.inode, rec.device)
            later.append((cand, rec.metadata))
            put_off.add(i)
    return [r for i, r in enumerate(records) if i not in put_off], later


def scan(
    roots: Iterable[str],
    catalog: Catalog,
    *,
    workers: int | None = None,
    executor: Any = None,
    progress: Progress | None = None,
    follow_symlinks: bool = False,
    fast: bool = True,
    reread: bool = False,
) -> ScanResult:
    """Bring the catalog up to date with the files under `roots`.

    Files whose size, mtime and inode match the catalog are not read again. Files the catalog
    holds under a root that no longer exist are removed from it. Bad files never stop the scan:
    they are recorded with their error.

    `executor`: where batches run: None (a local process pool of `workers`), a
    concurrent.futures Executor, or a `distributed.Client` (see dedupe.executors).

    `reread`: a verdict about contents follows, so an unchanged stat is not taken as unchanged
    bytes: every unchanged file is read and hashed again, and one whose BLAKE3 differs from the
    catalog's, or that cannot be read now, is fingerprinted again (`reread_differ` counts them).
    """
    started = time.perf_counter()
    roots = [os.path.abspath(r) for r in roots]
    result = ScanResult(catalog=str(catalog.path), roots=roots)
    # the workers start first, while this process is small (see local_executor), before the
    # catalog's stats and the walk (a million paths each); exiftool starts in a worker on its
    # first batch, so an unchanged tree starts none
    from photoverify.dedupe.catalog.executors import runner

    pool = runner(executor, workers)
    try:
        known: dict[str, tuple[int, int, int, bool]] = {}
        for root in roots:
            known.update(catalog.stats_under(root))
        walked = _walk_changes(roots, catalog, known, follow_symlinks, result)
        if reread and walked.unchanged:
            _reread(catalog, walked, workers, result)
        gone = [
            p
            for p in known
            if p not in walked.seen and not any(p.startswith(d) for d in walked.unreadable_dirs)
        ]
        result.removed = catalog.remove(gone)
        _fingerprint_all(walked.todo, catalog, pool, fast, progress, result)
    finally:
        pool.close()
    result.seconds = time.perf_counter() - started
    catalog.record_scan(roots, {k: v for k, v in result.to_json().items() if isinstance(v, int)})
    return result


@dataclass
class _Walked:
    """What the walk found: files to read, files unchanged since the catalog's stat, every
    path seen, and the folders that could not be read (their catalog files are kept)."""

    todo: list[Candidate] = field(default_factory=list)
    unchanged: list[Candidate] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    unreadable_dirs: list[str] = field(default_factory=list)


def _walk_changes(
    roots: list[str],
    catalog: Catalog,
    known: dict[str, tuple[int, int, int, bool]],
    follow_symlinks: bool,
    result: ScanResult,
) -> _Walked:
    """Walk the roots (the catalog's own files left out) and sort each file into new, changed
    or unchanged against the catalog's stats (`known`), counting them in `result`."""
    catalog_files = frozenset(
        f"{catalog.path}{suffix}" for suffix in ("", "-wal", "-shm", "-journal")
    )
    out = _Walked()
    for item in walk(roots, follow_symlinks=follow_symlinks, exclude=catalog_files):
        if isinstance(item, WalkError):
            result.errors.append({"path": item.path, "error": item.error})
            out.unreadable_dirs.append(item.path.rstrip("/") + "/")
            continue
        if item.path in out.seen:
            continue  # overlapping roots
        out.seen.add(item.path)
        before = known.get(item.path)
        if (
            before is not None
            and before[:3] == (item.size, item.mtime_ns, item.inode)
            and not before[3]
        ):
            result.unchanged += 1
            out.unchanged.append(item)
            continue
        if before is None:
            result.new += 1
        else:
            result.changed += 1
        out.todo.append(item)
    result.files = len(out.seen)
    return out


def _reread(catalog: Catalog, walked: _Walked, workers: int | None, result: ScanResult) -> None:
    """Hash the unchanged files again: one whose BLAKE3 differs from the catalog's, or that
    cannot be read now, joins the files to read (counted as changed and reread_differ)."""
    cached = {r.path: r.blake3 for r in catalog.records([c.path for c in walked.unchanged])}
    by_path = {c.path: c for c in walked.unchanged}
    for path, got in hash_files(by_path, ("blake3",), workers or None):
        if isinstance(got, OSError) or got["blake3"] != cached.get(path):
            walked.todo.append(by_path[path])
            result.unchanged -= 1
            result.changed += 1
            result.reread_differ += 1


def _fingerprint_all(
    todo: list[Candidate],
    catalog: Catalog,
    pool: Any,
    fast: bool,
    progress: Progress | None,
    result: ScanResult,
) -> None:
    """Fingerprint the files to read in batches on the runner `pool`, keeping `pool.slots`
    batches in flight, and store each batch's records as it comes back."""
    total_bytes = sum(c.size for c in todo)
    done_files = done_bytes = 0
    if progress:
        progress(0, 0, len(todo), total_bytes)
    if not todo:
        return
    from photoverify.dedupe.catalog.executors import decode_batch, fingerprint_batch

    pending: dict[Any, bool] = {}  # in flight -> whether a fingerprint_batch
    batches = iter(_batches(todo, pool.slots))
    while True:
        # at most `slots` calls in flight, the put-off files' second trips included: checked
        # before each submit (checked after, every round sent one batch more than came back,
        # and the whole tree ended up queued: O(batches) per wait, ~0.4 KiB a file held here)
        while len(pending) < pool.slots and (batch := next(batches, None)) is not None:
            defer = _deferrable(catalog, batch, fast)
            pending[pool.submit(fingerprint_batch, batch, fast, defer)] = True
        if not pending:
            break
        for fut in pool.wait_any(set(pending)):
            records = pool.result(fut)
            if pending.pop(fut):  # fingerprint_batch: some files may be put off
                records, later = _take_over(catalog, *records)
                if later:
                    pending[pool.submit(decode_batch, later, fast)] = False
            _store(catalog, records, result)
            done_files += len(records)
            done_bytes += sum(rec.size for rec in records)
            result.bytes_read = done_bytes
            if progress:
                progress(done_files, done_bytes, len(todo), total_bytes)


def _store(catalog: Catalog, records: list[FileRecord], result: ScanResult) -> None:
    """Write a batch's records to the catalog, and their errors and unsupported formats to the
    result."""
    catalog.upsert(records)
    for rec in records:
        result.errors.extend(_record_errors(rec))
        if rec.kind == "image" and rec.decode_ok is None and not rec.error:
            fmt = rec.format or "unknown"
            result.unsupported_formats[fmt] = result.unsupported_formats.get(fmt, 0) + 1
            why = rec.decode_error or f"no decoder here for {fmt}"
            result.not_checked.append({"path": rec.path, "reason": why})

"""Where per-file work runs. A local process pool by default; the seam where a distributed
engine (dask.distributed's Client is a `concurrent.futures.Executor` too) plugs in.

Work submitted here must be a module-level function over picklable arguments.
"""

from __future__ import annotations

import atexit
import os
from concurrent.futures import Executor, Future, ProcessPoolExecutor

from .metadata import MetadataReader
from .records import Candidate, FileRecord

_reader: MetadataReader | None = None
_reader_pid: int | None = None


def _worker_reader() -> MetadataReader:
    """One long-lived exiftool per worker process, started on first use. A forked worker
    inherits its parent's reader object, whose pipes it must not share: it starts its own."""
    global _reader, _reader_pid
    if _reader is None or _reader_pid != os.getpid():
        _reader, _reader_pid = MetadataReader(), os.getpid()
        atexit.register(_close_if_mine, _reader, _reader_pid)
    return _reader


def _close_if_mine(reader: MetadataReader, pid: int) -> None:
    if os.getpid() == pid:
        reader.close()


_decoded: dict[str, dict] = {}  # this worker's BLAKE3 -> decoded facts (identical copies)
DECODED_CACHE_LIMIT = 500_000


def fingerprint_batch(
    batch: list[Candidate], fast: bool = True, known: dict[str, dict] | None = None
) -> list[FileRecord]:
    """Metadata for the whole batch in one exiftool call, then each file's fingerprint.

    Identical copies are decoded once: `known` (what the catalog already holds for files of
    these sizes) and what this worker decoded before are taken over by BLAKE3."""
    from .fingerprint import fingerprint  # decoders load in the workers, not in the CLI

    if len(_decoded) > DECODED_CACHE_LIMIT:
        _decoded.clear()
    _decoded.update(known or {})
    reader = _worker_reader()
    metas = reader.read([c.path for c in batch])
    return [
        fingerprint(c, m, fast=fast, known=_decoded, reader=reader)
        for c, m in zip(batch, metas, strict=True)
    ]


def default_workers() -> int:
    return max(
        1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )


class InlineExecutor(Executor):
    """Runs each call when it is submitted, in the submitting thread (workers == 0).

    Not a one-thread pool: exiftool, started through pyexiftool, is ended by Linux when the
    thread that started it ends, and a pool's thread ends with the pool."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - delivered through the future, as a pool does
            future.set_exception(exc)
        return future


def local_executor(workers: int | None = None) -> Executor:
    """A process pool of `workers` processes; with workers == 0, this process and thread
    (for debugging and for platforms where forking is unwelcome)."""
    if workers == 0:
        return InlineExecutor()
    return ProcessPoolExecutor(max_workers=workers or default_workers())

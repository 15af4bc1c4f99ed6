"""Where per-file work runs: a local process pool by default, or the workers of a
dask.distributed cluster (`scan --executor dask --scheduler tcp://HOST:PORT`).

The scan sees either through a `Runner`: submit a module-level function over picklable
arguments, wait for any finished call, take its result. `runner()` wraps what it is given:
a `concurrent.futures.Executor` (the local `ProcessPoolExecutor`, `InlineExecutor`, a thread
pool) is waited on with `concurrent.futures.wait`; a `distributed.Client` is not an Executor
(its futures cannot be waited on that way) and gets `DaskRunner`, built on `Client.submit`
and `distributed.as_completed`.

What runs where, on a cluster:
- The CLI process walks the roots, owns the catalog and is its only writer; it ships batches of
  `Candidate`s (paths and stats, a few KiB) and gets `FileRecord`s back. Workers read the
  files themselves, by the same absolute paths: every worker must see the scanned tree at the
  same path as the CLI (shared storage), and have the same photoverify and exiftool installed.
- Each worker thread keeps its own long-lived exiftool (`_worker_reader`), never shared
  between threads; start workers with one thread each (`dask worker ADDRESS --nthreads 1
  --nworkers N`) to get one exiftool per worker process.
- A worker lost mid-scan costs its batches only: the scheduler hands the tasks it held to
  another worker (dask's `distributed.scheduler.allowed-failures`, 3 by default, bounds how
  often one batch may take a worker down before the scan fails with KilledWorker).
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

from photoverify.dedupe.catalog.metadata import MetadataReader
from photoverify.dedupe.core.errors import EnvironmentProblem, UsageError
from photoverify.dedupe.core.records import Candidate, FileRecord, Metadata

_readers = threading.local()


def _worker_reader() -> MetadataReader:
    """One long-lived exiftool per worker thread (one per process with one thread each), started
    on first use. A forked worker inherits its parent's reader object, whose pipes it must not
    share: it starts its own. exiftool is never shared between threads: its pipe carries one
    request at a time, and pyexiftool ends it when the thread that started it ends."""
    reader = getattr(_readers, "reader", None)
    if reader is None or _readers.pid != os.getpid():
        reader = _readers.reader = MetadataReader()
        _readers.pid = os.getpid()
        atexit.register(_close_if_mine, reader, _readers.pid)
    return reader


def _close_if_mine(reader: MetadataReader, pid: int) -> None:
    if os.getpid() == pid:
        reader.close()


class RecentFacts(dict):
    """BLAKE3 -> decoded facts of the files this worker decoded last, at most `limit` of them:
    an identical copy in a later batch of the same worker takes them over instead of decoding
    again. The oldest entry goes first, so a worker's memory stays flat however many files it
    decodes (copies found across batches take their facts from the catalog: see scan)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: str, value: dict) -> None:
        super().__setitem__(key, value)
        while len(self) > self.limit:
            del self[next(iter(self))]


# this worker's recent decoded facts, one table per decoding mode (a worker of a cluster
# outlives one scan, and --full-decode must not take over fast facts)
DECODED_CACHE_LIMIT = 4096
_decoded: dict[bool, RecentFacts] = {
    True: RecentFacts(DECODED_CACHE_LIMIT),
    False: RecentFacts(DECODED_CACHE_LIMIT),
}


def _decoded_facts(fast: bool) -> RecentFacts:
    return _decoded[fast]


def fingerprint_batch(
    batch: list[Candidate], fast: bool = True, defer: frozenset[int] = frozenset()
) -> tuple[list[FileRecord], list[int]]:
    """Metadata for the whole batch in one exiftool call, then each file's fingerprint.

    `defer`: positions in the batch of files that may be identical copies of a decoded file of
    the catalog (one of its sizes). They are hashed and identified but not decoded (unless
    this worker decoded their bytes before): their positions come back as the second value,
    and the scan takes their decoded facts from the catalog by BLAKE3, or hands them to
    `decode_batch`. So what travels with a batch does not grow with the catalog."""
    from photoverify.dedupe.catalog.fingerprint import (  # decoders load in workers
        decode_into,
        identify,
        wants_decode,
    )

    known = _decoded_facts(fast)
    reader = _worker_reader()
    metas = reader.read([c.path for c in batch])
    records, deferred = [], []
    for i, (cand, meta) in enumerate(zip(batch, metas, strict=True)):
        rec = identify(cand, meta)
        if wants_decode(rec):
            if i in defer and rec.blake3 not in known:
                deferred.append(i)
            else:
                decode_into(rec, meta, fast=fast, known=known, reader=reader)
        records.append(rec)
    return records, deferred


def decode_batch(items: list[tuple[Candidate, Metadata]], fast: bool = True) -> list[FileRecord]:
    """Files put off by `fingerprint_batch` whose bytes the catalog did not know: read, checked
    against the walk's stat and decoded (their metadata was read then, and is not read again)."""
    from photoverify.dedupe.catalog.fingerprint import fingerprint

    known = _decoded_facts(fast)
    reader = _worker_reader()
    return [fingerprint(cand, meta, fast=fast, known=known, reader=reader) for cand, meta in items]


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
    (for debugging and for platforms where forking is unwelcome).

    The workers are forked at once, while the caller is small: forked after a scan's walk, each
    would start with a copy of the walk's million paths (shared at first, then copied page by
    page as Python touches them: three processes of 400 MiB at a million files)."""
    if workers == 0:
        return InlineExecutor()
    pool = ProcessPoolExecutor(max_workers=workers or default_workers())
    pool.submit(os.getpid)  # a pool that forks starts all its workers on its first call
    return pool


class Runner(Protocol):
    """The scan's view of where work runs."""

    slots: int  # calls worth keeping in flight

    def submit(self, fn: Callable, /, *args: Any) -> Any: ...

    def wait_any(self, pending: set) -> set:
        """Wait until at least one of `pending` has finished; the finished ones."""
        ...

    def result(self, future: Any) -> Any: ...

    def close(self) -> None: ...


class LocalRunner:
    """A concurrent.futures Executor (the process pool, InlineExecutor, a thread pool)."""

    def __init__(self, executor: Executor, slots: int, own: bool) -> None:
        self.executor, self.slots, self._own = executor, slots, own

    def submit(self, fn: Callable, /, *args: Any) -> Future:
        return self.executor.submit(fn, *args)

    def wait_any(self, pending: set) -> set:
        return wait(pending, return_when=FIRST_COMPLETED).done

    def result(self, future: Future) -> Any:
        return future.result()

    def close(self) -> None:
        if self._own:
            self.executor.shutdown(wait=True, cancel_futures=True)


class DaskRunner:
    """The workers of a dask.distributed cluster, through a `distributed.Client`."""

    def __init__(self, client: Any, own: bool) -> None:
        from distributed import as_completed

        self.client, self._own = client, own
        threads = sum(client.nthreads().values())
        self.slots = 4 * max(1, threads)
        self._finished = as_completed()

    def submit(self, fn: Callable, /, *args: Any) -> Any:
        # pure=False: two batches with equal arguments (a file scanned again) are two tasks
        future = self.client.submit(fn, *args, pure=False)
        self._finished.add(future)
        return future

    def wait_any(self, pending: set) -> set:
        finished = {next(self._finished)}
        finished.update(self._finished.next_batch(block=False))
        return finished & pending

    def result(self, future: Any) -> Any:
        from distributed import KilledWorker

        try:
            return future.result()
        except KilledWorker as exc:
            raise EnvironmentProblem(
                f"dask: a batch of files took down worker after worker ({exc}); "
                "the catalog keeps what was scanned before"
            ) from exc

    def close(self) -> None:
        if self._own:
            self.client.close()


def dask_client(address: str | None = None, scheduler_file: str | None = None) -> Any:
    """A `distributed.Client` connected to a running scheduler: at `address` (tcp://HOST:PORT),
    else through `scheduler_file` (`dask scheduler --scheduler-file`), else at dask's own
    configured `scheduler-address` ($DASK_SCHEDULER_ADDRESS or ~/.config/dask/*.yaml). Never
    starts a cluster of its own. How long it tries to connect is dask's
    `distributed.comm.timeouts.connect` (30 s; $DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT)."""
    try:
        import dask
        from distributed import Client
    except ImportError as exc:
        raise EnvironmentProblem(
            "the dask executor needs dask.distributed: pip install 'photoverify[cluster]'"
        ) from exc
    if not address and not scheduler_file:
        address = dask.config.get("scheduler-address", None)
    if not address and not scheduler_file:
        raise UsageError(
            "the dask executor needs a scheduler: --scheduler tcp://HOST:PORT "
            "($PHOTOVERIFY_SCHEDULER), --scheduler-file PATH, or dask's scheduler-address "
            "setting ($DASK_SCHEDULER_ADDRESS)"
        )
    try:
        if scheduler_file:
            return Client(scheduler_file=scheduler_file)
        return Client(address)
    except (OSError, TimeoutError, ValueError) as exc:
        where = scheduler_file or address
        raise EnvironmentProblem(f"{where}: cannot reach the dask scheduler: {exc}") from exc


def runner(executor: Any = None, workers: int | None = None) -> Runner:
    """What `scan(executor=...)` runs on: an Executor, a `distributed.Client`, a Runner, or
    None for a local pool of `workers` processes (shut down by `close()`)."""
    if executor is None:
        slots = 4 * max(1, workers or default_workers())
        return LocalRunner(local_executor(workers), slots, own=True)
    if isinstance(executor, Executor):
        return LocalRunner(executor, 4 * max(1, workers or default_workers()), own=False)
    if hasattr(executor, "wait_any"):
        return executor
    if type(executor).__module__.startswith("distributed"):
        return DaskRunner(executor, own=False)
    raise TypeError(f"not an executor: {executor!r}")

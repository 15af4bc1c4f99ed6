"""The batched modes of apply (copy, hardlink, reflink, reflink-or-copy): files go in batches.

A batch's intents are fsynced to the journal in one record, each file is copied by the kernel
to its tmp name and read back to hash it, the whole batch is made durable with one syncfs, and
only then is each tmp renamed to its target name (never over an existing file). A batch's bytes
move on a few threads while the batch before it is synced and named on the main thread, which
alone writes the journal. Crash points and what a resume does: docs/plan-format.md.
"""

from __future__ import annotations

import errno
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from photoverify.dedupe.core.errors import PlanError
from photoverify.dedupe.core.hashing import hash_file
from photoverify.dedupe.core.outfile import unlink_quiet
from photoverify.dedupe.move.fileops import (
    FULL,
    NO_REFLINK,
    clone_into,
    close_quiet,
    copy_into,
    copy_mode_and_times,
    mkdir_quiet,
    no_space,
    place,
    start_writeback,
    sync_files,
)
from photoverify.dedupe.move.plan import PlanEntry
from photoverify.dedupe.move.results import VERB, Tally

# a batch shares one journal fsync and one data sync; a crash redoes at most one batch
BATCH_FILES = 256  # also bounds the tmp files held open until the sync
BATCH_BYTES = 64 * 1024 * 1024
# threads copying and hashing a batch's files (apply --threads): more than the cores, because
# sources that are not in memory keep them waiting on the disk (4 beat 2 by 15% from a cold
# cache, and cost nothing from a warm one, on a 2-core machine with an SSD-backed disk)
WRITERS = 4


@dataclass(eq=False)
class Job:
    """One file of a batch: announced together, written, synced together, then placed."""

    i: int
    e: PlanEntry
    st: os.stat_result  # the source's, when its precondition was checked: mode and times to copy
    target: str
    tmp: str
    dirs: list[str]  # folders to create first, outermost first
    fd: int | None = None  # the open tmp, kept until the batch is synced
    verb: str = ""
    created_tmp: bool = False
    copied: bool = False  # bytes went through our copy loop (not a link or a clone)


@dataclass(eq=False)
class Batch:
    """Jobs announced in one journal record, written on the pool, synced and placed together."""

    b: int
    jobs: list[Job]
    pending: dict[Job, Future] = field(default_factory=dict)
    results: dict[Job, tuple[str | None, BaseException | None]] = field(default_factory=dict)
    tmps: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.tmps = {j.tmp for j in self.jobs}

    def wait(self) -> None:
        for job, future in self.pending.items():
            self.results[job] = future.result()  # write_tmp_safely never raises
        self.pending.clear()


class Batches:
    """The queue of the next batch and the batch in flight, for one run."""

    def __init__(self, tally: Tally, threads: int) -> None:
        self.tally, self.journal, self.mode = tally, tally.journal, tally.mode
        self.queue: list[Job] = []
        self.queued_bytes = 0
        self.count = 0  # batches announced
        self.pending_dirs: set[str] = set()  # folders the queued batch will create
        self.queued_tmps: set[str] = set()
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self.inflight: Batch | None = None  # announced, being written on the pool

    def add(self, i: int, e: PlanEntry, st: os.stat_result, target: str, tmp: str) -> None:
        """Queue entry i; announce the batch once it is full."""
        if tmp in self.queued_tmps or (self.inflight and tmp in self.inflight.tmps):
            self.flush()  # two long names, one content: one tmp name, never two at once
            self.drain()
        self.queue.append(Job(i, e, st, target, tmp, self.missing_dirs(os.path.dirname(target))))
        self.queued_tmps.add(tmp)
        self.queued_bytes += e.size
        if len(self.queue) >= BATCH_FILES or self.queued_bytes >= BATCH_BYTES:
            self.flush()

    def missing_dirs(self, folder: str) -> list[str]:
        missing = []
        probe = folder
        while probe not in self.pending_dirs and not os.path.isdir(probe):
            missing.append(probe)
            probe = os.path.dirname(probe)
        self.pending_dirs.update(missing)
        return missing[::-1]

    def flush(self) -> None:
        """Announce the queued batch and start writing it; finish the batch before it.

        Two batches overlap: while this one's bytes are copied on the worker threads, the
        previous one is synced and placed here. Crash points and what a resume does (see
        docs/plan-format.md): before `batch` is on disk nothing of it was created; after it,
        each entry has an intent, so its tmp is removed and it is redone, or its target, if
        named, is hashed and accepted as ours. No target name exists before the data behind
        it is durable."""
        jobs, self.queue, self.queued_bytes = self.queue, [], 0
        self.pending_dirs, self.queued_tmps = set(), set()
        if not jobs:
            return
        self.count += 1
        for job in jobs:  # made durable by the batch record, before any folder is made
            for d in job.dirs:
                self.journal.write("mkdir", path=d, sync=False)
        self.journal.write(
            "batch",
            b=self.count,
            entries=[
                {
                    "i": j.i,
                    "source": j.e.source,
                    "target": j.target,
                    "tmp": j.tmp,
                    "blake3": j.e.blake3,
                    "size": j.e.size,
                    "mode": self.mode,
                }
                for j in jobs
            ],
        )
        batch = Batch(self.count, jobs)
        for job in jobs:
            failed = self.prepare_job(job)
            if failed is None:
                batch.pending[job] = self.pool().submit(self.write_tmp_safely, job)
            else:
                batch.results[job] = failed
        previous, self.inflight = self.inflight, batch
        if previous is not None:
            self.finish(previous)

    def drain(self) -> None:
        """Finish the batch in flight, if any."""
        batch, self.inflight = self.inflight, None
        if batch is not None:
            self.finish(batch)

    def finish(self, batch: Batch) -> None:
        """Journal, sync and place a written batch, in plan order."""
        full: Job | None = None
        try:
            batch.wait()
            written: list[Job] = []
            for job in batch.jobs:
                outcome = self.settle_write(job, *batch.results[job])
                if outcome == "ok":
                    written.append(job)
                elif outcome == "full":
                    full = full or job
            synced, full_at_sync = self.sync(written)
            full = full or full_at_sync
            self.journal.step()
            self.journal.write("synced", b=batch.b, sync=False)
            for job in synced:
                self.place_job(job)
        except BaseException:
            self.abandon(batch)
            raise
        for job in batch.jobs:
            if job.i in self.tally.outcome:
                self.tally.tick(job.e)
        if full is not None:
            raise no_space(full.target, full.e.source)

    def sync(self, written: list[Job]) -> tuple[list[Job], Job | None]:
        """Make the written tmps durable and close them: those synced, and the first that found
        the disk full (None if none); the others failed."""
        errors = sync_files([j.fd for j in written if j.fd is not None])
        synced: list[Job] = []
        full: Job | None = None
        for job in written:
            exc = errors.get(job.fd) if job.fd is not None else None
            if exc is None and job.fd is not None and os.fstat(job.fd).st_size != job.e.size:
                exc = OSError(errno.EIO, "short file after sync")
            close_quiet(job.fd)
            job.fd = None
            if exc is None:
                synced.append(job)
                continue
            unlink_quiet(job.tmp)
            self.journal.write("failed", i=job.i, error=str(exc))
            if exc.errno in FULL:
                full = full or job
            else:
                why = f"cannot write {job.target}: {exc}"
                self.tally.fail(job.i, job.e, "write-failed", why)
        return synced, full

    def abandon(self, batch: Batch) -> None:
        """Stopped by an error: leave no tmp behind (the intents redo them on resume)."""
        batch.wait()
        for job in batch.jobs:
            close_quiet(job.fd)
            job.fd = None
            if job.created_tmp and job.i not in self.tally.outcome:
                unlink_quiet(job.tmp)

    def prepare_job(self, job: Job) -> tuple[None, OSError] | None:
        """Create the job's folders and clear a stale tmp; None, or (None, what failed)."""
        try:
            for d in job.dirs:
                mkdir_quiet(d)
                self.tally.dirty_dirs.update((d, os.path.dirname(d)))
            unlink_quiet(job.tmp)
        except OSError as exc:
            return None, exc
        return None

    def write_tmp_safely(self, job: Job) -> tuple[str | None, BaseException | None]:
        """write_tmp on a worker thread: the digest, or what stopped it (never raises)."""
        try:
            return self.write_tmp(job), None
        except BaseException as exc:  # handed back to the main thread, which decides
            return None, exc

    def settle_write(self, job: Job, digest: str | None, exc: BaseException | None) -> str:
        """Journal a written tmp, unsynced: "ok", "failed" or "full"."""
        if exc is not None and not isinstance(exc, OSError):
            raise exc
        if exc is not None:
            self.discard(job)
            return "full" if self.tally.write_failed(job.i, job.e, job.target, exc) else "failed"
        if job.copied:
            self.tally.bytes_written += job.e.size
        if digest != job.e.blake3:
            self.discard(job)
            self.tally.mismatch(job.i, job.e, digest)
            return "failed"
        # not durable yet: the batch's sync comes after the last file is written
        self.journal.step()
        self.journal.write("written", i=job.i, sync=False)
        return "ok"

    def discard(self, job: Job) -> None:
        close_quiet(job.fd)
        job.fd = None
        unlink_quiet(job.tmp)

    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="photoverify-apply")
        return self._pool

    def close(self) -> None:
        """Stop the workers; a batch still in flight (apply is failing) leaves no tmp."""
        batch, self.inflight = self.inflight, None
        if batch is not None:
            self.abandon(batch)
        if self._pool is not None:
            self._pool.shutdown()

    def write_tmp(self, job: Job) -> str:
        """Write the job's tmp by its mode (on a worker thread); its BLAKE3 as written."""
        e, tmp, mode = job.e, job.tmp, self.mode
        if mode == "hardlink":
            try:
                os.link(e.source, tmp)
            except OSError as exc:
                if exc.errno == errno.EXDEV:
                    raise PlanError(
                        f"{e.source}: cannot hardlink across filesystems to "
                        f"{self.tally.dest}; use --mode copy"
                    ) from None
                raise
            job.created_tmp, job.verb = True, "hardlinked"
            return hash_file(tmp)["blake3"]  # the same inode: no data of ours to sync
        job.fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        job.created_tmp, job.verb = True, VERB[mode]
        digest = None
        if mode in ("reflink", "reflink-or-copy"):
            try:
                clone_into(e.source, job.fd)
                digest = hash_file(tmp)["blake3"]
                job.verb = "reflinked"
            except OSError as exc:
                if exc.errno not in NO_REFLINK:
                    raise
                if mode == "reflink":
                    raise PlanError(
                        f"{tmp}: reflink (FICLONE) not supported here ({exc.strerror}); "
                        "use --mode copy or --mode reflink-or-copy"
                    ) from None
        if digest is None:
            digest = copy_into(e.source, job.fd, self.tally.buffer())
            job.copied = True
            start_writeback(job.fd)
        copy_mode_and_times(job.fd, job.st)
        return digest

    def place_job(self, job: Job) -> None:
        try:
            # folders are fsynced once, at the end
            place(job.tmp, job.target, sync_dir=False, linked=self.journal.step)
        except FileExistsError:
            unlink_quiet(job.tmp)
            self.tally.occupied(job.i, job.e, job.target)
            return
        self.tally.dirty_dirs.add(os.path.dirname(job.target))
        self.journal.step()
        # unsynced: if lost, resume finds the intent and the right bytes at the target: ours
        self.journal.write(
            "placed", i=job.i, target=job.target, created=True, fate=job.verb, sync=False
        )
        self.tally.outcome[job.i] = job.verb

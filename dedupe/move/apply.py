"""Carry out a plan, crash-safely, and undo it.

Every step is written to a journal (`plan.json.journal`, JSON lines) before and after it
happens. Files go in batches: the batch's intents are fsynced to the journal in one record,
each file is copied by the kernel to `.<name>.photoverify-tmp` in its target's folder and read
back to hash it, the whole batch is made durable with one syncfs, and only then is each tmp
renamed to its target name (never over an existing file); touched folders are fsynced before
the ledger. A batch's bytes move on a few threads while the batch before it is synced and
named on the main thread, which alone writes the journal.
`move` goes one file at a time, each copy re-read from disk before its source goes. A run
killed at any moment is finished by running the same command again: temp files are removed,
targets already holding the planned bytes are accepted.
The journal also lets `undo` remove exactly what apply created and put back what `move` moved.
Formats: docs/plan-format.md.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import errno
import fcntl
import io
import os
import re
import signal
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from photoverify.dedupe.core.errors import EnvironmentProblem, PlanError, UsageError
from photoverify.dedupe.core.hashing import CHUNK, hash_fd, hash_file, new_hasher
from photoverify.dedupe.core.jsonio import escape_surrogates, json_bytes, parse_json, read_json
from photoverify.dedupe.core.outfile import fsync_dir, unlink_quiet
from photoverify.dedupe.core.records import Finding
from photoverify.dedupe.core.timeparse import now_iso
from photoverify.dedupe.move.metawrite import (
    MergeStep,
    forget_original,
    merged_blake3,
    premerges,
    rebuild_original,
    undo_merges,
)
from photoverify.dedupe.move.plan import (
    LEDGER_CSV,
    LEDGER_JSON,
    MANIFEST,
    WRITES,
    DestGuard,
    Plan,
    PlanEntry,
    check_plan,
    fate_words,
    free_bytes,
    read_plan,
    source_findings,
)
from photoverify.verify.manifest.formats import Manifest, ManifestEntry, render_manifest

MODES = ("copy", "hardlink", "reflink", "reflink-or-copy", "move")
VERB = {
    "copy": "copied",
    "hardlink": "hardlinked",
    "reflink": "reflinked",
    "reflink-or-copy": "copied",
    "move": "moved",
}
TMP_SUFFIX = ".photoverify-tmp"
CRASH_ENV = "PHOTOVERIFY_APPLY_CRASH_AFTER"  # test hook: SIGKILL after the N-th journal write
# test hook: SIGKILL after the N-th file step between journal writes (a tmp written, a batch
# synced, a target named (or linked while its tmp still exists), a tmp removed)
CRASH_FILE_ENV = "PHOTOVERIFY_APPLY_CRASH_AT_FILE_STEP"
FICLONE = 0x40049409  # linux/fs.h _IOW(0x94, 9, int)
SPACE_MARGIN = 16 * 1024 * 1024
# a batch shares one journal fsync and one data sync; a crash redoes at most one batch
BATCH_FILES = 256  # also bounds the tmp files held open until the sync
BATCH_BYTES = 64 * 1024 * 1024
# threads copying and hashing a batch's files (apply --threads): more than the cores, because
# sources that are not in memory keep them waiting on the disk (4 beat 2 by 15% from a cold
# cache, and cost nothing from a warm one, on a 2-core machine with an SSD-backed disk)
WRITERS = 4
FULL = (errno.ENOSPC, errno.EDQUOT)
# copy_file_range refusing a pair of files (other filesystems on old kernels, special files)
NO_KERNEL_COPY = (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF)
KERNEL_COPY = 1 << 30  # bytes per copy_file_range call
NO_REFLINK = (errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EPERM)

Progress = Callable[[int, int, PlanEntry], None]


@dataclass
class ApplyResult:
    plan: str
    dest: str
    mode: str
    dry_run: bool
    actions: dict[str, int]  # per plan action
    fates: dict[str, int]  # what happened: copied, moved, already-present, duplicate, failed…
    bytes_written: int
    bytes_planned: int
    seconds: float
    findings: list[Finding] = field(default_factory=list)
    journal: str | None = None
    ledger: str | None = None
    manifest: str | None = None
    # fates settled by an earlier run of this plan (from its journal), not by this one: the
    # terminal says "already in place" for them (to_json keeps the ledger's fates)
    earlier: dict[str, int] = field(default_factory=dict)
    merge: dict[str, int] | None = None  # metadata merge counts (metawrite.MergeStep.counts)

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "dest": self.dest,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "actions": self.actions,
            "fates": self.fates,
            "bytes_written": self.bytes_written,
            "bytes_planned": self.bytes_planned,
            "seconds": round(self.seconds, 3),
            "findings": [f.to_json() for f in self.findings],
            "journal": self.journal,
            "ledger": self.ledger,
            "manifest": self.manifest,
            "merge": self.merge,
            "ok": self.ok,
        }


@dataclass
class UndoResult:
    journal: str
    removed: int = 0  # files apply created, removed
    restored: int = 0  # moved sources put back
    dirs_removed: int = 0
    left: int = 0  # files apply created that changed since: left in place, with a finding
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "journal": self.journal,
            "removed": self.removed,
            "restored": self.restored,
            "dirs_removed": self.dirs_removed,
            "left": self.left,
            "seconds": round(self.seconds, 3),
            "findings": [f.to_json() for f in self.findings],
        }


# ---- the journal ------------------------------------------------------------------------------


class Journal:
    """Append-only JSON lines; each line is on disk before the step it announces is taken."""

    def __init__(self, path: str) -> None:
        self.path = path
        new = not os.path.exists(path)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.writes = 0
        raw = os.environ.get(CRASH_ENV)
        self.crash_after = int(raw) if raw else None
        raw = os.environ.get(CRASH_FILE_ENV)
        self.crash_at_step = int(raw) if raw else None
        self.steps = 0
        self.pending: list[bytes] = []  # unsynced records not yet written
        if new:
            fsync_dir(os.path.dirname(path) or ".")
        elif os.path.getsize(path) and not _ends_with_newline(path):
            os.write(self.fd, b"\n")  # a torn last line from a killed run stays on its own line

    def write(self, op: str, *, sync: bool = True, **fields: Any) -> None:
        """Append one record. `sync=False` is for records whose loss a resume recovers from:
        they wait in memory and reach the file with the next synced record (or at close)."""
        self.pending.append(json_bytes({"op": op, **fields}) + b"\n")
        if sync:
            self.flush(sync=True)
        self.writes += 1
        if self.crash_after is not None and self.writes == self.crash_after:
            os.kill(os.getpid(), signal.SIGKILL)

    def step(self) -> None:
        """A file step that has no journal record of its own: a place the crash test can hit."""
        self.steps += 1
        if self.crash_at_step is not None and self.steps == self.crash_at_step:
            os.kill(os.getpid(), signal.SIGKILL)

    def flush(self, *, sync: bool = False) -> None:
        data, self.pending = b"".join(self.pending), []
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view) :]
            if sync:
                os.fsync(self.fd)
        except OSError as exc:
            raise EnvironmentProblem(
                f"{self.path}: cannot write the journal ({exc.strerror})"
            ) from None

    def close(self) -> None:
        try:
            self.flush()
        finally:
            os.close(self.fd)


# flock not offered (some network filesystems): the run goes on unguarded rather than not at all
NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.EBADF)


def hold_lock(path: str, what: str) -> int | None:
    """Take the advisory lock (flock) of `path`, a file or a folder, for this process's run: the
    open descriptor to close when done, or None where the filesystem has no locks. Another
    holder makes this refuse, naming it. The kernel drops the lock when its holder dies, so a
    killed run never leaves a lock behind."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _lock_holder(fd)
        os.close(fd)
        raise EnvironmentProblem(
            f"{path}: {what} (held by {holder}); wait for it to finish, then run again"
        ) from None
    except OSError as exc:
        os.close(fd)
        if exc.errno in NO_LOCKS:
            return None
        raise
    return fd


def _lock_holder(fd: int) -> str:
    """'pid N: its command line' of the process holding fd's file's flock, from /proc/locks."""
    st = os.fstat(fd)
    ident = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks") as fh:
            for line in fh:
                fields = line.split()
                if "->" in fields or len(fields) < 6 or fields[1] != "FLOCK":
                    continue  # a waiter's line, or another kind of lock
                if fields[5] != ident:
                    continue
                pid = fields[4]
                with open(f"/proc/{pid}/cmdline", "rb") as cmd:
                    argv = cmd.read().rstrip(b"\0").split(b"\0")
                # one line, whatever the command's arguments hold
                text = " ".join(a.decode("utf-8", "replace") for a in argv)
                command = " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", text).split())
                if len(command) > 200:
                    command = command[:199] + "…"
                return f"pid {pid}: {command}"
    except OSError:
        pass
    return "another process"


def _release(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def _ends_with_newline(path: str) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, io.SEEK_END)
        return fh.read(1) == b"\n"


def read_journal(path: str) -> list[dict[str, Any]]:
    """The journal's records; a line that does not parse was torn by a crash and is ignored."""
    try:
        with open(path, "rb") as fh:
            # "\n" alone ends a record: splitlines() would also split at a U+2028 in a name
            lines = fh.read().decode("utf-8", "surrogateescape").split("\n")
    except FileNotFoundError:
        raise PlanError(f"{path}: journal not found") from None
    out = []
    for line in lines:
        try:
            rec = parse_json(line, path, PlanError)
        except PlanError:
            continue
        if isinstance(rec, dict) and "op" in rec:
            out.append(rec)
    return out


@dataclass
class _State:
    intent: dict[str, Any] | None = None
    placed: dict[str, Any] | None = None
    unlink: bool = False
    moved: bool = False
    merged_size: int | None = None  # the target's size once its metadata merge is written


def _replay(records: list[dict[str, Any]]) -> tuple[dict[int, _State], dict[str, Any] | None]:
    states: dict[int, _State] = {}
    begin = None
    for rec in records:
        op = rec["op"]
        if op == "begin" and begin is None:
            begin = rec
        if op == "batch":
            for intent in rec.get("entries", ()):
                states.setdefault(intent["i"], _State()).intent = intent
            continue
        i = rec.get("i")
        if i is None:
            continue
        st = states.setdefault(i, _State())
        if op == "intent":
            st.intent = rec
        elif op == "placed":
            st.placed = rec
        elif op == "unlink":
            st.unlink = True
        elif op == "moved":
            st.moved = True
        elif op == "merge-ready":
            st.merged_size = rec.get("size")
        elif op == "undone":
            states[i] = _State()
    return states, begin


# ---- file operations --------------------------------------------------------------------------


def _libc(name: str, *argtypes: Any) -> Callable[..., int] | None:
    """A Linux libc call Python does not wrap (syncfs, sync_file_range), or None elsewhere."""
    try:
        fn = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (AttributeError, OSError):
        return None
    fn.argtypes = list(argtypes)
    fn.restype = ctypes.c_int
    return fn


_SYNCFS = _libc("syncfs", ctypes.c_int)
_SYNC_FILE_RANGE = _libc(
    "sync_file_range", ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint
)
SYNC_FILE_RANGE_WRITE = 2
_RENAMEAT2 = _libc(
    "renameat2", ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint
)
AT_FDCWD = -100
RENAME_NOREPLACE = 1


def _start_writeback(fd: int) -> None:
    """Start writing a finished tmp to disk now, so the batch's sync waits for less.

    Only a head start: it promises nothing and its errors surface at the sync."""
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, 0, 0, SYNC_FILE_RANGE_WRITE)


def _sync_files(fds: list[int]) -> dict[int, OSError]:
    """Make the data and inodes of all `fds` durable; return {fd: error} for those that failed.

    One syncfs(2) per filesystem costs about what one fsync does, where fsyncing each file
    costs a journal commit and a cache flush apiece. syncfs reports writeback errors since
    Linux 5.8 (sync(2) never does), but only per filesystem, and counts errors since the fd it
    is given was opened: it gets the earliest-opened fd of the batch on that filesystem. Any
    error, ours or not, falls back to fsyncing each file, which tells whose it was.
    """
    if not fds:
        return {}
    first: dict[int, int] = {}
    for fd in fds:
        first.setdefault(os.fstat(fd).st_dev, fd)
    if _SYNCFS is not None and all(_SYNCFS(fd) == 0 for fd in first.values()):
        return {}
    errors: dict[int, OSError] = {}
    for fd in fds:
        try:
            os.fsync(fd)
        except OSError as exc:
            errors[fd] = exc
    return errors


def _sync_folders(folders: list[str]) -> None:
    """Make the names in these folders durable: one syncfs, or an fsync each where needed."""
    fds: list[int] = []
    try:
        for d in folders:
            fds.append(os.open(d, os.O_RDONLY | os.O_DIRECTORY))
        errors = _sync_files(fds)
        if errors:
            raise next(iter(errors.values()))
    finally:
        for fd in fds:
            os.close(fd)


def tmp_path(target: str, blake3: str | None = None) -> str:
    folder, name = os.path.split(target)
    tmp = f".{name}{TMP_SUFFIX}"
    if len(tmp.encode("utf-8", "surrogateescape")) > 255:
        tmp = f".{(blake3 or 'x' * 16)[:16]}{TMP_SUFFIX}"
    return os.path.join(folder, tmp)


def _copy_into(src: str, fd_out: int, buf: bytearray) -> str:
    """Copy src into the new, empty file fd_out (open for reading too); return its BLAKE3.

    The kernel copies (copy_file_range: no trip through our memory, and on filesystems that
    share extents a clone), then the copy is read back and hashed: the digest is of the file
    as written, so a source changed mid-copy, or a short write, shows as a mismatch.
    `buf` is reused across files: zeroing a fresh 4 MiB buffer per file costs more than
    copying a photo."""
    fd_in = os.open(src, os.O_RDONLY)
    try:
        _kernel_copy(fd_in, fd_out)
        view = memoryview(buf)
        while n := os.readv(fd_in, [buf]):  # whatever the kernel left: all of it, or none
            done = 0
            while done < n:
                done += os.write(fd_out, view[done:n])
    finally:
        os.close(fd_in)
    return hash_fd(fd_out, buf=buf)["blake3"]


def _kernel_copy(fd_in: int, fd_out: int) -> None:
    """copy_file_range from both files' offsets to the end of fd_in, where the kernel can."""
    copy = getattr(os, "copy_file_range", None)
    if copy is None:
        return
    while True:
        try:
            n = copy(fd_in, fd_out, KERNEL_COPY)
        except OSError as exc:
            if exc.errno in NO_KERNEL_COPY and os.lseek(fd_out, 0, os.SEEK_CUR) == 0:
                return  # not between these files: the read/write loop does it all
            raise
        if n == 0:
            return


def _stream_copy(src: str, dst: str, buf: bytearray | None = None) -> str:
    """Copy src to a new file dst; fsync; return the BLAKE3 of the copy."""
    fd_out = os.open(dst, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        digest = _copy_into(src, fd_out, buf or bytearray(CHUNK))
        os.fsync(fd_out)
    finally:
        os.close(fd_out)
    return digest


def _place(
    tmp: str, target: str, *, sync_dir: bool = True, linked: Callable[[], None] | None = None
) -> None:
    """Give tmp its final name without ever replacing a file that is already there.

    `linked` is called once the target is named (a crash point for the tests; with link +
    unlink, while both names exist)."""
    if _rename_noreplace(tmp, target):
        if linked:
            linked()
        if sync_dir:
            fsync_dir(os.path.dirname(target))
        return
    try:
        os.link(tmp, target)  # fails with EEXIST instead of overwriting
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            raise
        # filesystems without hard links (FAT, exFAT, some FUSE): check, then rename
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "target exists", target) from None
        os.rename(tmp, target)
    else:
        if linked:
            linked()
        os.unlink(tmp)
    if sync_dir:
        fsync_dir(os.path.dirname(target))


def _rename_noreplace(tmp: str, target: str) -> bool:
    """renameat2(RENAME_NOREPLACE): one atomic step that fails rather than replace a file.

    False where the kernel, C library or filesystem cannot (then link + unlink does it);
    FileExistsError when target exists."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(AT_FDCWD, os.fsencode(tmp), AT_FDCWD, os.fsencode(target), RENAME_NOREPLACE):
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            raise FileExistsError(err, os.strerror(err), target)
        if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            return False
        raise OSError(err, os.strerror(err), tmp)
    return True


def _has_size(path: str, size: int) -> bool:
    try:
        return os.lstat(path).st_size == size
    except FileNotFoundError:
        return False


def _mkdir_quiet(path: str) -> None:
    with contextlib.suppress(FileExistsError):
        os.mkdir(path)


def _close_quiet(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def _finding(path: str, outcome: str, message: str, severity: str = "error", **ev) -> Finding:
    return Finding(path, "apply", severity, outcome, message, ev)


def _no_space(target: str, source: str) -> EnvironmentProblem:
    return EnvironmentProblem(
        f"{target}: no space left on device (ENOSPC) while writing {source}; "
        "free space at the destination and run apply again to resume"
    )


# ---- apply ------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Job:
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
class _Batch:
    """Jobs announced in one journal record, written on the pool, synced and placed together."""

    b: int
    jobs: list[_Job]
    pending: dict[_Job, Future] = field(default_factory=dict)
    results: dict[_Job, tuple[str | None, BaseException | None]] = field(default_factory=dict)
    tmps: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.tmps = {j.tmp for j in self.jobs}

    def wait(self) -> None:
        for job, future in self.pending.items():
            self.results[job] = future.result()  # write_tmp_safely never raises
        self.pending.clear()


class _Run:
    def __init__(
        self, plan: Plan, plan_path: str, mode: str, journal: Journal, states, progress, threads
    ):
        self.plan, self.plan_path, self.mode = plan, plan_path, mode
        self.dest = os.path.abspath(plan.dest)
        self.journal, self.states, self.progress = journal, states, progress
        self.findings: list[Finding] = []
        self.dirty_dirs: set[str] = set()  # folders whose new names are not yet durable
        self.outcome: dict[int, str] = {}
        self.earlier: Counter = Counter()  # fates an earlier run settled, by fate
        self.bytes_written = 0
        self.total = sum(e.action in WRITES for e in plan.entries)
        self.settled = 0
        self.batch: list[_Job] = []
        self.batch_bytes = 0
        self.batches = 0
        self.pending_dirs: set[str] = set()  # folders the queued batch will create
        self.batch_tmps: set[str] = set()
        self.threads = threads
        self.local = threading.local()
        self._pool: ThreadPoolExecutor | None = None
        self.inflight: _Batch | None = None  # announced, being written on the pool
        self.guard = DestGuard(self.dest)
        self.merges: MergeStep | None = None  # writes a move's merge before its source goes

    def tick(self, e: PlanEntry) -> None:
        self.settled += 1
        if self.progress:
            self.progress(self.settled, self.total, e)

    def makedirs(self, folder: str) -> None:
        missing = []
        probe = folder
        while not os.path.isdir(probe):
            missing.append(probe)
            probe = os.path.dirname(probe)
        for d in reversed(missing):
            self.journal.write("mkdir", path=d)
            _mkdir_quiet(d)
            fsync_dir(os.path.dirname(d))

    def run_entry(self, i: int, e: PlanEntry) -> None:
        if not self.settle_or_queue(i, e):
            self.tick(e)

    def settle_or_queue(self, i: int, e: PlanEntry) -> bool:
        """Settle entry i now, or queue it for the next batch (True)."""
        st = self.states.get(i, _State())
        target = os.path.join(self.dest, *e.target.split("/"))
        if st.intent:
            unlink_quiet(st.intent["tmp"])  # left by a killed run
        merged = st.merged_size is not None and _has_size(target, st.merged_size)
        if st.placed and not merged and not _has_size(target, e.size):
            st = _State(intent=st.intent)  # placed, then lost to a power cut: do it again
        if st.placed:
            self.outcome[i] = st.placed["fate"]
            self.earlier[st.placed["fate"]] += 1
            if self.mode == "move" and not st.moved:
                self.finish_move(i, e, target)
            return False
        why = self.guard.problem(e.target)
        if why:
            self.fail(i, e, "escapes-dest", f"{e.target}: {why}")
            return False
        try:
            source_st = os.stat(e.source)
        except OSError as exc:
            self.fail(i, e, "source-missing", f"cannot read source: {exc.strerror}")
            return False
        if source_st.st_size != e.size:
            why = f"source is {source_st.st_size} bytes, the plan says {e.size}"
            self.fail(i, e, "source-changed", why)
            return False
        if os.path.lexists(target):
            self.accept_existing(i, e, target, st)
            return False
        tmp = tmp_path(target, e.blake3)
        if self.mode == "move":
            self.move_one(i, e, target, tmp)
            return False
        if tmp in self.batch_tmps or (self.inflight and tmp in self.inflight.tmps):
            self.flush()  # two long names, one content: one tmp name, never two at once
            self.drain()
        self.batch.append(
            _Job(i, e, source_st, target, tmp, self.missing_dirs(os.path.dirname(target)))
        )
        self.batch_tmps.add(tmp)
        self.batch_bytes += e.size
        if len(self.batch) >= BATCH_FILES or self.batch_bytes >= BATCH_BYTES:
            self.flush()
        return True

    def missing_dirs(self, folder: str) -> list[str]:
        missing = []
        probe = folder
        while probe not in self.pending_dirs and not os.path.isdir(probe):
            missing.append(probe)
            probe = os.path.dirname(probe)
        self.pending_dirs.update(missing)
        return missing[::-1]

    # -- batched modes: copy, hardlink, reflink, reflink-or-copy

    def flush(self) -> None:
        """Announce the queued batch and start writing it; finish the batch before it.

        Two batches overlap: while this one's bytes are copied on the worker threads, the
        previous one is synced and placed here. Crash points and what a resume does (see
        docs/plan-format.md): before `batch` is on disk nothing of it was created; after it,
        each entry has an intent, so its tmp is removed and it is redone, or its target, if
        named, is hashed and accepted as ours. No target name exists before the data behind
        it is durable."""
        jobs, self.batch, self.batch_bytes = self.batch, [], 0
        self.pending_dirs, self.batch_tmps = set(), set()
        if not jobs:
            return
        self.batches += 1
        for job in jobs:  # made durable by the batch record, before any folder is made
            for d in job.dirs:
                self.journal.write("mkdir", path=d, sync=False)
        self.journal.write(
            "batch",
            b=self.batches,
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
        batch = _Batch(self.batches, jobs)
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

    def finish(self, batch: _Batch) -> None:
        """Journal, sync and place a written batch, in plan order."""
        jobs = batch.jobs
        written: list[_Job] = []
        full: _Job | None = None
        try:
            batch.wait()
            for job in jobs:
                outcome = self.settle_write(job, *batch.results[job])
                if outcome == "ok":
                    written.append(job)
                elif outcome == "full":
                    full = full or job
            fds = [j.fd for j in written if j.fd is not None]
            errors = _sync_files(fds)
            synced = []
            for job in written:
                exc = errors.get(job.fd) if job.fd is not None else None
                if exc is None and job.fd is not None and os.fstat(job.fd).st_size != job.e.size:
                    exc = OSError(errno.EIO, "short file after sync")
                _close_quiet(job.fd)
                job.fd = None
                if exc is None:
                    synced.append(job)
                    continue
                unlink_quiet(job.tmp)
                self.journal.write("failed", i=job.i, error=str(exc))
                if exc.errno in FULL:
                    full = full or job
                else:
                    self.fail(job.i, job.e, "write-failed", f"cannot write {job.target}: {exc}")
            self.journal.step()
            self.journal.write("synced", b=batch.b, sync=False)
            for job in synced:
                self.place_job(job)
        except BaseException:
            self.abandon(batch)
            raise
        for job in jobs:
            if job.i in self.outcome:
                self.tick(job.e)
        if full is not None:
            raise _no_space(full.target, full.e.source)

    def abandon(self, batch: _Batch) -> None:
        """Stopped by an error: leave no tmp behind (the intents redo them on resume)."""
        batch.wait()
        for job in batch.jobs:
            _close_quiet(job.fd)
            job.fd = None
            if job.created_tmp and job.i not in self.outcome:
                unlink_quiet(job.tmp)

    def prepare_job(self, job: _Job) -> tuple[None, OSError] | None:
        """Create the job's folders and clear a stale tmp; None, or (None, what failed)."""
        try:
            for d in job.dirs:
                _mkdir_quiet(d)
                self.dirty_dirs.update((d, os.path.dirname(d)))
            unlink_quiet(job.tmp)
        except OSError as exc:
            return None, exc
        return None

    def write_tmp_safely(self, job: _Job) -> tuple[str | None, BaseException | None]:
        """write_tmp on a worker thread: the digest, or what stopped it (never raises)."""
        try:
            return self.write_tmp(job), None
        except BaseException as exc:  # handed back to the main thread, which decides
            return None, exc

    def settle_write(self, job: _Job, digest: str | None, exc: BaseException | None) -> str:
        """Journal a written tmp, unsynced: "ok", "failed" or "full"."""
        e = job.e
        if exc is not None and not isinstance(exc, OSError):
            raise exc
        if exc is not None:
            _close_quiet(job.fd)
            job.fd = None
            unlink_quiet(job.tmp)
            if exc.errno in FULL:
                self.journal.write("failed", i=job.i, error="ENOSPC")
                return "full"
            self.journal.write("failed", i=job.i, error=str(exc))
            if exc.filename == e.source:
                self.fail(job.i, e, "source-unreadable", f"cannot read: {exc.strerror or exc}")
            else:
                why = exc.strerror or exc
                self.fail(job.i, e, "write-failed", f"cannot write {job.target}: {why}")
            return "failed"
        if job.copied:
            self.bytes_written += e.size
        if digest != e.blake3:
            _close_quiet(job.fd)
            job.fd = None
            unlink_quiet(job.tmp)
            self.journal.write("failed", i=job.i, error="blake3 mismatch")
            self.fail(
                job.i,
                e,
                "source-changed",
                "source bytes no longer have the planned BLAKE3",
                planned=e.blake3,
                found=digest,
            )
            return "failed"
        # not durable yet: the batch's sync comes after the last file is written
        self.journal.step()
        self.journal.write("written", i=job.i, sync=False)
        return "ok"

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
        if self.merges is not None:
            self.merges.writer.close()

    def buffer(self) -> bytearray:
        """This thread's copy buffer, reused across files."""
        buf = getattr(self.local, "buf", None)
        if buf is None:
            buf = self.local.buf = bytearray(CHUNK)
        return buf

    def write_tmp(self, job: _Job) -> str:
        e, tmp, mode = job.e, job.tmp, self.mode
        if mode == "hardlink":
            try:
                os.link(e.source, tmp)
            except OSError as exc:
                if exc.errno == errno.EXDEV:
                    raise PlanError(
                        f"{e.source}: cannot hardlink across filesystems to "
                        f"{self.dest}; use --mode copy"
                    ) from None
                raise
            job.created_tmp, job.verb = True, "hardlinked"
            return hash_file(tmp)["blake3"]  # the same inode: no data of ours to sync
        st = job.st
        job.fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        job.created_tmp, job.verb = True, VERB[mode]
        digest = None
        if mode in ("reflink", "reflink-or-copy"):
            try:
                with open(e.source, "rb") as src:
                    fcntl.ioctl(job.fd, FICLONE, src.fileno())
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
            digest = _copy_into(e.source, job.fd, self.buffer())
            job.copied = True
            _start_writeback(job.fd)
        os.fchmod(job.fd, stat.S_IMODE(st.st_mode))
        os.utime(job.fd, ns=(st.st_atime_ns, st.st_mtime_ns))
        return digest

    def place_job(self, job: _Job) -> None:
        try:
            # folders are fsynced once, at the end
            _place(job.tmp, job.target, sync_dir=False, linked=self.journal.step)
        except FileExistsError:
            unlink_quiet(job.tmp)
            why = f"{job.target} appeared while apply ran; left alone"
            self.fail(job.i, job.e, "target-occupied", why)
            return
        self.dirty_dirs.add(os.path.dirname(job.target))
        self.journal.step()
        # unsynced: if lost, resume finds the intent and the right bytes at the target: ours
        self.journal.write(
            "placed", i=job.i, target=job.target, created=True, fate=job.verb, sync=False
        )
        self.outcome[job.i] = job.verb

    # -- move: one file at a time, each durable before its source goes

    def move_one(self, i: int, e: PlanEntry, target: str, tmp: str) -> None:
        try:
            self.makedirs(os.path.dirname(target))
            unlink_quiet(tmp)
            self.journal.write(
                "intent",
                i=i,
                source=e.source,
                target=target,
                tmp=tmp,
                blake3=e.blake3,
                size=e.size,
                mode=self.mode,
            )
            digest = self.copy_and_reread(e, tmp)
        except OSError as exc:
            unlink_quiet(tmp)
            if exc.errno in FULL:
                self.journal.write("failed", i=i, error="ENOSPC")
                raise _no_space(target, e.source) from None
            self.journal.write("failed", i=i, error=str(exc))
            if exc.filename == e.source:
                self.fail(i, e, "source-unreadable", f"cannot read: {exc.strerror or exc}")
            else:
                self.fail(i, e, "write-failed", f"cannot write {target}: {exc.strerror or exc}")
            return
        if digest != e.blake3:
            unlink_quiet(tmp)
            self.journal.write("failed", i=i, error="blake3 mismatch")
            self.fail(
                i,
                e,
                "source-changed",
                "source bytes no longer have the planned BLAKE3",
                planned=e.blake3,
                found=digest,
            )
            return
        self.journal.write("written", i=i, sync=False)
        try:
            # the source is unlinked next: the new name must be durable first
            _place(tmp, target, linked=self.journal.step)
            self.dirty_dirs.add(os.path.dirname(target))
            self.journal.step()
        except FileExistsError:
            unlink_quiet(tmp)
            self.fail(i, e, "target-occupied", f"{target} appeared while apply ran; left alone")
            return
        self.journal.write("placed", i=i, target=target, created=True, fate="moved", sync=False)
        self.outcome[i] = "moved"
        self.finish_move(i, e, target)

    def copy_and_reread(self, e: PlanEntry, tmp: str) -> str:
        st = os.stat(e.source)
        digest = _stream_copy(e.source, tmp, self.buffer())
        self.bytes_written += e.size
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        # the source will be deleted: read the copy back from the disk rather than trust the
        # write path (the page cache is dropped first)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        if hash_file(tmp)["blake3"] != digest:
            return "copy-mismatch"
        return digest

    def accept_existing(self, i: int, e: PlanEntry, target: str, st: _State) -> None:
        if os.path.islink(target) or not os.path.isfile(target):
            self.fail(i, e, "target-occupied", f"{target} exists and is not a regular file")
            return
        try:
            digest = hash_file(target)["blake3"]
        except OSError as exc:
            self.fail(i, e, "target-occupied", f"{target} exists and cannot be read: {exc}")
            return
        if digest != e.blake3:
            self.fail(
                i,
                e,
                "target-occupied",
                f"{target} exists with other content; left alone",
                found=digest,
            )
            return
        # a target we announced and then wrote before being killed is ours; anything else was
        # there before and undo must leave it
        ours = st.intent is not None
        verb = VERB[self.mode] if ours else "already-present"
        if ours and self.mode == "hardlink":
            verb = "hardlinked"
        self.journal.write("placed", i=i, target=target, created=ours, fate=verb)
        self.outcome[i] = verb
        if self.mode == "move":
            self.finish_move(i, e, target)

    def finish_move(self, i: int, e: PlanEntry, target: str) -> None:
        merged = self.merges.before_unlink(i, e, self.outcome.get(i)) if self.merges else None
        self.journal.write("unlink", i=i, source=e.source)
        try:
            s, t = os.stat(e.source), os.stat(target)
        except FileNotFoundError:
            if os.path.exists(target):  # the source went in an earlier, killed run
                self.journal.write("moved", i=i, source=e.source)
            return
        if hash_file(target)["blake3"] not in (e.blake3, merged):
            self.fail(
                i, e, "target-changed", f"{target} no longer has the planned BLAKE3; source kept"
            )
            return
        # The source is read again: a size and mtime kept by an in-place edit (or bit rot) say
        # nothing about its bytes, and removing a source that differs from its copy loses data.
        try:
            differs = not os.path.samestat(s, t) and hash_file(e.source)["blake3"] != e.blake3
        except OSError as exc:
            self.fail(i, e, "source-unreadable", f"cannot read source again: {exc}; source kept")
            return
        if (
            s.st_size != e.size
            or (s.st_mtime_ns != t.st_mtime_ns and self.outcome[i] == "moved")
            or differs
        ):
            self.fail(i, e, "source-changed", "source changed after it was copied; source kept")
            return
        os.unlink(e.source)
        fsync_dir(os.path.dirname(e.source))
        self.journal.write("moved", i=i, source=e.source)

    def fail(self, i: int, e: PlanEntry, outcome: str, message: str, **ev) -> None:
        self.findings.append(_finding(e.source, outcome, message, **ev))
        self.outcome[i] = f"failed: {message}"


def _ledger_rows(
    plan: Plan, outcome: dict[int, str], merged: dict[int, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """One ledger row per plan entry: where it went, or why not; a copy that received a
    metadata merge has its new BLAKE3 and size, and `merge` says what arrived."""
    merged = merged or {}
    rows = []
    for i, e in enumerate(plan.entries):
        if e.action in WRITES:
            what = outcome.get(i, "failed: not attempted")
            new = e.target if not what.startswith("failed") else None
        elif e.action == "duplicate":
            what, new = "duplicate", None
        else:
            what, new = "skipped", None
        rows.append(
            {
                "source": e.source,
                "captured_at": e.captured_at,
                "new_path": new,
                "fate": what,
                "action": e.action,
                "target": e.target,
                "cluster": e.cluster,
                "reason": e.reason,
                "blake3": merged[i]["blake3"] if i in merged else e.blake3,
                "size": merged[i]["size"] if i in merged else e.size,
                **({"merge": merged[i]} if i in merged else {}),
            }
        )
    return rows


def earlier_ledger(dest: str) -> dict[str, Any] | None:
    """DEST's ledger as version 2 (a version-1 ledger is one apply), None when there is none.

    Raises PlanError when the file is there but is not a ledger this version can extend: apply
    would otherwise replace the only record of what an earlier apply placed in DEST.
    """
    path = os.path.join(dest, LEDGER_JSON)
    if not os.path.lexists(path):
        return None
    refusal = f"{path}: %s; apply adds to DEST's ledger and will not replace it: move it away"
    doc = read_json(path, PlanError, "ledger")
    if not isinstance(doc, dict) or doc.get("format") != "photoverify-ledger":
        raise PlanError(refusal % "not a photoverify ledger")
    entries = doc.get("entries")
    if not isinstance(entries, list) or not all(isinstance(r, dict) for r in entries):
        raise PlanError(refusal % "its entries are not a list of records")
    if doc.get("version") == 1:
        apply = {"plan": None, "plan_created": doc.get("plan_created"), "mode": doc.get("mode")}
        return {**doc, "version": 2, "applies": [apply],
                "entries": [{**r, "apply": 0} for r in entries]}  # fmt: skip
    applies = doc.get("applies")
    if (
        doc.get("version") != 2
        or not isinstance(applies, list)
        or not all(isinstance(a, dict) for a in applies)
        or not all(r.get("apply") in range(len(applies)) for r in entries)
    ):
        raise PlanError(refusal % f"unsupported ledger version {doc.get('version')!r}")
    return doc


def _ledger(
    dest: str,
    plan_path: str,
    digest: str,
    plan: Plan,
    outcome: dict[int, str],
    mode: str,
    merged: dict[int, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """DEST's ledger with this apply's rows: an earlier plan's rows are kept, this plan's own
    rows from an earlier run of it are replaced (so every source appears once per plan)."""
    earlier = earlier_ledger(dest) or {"applies": [], "entries": []}
    applies, entries, renumber = [], [], {}
    for k, a in enumerate(earlier["applies"]):
        # a version-1 ledger names no plan file: its plan is this one if it was created together
        v1_same = a.get("plan") is None and a.get("plan_created") == plan.created
        if a.get("plan") != plan_path and not v1_same:
            renumber[k] = len(applies)
            applies.append(a)
    for r in earlier["entries"]:
        if r["apply"] in renumber:
            entries.append({**r, "apply": renumber[r["apply"]]})
    this = len(applies)
    applies.append(
        {
            "plan": plan_path,
            "plan_blake3": digest,
            "plan_created": plan.created,
            "mode": mode,
        }
    )
    entries.extend({**r, "apply": this} for r in _ledger_rows(plan, outcome, merged))
    return {
        "format": "photoverify-ledger",
        "version": 2,
        "dest": plan.dest,
        "applies": applies,
        "entries": entries,
    }


def _ledger_csv(ledger: dict[str, Any]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["original path", "capture date", "new path or fate"])
    for r in ledger["entries"]:
        col = r.get("new_path") or fate_words(r.get("fate"), r.get("target"), r.get("reason"))
        w.writerow([r.get("source"), r.get("captured_at") or "", col])
    # the JSON files' one spelling of an undecodable byte, so the CSV is UTF-8 too
    return escape_surrogates(out.getvalue()).encode("utf-8")


def _manifest(ledger: dict[str, Any]) -> tuple[bytes, list[Finding]]:
    """The b3sum manifest of every file the ledger placed in DEST, written by the manifest
    module's one writer; the files b3sum cannot name are left out and returned as findings."""
    placed: dict[str, str] = {}
    for r in ledger["entries"]:
        if isinstance(r.get("new_path"), str) and isinstance(r.get("blake3"), str):
            placed[r["new_path"]] = r["blake3"]
        side = r.get("merge") if isinstance(r.get("merge"), dict) else {}
        if isinstance(side.get("sidecar"), str) and isinstance(side.get("sidecar_blake3"), str):
            placed[side["sidecar"]] = side["sidecar_blake3"]  # the merge's XMP sidecar
    entries = [ManifestEntry(t, {"blake3": h}) for t, h in sorted(placed.items())]
    manifest = Manifest("blake3", "b3sum", entries, MANIFEST)
    data = render_manifest(manifest)
    return data, [
        _finding(f.path, f.outcome, f"not in {MANIFEST}: {f.message}", "warning")
        for f in manifest.errors
    ]


def _report_files(ledger: dict[str, Any]) -> tuple[list[tuple[str, bytes]], list[Finding]]:
    manifest, left_out = _manifest(ledger)
    reports = [
        (LEDGER_JSON, json_bytes(ledger, indent=1) + b"\n"),
        (LEDGER_CSV, _ledger_csv(ledger)),
        (MANIFEST, manifest),
    ]
    return reports, left_out


def _write_reports(dest: str, reports: list[tuple[str, bytes]]) -> dict[str, str]:
    """Write the reports into DEST durably, with one sync for all; return {path: BLAKE3}."""
    done: dict[str, str] = {}
    tmps: list[tuple[str, str, int]] = []
    try:
        for name, data in reports:
            path = os.path.join(dest, name)
            tmp = tmp_path(path)
            unlink_quiet(tmp)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            tmps.append((path, tmp, fd))
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            hasher = new_hasher("blake3")
            hasher.update(data)
            done[path] = hasher.hexdigest()
        errors = _sync_files([fd for _, _, fd in tmps])
        if errors:
            raise next(iter(errors.values()))
        for path, tmp, _ in tmps:
            os.replace(tmp, path)  # our own report from an earlier run may be replaced
        _sync_folders([dest])
    finally:
        for _, tmp, fd in tmps:
            _close_quiet(fd)
            unlink_quiet(tmp)
    return done


def apply_plan(
    plan_path: str | os.PathLike,
    *,
    mode: str = "copy",
    dry_run: bool = False,
    force_space: bool = False,
    progress: Progress | None = None,
    threads: int | None = None,
) -> ApplyResult:
    """Carry out the plan at `plan_path`; running it again after a crash finishes the job."""
    started = time.perf_counter()
    if mode not in MODES:
        raise UsageError(f"mode {mode!r}: choose one of {', '.join(MODES)}")
    plan_path = os.path.abspath(os.fspath(plan_path))
    plan = read_plan(plan_path)
    problems = [f for f in check_plan(plan, verify_sources=False) if f.severity == "error"]
    if problems:
        p = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise PlanError(f"{plan_path}: {p.line()}{more}; run `plan --check`")
    # one run per plan (its journal is read and written by one process), one per DEST: the
    # plan's lock comes before its journal is read, DEST's before anything is written there
    locks: list[int | None] = []
    if not dry_run:
        locks.append(hold_lock(plan_path, _PLAN_BUSY))
    try:
        return _apply_locked(plan_path, plan, mode, dry_run, force_space, progress, threads,
                             started, locks)  # fmt: skip
    finally:
        for fd in locks:
            _release(fd)


_PLAN_BUSY = "another photoverify apply or undo of this plan is running"
_DEST_BUSY = "another photoverify apply or undo is writing into this folder"


def _apply_locked(plan_path: str, plan: Plan, mode: str, dry_run: bool, force_space: bool,
                  progress: Progress | None, threads: int | None, started: float,
                  locks: list[int | None]) -> ApplyResult:  # fmt: skip
    digest = hash_file(plan_path)["blake3"]
    journal_path = plan_path + ".journal"
    history = read_journal(journal_path) if os.path.exists(journal_path) else []
    states, begin = _replay(history)
    if begin is not None:
        if begin.get("plan_blake3") != digest:
            raise PlanError(
                f"{plan_path}: plan was edited after apply started (journal "
                f"{journal_path}); undo that run or restore the plan"
            )
        if begin.get("mode") != mode:
            raise PlanError(
                f"{plan_path}: apply was started with --mode {begin.get('mode')}; "
                "resume it with the same mode"
            )
    dest = os.path.abspath(plan.dest)
    todo = [
        (i, e)
        for i, e in enumerate(plan.entries)
        if e.action in WRITES and not (states.get(i) and states[i].placed)
    ]
    remaining = sum(e.size for _, e in todo)
    needs_space = mode in ("copy", "move", "reflink-or-copy")
    if needs_space and not force_space and todo:
        free = free_bytes(dest)
        need = remaining + max(SPACE_MARGIN, remaining // 100)
        if free < need:
            raise PlanError(
                f"{dest}: not enough free space: {need} bytes needed (with margin), "
                f"{free} free; free space or pass --force-space"
            )
    actions = Counter(e.action for e in plan.entries)
    if dry_run:
        findings: list[Finding] = []
        for _, e in todo:
            findings.extend(source_findings(e))
        fates = Counter(f"would-{mode}" if e.action in WRITES else e.action for e in plan.entries)
        return ApplyResult(
            plan_path,
            dest,
            mode,
            True,
            dict(actions),
            dict(fates),
            0,
            plan.bytes_to_write,
            time.perf_counter() - started,
            findings,
            journal_path,
        )
    if os.path.isdir(dest):
        locks.append(hold_lock(dest, _DEST_BUSY))
        earlier_ledger(dest)  # a ledger apply could not extend is refused before any file moves
    os.makedirs(os.path.dirname(journal_path), exist_ok=True)
    journal = Journal(journal_path)
    run = None
    try:
        journal.write(
            "resume" if begin else "begin",
            plan=plan_path,
            plan_blake3=digest,
            mode=mode,
            dest=dest,
            time=now_iso(),
        )
        run = _Run(plan, plan_path, mode, journal, states, progress, threads or WRITERS)
        run.merges = merges = MergeStep(plan, dest, journal, history)  # dedupe/metawrite.py
        if not os.path.isdir(dest):
            run.makedirs(dest)
            locks.append(hold_lock(dest, _DEST_BUSY))  # a run that made it at the same instant
        for i, e in enumerate(plan.entries):
            if e.action in WRITES:
                run.run_entry(i, e)
        run.flush()
        run.drain()
        _sync_folders(sorted(run.dirty_dirs))
        merges.run(run.outcome)
        run.findings.extend(merges.findings)
        ledger = _ledger(dest, plan_path, digest, plan, run.outcome, mode, merges.done)
        report_files, left_out = _report_files(ledger)
        run.findings.extend(left_out)
        try:
            reports = _write_reports(dest, report_files)
        except OSError as exc:
            if exc.errno in FULL:
                raise EnvironmentProblem(
                    f"{dest}: no space left on device (ENOSPC) for the "
                    "ledger; free space and run apply again"
                ) from None
            raise
        journal.write("report", files=reports)
        fates = Counter(
            r["fate"] if not r["fate"].startswith("failed") else "failed"
            for r in _ledger_rows(plan, run.outcome)
        )
        result = ApplyResult(
            plan_path,
            dest,
            mode,
            False,
            dict(actions),
            dict(fates),
            run.bytes_written,
            plan.bytes_to_write,
            time.perf_counter() - started,
            run.findings,
            journal_path,
            os.path.join(dest, LEDGER_JSON),
            os.path.join(dest, MANIFEST),
            dict(run.earlier),
            merges.counts(),
        )
        journal.write("finish", fates=result.fates, findings=len(run.findings))
        return result
    finally:
        if run is not None:
            run.close()
        journal.close()


# ---- undo -------------------------------------------------------------------------------------


def undo(journal_path: str | os.PathLike) -> UndoResult:
    """Reverse an apply, finished or killed, from its journal. Running it again does nothing."""
    started = time.perf_counter()
    journal_path = os.path.abspath(os.fspath(journal_path))
    locks: list[int | None] = []
    try:
        plan_path = journal_path.removesuffix(".journal")
        if plan_path != journal_path and os.path.isfile(plan_path):
            locks.append(hold_lock(plan_path, _PLAN_BUSY))
        history = read_journal(journal_path)
        begin = _replay(history)[1]
        if begin and os.path.isdir(begin.get("dest") or ""):
            locks.append(hold_lock(begin["dest"], _DEST_BUSY))
        return _undo_locked(journal_path, history, started)
    finally:
        for fd in locks:
            _release(fd)


def _undo_locked(journal_path: str, history: list[dict[str, Any]], started: float) -> UndoResult:
    states, begin = _replay(history)
    if begin is None:
        raise PlanError(f"{journal_path}: not an apply journal (no begin record)")
    result = UndoResult(journal_path)
    reports: dict[str, str] = {}
    mkdirs: list[str] = []
    for rec in history:
        if rec["op"] == "report":
            reports = rec["files"]
        elif rec["op"] == "mkdir":
            mkdirs.append(rec["path"])
    journal = Journal(journal_path)
    try:
        journal.write("undo-begin", time=now_iso())
        _undo_reports(begin, reports)
        result.removed += undo_merges(history)  # the merge's tmps and XMP sidecars
        merged, originals = merged_blake3(history), premerges(history)
        for i in sorted(states, reverse=True):
            st = states[i]
            if st.intent is None and st.placed is None:
                continue
            if st.intent:
                unlink_quiet(st.intent["tmp"])
                if st.placed is None:
                    st.placed = _unrecorded_placement(st.intent)
            if st.placed is None:
                journal.write("undone", i=i)
                continue
            rec = st.intent or {}
            target = st.placed["target"]
            blake3 = rec.get("blake3")
            source = rec.get("source")
            if st.unlink and source:
                if not _restore(source, target, blake3, result, originals.get(i)):
                    continue
            forget_original(originals.get(i))  # the source is in place: its bytes are not needed
            if st.placed.get("created") and os.path.lexists(target):
                ours = (blake3, merged.get(i))  # as copied, or with its metadata merge
                if os.path.isfile(target) and hash_file(target)["blake3"] in ours:
                    os.unlink(target)
                    fsync_dir(os.path.dirname(target))
                    result.removed += 1
                else:
                    result.left += 1
                    result.findings.append(
                        _finding(
                            target,
                            "target-changed",
                            "changed since apply wrote it; left in place",
                            "warning",
                        )
                    )
            journal.write("undone", i=i)
        for d in sorted(set(mkdirs), key=len, reverse=True):
            try:
                os.rmdir(d)
                result.dirs_removed += 1
            except OSError:
                pass  # not empty (someone else's files) or already gone
        journal.write("undo-finish", removed=result.removed, restored=result.restored)
    finally:
        journal.close()
    result.seconds = time.perf_counter() - started
    return result


def _undo_reports(begin: dict[str, Any], reports: dict[str, str]) -> None:
    """Take this plan out of DEST's records. Rows of other plans stay (the reports are written
    again without this plan's rows); reports holding only this plan's rows are removed. A ledger
    undo cannot read is removed only if it is still as this apply wrote it."""
    dest, plan_path = begin.get("dest"), begin.get("plan")
    try:
        ledger = earlier_ledger(dest) if isinstance(dest, str) else None
    except PlanError:
        ledger = None  # not ours to rewrite; an unchanged report is still removed below
    others = [a for a in (ledger or {}).get("applies", []) if a.get("plan") != plan_path]
    if ledger is not None and others and isinstance(dest, str):
        keep = [k for k, a in enumerate(ledger["applies"]) if a.get("plan") != plan_path]
        renumber = {k: n for n, k in enumerate(keep)}
        rest = {**ledger, "applies": others, "entries": [
            {**r, "apply": renumber[r["apply"]]} for r in ledger["entries"]
            if r.get("apply") in renumber
        ]}  # fmt: skip
        _write_reports(dest, _report_files(rest)[0])
        return
    if ledger is not None and isinstance(dest, str) and ledger["applies"]:
        # only this plan's rows: the reports are this plan's, even if another undo rewrote them
        for name in (LEDGER_JSON, LEDGER_CSV, MANIFEST):
            unlink_quiet(os.path.join(dest, name))
        return
    for path, h in reports.items():
        if os.path.isfile(path) and hash_file(path)["blake3"] == h:
            os.unlink(path)


def _unrecorded_placement(intent: dict[str, Any]) -> dict[str, Any] | None:
    """A run killed after linking a target, before its `placed` record reached the journal:
    the target was free when announced, so one with the announced bytes is ours (as a resume
    would accept it)."""
    target = intent.get("target")
    if not target or not os.path.isfile(target) or os.path.islink(target):
        return None
    try:
        if hash_file(target)["blake3"] != intent.get("blake3"):
            return None
    except OSError:
        return None
    return {"target": target, "created": True, "fate": VERB.get(intent.get("mode", ""), "copied")}


def _restore(
    source: str, target: str, blake3: str | None, result: UndoResult, premerge: dict | None
) -> bool:
    """Put a moved source back from its verified copy (rebuilt from the copy and its premerge
    bytes when the copy received a metadata merge); True when the source is in place."""
    if os.path.isfile(source) and hash_file(source)["blake3"] == blake3:
        return True  # never unlinked, or restored by an earlier undo
    if os.path.lexists(source):
        result.findings.append(
            _finding(
                source,
                "source-occupied",
                "a different file now has the moved source's name; copy left at target",
            )
        )
        return False
    if not os.path.isfile(target):
        result.findings.append(
            _finding(source, "copy-missing", f"cannot restore: the copy {target} is gone")
        )
        return False
    os.makedirs(os.path.dirname(source), exist_ok=True)
    tmp = tmp_path(source, blake3)
    unlink_quiet(tmp)
    digest = _stream_copy(target, tmp)
    if digest != blake3 and premerge:
        digest = rebuild_original(premerge, target, tmp)
    if digest != blake3:
        unlink_quiet(tmp)
        result.findings.append(
            _finding(
                source,
                "copy-changed",
                f"cannot restore: the copy {target} no longer has the planned BLAKE3",
            )
        )
        return False
    t = os.stat(target)
    os.chmod(tmp, stat.S_IMODE(t.st_mode))
    os.utime(tmp, ns=(t.st_atime_ns, t.st_mtime_ns))
    _place(tmp, source)
    result.restored += 1
    return True

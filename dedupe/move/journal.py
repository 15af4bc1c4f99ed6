"""apply's journal (`plan.json.journal`, JSON lines) and the locks that keep one run per plan
and per DEST.

Every step of apply is written to the journal before and after it happens; a killed run is
finished, and any run undone, from the journal alone (its records: docs/plan-format.md). The
crash hooks of the tests live here: PHOTOVERIFY_APPLY_CRASH_AFTER=N kills the process after
the N-th journal write, PHOTOVERIFY_APPLY_CRASH_AT_FILE_STEP=N after the N-th file step that
has no record of its own.
"""

from __future__ import annotations

import errno
import fcntl
import io
import os
import re
import signal
from dataclasses import dataclass
from typing import Any

from photoverify.dedupe.core.errors import EnvironmentProblem, PlanError
from photoverify.dedupe.core.jsonio import json_bytes, parse_json
from photoverify.dedupe.core.outfile import fsync_dir
from photoverify.dedupe.move.fileops import mkdir_quiet, write_all

CRASH_ENV = "PHOTOVERIFY_APPLY_CRASH_AFTER"  # test hook: SIGKILL after the N-th journal write
# test hook: SIGKILL after the N-th file step between journal writes (a tmp written, a batch
# synced, a target named (or linked while its tmp still exists), a tmp removed)
CRASH_FILE_ENV = "PHOTOVERIFY_APPLY_CRASH_AT_FILE_STEP"

PLAN_BUSY = "another photoverify apply or undo of this plan is running"
DEST_BUSY = "another photoverify apply or undo is writing into this folder"


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
            write_all(self.fd, data)
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

    def makedirs(self, folder: str) -> None:
        """Create `folder` and its missing parents, each announced (`mkdir`) and fsynced into
        its parent, so that undo removes exactly the folders apply made."""
        missing = []
        probe = folder
        while not os.path.isdir(probe):
            missing.append(probe)
            probe = os.path.dirname(probe)
        for d in reversed(missing):
            self.write("mkdir", path=d)
            mkdir_quiet(d)
            fsync_dir(os.path.dirname(d))


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


def load_journal(
    path: str, *, missing_ok: bool = False
) -> tuple[list[dict[str, Any]], dict[int, EntryState], dict[str, Any] | None]:
    """The journal's records, each entry's state after them and the first `begin` record; no
    records for a journal not yet written when `missing_ok`."""
    history = [] if missing_ok and not os.path.exists(path) else read_journal(path)
    states, begin = replay(history)
    return history, states, begin


@dataclass
class EntryState:
    """What the journal says about one plan entry."""

    intent: dict[str, Any] | None = None
    placed: dict[str, Any] | None = None
    unlink: bool = False
    moved: bool = False
    merged_size: int | None = None  # the target's size once its metadata merge is written


def replay(records: list[dict[str, Any]]) -> tuple[dict[int, EntryState], dict[str, Any] | None]:
    """Each entry's state after these records, and the first `begin` record (None if none)."""
    states: dict[int, EntryState] = {}
    begin = None
    for rec in records:
        op = rec["op"]
        if op == "begin" and begin is None:
            begin = rec
        if op == "batch":
            for intent in rec.get("entries", ()):
                states.setdefault(intent["i"], EntryState()).intent = intent
            continue
        i = rec.get("i")
        if i is None:
            continue
        st = states.setdefault(i, EntryState())
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
            states[i] = EntryState()
    return states, begin


# ---- locks ------------------------------------------------------------------------------------

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


class Locks:
    """The locks one apply or undo holds, its plan's and then DEST's, all dropped at the end."""

    def __init__(self) -> None:
        self.fds: list[int | None] = []

    def __enter__(self) -> Locks:
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self.fds:
            if fd is not None:
                os.close(fd)

    def plan(self, path: str) -> None:
        self.fds.append(hold_lock(path, PLAN_BUSY))

    def dest(self, path: str) -> None:
        self.fds.append(hold_lock(path, DEST_BUSY))

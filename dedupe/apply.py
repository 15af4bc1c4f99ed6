"""Carry out a plan, crash-safely, and undo it.

Every step is written to a journal (`plan.json.journal`, JSON lines, fsynced) before and after
it happens. A file is written to `.<name>.photoverify-tmp` in the target's folder, hashed while
it is copied, fsynced, and only then linked to its target name (never over an existing file),
after which the folder is fsynced. A run killed at any moment is finished by running the same
command again: temp files are removed, targets already holding the planned bytes are accepted.
The journal also lets `undo` remove exactly what apply created and put back what `move` moved.
Formats: docs/plan-format.md.
"""

from __future__ import annotations

import csv
import datetime as _dt
import errno
import fcntl
import io
import json
import os
import signal
import stat
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dedupe.errors import EnvironmentProblem, PlanError, UsageError
from dedupe.hashing import CHUNK, hash_file, new_hasher
from dedupe.plan import (
    LEDGER_CSV,
    LEDGER_JSON,
    MANIFEST,
    WRITES,
    Plan,
    PlanEntry,
    check_plan,
    free_bytes,
    read_plan,
    source_findings,
    target_problem,
)
from dedupe.records import Finding

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
FICLONE = 0x40049409  # linux/fs.h _IOW(0x94, 9, int)
SPACE_MARGIN = 16 * 1024 * 1024
FULL = (errno.ENOSPC, errno.EDQUOT)
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
        if new:
            _fsync_dir(os.path.dirname(path) or ".")
        elif os.path.getsize(path) and not _ends_with_newline(path):
            os.write(self.fd, b"\n")  # a torn last line from a killed run stays on its own line

    def write(self, op: str, *, sync: bool = True, **fields: Any) -> None:
        """Append one record; `sync=False` for records whose loss a resume can recover from
        (the next synced record makes them durable anyway, and SIGKILL loses nothing written)."""
        line = json.dumps({"op": op, **fields}, ensure_ascii=False) + "\n"
        try:
            os.write(self.fd, line.encode("utf-8", "surrogateescape"))
            if sync:
                os.fsync(self.fd)
        except OSError as exc:
            raise EnvironmentProblem(
                f"{self.path}: cannot write the journal ({exc.strerror})"
            ) from None
        self.writes += 1
        if self.crash_after is not None and self.writes == self.crash_after:
            os.kill(os.getpid(), signal.SIGKILL)

    def close(self) -> None:
        os.close(self.fd)


def _ends_with_newline(path: str) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, io.SEEK_END)
        return fh.read(1) == b"\n"


def read_journal(path: str) -> list[dict[str, Any]]:
    """The journal's records; a line that does not parse was torn by a crash and is ignored."""
    try:
        with open(path, "rb") as fh:
            lines = fh.read().decode("utf-8", "surrogateescape").splitlines()
    except FileNotFoundError:
        raise PlanError(f"{path}: journal not found") from None
    out = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
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


def _replay(records: list[dict[str, Any]]) -> tuple[dict[int, _State], dict[str, Any] | None]:
    states: dict[int, _State] = {}
    begin = None
    for rec in records:
        op = rec["op"]
        if op == "begin" and begin is None:
            begin = rec
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
        elif op == "undone":
            states[i] = _State()
    return states, begin


# ---- file operations --------------------------------------------------------------------------


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def tmp_path(target: str, blake3: str | None = None) -> str:
    folder, name = os.path.split(target)
    tmp = f".{name}{TMP_SUFFIX}"
    if len(tmp.encode("utf-8", "surrogateescape")) > 255:
        tmp = f".{(blake3 or 'x' * 16)[:16]}{TMP_SUFFIX}"
    return os.path.join(folder, tmp)


def _stream_copy(src: str, dst: str) -> str:
    """Copy src to a new file dst, hashing the bytes on the way; fsync; return the BLAKE3."""
    hasher = new_hasher("blake3")
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    fd_in = os.open(src, os.O_RDONLY)
    try:
        fd_out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.posix_fadvise(fd_in, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            while n := os.readv(fd_in, [buf]):
                chunk = view[:n]
                hasher.update(chunk)
                done = 0
                while done < n:
                    done += os.write(fd_out, chunk[done:])
            os.fsync(fd_out)
        finally:
            os.close(fd_out)
    finally:
        os.close(fd_in)
    return hasher.hexdigest()


def _reflink(src: str, dst: str) -> None:
    fd_in = os.open(src, os.O_RDONLY)
    try:
        fd_out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.ioctl(fd_out, FICLONE, fd_in)
            os.fsync(fd_out)
        finally:
            os.close(fd_out)
    finally:
        os.close(fd_in)


def _place(tmp: str, target: str, *, sync_dir: bool = True) -> None:
    """Give tmp its final name without ever replacing a file that is already there."""
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
        os.unlink(tmp)
    if sync_dir:
        _fsync_dir(os.path.dirname(target))


def _has_size(path: str, size: int) -> bool:
    try:
        return os.lstat(path).st_size == size
    except FileNotFoundError:
        return False


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _finding(path: str, outcome: str, message: str, severity: str = "error", **ev) -> Finding:
    return Finding(path, "apply", severity, outcome, message, ev)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


# ---- apply ------------------------------------------------------------------------------------


class _Run:
    def __init__(self, plan: Plan, plan_path: str, mode: str, journal: Journal, states, progress):
        self.plan, self.plan_path, self.mode = plan, plan_path, mode
        self.dest = os.path.abspath(plan.dest)
        self.journal, self.states, self.progress = journal, states, progress
        self.findings: list[Finding] = []
        self.dirty_dirs: set[str] = set()  # folders whose new names are not yet fsynced
        self.outcome: dict[int, str] = {}
        self.bytes_written = 0

    def makedirs(self, folder: str) -> None:
        missing = []
        probe = folder
        while not os.path.isdir(probe):
            missing.append(probe)
            probe = os.path.dirname(probe)
        for d in reversed(missing):
            self.journal.write("mkdir", path=d)
            try:
                os.mkdir(d)
            except FileExistsError:
                pass
            _fsync_dir(os.path.dirname(d))

    def run_entry(self, i: int, e: PlanEntry) -> None:
        st = self.states.get(i, _State())
        target = os.path.join(self.dest, *e.target.split("/"))
        if st.intent:
            _unlink_quiet(st.intent["tmp"])  # left by a killed run
        if st.placed and not _has_size(target, e.size):
            st = _State(intent=st.intent)  # placed, then lost to a power cut: do it again
        if st.placed:
            self.outcome[i] = st.placed["fate"]
            if self.mode == "move" and not st.moved:
                self.finish_move(i, e, target)
            return
        why = target_problem(self.dest, e.target)
        if why:
            self.fail(i, e, "escapes-dest", f"{e.target}: {why}")
            return
        try:
            size = os.stat(e.source).st_size
        except OSError as exc:
            self.fail(i, e, "source-missing", f"cannot read source: {exc.strerror}")
            return
        if size != e.size:
            self.fail(i, e, "source-changed", f"source is {size} bytes, the plan says {e.size}")
            return
        if os.path.lexists(target):
            self.accept_existing(i, e, target, st)
            return
        tmp = tmp_path(target, e.blake3)
        try:
            self.makedirs(os.path.dirname(target))
            _unlink_quiet(tmp)
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
            digest, verb = self.write_tmp(e, tmp)
        except OSError as exc:
            _unlink_quiet(tmp)
            if exc.errno in FULL:
                self.journal.write("failed", i=i, error="ENOSPC")
                raise EnvironmentProblem(
                    f"{target}: no space left on device (ENOSPC) while writing {e.source}; "
                    "free space at the destination and run apply again to resume"
                ) from None
            self.journal.write("failed", i=i, error=str(exc))
            self.fail(i, e, "write-failed", f"cannot write {target}: {exc.strerror or exc}")
            return
        if digest != e.blake3:
            _unlink_quiet(tmp)
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
            # a move unlinks the source next: the new name must be durable first; a copy
            # fsyncs each folder once at the end (a lost name is found and redone on resume)
            _place(tmp, target, sync_dir=self.mode == "move")
            self.dirty_dirs.add(os.path.dirname(target))
        except FileExistsError:
            _unlink_quiet(tmp)
            self.fail(i, e, "target-occupied", f"{target} appeared while apply ran; left alone")
            return
        # unsynced: if lost, resume finds the intent and the right bytes at the target: ours
        self.journal.write("placed", i=i, target=target, created=True, fate=verb, sync=False)
        self.outcome[i] = verb
        if self.mode == "move":
            self.finish_move(i, e, target)

    def write_tmp(self, e: PlanEntry, tmp: str) -> tuple[str, str]:
        mode = self.mode
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
            return hash_file(tmp)["blake3"], "hardlinked"
        st = os.stat(e.source)
        verb = VERB[mode]
        if mode in ("reflink", "reflink-or-copy"):
            try:
                _reflink(e.source, tmp)
                digest = hash_file(tmp)["blake3"]
                verb = "reflinked"
            except OSError as exc:
                _unlink_quiet(tmp)
                if exc.errno not in NO_REFLINK:
                    raise
                if mode == "reflink":
                    raise PlanError(
                        f"{tmp}: reflink (FICLONE) not supported here ({exc.strerror}); "
                        "use --mode copy or --mode reflink-or-copy"
                    ) from None
                digest = _stream_copy(e.source, tmp)
                self.bytes_written += e.size
        else:
            digest = _stream_copy(e.source, tmp)
            self.bytes_written += e.size
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        if mode == "move":
            # the source will be deleted: read the copy back rather than trust the write path
            fd = os.open(tmp, os.O_RDONLY)
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
            if hash_file(tmp)["blake3"] != digest:
                return "copy-mismatch", verb
        return digest, verb

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
        self.journal.write("unlink", i=i, source=e.source)
        try:
            s, t = os.stat(e.source), os.stat(target)
        except FileNotFoundError:
            if os.path.exists(target):  # the source went in an earlier, killed run
                self.journal.write("moved", i=i, source=e.source)
            return
        if hash_file(target)["blake3"] != e.blake3:
            self.fail(
                i, e, "target-changed", f"{target} no longer has the planned BLAKE3; source kept"
            )
            return
        if s.st_size != e.size or (s.st_mtime_ns != t.st_mtime_ns and self.outcome[i] == "moved"):
            self.fail(i, e, "source-changed", "source changed after it was copied; source kept")
            return
        os.unlink(e.source)
        _fsync_dir(os.path.dirname(e.source))
        self.journal.write("moved", i=i, source=e.source)

    def fail(self, i: int, e: PlanEntry, outcome: str, message: str, **ev) -> None:
        self.findings.append(_finding(e.source, outcome, message, **ev))
        self.outcome[i] = f"failed: {message}"


def _ledger(plan: Plan, outcome: dict[int, str], mode: str) -> dict[str, Any]:
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
                "blake3": e.blake3,
                "size": e.size,
            }
        )
    return {
        "format": "photoverify-ledger",
        "version": 1,
        "dest": plan.dest,
        "mode": mode,
        "plan_created": plan.created,
        "entries": rows,
    }


def _ledger_csv(ledger: dict[str, Any]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["original path", "capture date", "new path or fate"])
    for r in ledger["entries"]:
        if r["new_path"]:
            col = r["new_path"]
        elif r["fate"] == "duplicate":
            col = f"duplicate of {r['target']}"
        elif r["fate"] == "skipped":
            col = f"skipped: {r['reason']}"
        else:
            col = r["fate"]
        w.writerow([r["source"], r["captured_at"] or "", col])
    return out.getvalue().encode("utf-8", "surrogateescape")


def _manifest(plan: Plan, outcome: dict[int, str]) -> bytes:
    lines = sorted(
        (e.target, e.blake3)
        for i, e in enumerate(plan.entries)
        if e.action in WRITES and not outcome.get(i, "failed").startswith("failed")
    )
    return "".join(f"{h}  {t}\n" for t, h in lines).encode("utf-8")


def _write_report(run: _Run, name: str, data: bytes) -> tuple[str, str]:
    path = os.path.join(run.dest, name)
    tmp = tmp_path(path)
    _unlink_quiet(tmp)
    with open(tmp, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)  # our own report from an earlier run may be replaced
    _fsync_dir(run.dest)
    return path, hash_file(path)["blake3"]


def apply_plan(
    plan_path: str | os.PathLike,
    *,
    mode: str = "copy",
    dry_run: bool = False,
    force_space: bool = False,
    progress: Progress | None = None,
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
        raise PlanError(f"{plan_path}: {p.path}: {p.message}{more}; run `plan --check`")
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
    os.makedirs(os.path.dirname(journal_path), exist_ok=True)
    journal = Journal(journal_path)
    try:
        journal.write(
            "resume" if begin else "begin",
            plan=plan_path,
            plan_blake3=digest,
            mode=mode,
            dest=dest,
            time=_now(),
        )
        run = _Run(plan, plan_path, mode, journal, states, progress)
        if not os.path.isdir(dest):
            run.makedirs(dest)
        writes = [(i, e) for i, e in enumerate(plan.entries) if e.action in WRITES]
        for n, (i, e) in enumerate(writes):
            run.run_entry(i, e)
            if progress:
                progress(n + 1, len(writes), e)
        for d in sorted(run.dirty_dirs):
            _fsync_dir(d)
        ledger = _ledger(plan, run.outcome, mode)
        reports = {}
        try:
            for name, data in (
                (
                    LEDGER_JSON,
                    (json.dumps(ledger, indent=1, ensure_ascii=False) + "\n").encode(
                        "utf-8", "surrogateescape"
                    ),
                ),
                (LEDGER_CSV, _ledger_csv(ledger)),
                (MANIFEST, _manifest(plan, run.outcome)),
            ):
                path, h = _write_report(run, name, data)
                reports[path] = h
        except OSError as exc:
            if exc.errno in FULL:
                raise EnvironmentProblem(
                    f"{dest}: no space left on device (ENOSPC) for the "
                    "ledger; free space and run apply again"
                ) from None
            raise
        journal.write("report", files=reports)
        fates = Counter(
            r["fate"] if not r["fate"].startswith("failed") else "failed" for r in ledger["entries"]
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
        )
        journal.write("finish", fates=result.fates, findings=len(run.findings))
        return result
    finally:
        journal.close()


# ---- undo -------------------------------------------------------------------------------------


def undo(journal_path: str | os.PathLike) -> UndoResult:
    """Reverse an apply, finished or killed, from its journal. Running it again does nothing."""
    started = time.perf_counter()
    journal_path = os.path.abspath(os.fspath(journal_path))
    history = read_journal(journal_path)
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
        journal.write("undo-begin", time=_now())
        for path, h in reports.items():
            if os.path.isfile(path) and hash_file(path)["blake3"] == h:
                os.unlink(path)
        for i in sorted(states, reverse=True):
            st = states[i]
            if st.intent is None and st.placed is None:
                continue
            if st.intent:
                _unlink_quiet(st.intent["tmp"])
            if st.placed is None:
                journal.write("undone", i=i)
                continue
            rec = st.intent or {}
            target = st.placed["target"]
            blake3 = rec.get("blake3")
            source = rec.get("source")
            if st.unlink and source:
                if not _restore(source, target, blake3, result):
                    continue
            if st.placed.get("created"):
                if not os.path.lexists(target):
                    pass
                elif os.path.isfile(target) and hash_file(target)["blake3"] == blake3:
                    os.unlink(target)
                    _fsync_dir(os.path.dirname(target))
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


def _restore(source: str, target: str, blake3: str | None, result: UndoResult) -> bool:
    """Put a moved source back from its verified copy; True when the source is in place."""
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
    _unlink_quiet(tmp)
    digest = _stream_copy(target, tmp)
    if digest != blake3:
        _unlink_quiet(tmp)
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

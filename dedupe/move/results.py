"""What apply and undo hand back (ApplyResult, UndoResult, their findings), and the tally a run
keeps as it goes: each entry's fate, the findings, the bytes written, the folders to sync.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from photoverify.dedupe.core.findings import Finding
from photoverify.dedupe.core.hashing import CHUNK
from photoverify.dedupe.move.fileops import FULL
from photoverify.dedupe.move.journal import Journal
from photoverify.dedupe.move.plan import WRITES, Plan, PlanEntry

MODES = ("copy", "hardlink", "reflink", "reflink-or-copy", "move")
# the fate a mode gives a file it writes
VERB = {
    "copy": "copied",
    "hardlink": "hardlinked",
    "reflink": "reflinked",
    "reflink-or-copy": "copied",
    "move": "moved",
}

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


def finding(path: str, outcome: str, message: str, severity: str = "error", **ev) -> Finding:
    return Finding(path, "apply", severity, outcome, message, ev)


class Tally:
    """What a run has settled so far, shared by its batches, its moves and the run itself: each
    entry's fate (or why it failed), the findings, the bytes written, the folders whose new
    names are not yet durable, and the progress shown."""

    def __init__(self, plan: Plan, mode: str, journal: Journal, progress: Progress | None):
        self.mode = mode
        self.dest = os.path.abspath(plan.dest)
        self.journal, self.progress = journal, progress
        self.findings: list[Finding] = []
        self.dirty_dirs: set[str] = set()  # folders whose new names are not yet durable
        self.outcome: dict[int, str] = {}
        self.earlier: Counter = Counter()  # fates an earlier run settled, by fate
        self.bytes_written = 0
        self.total = sum(e.action in WRITES for e in plan.entries)
        self.settled = 0
        self.local = threading.local()

    def tick(self, e: PlanEntry) -> None:
        self.settled += 1
        if self.progress:
            self.progress(self.settled, self.total, e)

    def fail(self, i: int, e: PlanEntry, outcome: str, message: str, **ev) -> None:
        self.findings.append(finding(e.source, outcome, message, **ev))
        self.outcome[i] = f"failed: {message}"

    def write_failed(self, i: int, e: PlanEntry, target: str, exc: OSError) -> bool:
        """Journal and record a copy that failed (its tmp already gone); True when the disk is
        full, which stops the run."""
        if exc.errno in FULL:
            self.journal.write("failed", i=i, error="ENOSPC")
            return True
        self.journal.write("failed", i=i, error=str(exc))
        why = exc.strerror or exc
        if exc.filename == e.source:
            self.fail(i, e, "source-unreadable", f"cannot read: {why}")
        else:
            self.fail(i, e, "write-failed", f"cannot write {target}: {why}")
        return False

    def mismatch(self, i: int, e: PlanEntry, digest: str | None) -> None:
        """Journal and record a copy whose bytes are not the planned ones (its tmp gone)."""
        self.journal.write("failed", i=i, error="blake3 mismatch")
        self.fail(
            i,
            e,
            "source-changed",
            "source bytes no longer have the planned BLAKE3",
            planned=e.blake3,
            found=digest,
        )

    def occupied(self, i: int, e: PlanEntry, target: str) -> None:
        self.fail(i, e, "target-occupied", f"{target} appeared while apply ran; left alone")

    def buffer(self) -> bytearray:
        """This thread's copy buffer, reused across files."""
        buf = getattr(self.local, "buf", None)
        if buf is None:
            buf = self.local.buf = bytearray(CHUNK)
        return buf

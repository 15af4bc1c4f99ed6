"""Carry out a plan, crash-safely, and undo it.

Every step is written to a journal (`plan.json.journal`, JSON lines; journal.py) before and
after it happens. Files go in batches (batches.py): copied to `.<name>.photoverify-tmp` beside
their target and read back to hash it, made durable with one syncfs, and only then named
(fileops.py: never over an existing file); touched folders are fsynced before the ledger.
`move` goes one file at a time, each copy re-read from disk before its source goes (movemode.py).
A run killed at any moment is finished by running the same command again: temp files are
removed, targets already holding the planned bytes are accepted. At the end the ledger, its CSV
and the manifest are written into DEST (ledger.py). The journal also lets `undo` (undo.py)
remove exactly what apply created and put back what `move` moved.
Formats: docs/plan-format.md.
"""

from __future__ import annotations

import os
import time
from collections import Counter

from photoverify.dedupe.core.errors import PlanError, UsageError
from photoverify.dedupe.core.findings import Finding
from photoverify.dedupe.core.hashing import hash_file
from photoverify.dedupe.core.outfile import unlink_quiet
from photoverify.dedupe.core.timeparse import now_iso
from photoverify.dedupe.move.batches import WRITERS, Batches
from photoverify.dedupe.move.fileops import has_size, sync_folders, tmp_path
from photoverify.dedupe.move.journal import EntryState, Journal, Locks, load_journal
from photoverify.dedupe.move.ledger import (
    RenderManifest,
    build_ledger,
    earlier_ledger,
    ledger_rows,
    write_ledger,
)
from photoverify.dedupe.move.metawrite import MergeStep
from photoverify.dedupe.move.movemode import Mover
from photoverify.dedupe.move.plan import (
    LEDGER_JSON,
    MANIFEST,
    WRITES,
    DestGuard,
    Plan,
    PlanEntry,
    check_plan,
    free_bytes,
    source_findings,
)
from photoverify.dedupe.move.planfile import read_plan
from photoverify.dedupe.move.results import (
    MODES,
    VERB,
    ApplyResult,
    Progress,
    Tally,
    UndoResult,
)
from photoverify.dedupe.move.undoing import undo

__all__ = ["MODES", "ApplyResult", "UndoResult", "apply_plan", "undo"]

SPACE_MARGIN = 16 * 1024 * 1024


class _Run:
    """One run of a plan: settles each entry from the journal's state, or hands it to the
    batches or, in move mode, to the mover."""

    def __init__(self, plan: Plan, mode: str, journal: Journal, states, progress, threads: int):
        self.tally = Tally(plan, mode, journal, progress)
        self.mode, self.dest, self.journal = mode, self.tally.dest, journal
        self.states: dict[int, EntryState] = states
        self.guard = DestGuard(self.dest)
        self.batches = Batches(self.tally, threads)
        self.mover = Mover(self.tally)

    def run_entry(self, i: int, e: PlanEntry) -> None:
        if not self.settle_or_queue(i, e):
            self.tally.tick(e)

    def settle_or_queue(self, i: int, e: PlanEntry) -> bool:
        """Settle entry i now, or queue it for the next batch (True)."""
        st = self.states.get(i, EntryState())
        target = os.path.join(self.dest, *e.target.split("/"))
        if st.intent:
            unlink_quiet(st.intent["tmp"])  # left by a killed run
        merged = st.merged_size is not None and has_size(target, st.merged_size)
        if st.placed and not merged and not has_size(target, e.size):
            st = EntryState(intent=st.intent)  # placed, then lost to a power cut: do it again
        if st.placed:
            self.tally.outcome[i] = st.placed["fate"]
            self.tally.earlier[st.placed["fate"]] += 1
            if self.mode == "move" and not st.moved:
                self.mover.finish_move(i, e, target)
            return False
        source_st = self.check_source(i, e)
        if source_st is None:
            return False
        if os.path.lexists(target):
            self.accept_existing(i, e, target, st)
            return False
        tmp = tmp_path(target, e.blake3)
        if self.mode == "move":
            self.mover.move_one(i, e, target, tmp)
            return False
        self.batches.add(i, e, source_st, target, tmp)
        return True

    def check_source(self, i: int, e: PlanEntry) -> os.stat_result | None:
        """The source's stat if entry i may go ahead: its target stays in DEST and its source
        has the planned size; None (and a finding) if not."""
        why = self.guard.problem(e.target)
        if why:
            self.tally.fail(i, e, "escapes-dest", f"{e.target}: {why}")
            return None
        try:
            source_st = os.stat(e.source)
        except OSError as exc:
            self.tally.fail(i, e, "source-missing", f"cannot read source: {exc.strerror}")
            return None
        if source_st.st_size != e.size:
            why = f"source is {source_st.st_size} bytes, the plan says {e.size}"
            self.tally.fail(i, e, "source-changed", why)
            return None
        return source_st

    def accept_existing(self, i: int, e: PlanEntry, target: str, st: EntryState) -> None:
        fail = self.tally.fail
        if os.path.islink(target) or not os.path.isfile(target):
            fail(i, e, "target-occupied", f"{target} exists and is not a regular file")
            return
        try:
            digest = hash_file(target)["blake3"]
        except OSError as exc:
            fail(i, e, "target-occupied", f"{target} exists and cannot be read: {exc}")
            return
        if digest != e.blake3:
            why = f"{target} exists with other content; left alone"
            fail(i, e, "target-occupied", why, found=digest)
            return
        # a target we announced and then wrote before being killed is ours; anything else was
        # there before and undo must leave it
        ours = st.intent is not None
        verb = VERB[self.mode] if ours else "already-present"
        if ours and self.mode == "hardlink":
            verb = "hardlinked"
        self.journal.write("placed", i=i, target=target, created=ours, fate=verb)
        self.tally.outcome[i] = verb
        if self.mode == "move":
            self.mover.finish_move(i, e, target)

    def close(self) -> None:
        """Stop the workers; a batch still in flight (apply is failing) leaves no tmp."""
        self.batches.close()
        if self.mover.merges is not None:
            self.mover.merges.writer.close()


def apply_plan(
    plan_path: str | os.PathLike,
    *,
    render_manifest: RenderManifest,
    mode: str = "copy",
    dry_run: bool = False,
    force_space: bool = False,
    progress: Progress | None = None,
    threads: int | None = None,
) -> ApplyResult:
    """Carry out the plan at `plan_path`; running it again after a crash finishes the job.

    `render_manifest` writes the b3sum manifest DEST receives
    (render_b3sum of the verify package's manifest room)."""
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
    with Locks() as locks:
        if not dry_run:
            locks.plan(plan_path)
        run = _Apply(plan_path, plan, mode, started, locks)
        run.check_journal()
        run.check_space(force_space)
        if dry_run:
            return run.dry_run()
        return run.run(progress, threads or WRITERS, render_manifest)


class _Apply:
    """apply_plan once the plan is read and locked: the checks before any write, then the run."""

    def __init__(self, plan_path: str, plan: Plan, mode: str, started: float, locks: Locks):
        self.plan_path, self.plan, self.mode = plan_path, plan, mode
        self.started, self.locks = started, locks
        self.digest = hash_file(plan_path)["blake3"]
        self.journal_path = plan_path + ".journal"
        self.history, self.states, self.begin = load_journal(self.journal_path, missing_ok=True)
        self.dest = os.path.abspath(plan.dest)
        self.actions = Counter(e.action for e in plan.entries)
        self.todo = [
            (i, e)
            for i, e in enumerate(plan.entries)
            if e.action in WRITES and not (self.states.get(i) and self.states[i].placed)
        ]

    def check_journal(self) -> None:
        """Refuse to resume a run of another plan's bytes, or in another mode."""
        begin = self.begin
        if begin is None:
            return
        if begin.get("plan_blake3") != self.digest:
            raise PlanError(
                f"{self.plan_path}: plan was edited after apply started (journal "
                f"{self.journal_path}); undo that run or restore the plan"
            )
        if begin.get("mode") != self.mode:
            raise PlanError(
                f"{self.plan_path}: apply was started with --mode {begin.get('mode')}; "
                "resume it with the same mode"
            )

    def check_space(self, force_space: bool) -> None:
        remaining = sum(e.size for _, e in self.todo)
        needs_space = self.mode in ("copy", "move", "reflink-or-copy")
        if needs_space and not force_space and self.todo:
            free = free_bytes(self.dest)
            need = remaining + max(SPACE_MARGIN, remaining // 100)
            if free < need:
                raise PlanError(
                    f"{self.dest}: not enough free space: {need} bytes needed (with margin), "
                    f"{free} free; free space or pass --force-space"
                )

    def result(
        self, dry_run: bool, fates: Counter, findings: list[Finding], bytes_written: int = 0, **more
    ) -> ApplyResult:
        return ApplyResult(
            self.plan_path,
            self.dest,
            self.mode,
            dry_run,
            dict(self.actions),
            dict(fates),
            bytes_written,
            self.plan.bytes_to_write,
            time.perf_counter() - self.started,
            findings,
            self.journal_path,
            **more,
        )

    def dry_run(self) -> ApplyResult:
        findings: list[Finding] = []
        for _, e in self.todo:
            findings.extend(source_findings(e))
        mode = self.mode
        fates = Counter(f"would-{mode}" if e.action in WRITES else e.action
                        for e in self.plan.entries)  # fmt: skip
        return self.result(True, fates, findings)

    def run(self, progress: Progress | None, threads: int, render: RenderManifest):
        dest, plan, mode = self.dest, self.plan, self.mode
        if os.path.isdir(dest):
            self.locks.dest(dest)
            earlier_ledger(dest)  # a ledger apply could not extend is refused before any file moves
        os.makedirs(os.path.dirname(self.journal_path), exist_ok=True)
        journal = Journal(self.journal_path)
        run = None
        try:
            journal.write(
                "resume" if self.begin else "begin",
                plan=self.plan_path,
                plan_blake3=self.digest,
                mode=mode,
                dest=dest,
                time=now_iso(),
            )
            run = _Run(plan, mode, journal, self.states, progress, threads)
            merges = MergeStep(plan, dest, journal, self.history)  # dedupe/move/metawrite.py
            run.mover.merges = merges
            if not os.path.isdir(dest):
                journal.makedirs(dest)
                self.locks.dest(dest)  # a run that made it at once
            for i, e in enumerate(plan.entries):
                if e.action in WRITES:
                    run.run_entry(i, e)
            run.batches.flush()
            run.batches.drain()
            tally = run.tally
            sync_folders(sorted(tally.dirty_dirs))
            merges.run(tally.outcome)
            tally.findings.extend(merges.findings)
            ledger = build_ledger(dest, self.plan_path, self.digest, plan, tally.outcome, mode,
                                  merges.done)  # fmt: skip
            reports, left_out = write_ledger(dest, ledger, render)
            tally.findings.extend(left_out)
            journal.write("report", files=reports)
            fates = Counter(
                r["fate"] if not r["fate"].startswith("failed") else "failed"
                for r in ledger_rows(plan, tally.outcome)
            )
            result = self.result(False, fates, tally.findings, bytes_written=tally.bytes_written,
                                 ledger=os.path.join(dest, LEDGER_JSON),
                                 manifest=os.path.join(dest, MANIFEST),
                                 earlier=dict(tally.earlier), merge=merges.counts())  # fmt: skip
            journal.write("finish", fates=result.fates, findings=len(tally.findings))
            return result
        finally:
            if run is not None:
                run.close()
            journal.close()

"""Undo an apply, finished or killed, from its journal: remove exactly what apply created (and
still holds the bytes it wrote), put back what `move` moved, take the plan out of DEST's
records. Running it again does nothing.
"""

from __future__ import annotations

import os
import time
from typing import Any

from photoverify.dedupe.core.errors import PlanError
from photoverify.dedupe.core.hashing import hash_file
from photoverify.dedupe.core.outfile import unlink_quiet
from photoverify.dedupe.core.timeparse import now_iso
from photoverify.dedupe.move.fileops import (
    copy_mode_and_times,
    place,
    stream_copy,
    sync_folders,
    tmp_path,
)
from photoverify.dedupe.move.journal import EntryState, Journal, Locks, load_journal
from photoverify.dedupe.move.ledger import (
    RenderManifest,
    earlier_ledger,
    report_files,
    write_reports,
)
from photoverify.dedupe.move.metawrite import (
    forget_original,
    merged_blake3,
    premerges,
    rebuild_original,
    undo_merges,
)
from photoverify.dedupe.move.plan import LEDGER_CSV, LEDGER_JSON, MANIFEST
from photoverify.dedupe.move.results import VERB, UndoResult, finding

# Entries undone between two syncs: a sync of the batch's folders and one of its records, where
# an fsync of the folder and one of the journal for each removal took 13 s for 19,802 files.
BATCH = 512


def undo(journal_path: str | os.PathLike, *, render_manifest: RenderManifest) -> UndoResult:
    """Reverse an apply, finished or killed, from its journal. Running it again does nothing.

    `render_manifest` writes DEST's manifest again when other plans' rows stay in its ledger
    (render_b3sum of the verify package's manifest room)."""
    started = time.perf_counter()
    journal_path = os.path.abspath(os.fspath(journal_path))
    with Locks() as locks:
        plan_path = journal_path.removesuffix(".journal")
        if plan_path != journal_path and os.path.isfile(plan_path):
            locks.plan(plan_path)
        history, states, begin = load_journal(journal_path)
        if begin and os.path.isdir(begin.get("dest") or ""):
            locks.dest(begin["dest"])
        result = _undo_locked(journal_path, history, states, begin, render_manifest)
    result.seconds = time.perf_counter() - started
    return result


def _undo_locked(
    journal_path: str,
    history: list[dict[str, Any]],
    states: dict[int, EntryState],
    begin: dict[str, Any] | None,
    render: RenderManifest,
) -> UndoResult:
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
        _undo_reports(begin, reports, render)
        result.removed += undo_merges(history)  # the merge's tmps and XMP sidecars
        merged, originals = merged_blake3(history), premerges(history)
        undone: list[int] = []  # entries undone whose records are not yet written
        folders: set[str] = set()  # folders whose removals are not yet durable
        for i in sorted(states, reverse=True):
            st = states[i]
            if st.intent is None and st.placed is None:
                continue
            if _undo_entry(st, result, merged.get(i), originals.get(i), folders):
                undone.append(i)
                if len(undone) >= BATCH:
                    _settle(journal, undone, folders)
        _settle(journal, undone, folders)
        for d in sorted(set(mkdirs), key=len, reverse=True):
            try:
                os.rmdir(d)
                result.dirs_removed += 1
            except OSError:
                pass  # not empty (someone else's files) or already gone
        journal.write("undo-finish", removed=result.removed, restored=result.restored)
    finally:
        journal.close()
    return result


def _settle(journal: Journal, undone: list[int], folders: set[str]) -> None:
    """The batch's removals made durable (one syncfs, or an fsync a folder), then its `undone`
    records written with one fsync: a record on disk always follows its removal on disk. A run
    killed before that is run again: what it removed is gone, the rest is undone then."""
    if folders:
        sync_folders(sorted(folders))
        folders.clear()
    for i in undone:
        journal.write("undone", i=i, sync=False)
    if undone:
        journal.flush(sync=True)
        undone.clear()


def _undo_entry(
    st: EntryState,
    result: UndoResult,
    merged: str | None,
    premerge: dict | None,
    folders: set[str],
) -> bool:
    """Undo one entry: its tmp removed, its moved source put back, the target it created
    removed if unchanged (its folder added to `folders`, to be made durable with the batch's).
    False when the source could not be put back (the entry stays)."""
    if st.intent:
        unlink_quiet(st.intent["tmp"])
        if st.placed is None:
            st.placed = _unrecorded_placement(st.intent)
    if st.placed is None:
        return True
    rec = st.intent or {}
    target = st.placed["target"]
    blake3 = rec.get("blake3")
    source = rec.get("source")
    if st.unlink and source:
        if not _restore(source, target, blake3, result, premerge):
            return False
    forget_original(premerge)  # the source is in place: its bytes are not needed
    if st.placed.get("created") and os.path.lexists(target):
        ours = (blake3, merged)  # as copied, or with its metadata merge
        if os.path.isfile(target) and hash_file(target)["blake3"] in ours:
            os.unlink(target)
            folders.add(os.path.dirname(target))
            result.removed += 1
        else:
            result.left += 1
            result.findings.append(
                finding(
                    target,
                    "target-changed",
                    "changed since apply wrote it; left in place",
                    "warning",
                )
            )
    return True


def _undo_reports(begin: dict[str, Any], reports: dict[str, str], render: RenderManifest) -> None:
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
        write_reports(dest, report_files(rest, render)[0])
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
            finding(
                source,
                "source-occupied",
                "a different file now has the moved source's name; copy left at target",
            )
        )
        return False
    if not os.path.isfile(target):
        result.findings.append(
            finding(source, "copy-missing", f"cannot restore: the copy {target} is gone")
        )
        return False
    os.makedirs(os.path.dirname(source), exist_ok=True)
    tmp = tmp_path(source, blake3)
    unlink_quiet(tmp)
    digest = stream_copy(target, tmp)
    if digest != blake3 and premerge:
        digest = rebuild_original(premerge, target, tmp)
    if digest != blake3:
        unlink_quiet(tmp)
        result.findings.append(
            finding(
                source,
                "copy-changed",
                f"cannot restore: the copy {target} no longer has the planned BLAKE3",
            )
        )
        return False
    copy_mode_and_times(tmp, os.stat(target))
    place(tmp, source)
    result.restored += 1
    return True

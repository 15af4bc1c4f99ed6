"""The records apply leaves in DEST when it finishes: the ledger (JSON, every apply into DEST),
its spreadsheet (CSV) and the b3sum manifest of every file placed, written durably together.

The manifest's bytes come from the manifest writer of the verify package, handed in by the
caller (`render_manifest`): dedupe does not import verify.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from typing import Any

from photoverify.dedupe.core.errors import EnvironmentProblem, PlanError
from photoverify.dedupe.core.findings import Finding
from photoverify.dedupe.core.hashing import new_hasher
from photoverify.dedupe.core.jsonio import escape_surrogates, json_bytes, read_json
from photoverify.dedupe.core.outfile import unlink_quiet
from photoverify.dedupe.move.fileops import (
    FULL,
    close_quiet,
    sync_files,
    sync_folders,
    tmp_path,
    write_all,
)
from photoverify.dedupe.move.plan import (
    LEDGER_CSV,
    LEDGER_JSON,
    MANIFEST,
    WRITES,
    Plan,
    fate_words,
)
from photoverify.dedupe.move.results import finding

# ({relative path: BLAKE3}, the manifest's name) -> (the b3sum manifest's bytes, a finding for
# each file it cannot hold): render_b3sum of the verify package's manifest room
RenderManifest = Callable[[dict[str, str], str], tuple[bytes, list[Finding]]]


def ledger_rows(
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


def build_ledger(
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
    entries.extend({**r, "apply": this} for r in ledger_rows(plan, outcome, merged))
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


def _manifest(ledger: dict[str, Any], render: RenderManifest) -> tuple[bytes, list[Finding]]:
    """The b3sum manifest of every file the ledger placed in DEST, written by the manifest
    module's one writer; the files b3sum cannot name are left out and returned as findings."""
    placed: dict[str, str] = {}
    for r in ledger["entries"]:
        if isinstance(r.get("new_path"), str) and isinstance(r.get("blake3"), str):
            placed[r["new_path"]] = r["blake3"]
        side = r.get("merge") if isinstance(r.get("merge"), dict) else {}
        if isinstance(side.get("sidecar"), str) and isinstance(side.get("sidecar_blake3"), str):
            placed[side["sidecar"]] = side["sidecar_blake3"]  # the merge's XMP sidecar
    data, left_out = render(placed, MANIFEST)
    return data, [
        finding(f.path, f.outcome, f"not in {MANIFEST}: {f.message}", "warning") for f in left_out
    ]


def report_files(
    ledger: dict[str, Any], render: RenderManifest
) -> tuple[list[tuple[str, bytes]], list[Finding]]:
    """The reports' names in DEST and their bytes; the files the manifest leaves out."""
    manifest, left_out = _manifest(ledger, render)
    reports = [
        (LEDGER_JSON, json_bytes(ledger, indent=1) + b"\n"),
        (LEDGER_CSV, _ledger_csv(ledger)),
        (MANIFEST, manifest),
    ]
    return reports, left_out


def write_reports(dest: str, reports: list[tuple[str, bytes]]) -> dict[str, str]:
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
            write_all(fd, data)
            hasher = new_hasher("blake3")
            hasher.update(data)
            done[path] = hasher.hexdigest()
        errors = sync_files([fd for _, _, fd in tmps])
        if errors:
            raise next(iter(errors.values()))
        for path, tmp, _ in tmps:
            os.replace(tmp, path)  # our own report from an earlier run may be replaced
        sync_folders([dest])
    finally:
        for _, tmp, fd in tmps:
            close_quiet(fd)
            unlink_quiet(tmp)
    return done


def write_ledger(dest: str, ledger: dict[str, Any], render: RenderManifest) -> tuple[
    dict[str, str], list[Finding]
]:  # fmt: skip
    """Write the ledger, its CSV and the manifest into DEST at the end of an apply: {path:
    BLAKE3} of each (for undo), and the files the manifest leaves out."""
    files, left_out = report_files(ledger, render)
    try:
        return write_reports(dest, files), left_out
    except OSError as exc:
        if exc.errno in FULL:
            raise EnvironmentProblem(
                f"{dest}: no space left on device (ENOSPC) for the "
                "ledger; free space and run apply again"
            ) from None
        raise

"""The ledger `photoverify apply` leaves in DEST (`photoverify-ledger.json`): read
(`read_ledger`, the only I/O here), checked against DEST as scanned and the sources
(`check_ledger`, pure), and the source -> DEST mapping it gives the matching (`ledger_hints`)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from photoverify.dedupe.core.errors import UsageError
from photoverify.dedupe.core.findings import Finding
from photoverify.dedupe.core.jsonio import read_json
from photoverify.dedupe.core.paths import under_any
from photoverify.dedupe.core.records import FileRecord
from photoverify.dedupe.move.plan import LEDGER_JSON
from photoverify.verify.audit.outcomes import finding


def read_ledger(dest: str) -> tuple[dict[str, Any] | None, str | None]:
    """(ledger, path) of DEST's photoverify-ledger.json; (None, path) when unreadable,
    (None, None) when there is none."""
    path = os.path.join(dest, LEDGER_JSON)
    if not os.path.exists(path):
        return None, None
    try:
        doc = read_json(path, UsageError, "ledger")
    except UsageError:
        return None, path
    return (doc if isinstance(doc, dict) else None), path


def ledger_hints(ledger: Mapping[str, Any] | None, dest: str) -> dict[str, str]:
    """Source path -> the DEST path the ledger placed it at (a duplicate's target belongs to its
    keeper, so only `new_path` counts)."""
    hint: dict[str, str] = {}
    if ledger and isinstance(ledger.get("entries"), list):
        for e in ledger["entries"]:
            if isinstance(e, dict) and isinstance(e.get("source"), str):
                target = e.get("new_path")
                if isinstance(target, str):
                    hint[e["source"]] = os.path.join(dest, target)
    return hint


def check_ledger(
    ledger: Mapping[str, Any] | None,
    ledger_path: str,
    *,
    dest: str,
    dst_by_path: Mapping[str, FileRecord],
    src_by_path: Mapping[str, FileRecord],
    sources: Sequence[str],
) -> tuple[list[Finding], dict[str, Any]]:
    """A ledger against DEST as scanned and the sources. Pure: DEST files are known by record."""
    out: list[Finding] = []
    summary: dict[str, Any] = {"path": ledger_path, "entries": 0, "verified": 0}
    if (
        not isinstance(ledger, Mapping)
        or ledger.get("format") != "photoverify-ledger"
        or not isinstance(ledger.get("entries"), list)
    ):
        out.append(
            finding(
                ledger_path,
                "ledger-unreadable",
                "not a photoverify ledger (format or entries missing)",
            )
        )
        summary["error"] = "not a photoverify ledger"
        return out, summary
    entries = [e for e in ledger["entries"] if isinstance(e, dict)]
    summary["entries"] = len(entries)
    listed: set[str] = set()
    not_audited = 0
    for e in entries:
        source = e.get("source")
        if not isinstance(source, str):
            continue
        listed.add(source)
        if not under_any(source, sources):
            not_audited += 1
        found, verified = _check_entry(e, source, ledger_path, dest, dst_by_path)
        if found is not None:
            out.append(found)
        summary["verified"] += verified
    unlisted = _unlisted(src_by_path, listed, ledger_path)
    out.extend(unlisted)
    summary["not_audited"] = not_audited
    summary["unlisted"] = len(unlisted)
    return out, summary


def _check_entry(
    e: Mapping[str, Any],
    source: str,
    ledger_path: str,
    dest: str,
    dst_by_path: Mapping[str, FileRecord],
) -> tuple[Finding | None, bool]:
    """(what is wrong with one entry or None, whether its file is verified in DEST)."""
    fate = str(e.get("fate") or "")
    new_path, target = e.get("new_path"), e.get("target")
    ev = {"source": source, "fate": fate, "ledger": ledger_path}
    if fate.startswith("failed"):
        return finding(
            source, "ledger-entry-failed", f"apply could not place it: {fate}", **ev, target=target
        ), False
    if fate == "skipped":
        return finding(
            source,
            "ledger-entry-skipped",
            f"apply left it out: {e.get('reason') or 'no reason given'}",
            **ev,
            reason=e.get("reason"),
        ), False
    if fate == "duplicate":
        if isinstance(target, str) and os.path.join(dest, target) not in dst_by_path:
            return finding(
                os.path.join(dest, target),
                "ledger-duplicate-target-missing",
                "the copy this duplicate was merged into is not in DEST",
                **ev,
                target=target,
            ), False
        return None, False
    if not isinstance(new_path, str):
        return None, False
    placed = os.path.join(dest, new_path)
    rec = dst_by_path.get(placed)
    if rec is None:
        return finding(
            placed,
            "ledger-target-missing",
            f"the ledger says {os.path.basename(source)} was placed here; it is not there",
            **ev,
        ), False
    if e.get("blake3") and rec.blake3 and rec.blake3 != e["blake3"]:
        return finding(
            placed,
            "ledger-target-changed",
            "its bytes are not those the ledger recorded",
            **ev,
            expected=e["blake3"],
            actual=rec.blake3,
        ), False
    return None, True


def _unlisted(
    src_by_path: Mapping[str, FileRecord], listed: set[str], ledger_path: str
) -> list[Finding]:
    """The source media and sidecars the ledger does not mention."""
    return [
        finding(
            p,
            "ledger-source-unlisted",
            "a source file the ledger does not mention (added after the plan, "
            "or outside its roots)",
            ledger=ledger_path,
        )
        for p in sorted(
            p
            for p, r in src_by_path.items()
            if r.kind in ("image", "video", "sidecar") and p not in listed
        )
    ]

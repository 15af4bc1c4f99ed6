"""What a person is shown of an audit: its findings and counts as the report lists them. Pure:
an `AuditResult` in, (findings, counts, severities) out; the audit's own JSON is unchanged.

- One loss is counted once: a source `missing` and the ledger's `ledger-target-missing` for the
  copy `apply` placed of it are one finding, `missing`, carrying both pieces of evidence.
- Files that are not photos, videos or sidecars (a README) are listed as `not-media`, not as
  `ledger-entry-skipped` warnings.
- A conversion that kept the format, the size in pixels and the perceptual hashes changed only
  metadata: `metadata-changed`, not `converted`.
- `converted` and `metadata-changed` take the colour of the worst loss among their assets.
- Each merged duplicate is listed (`merged`: which keeper arrived in its place), and so is each
  asset whose format nothing here decodes (`unchecked`).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from typing import Any

from photoverify.dedupe.core.findings import Finding
from photoverify.dedupe.core.paths import under_any
from photoverify.dedupe.core.records import FileRecord
from photoverify.verify.audit.outcomes import OUTCOMES

MEDIA_KINDS = ("image", "video", "sidecar")
SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}


def _info(path: str, outcome: str, message: str, **evidence: Any) -> Finding:
    return Finding(path, "audit", "info", outcome, f"{path}: {message}", evidence)


def same_pixels(src: FileRecord, dst: FileRecord) -> bool:
    """The same format, size in pixels and perceptual hashes: what a metadata edit leaves."""
    return (
        bool(src.format)
        and src.format == dst.format
        and bool(src.pixels)
        and src.pixels == dst.pixels
        and src.phash is not None
        and (src.phash, src.dhash) == (dst.phash, dst.dhash)
    )


def _merge_losses(findings: list[Finding]) -> list[Finding]:
    """A source's `missing` and the ledger's `ledger-target-missing` about its copy: one."""
    missing = {f.path for f in findings if f.outcome == "missing"}
    ledger_of = {
        f.evidence.get("source"): f
        for f in findings
        if f.outcome == "ledger-target-missing" and f.evidence.get("source") in missing
    }
    out: list[Finding] = []
    for f in findings:
        if f.outcome == "ledger-target-missing" and f.evidence.get("source") in ledger_of:
            continue
        ledger = ledger_of.get(f.path) if f.outcome == "missing" else None
        if ledger is not None:
            evidence = {**f.evidence, "ledger_target": ledger.path}
            evidence["ledger"] = ledger.evidence.get("ledger")
            message = f"{f.message}; the ledger says apply placed it at {ledger.path}"
            f = Finding(f.path, f.check, f.severity, f.outcome, message, evidence)
        out.append(f)
    return out


def _not_media(findings: list[Finding], records: Mapping[str, FileRecord], sources) -> list:
    """Source files that are not media, as `not-media` rows instead of skipped-entry warnings."""
    other = {
        p
        for p, r in records.items()
        if r.kind not in MEDIA_KINDS and r.error is None and under_any(p, sources)
    }
    out = [f for f in findings if not (f.outcome == "ledger-entry-skipped" and f.path in other)]
    for p in sorted(other):
        r = records[p]
        out.append(
            _info(p, "not-media", f"not a photo, video or sidecar ({r.format or 'unknown'})",
                  format=r.format, size=r.size)
        )  # fmt: skip
    return out


def audit_view(result) -> tuple[list[Finding], dict[str, int], dict[str, str]]:
    """(findings, counts, severity of an outcome where the findings do not say) for the report
    of an `AuditResult`."""
    records: Mapping[str, FileRecord] = result.records
    findings = _not_media(_merge_losses(list(result.findings)), records, result.sources)
    counts = dict(result.counts)
    worst: dict[str, int] = {}  # converted, metadata-changed -> rank of the worst loss
    relabel: Counter = Counter()
    for a in result.assets:
        src, dst = records.get(a.source), records.get(a.dest) if a.dest else None
        outcome = a.outcome
        if outcome == "converted" and src and dst and same_pixels(src, dst):
            outcome = "metadata-changed"
            relabel[outcome] += 1
        if outcome in ("converted", "metadata-changed"):
            ranks = (SEVERITY_RANK[s] for f in a.findings if (s := _severity(f)))
            worst[outcome] = min(worst.get(outcome, 2), min(ranks, default=2))
        if outcome == "merged":
            findings.append(
                _info(a.source, "merged",
                      f"a duplicate of {os.path.basename(a.via or '') or 'another original'}, "
                      f"the copy that was kept: it arrived as "
                      f"{os.path.relpath(a.dest, result.dest) if a.dest else '?'}",
                      keeper=a.via, dest=a.dest, match=a.match)
            )  # fmt: skip
        if src is not None and src.kind in ("image", "video") and _no_decoder(src):
            relabel["unchecked"] += 1
            findings.append(
                _info(a.source, "unchecked",
                      f"no decoder here for {src.format}: bytes compared, picture not checked",
                      format=src.format, accounted_as=outcome)
            )  # fmt: skip
    if relabel["metadata-changed"]:
        counts["converted"] = counts.get("converted", 0) - relabel["metadata-changed"]
        counts["metadata-changed"] = relabel["metadata-changed"]
    counts["not-media"] = sum(1 for f in findings if f.outcome == "not-media")
    counts["unchecked"] = relabel["unchecked"]
    names = {rank: name for name, rank in SEVERITY_RANK.items()}
    severity_of = {outcome: names[rank] for outcome, rank in worst.items()}
    findings.sort(key=lambda f: (f.path, f.outcome))
    return findings, counts, severity_of


def _no_decoder(r: FileRecord) -> bool:
    return r.error is None and r.decode_ok is None


def _severity(outcome: str) -> str | None:
    return OUTCOMES.get(outcome)

"""What an audit says: the outcome of each source asset's row (ASSET_OUTCOMES), every finding
outcome it makes with its severity (OUTCOMES; docs/audit.md says why), and `finding`, which
makes one of them."""

from __future__ import annotations

from typing import Any

from photoverify.dedupe.core.findings import Finding

CHECK = "audit"
ASSET_OUTCOMES = ("present", "converted", "merged", "missing", "unreadable")
# Every finding outcome the audit makes, with its severity (docs/audit.md says why).
OUTCOMES: dict[str, str] = {
    "missing": "error",
    "unreadable": "error",
    "extra": "warning",
    "capture-time-lost": "error",
    "capture-time-shifted": "error",
    "capture-time-changed": "error",
    "capture-time-zone-shift": "warning",
    "capture-time-precision-lost": "warning",
    "gps-lost": "error",
    "labels-lost": "error",
    "gps-moved": "error",
    "camera-lost": "warning",
    "camera-changed": "warning",
    "resolution-reduced": "error",
    "content-altered": "error",
    "live-photo-motion-lost": "error",
    "sidecar-lost": "error",
    "companion-lost": "error",
    "companion-detached": "warning",
    "ledger-unreadable": "error",
    "ledger-target-missing": "error",
    "ledger-target-changed": "error",
    "ledger-duplicate-target-missing": "error",
    "ledger-entry-failed": "error",
    "ledger-entry-skipped": "warning",
    "ledger-source-unlisted": "warning",
    "ledger-source-not-audited": "info",
    "metadata-gained": "info",
    "broken-in-source": "warning",
}


def finding(path: str, outcome: str, message: str, **evidence: Any) -> Finding:
    """A finding of the audit about `path`, with the severity OUTCOMES gives its outcome."""
    return Finding(path, CHECK, OUTCOMES[outcome], outcome, f"{path}: {message}", evidence)

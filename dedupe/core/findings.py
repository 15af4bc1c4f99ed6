"""Findings: what every check reports about a file (Finding), and what a result made of them
shares (Verdict). Apart from the catalog's records (records.py): a run of fixity alone makes
findings and loads no record type (their dataclasses cost ~8 ms to build at import). No I/O."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


# One a file in a verify of a million: slots, so no __dict__ each, and not frozen, since a frozen
# dataclass is built field by field through object.__setattr__ (1.5 µs a Finding against 0.4).
# Nothing changes a Finding once made: a check that adds evidence makes a new one (replace).
@dataclass(slots=True)
class Finding:
    """One result of one check on one file: every check makes these, every renderer reads them."""

    path: str
    check: str  # e.g. "fixity", "decode", "expect", "audit", "scan"
    severity: str  # "error" | "warning" | "info"
    outcome: str  # e.g. "changed", "missing", "gps-lost"
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """The finding as one log line naming its file once: checks that write for logs start
        their message with the path already, others leave it to the reader."""
        if self.message.startswith((f"{self.path}: ", f"{self.path} ")):
            return self.message
        return f"{self.path}: {self.message}"


class Verdict:
    """What a result made of Findings shares: ok while no finding is an error (warnings do not
    fail a run), and the exit code that follows (0 ok, 1 problems found)."""

    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

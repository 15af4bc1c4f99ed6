"""What a report reads besides the catalog: the findings `verify --json` or `audit --json`
saved in a file (`report --verify FILE`)."""

from __future__ import annotations

import os

from photoverify.dedupe.core.errors import UsageError
from photoverify.dedupe.core.findings import Finding
from photoverify.dedupe.core.jsonio import read_json

_FINDING_TEXT = ("path", "check", "severity", "outcome", "message")


def read_verify_json(path: str | os.PathLike) -> tuple[list[Finding], dict[str, int] | None]:
    """(findings, counts) from the JSON of `verify --json` / `audit --json` (for `report
    --verify`); anything else is a UsageError naming the file and what is wrong. Fields a
    finding does not have are ignored, so a newer version's output still reads."""
    where = os.fspath(path)
    doc = read_json(path, UsageError, "verify output")
    if not isinstance(doc, dict):
        raise UsageError(f"{where}: not the JSON of verify --json (not an object)")
    rows = doc.get("findings", [])
    if not isinstance(rows, list):
        raise UsageError(f"{where}: findings is not a list")
    findings = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise UsageError(f"{where}: finding {i} is not an object")
        for key in _FINDING_TEXT:
            if not isinstance(row.get(key), str):
                raise UsageError(f"{where}: finding {i} needs a text field {key!r}")
        evidence = row.get("evidence", {})
        if not isinstance(evidence, dict):
            raise UsageError(f"{where}: finding {i}: evidence is not an object")
        findings.append(Finding(**{k: row[k] for k in _FINDING_TEXT}, evidence=evidence))
    counts = doc.get("counts")
    if counts is not None and not (
        isinstance(counts, dict)
        and all(isinstance(v, int) and not isinstance(v, bool) for v in counts.values())
    ):
        raise UsageError(f"{where}: counts must map outcomes to numbers of files")
    return findings, counts

"""Files that were already broken before the move: a source photo or video that does not decode
is copied as it is (its bytes are what there is), so it arrives `present` with identical bytes.
That is not a loss the migration caused, and not a file that is fine either: the audit flags it
as `broken-in-source` (a warning), naming why it does not decode. Pure over the audit's rows."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from photoverify.dedupe.core.findings import Finding
from photoverify.dedupe.core.records import FileRecord

OUTCOME = "broken-in-source"
ACCOUNTED = ("present", "converted", "merged")


def broken_in_source(
    rows: Mapping[str, Mapping[str, Any]], src_by_path: Mapping[str, FileRecord]
) -> Iterator[tuple[str, Finding]]:
    """(source path, finding) for each accounted-for source asset whose primary does not decode
    in the source itself."""
    for path, row in sorted(rows.items()):
        rec = src_by_path.get(path)
        if rec is None or rec.decode_ok is not False or row.get("outcome") not in ACCOUNTED:
            continue
        why = rec.decode_error or "does not decode"
        how = {
            "present": "copied as it was",
            "converted": "a converted copy arrived",
            "merged": "its keeper arrived in its place",
        }[row["outcome"]]
        message = (
            f"{path}: does not decode in the source either: {why}. Broken before the move, "
            f"not by it; {how}"
        )
        evidence = {"source": path, "decode_error": why, "dest": row.get("dest")}
        yield path, Finding(path, "audit", "warning", OUTCOME, message, evidence)

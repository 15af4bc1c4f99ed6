"""What audit knows of a DEST copy that received a metadata merge from `apply`.

The ledger row of such a copy holds its new BLAKE3 and a `merge` object: the fields that
arrived, from where, and `source_blake3`, the bytes it had before (the source's). audit takes
a merged copy as present for that source, and reports the fields as gained, not as changes.
Pure over the ledger's content and DEST's records.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from photoverify.dedupe.core.findings import Finding
from photoverify.dedupe.core.records import FileRecord


def merged_copies(
    ledger: Mapping[str, Any] | None, dest: str, dst_by_path: Mapping[str, FileRecord]
) -> dict[str, dict[str, Any]]:
    """DEST path -> the ledger's `merge` of each copy apply merged metadata into and that still
    has the merged bytes (a copy changed since is not vouched for)."""
    out: dict[str, dict[str, Any]] = {}
    entries = (ledger or {}).get("entries")
    for e in entries if isinstance(entries, list) else ():
        merge = e.get("merge") if isinstance(e, dict) else None
        if not isinstance(merge, dict) or not isinstance(e.get("new_path"), str):
            continue
        path = os.path.join(dest, e["new_path"])
        rec = dst_by_path.get(path)
        if rec is not None and rec.blake3 == e.get("blake3") and merge.get("source_blake3"):
            out[path] = merge
    return out


def gained_finding(dest_path: str, source: str, merge: Mapping[str, Any]) -> Finding:
    """The info finding `metadata-gained` naming each field that arrived and its donor."""
    fields = [f for f in merge.get("fields") or () if isinstance(f, dict)]
    names = ", ".join(str(f.get("field")) for f in fields)
    gained = {str(f.get("field")): {"value": f.get("value"), "from": f.get("from")} for f in fields}
    return Finding(
        dest_path,
        "audit",
        "info",
        "metadata-gained",
        f"{dest_path}: gained {names} from the metadata merge (otherwise the source's bytes)",
        {"source": source, "gained": gained, "sidecar": merge.get("sidecar")},
    )

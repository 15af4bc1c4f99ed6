"""A plan's files: the JSON plan (`write_plan`, `read_plan`, `plan_from_json`, which checks a
document against the format of docs/plan-format.md) and the spreadsheet a person reads
(`write_csv`). The decision itself, the records and the disk checks are in `plan`."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from typing import Any

from photoverify.dedupe.core.errors import PlanError
from photoverify.dedupe.core.jsonio import escape_surrogates, json_bytes, read_json
from photoverify.dedupe.core.outfile import write_output
from photoverify.dedupe.move.metamerge import merge_problem
from photoverify.dedupe.move.plan import (
    ACTIONS,
    ENTRY_KEYS,
    ENTRY_KEYS_V2,
    FORMAT,
    HEADER_KEYS,
    VERSIONS,
    Plan,
    PlanEntry,
    fate,
)


def plan_chunks(plan: Plan, per_chunk: int = 1000) -> Iterator[bytes]:
    """The plan file's bytes, `per_chunk` entries at a time: the header a field a line, then
    each entry on a line of its own (what a person scrolls or greps, one file a line), in
    json_bytes' escaping. A million entries are never one document in memory: the plan as one
    JSON value took ~1.4 KB an entry more at its peak, and as long again to encode indented."""
    head = json_bytes({**plan.header_json(), "entries": []}, indent=1)
    assert head.endswith(b"[]\n}")
    if not plan.entries:
        yield head + b"\n"
        return
    yield head[: -len(b"]\n}")]
    lines = []
    for n, entry in enumerate(plan.entries_json()):
        lines.append((b"\n  " if n == 0 else b",\n  ") + json_bytes(entry))
        if len(lines) == per_chunk:
            yield b"".join(lines)
            lines = []
    yield b"".join(lines) + b"\n ]\n}\n"


def plan_bytes(plan: Plan) -> bytes:
    return b"".join(plan_chunks(plan))


def write_plan(plan: Plan, path: str | os.PathLike) -> None:
    write_output(path, plan_chunks(plan))


def _need(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise PlanError(f"{where}: {what}")


def plan_from_json(doc: Any, where: str) -> Plan:
    _need(isinstance(doc, dict), where, "not a JSON object")
    _need(doc.get("format") == FORMAT, where, f"not a plan (format is not {FORMAT!r})")
    version = doc.get("version")
    _need(version in VERSIONS, where, f"plan version {version!r} unsupported")
    keys = ENTRY_KEYS if version == 1 else ENTRY_KEYS_V2
    for key in HEADER_KEYS:
        _need(key in doc, where, f"header field {key!r} missing")
    _need(isinstance(doc["dest"], str) and doc["dest"], where, "dest must be a path")
    _need(
        isinstance(doc["roots"], list) and all(isinstance(r, str) for r in doc["roots"]),
        where,
        "roots must be a list of paths",
    )
    _need(isinstance(doc["options"], dict), where, "options must be an object")
    _need(isinstance(doc.get("entries"), list), where, "entries must be a list")
    entries = []
    for n, raw in enumerate(doc["entries"]):
        at = f"{where}: entry {n}"
        _need(
            isinstance(raw, dict) and set(raw) == set(keys),
            at,
            f"must have exactly the fields {', '.join(keys)}",
        )
        _need(raw["action"] in ACTIONS, at, f"action {raw['action']!r} is not one of {ACTIONS}")
        _need(isinstance(raw["source"], str) and raw["source"], at, "source must be a path")
        _need(isinstance(raw["size"], int) and raw["size"] >= 0, at, "size must be an integer")
        if raw["action"] == "skip":
            _need(raw["target"] is None, at, "a skipped entry has no target")
        else:
            _need(isinstance(raw["target"], str) and raw["target"], at, "target must be a path")
            b3 = raw["blake3"]
            _need(
                isinstance(b3, str) and len(b3) == 64 and all(c in "0123456789abcdef" for c in b3),
                at,
                "blake3 must be 64 lowercase hex digits",
            )
        if raw.get("merge") is not None:
            _need(raw["action"] == "keep", at, "only a keep entry has a merge")
            _need(merge_problem(raw["merge"]) is None, at, f"merge {merge_problem(raw['merge'])}")
        entries.append(PlanEntry(**{k: raw[k] for k in keys}))
    sources = [e.source for e in entries]
    _need(len(set(sources)) == len(sources), where, "a source appears in more than one entry")
    declared = doc["bytes_to_write"]
    plan = Plan(
        roots=tuple(doc["roots"]),
        dest=doc["dest"],
        catalog=doc["catalog"],
        options=doc["options"],
        entries=tuple(entries),
        created=doc["created"],
        dest_free_bytes=doc["dest_free_bytes"],
    )
    _need(
        declared == plan.bytes_to_write,
        where,
        f"bytes_to_write {declared} does not match the entries ({plan.bytes_to_write})",
    )
    return plan


def read_plan(path: str | os.PathLike) -> Plan:
    path = os.fspath(path)
    return plan_from_json(read_json(path, PlanError, "plan file"), path)


def merged_fields(entry: PlanEntry) -> str:
    """The CSV's `merged fields`: each field the metadata merge writes, keywords with the
    words added; empty when nothing is merged (or the merge is refused)."""
    merge = entry.merge or {}
    if merge.get("refused"):
        return ""
    names = []
    for f in merge.get("fields") or ():
        added = [a["value"] for a in f.get("added") or ()]
        names.append(f"{f['field']} (+{', '.join(added)})" if added else f["field"])
    return "; ".join(names)


def write_csv(plan: Plan, path: str | os.PathLike) -> None:
    out = io.StringIO()
    w = csv.writer(out)
    # a plan with metadata merges gets a fifth column; one without is written as before
    merges = any(e.merge for e in plan.entries)
    w.writerow(["original path", "capture date", "new path or fate", "action"]
               + (["merged fields"] if merges else []))  # fmt: skip
    for e in plan.entries:
        w.writerow([e.source, e.captured_at or "", fate(e), e.action]
                   + ([merged_fields(e)] if merges else []))  # fmt: skip
    with open(path, "wb") as fh:  # UTF-8, undecodable bytes spelled as in the JSON files
        fh.write(escape_surrogates(out.getvalue()).encode("utf-8"))


__all__ = [
    "plan_chunks",
    "plan_bytes",
    "write_plan",
    "plan_from_json",
    "read_plan",
    "merged_fields",
    "write_csv",
]

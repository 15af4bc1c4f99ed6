"""What each file of a plan knows, for the metadata merge (`plan --merge-metadata`).

Capture time and GPS come from the catalog (the scanner's reading, every group and Takeout's
JSON); the labels a person gave (title, description, keywords, rating, face regions) are read
again with one exiftool call over the files that take part in a merge, so that what is written
is exactly what exiftool reads in the donor. Apple's `Photo Details.csv` rows are donors of the
file they name. `add_merges` attaches the decisions (dedupe.metamerge, pure) to a plan.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from photoverify.dedupe.catalog.apple_csv import is_photo_details, read_photo_details
from photoverify.dedupe.core.records import DupesResult, FileRecord
from photoverify.dedupe.move.metamerge import Donor, MergeInputs, plan_merge
from photoverify.dedupe.move.plan import Plan

Sidecars = dict[str, list[str]]  # asset primary -> its donor sidecars, XMP first
# sidecars that donate: XMP everything, Takeout JSON its photoTakenTime and geoData only (its
# `title` is the file name, not a title)
DONOR_SIDECARS = ("XMP", "JSON")
LABEL_TAGS = (
    "XMP-dc:Title",
    "IPTC:ObjectName",
    "XMP-dc:Description",
    "IFD0:ImageDescription",
    "IPTC:Caption-Abstract",
    "XMP-dc:Subject",
    "IPTC:Keywords",
    "XMP-xmp:Rating",
    "IFD0:Rating",
    "XMP-mwg-rs:RegionInfo",
)
# what cameras put in ImageDescription when nobody described the photo
CAMERA_DESCRIPTIONS = frozenset(
    {"OLYMPUS DIGITAL CAMERA", "SONY DSC", "DIGITAL CAMERA", "DCIM", "DEFAULT", "SAMSUNG"}
)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _words(value: Any) -> list[str] | None:
    items = value if isinstance(value, list) else [value] if value is not None else []
    words = [w for w in (str(i).strip() for i in items) if w]
    return words or None


def _rating(*values: Any) -> int | None:
    for value in values:
        try:
            stars = int(float(value))
        except (TypeError, ValueError, OverflowError):
            continue
        if stars != 0 and -1 <= stars <= 5:
            return stars
    return None


def labels_from_tags(tags: dict[str, Any]) -> dict[str, Any]:
    """exiftool's `-j -n -G1 -struct` answer for one file -> the label fields it holds. Pure."""
    description = None
    for tag in ("XMP-dc:Description", "IFD0:ImageDescription", "IPTC:Caption-Abstract"):
        text = _text(tags.get(tag))
        if text and text.upper() not in CAMERA_DESCRIPTIONS:
            description = text
            break
    regions = tags.get("XMP-mwg-rs:RegionInfo")
    return {
        "title": _text(tags.get("XMP-dc:Title")) or _text(tags.get("IPTC:ObjectName")),
        "description": description,
        "keywords": _words(tags.get("XMP-dc:Subject")) or _words(tags.get("IPTC:Keywords")),
        "rating": _rating(tags.get("XMP-xmp:Rating"), tags.get("IFD0:Rating")),
        "regions": regions if isinstance(regions, dict) and regions.get("RegionList") else None,
    }


def read_labels(paths: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The label fields of each file, read by one exiftool process. A name exiftool's argument
    file cannot carry (a newline) is not read: that file donates and lacks no label."""
    names = [p for p in paths if "\n" not in p and "\r" not in p]
    if not names:
        return {}
    with tempfile.NamedTemporaryFile("w", suffix=".args", encoding="utf-8",
                                     errors="surrogateescape") as args:  # fmt: skip
        for line in ("-j", "-n", "-G1", "-struct", "-charset", "filename=utf8"):
            args.write(line + "\n")
        args.write("".join(f"-{t}\n" for t in LABEL_TAGS))
        args.write("".join(os.path.abspath(p) + "\n" for p in names))
        args.flush()
        proc = subprocess.run(["exiftool", "-@", args.name], capture_output=True, check=False)
    try:
        answers = json.loads(proc.stdout.decode("utf-8", "surrogateescape") or "[]")
    except json.JSONDecodeError:
        return {}
    return {a["SourceFile"]: labels_from_tags(a) for a in answers if "SourceFile" in a}


def own_values(rec: FileRecord, labels: dict[str, Any] | None) -> dict[str, Any]:
    """A file's own values: capture time and position from the catalog, labels as read."""
    m = rec.metadata
    out: dict[str, Any] = {"captured_at": m.captured_at, "gps": m.gps}
    if rec.format != "JSON":  # a Takeout sidecar's title is the file's name
        out.update(labels or {})
    return {k: v for k, v in out.items() if v is not None}


def apple_donors(records: Iterable[FileRecord]) -> dict[str, Donor]:
    """file path -> its Photo Details row as a donor (originalCreationDate as UTC, a favourite
    as 5 stars). CSVs that do not read are left out (audit reports them)."""
    out: dict[str, Donor] = {}
    for rec in records:
        if not is_photo_details(rec.path):
            continue
        part = read_photo_details(rec.path)
        for row in part.rows:
            values: dict[str, Any] = {}
            if row.created is not None:
                values["captured_at"] = row.created.isoformat() + "+00:00"
            if row.favorite:
                values["rating"] = 5
            if values:
                label = f"{os.path.basename(part.csv)} line {row.line}"
                out[os.path.join(part.folder, row.name)] = Donor(label, values)
    return out


def gather(records: Sequence[FileRecord], dupes: DupesResult) -> tuple[MergeInputs, Sidecars]:
    """What every file that can take part in a merge holds (cluster members, files with donor
    sidecars and those sidecars, files Apple's CSV names): the one exiftool read of a plan."""
    by_path = {r.path: r for r in records}
    sidecars = {
        a.primary: sorted(
            (c for c in a.companions if c in by_path and by_path[c].format in DONOR_SIDECARS),
            key=lambda c: (DONOR_SIDECARS.index(by_path[c].format or ""), c),
        )
        for a in dupes.assets
    }
    apple = apple_donors(records)
    involved = {m.path for cl in dupes.clusters for m in cl.members}
    involved |= {cl.keeper for cl in dupes.clusters} | set(apple)
    involved |= {p for p, sides in sidecars.items() if sides}
    involved |= {s for p in list(involved) for s in sidecars.get(p, ())}
    involved &= set(by_path)
    labels = read_labels(sorted(p for p in involved if by_path[p].kind != "other"))
    inputs = MergeInputs(
        own={p: own_values(by_path[p], labels.get(os.path.abspath(p))) for p in involved},
        formats={p: by_path[p].format for p in involved},
        apple=apple,
    )
    return inputs, sidecars


def attach(plan: Plan, dupes: DupesResult, inputs: MergeInputs, sidecars: Sidecars) -> Plan:
    """The plan with each `keep` entry's metadata merge (None when there is nothing to merge
    or report), and `options.merge_metadata` true. Pure."""
    keeps = {e.target: e for e in plan.entries if e.action == "keep"}
    members: dict[str, list[str]] = {}
    for cl in dupes.clusters:
        order = [m.path for m in cl.members]
        for e in plan.entries:
            if e.action == "duplicate" and e.cluster == cl.id and e.target in keeps:
                keeper = keeps[e.target].source
                members.setdefault(keeper, [p for p in order if p != keeper])
    taken = {e.target.casefold() for e in plan.entries if e.target}
    entries = []
    for e in plan.entries:
        merge = None
        if e.action == "keep" and e.source in inputs.own:
            m = plan_merge(e.source, e.target or "", members.get(e.source, []), sidecars,
                           inputs, taken)  # fmt: skip
            merge = m.to_json() if m else None
        entries.append(replace(e, merge=merge) if merge else e)
    return replace(plan, entries=tuple(entries), options={**plan.options, "merge_metadata": True})


def add_merges(plan: Plan, records: Sequence[FileRecord], dupes: DupesResult) -> Plan:
    """`attach` after `gather`: the merges of a plan as it stands (targets unchanged)."""
    return attach(plan, dupes, *gather(records, dupes))


def plan_with_merges(
    records: Sequence[FileRecord],
    dupes: DupesResult,
    build: Callable[[Sequence[FileRecord]], Plan],
) -> Plan:
    """`build` (plan.build_plan with its options) with the metadata merges attached. A keeper
    without a capture time that receives one is planned by that time (its target follows the
    template: `2008/10/…`, not `undated/…`), as its copy in DEST will have it."""
    inputs, sidecars = gather(records, dupes)
    plan = attach(build(records), dupes, inputs, sidecars)
    dated: dict[str, dict[str, Any]] = {}
    for e in plan.entries:
        if e.merge and e.captured_at is None and not e.merge["refused"]:
            got = [f for f in e.merge["fields"] if f["field"] == "captured_at"]
            if got:
                dated[e.source] = got[0]
    if not dated:
        return plan
    retimed = [
        replace(r, metadata=replace(r.metadata, captured_at=dated[r.path]["value"],
                                    captured_source=f"metadata merge from {dated[r.path]['from']}"))
        if r.path in dated else r
        for r in records
    ]  # fmt: skip
    return attach(build(retimed), dupes, inputs, sidecars)


__all__ = [
    "add_merges",
    "apple_donors",
    "attach",
    "gather",
    "labels_from_tags",
    "own_values",
    "plan_with_merges",
    "read_labels",
]

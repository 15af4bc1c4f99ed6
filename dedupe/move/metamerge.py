"""Metadata merge: what the copy we keep lacks that its duplicates and sidecars know. Pure.

For every `keep` entry of a plan, the keeper file's own values are compared with its donors':
its own sidecars (XMP, then Google Takeout JSON), the other members of its cluster and their
sidecars (in the cluster's order), and last a row of Apple's `Photo Details.csv`. A field the
keeper has is never changed; a field it lacks takes the first donor's value, unless another donor
disagrees (a conflict: reported with every value, merged from none). A donor that disagrees with
a value the keeper has is reported as a conflict too. Formats: docs/plan-format.md.

Values (`FieldValues`, plain JSON): `captured_at` ISO 8601 (sub-seconds and offset when known),
`gps` {lat, lon}, `title`, `description`, `keywords` (list), `rating` (-1..5), `regions` (the
XMP-mwg-rs RegionInfo structure exiftool reads, face regions with names).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

FIELDS = ("captured_at", "gps", "title", "description", "keywords", "rating", "regions")
FieldValues = Mapping[str, Any]
# two positions farther apart than this are two places, not one fix read twice
GPS_CONFLICT_METRES = 1000.0
# two capture times farther apart than this are two captures (Apple's CSV gives minutes)
TIME_CONFLICT_SECONDS = 60.0
ZONE_STEP, MAX_ZONE = 900.0, 14 * 3600.0  # time zones: quarter hours, at most 14 h away
# formats exiftool rewrites in place without risk to the picture; the rest get an XMP sidecar
WRITABLE = frozenset({"JPEG", "PNG", "TIFF", "HEIC", "HEIF", "WEBP", "MOV", "MP4"})
VIDEO = frozenset({"MOV", "MP4"})


@dataclass(frozen=True)
class Donor:
    """One place a value can come from: `label` is what the plan names (a file, a CSV row)."""

    label: str
    values: FieldValues


@dataclass(frozen=True)
class Merge:
    """The decision for one keeper: fields to write (with their donor) and conflicts left alone."""

    fields: tuple[dict[str, Any], ...] = ()
    conflicts: tuple[dict[str, Any], ...] = ()
    write: str = "file"  # "file": exiftool rewrites the DEST copy; "sidecar": an XMP beside it
    sidecar: str | None = None  # the sidecar's target, relative to DEST, when write == "sidecar"
    refused: str | None = None  # why nothing is written although fields were found
    format: str | None = None  # the keeper's format (catalog), which tells how to write

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "write": self.write,
            "sidecar": self.sidecar,
            "fields": list(self.fields),
            "conflicts": list(self.conflicts),
            "refused": self.refused,
        }

    @property
    def empty(self) -> bool:
        return not self.fields and not self.conflicts


def _parse_time(iso: str) -> _dt.datetime | None:
    try:
        return _dt.datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return None


def _times_agree(a: str, b: str) -> bool:
    ta, tb = _parse_time(a), _parse_time(b)
    if ta is None or tb is None:
        return a == b
    wall = abs((ta.replace(tzinfo=None) - tb.replace(tzinfo=None)).total_seconds())
    if wall <= TIME_CONFLICT_SECONDS:
        return True
    if ta.tzinfo is not None and tb.tzinfo is not None:
        return abs((ta - tb).total_seconds()) <= TIME_CONFLICT_SECONDS
    # one clock without its zone (a camera's local time beside Takeout's or Apple's UTC): the
    # same instant when they differ by whole quarter hours, at most 14 h
    if ta.tzinfo is None and tb.tzinfo is None:
        return False  # two local clocks hours apart: which one is right is not ours to say
    off = wall % ZONE_STEP
    return wall <= MAX_ZONE and min(off, ZONE_STEP - off) <= TIME_CONFLICT_SECONDS


def metres_apart(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    lat1, lat2 = math.radians(a["lat"]), math.radians(b["lat"])
    dlat, dlon = lat2 - lat1, math.radians(b["lon"] - a["lon"])
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * 6371008.8 * math.asin(min(1.0, math.sqrt(h)))


def agree(name: str, a: Any, b: Any) -> bool:
    """Whether two values of one field describe the same thing."""
    if name == "captured_at":
        return _times_agree(a, b)
    if name == "gps":
        return metres_apart(a, b) <= GPS_CONFLICT_METRES
    if name in ("title", "description"):
        return str(a).strip() == str(b).strip()
    if name == "keywords":
        return True  # keywords add up, they do not contradict
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def keyword_additions(
    own: Sequence[str], offers: Sequence[tuple[Any, str]]
) -> list[dict[str, str]]:
    """Each donor keyword the keeper lacks, once (case-insensitively), with its first donor."""
    seen = {str(w).casefold() for w in own}
    added: list[dict[str, str]] = []
    for words, src in offers:
        for w in words:
            if str(w).casefold() not in seen:
                seen.add(str(w).casefold())
                added.append({"value": w, "from": src})
    return added


def _keywords(own: Sequence[str] | None, offers: Sequence[tuple[Any, str]]) -> dict | None:
    """Keywords add up: the keeper's first, then each donor's it lacks. Adding is not
    overwriting, so a keeper with keywords still receives the missing ones."""
    added = keyword_additions(own or (), offers)
    if not added:
        return None
    froms = list(dict.fromkeys(a["from"] for a in added))
    value = [*(own or ()), *(a["value"] for a in added)]
    return {"field": "keywords", "value": value, "from": "; ".join(froms), "added": added}


def decide_field(name: str, own: Any, offers: Sequence[tuple[Any, str]]) -> tuple[Any, Any]:
    """(merged field, conflict) for one field: either, both or neither may be None."""
    if not offers:
        return None, None
    if name == "keywords":
        return _keywords(own, offers), None
    if own is not None:
        against = [(v, src) for v, src in offers if not agree(name, own, v)]
        if not against:
            return None, None
        values = [{"value": v, "from": src} for v, src in against]
        return None, {"field": name, "keeper": own, "values": values}
    first, src = offers[0]
    if not all(agree(name, first, v) for v, _ in offers[1:]):
        values = [{"value": v, "from": s} for v, s in offers]
        return None, {"field": name, "keeper": None, "values": values}
    return {"field": name, "value": first, "from": src}, None


def decide(own: FieldValues, donors: Sequence[Donor]) -> Merge:
    """The merge for one keeper whose file holds `own`, given its donors in priority order."""
    fields, conflicts = [], []
    for name in FIELDS:
        offers = [(d.values[name], d.label) for d in donors if d.values.get(name) is not None]
        merged, conflict = decide_field(name, own.get(name), offers)
        if merged:
            fields.append(merged)
        if conflict:
            conflicts.append(conflict)
    return Merge(tuple(fields), tuple(conflicts))


def sidecar_target(target: str) -> str:
    """Where the XMP sidecar of a target goes: beside it, `IMG_1.CR2.xmp` (darktable, digiKam
    and exiftool's own `%d%f.%e.xmp` read it; it never clashes with `IMG_1.xmp` companions)."""
    return target + ".xmp"


@dataclass
class MergeInputs:
    """What the merge decision reads, gathered from the catalog and the disk by metasources."""

    own: dict[str, FieldValues] = field(default_factory=dict)  # file -> its own values
    formats: dict[str, str | None] = field(default_factory=dict)  # file -> catalog format
    apple: dict[str, Donor] = field(default_factory=dict)  # file -> its Photo Details row


def donors_for(
    keeper: str,
    members: Sequence[str],
    sidecars: Mapping[str, Sequence[str]],
    inputs: MergeInputs,
) -> list[Donor]:
    """The keeper's donors in priority order: its sidecars, then each other member and its
    sidecars, then Apple's CSV rows of the keeper and the members."""
    out: list[Donor] = []
    for path in [keeper, *[m for m in members if m != keeper]]:
        if path != keeper and path in inputs.own:
            out.append(Donor(path, inputs.own[path]))
        for side in sidecars.get(path, ()):
            if side in inputs.own:
                out.append(Donor(side, inputs.own[side]))
    for path in [keeper, *members]:
        if path in inputs.apple and inputs.apple[path] not in out:
            out.append(inputs.apple[path])
    return out


def plan_merge(
    keeper: str,
    target: str,
    members: Sequence[str],
    sidecars: Mapping[str, Sequence[str]],
    inputs: MergeInputs,
    taken: set[str],
) -> Merge | None:
    """The merge of one `keep` entry, with where it is written; None when there is nothing to
    say. `taken`: case-folded targets of the plan, so a sidecar never lands on one."""
    donors = donors_for(keeper, members, sidecars, inputs)
    if not donors:
        return None
    merge = decide(inputs.own.get(keeper, {}), donors)
    if merge.empty:
        return None
    fmt = inputs.formats.get(keeper)
    if (fmt or "").upper() in WRITABLE:
        return replace(merge, format=fmt)
    side = sidecar_target(target)
    if side.casefold() in taken:
        refused = f"{side} is another target"
        return Merge(merge.fields, merge.conflicts, "sidecar", None, refused, fmt)
    taken.add(side.casefold())
    return Merge(merge.fields, merge.conflicts, "sidecar", side, None, fmt)


# ---- the plan's `merge` object, as read back from a plan file ---------------------------------


def merge_problem(merge: Any) -> str | None:
    """What is wrong with an entry's `merge` object, or None (docs/plan-format.md)."""
    keys = ("format", "write", "sidecar", "fields", "conflicts", "refused")
    if not isinstance(merge, dict) or set(merge) != set(keys):
        return "must have exactly the fields " + ", ".join(keys)
    if merge["format"] is not None and not isinstance(merge["format"], str):
        return "format must be a format name or null"
    for key in ("sidecar", "refused"):
        if merge[key] is not None and not isinstance(merge[key], str):
            return f"{key} must be text or null"
    if merge["write"] not in ("file", "sidecar"):
        return "write must be 'file' or 'sidecar'"
    if merge["write"] == "sidecar" and merge["refused"] is None:
        if not isinstance(merge["sidecar"], str) or not merge["sidecar"]:
            return "sidecar must be a path"
    fields, conflicts = merge["fields"], merge["conflicts"]
    if not isinstance(fields, list) or not isinstance(conflicts, list):
        return "fields and conflicts must be lists"
    for f in fields:
        if not isinstance(f, dict) or set(f) - {"added"} != {"field", "value", "from"}:
            return "each field must have exactly field, value, from (keywords: and added)"
        if "added" in f and not _added_ok(f):
            return "keywords added must list {value, from} objects, each one of value's words"
        if f["field"] not in FIELDS:
            return f"field {f['field']!r} is not one of {', '.join(FIELDS)}"
        if not _value_ok(f["field"], f["value"]):
            return f"field {f['field']}: value {f['value']!r:.60} has the wrong shape"
    return None


def _added_ok(f: dict[str, Any]) -> bool:
    added, words = f["added"], f["value"]
    if f["field"] != "keywords" or not isinstance(added, list) or not isinstance(words, list):
        return False
    return all(isinstance(a, dict) and set(a) == {"value", "from"} and a["value"] in words
               and isinstance(a["from"], str) for a in added)  # fmt: skip


def _number(x: Any, limit: float) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and -limit <= x <= limit


def _value_ok(name: str, value: Any) -> bool:
    """Whether a merge value has its field's shape (docs/plan-format.md): a hand-edited plan
    is refused here, never by exiftool halfway through an apply."""
    if name == "captured_at":
        try:
            _dt.datetime.fromisoformat(value)
        except (TypeError, ValueError):
            return False
        return len(value) >= 19
    if name == "gps":
        return (isinstance(value, dict) and set(value) == {"lat", "lon"}
                and _number(value["lat"], 90) and _number(value["lon"], 180))  # fmt: skip
    if name in ("title", "description"):
        return isinstance(value, str) and bool(value)
    if name == "keywords":
        return isinstance(value, list) and bool(value) and all(isinstance(w, str) for w in value)
    if name == "rating":
        return isinstance(value, int) and not isinstance(value, bool) and -1 <= value <= 5
    return isinstance(value, dict)  # regions: exiftool's structure


__all__ = [
    "FIELDS",
    "Donor",
    "Merge",
    "MergeInputs",
    "agree",
    "merge_problem",
    "decide",
    "decide_field",
    "donors_for",
    "keyword_additions",
    "metres_apart",
    "plan_merge",
    "sidecar_target",
]

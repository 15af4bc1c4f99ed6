"""Which files travel together as one asset: Live Photo still + MOV, XMP/AAE/JSON sidecars,
RAW + JPEG pairs. Pure: FileRecords in, assets and companion relations out; and an asset's
metadata, its files' together (`asset_metadata`).

Name forms understood (case-insensitive, in the same folder as the media file):
  IMG_1234.XMP, IMG_1234.JPG.xmp            XMP sidecars (by stem, or by full name)
  IMG_1234.AAE, IMG_O1234.AAE               Apple adjustments (O = of the original)
  IMG_1234.JPG.json, IMG_1234.JPG.supplemental-metadata.json and its truncated forms
  (IMG_1234.JPG.supplemental-met.json, IMG_1234.JPG.suppl.json, ...)   Google Takeout
  IMG_1234(1).JPG.supplemental-metadata(1).json -> IMG_1234(1).JPG     Takeout duplicates
"""

from __future__ import annotations

import os
import re
from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from photoverify.dedupe.catalog.sniff import RAW_FORMATS
from photoverify.dedupe.core.records import Asset, FileRecord, Metadata, Relation
from photoverify.dedupe.core.timeparse import seconds_apart
from photoverify.dedupe.match.policy import FORMAT_RANK, rank_key
from photoverify.dedupe.match.table import BATCH, RecordTable, as_table

LIVE_MAX_SECONDS = 2.0  # still and motion of a Live Photo are stamped within this
LIVE_MAX_DURATION = 5.0  # a Live Photo's motion lasts about 3 s
_TAKEOUT = re.compile(r"^(?P<media>.+?)(?:\.(?P<tag>[a-z-]+))?(?P<dup>\(\d+\))?\.json$", re.I)
_SUPPLEMENTAL = "supplemental-metadata"


def _split(name: str) -> tuple[str, str]:
    stem, ext = os.path.splitext(name)
    return stem.lower(), ext.lower()


def sidecar_targets(name: str) -> list[tuple[str, str]]:
    """What a sidecar's name says it belongs to: [("name"|"stem", lowercased key)], best first."""
    stem, ext = _split(name)
    if ext == ".json":
        m = _TAKEOUT.match(name)
        if not m:
            return []
        media, tag, dup = m["media"], m["tag"], m["dup"] or ""
        if tag and not _SUPPLEMENTAL.startswith(tag.lower()):
            media = f"{media}.{tag}"  # not a Takeout tag: part of the media name
        if dup:  # IMG_1.JPG(1).json and IMG_1.JPG.supplemental-metadata(1).json -> IMG_1(1).JPG
            mstem, mext = os.path.splitext(media)
            return [("name", f"{mstem}{dup}{mext}".lower()), ("name", media.lower())]
        return [("name", media.lower())]
    if ext == ".aae":
        out = [("stem", stem)]
        m = re.fullmatch(r"(img_)o(\d+)", stem)
        if m:
            out.append(("stem", m[1] + m[2]))
        return out
    if ext == ".xmp":
        inner_stem, inner_ext = os.path.splitext(stem)
        return ([("name", stem)] if inner_ext else []) + [("stem", stem)]
    return []


class _FolderIndex:
    """Media files by (lowercased) name and by stem, one folder at a time: the index of a
    folder is built when asked and forgotten a few folders later, so that grouping a million
    files holds no per-file keys (each folder's lists are the only per-file cost)."""

    KEEP = 8  # folders kept built: the walk order visits a folder's files together

    def __init__(self, media: list[FileRecord]) -> None:
        self.folders: dict[str, list[FileRecord]] = defaultdict(list)
        for r in media:
            self.folders[os.path.dirname(r.path)].append(r)
        self._built: dict[str, tuple[dict, dict]] = {}

    def __call__(self, folder: str) -> tuple[dict[str, FileRecord], dict[str, list[FileRecord]]]:
        """({lowercased name: first such file}, {stem: files}) of the folder's media."""
        built = self._built.pop(folder, None)
        if built is None:
            by_name: dict[str, FileRecord] = {}
            by_stem: dict[str, list[FileRecord]] = defaultdict(list)
            for r in self.folders.get(folder, ()):
                name = os.path.basename(r.path)
                by_name.setdefault(name.lower(), r)
                by_stem[_split(name)[0]].append(r)
            built = by_name, by_stem
            if len(self._built) >= self.KEEP:
                del self._built[next(iter(self._built))]
        self._built[folder] = built  # most recently used last
        return built


def find_assets(records: Iterable[FileRecord]) -> tuple[AssetList, list[Relation]]:
    """Group files into assets. Every media or sidecar file is in exactly one asset.

    Only the files that can be tied to another are made records and grouped (`_involved`):
    those in a folder holding a sidecar, a video or a RAW, and the stills whose ContentIdentifier
    a video shares. Every other file is an asset of its own, known by its path alone."""
    table = as_table(records)
    kinds = ("image", "video", "sidecar")
    recs_table = table.take(np.flatnonzero(table.is_in("kind", lambda k: k in kinds)))
    recs = recs_table.records(_involved(recs_table))
    media = [r for r in recs if r.kind in ("image", "video") and r.size > 0]
    index = _FolderIndex(media)

    owner: dict[str, str] = {}  # companion path -> primary path
    relations: list[Relation] = []

    def attach(companion: FileRecord, primary: FileRecord, **evidence) -> None:
        owner[companion.path] = primary.path
        relations.append(Relation(primary.path, companion.path, "companion", evidence))

    # RAW + JPEG/HEIC of one shot: the RAW is the primary. Groups in the order of their first
    # file's path, as one index of the whole tree would list them.
    raw_groups = []
    for folder, files in index.folders.items():
        if any(r.format in RAW_FORMATS for r in files):
            raw_groups += index(folder)[1].values()
    for group in sorted(raw_groups, key=lambda g: os.fsencode(g[0].path)):
        raws = [r for r in group if r.format in RAW_FORMATS]
        if raws:
            for r in group:
                if r.kind == "image" and r.format not in RAW_FORMATS and r.path not in owner:
                    attach(r, raws[0], why="RAW+JPEG pair (same name)")

    # Live Photos: the motion MOV follows its still.
    stills_by_id: dict[str, list[FileRecord]] = defaultdict(list)
    for r in media:
        if r.kind == "image" and r.metadata.content_id:
            stills_by_id[r.metadata.content_id].append(r)
    for video in (r for r in media if r.kind == "video"):
        still, evidence = _live_still(video, stills_by_id, index)
        if still is not None and still.path not in owner:
            attach(video, still, **evidence)

    # Sidecars.
    for side in (r for r in recs if r.kind == "sidecar"):
        target = _sidecar_target(side, index)
        if target is not None:
            attach(side, target, why=f"sidecar ({os.path.basename(side.path)})")
    return _assets(recs_table, owner), relations


def _involved(recs: RecordTable) -> np.ndarray:
    """The positions of the files that may be tied to another (see `find_assets`): a RAW's,
    a video's or a sidecar's folder, or a still sharing a video's ContentIdentifier."""
    kind = recs.is_in("kind", lambda k: k in ("video", "sidecar"))
    raw = recs.is_in("format", lambda f: f in RAW_FORMATS)
    if not (kind | raw).any():
        return np.zeros(0, np.int64)
    ties = np.flatnonzero(kind | raw).tolist()
    folders = {os.path.dirname(recs.path(i)) for i in ties}
    video = np.flatnonzero(recs.is_in("kind", lambda k: k == "video")).tolist()
    cids = {r.metadata.content_id for r in recs.records(video)} - {None, ""}
    tied = np.fromiter((os.path.dirname(p) in folders for p in recs.paths()), bool, len(recs))
    if cids:  # the metadata of the files elsewhere, made a batch at a time
        rest = np.flatnonzero(~tied)
        tied[rest] = recs.take(rest).is_in("metadata", lambda m: m.content_id in cids)
    return np.flatnonzero(tied)


def _live_still(
    video: FileRecord, stills_by_id: dict[str, list[FileRecord]], index: _FolderIndex
) -> tuple[FileRecord | None, dict[str, Any]]:
    """The still a Live Photo's motion video belongs to, with the evidence; (None, {}) if none."""
    folder, name = os.path.split(video.path)
    stem = _split(name)[0]
    cid = video.metadata.content_id
    if cid and stills_by_id.get(cid):
        still = min(
            stills_by_id[cid],
            key=lambda s: (
                os.path.dirname(s.path) != folder,
                _split(os.path.basename(s.path))[0] != stem,
                rank_key(s),
            ),
        )
        return still, {"why": "Live Photo (same ContentIdentifier)", "content_id": cid}
    for s in (s for s in index(folder)[1].get(stem, []) if s.kind == "image"):
        apart = seconds_apart(s.metadata.captured_at, video.metadata.captured_at)
        if (apart is not None and apart <= LIVE_MAX_SECONDS) or (
            apart is None and (video.duration or 99) <= LIVE_MAX_DURATION
        ):
            return s, {"why": "Live Photo (same name and capture time)", "seconds_apart": apart}
    return None, {}


def _sidecar_target(side: FileRecord, index: _FolderIndex) -> FileRecord | None:
    """The file a sidecar describes: by full name, else by stem (a still before its motion,
    the original format before a conversion)."""
    folder, name = os.path.split(side.path)
    by_name, by_stem = index(folder)
    for how, key in sidecar_targets(name):
        if how == "name":
            target = by_name.get(key)
        else:
            group = sorted(
                by_stem.get(key, []),
                key=lambda r: (r.kind != "image", -FORMAT_RANK.get(r.format or "", 0)),
            )
            target = group[0] if group else None
        if target is not None:
            return target
    return None


def _assets(recs: RecordTable, owner: dict[str, str]) -> AssetList:
    """One asset per file that no other owns, with the files it owns (transitively), in the
    order in which the asset's first file comes. Tuples only for assets that have companions:
    a lone photo is a position in `recs` (AssetList makes its Asset when asked)."""

    # A companion's owner may itself be a companion (the XMP of a RAW's JPEG): follow up.
    def root_of(path: str) -> str:
        seen = set()
        while path in owner and path not in seen:
            seen.add(path)
            path = owner[path]
        return path

    companions: dict[str, list[str]] = {root_of(c): [] for c in owner}
    placed: dict[str, int] = {}  # asset with companions -> its index, by its first file's place
    order = array("q")  # a lone file's position, or -1 - the index of its asset in `placed`
    at: dict[str, int] = {}  # the position of the primary of each asset with companions
    for n, path in enumerate(recs.paths()):
        if path not in owner and path not in companions:
            order.append(n)
            continue
        key = root_of(path) if path in owner else path
        if key not in placed:  # the asset's first file
            placed[key] = len(placed)
            order.append(-len(placed))
        if path in companions:
            at[path] = n
        if path in owner:
            companions[key].append(path)
    # a key in a cycle of owners is nobody's primary: its asset is left out (-1)
    roots = np.asarray([-1 if k in owner else at.get(k, -1) for k in placed], np.int64)
    positions = np.frombuffer(order, np.int64).copy() if order else np.zeros(0, np.int64)
    tied_at = positions < 0
    positions[tied_at] = roots[-positions[tied_at] - 1]
    positions = positions[positions >= 0]
    tied = {at[k]: tuple(companions[k]) for k in placed if k not in owner and k in at}
    return AssetList(recs, positions, tied)


class AssetList(Sequence[Asset]):
    """The assets of a RecordTable: each the position of its primary file, and the companions
    of the few that have them. An Asset is made when asked (a million lone photos are a million
    positions, not a million Assets holding a path each)."""

    def __init__(
        self, recs: RecordTable, positions: np.ndarray, companions: dict[int, tuple[str, ...]]
    ) -> None:
        self._paths = recs.path_reader()  # the paths only: not the rest of the records
        self._rows = recs.rows[positions]
        self._companions = {int(recs.rows[n]): c for n, c in companions.items()}

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return list(self._make(self._rows[i]))
        return next(self._make(np.asarray([self._rows[i]])))  # IndexError past the end

    def __iter__(self) -> Iterator[Asset]:
        for start in range(0, len(self._rows), BATCH):
            yield from self._make(self._rows[start : start + BATCH])

    def _make(self, rows: np.ndarray) -> Iterator[Asset]:
        for k, path in zip(rows.tolist(), self._paths(rows), strict=True):
            yield Asset(path, self._companions.get(k, ()))

    def __eq__(self, other) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # compared as a sequence of Assets

    def __repr__(self) -> str:
        return f"AssetList({list(self)!r})"

    def rows(self) -> np.ndarray:
        """The primaries' places in the columns of their RecordTable (RecordTable.rows)."""
        return self._rows


# Sidecars that can hold a capture time and a position, in the order they are asked: XMP (what
# Lightroom, digiKam and immich write), then Google Takeout's JSON. An AAE holds the edit only.
_METADATA_SIDECARS = ("XMP", "JSON")
LABELS = ("title", "keywords", "rating")  # what a person gave the photo


def asset_metadata(primary: FileRecord, companions: Iterable[FileRecord]) -> Metadata:
    """The metadata of an asset: the primary file's own, and for a capture time or a position the
    file lacks, its first sidecar's (`_METADATA_SIDECARS` order) that has one. The source then
    names the sidecar: `IMG_1.JPG.json: JSON:PhotoTakenTimeTimestamp`. A title, keywords or a
    rating the file lacks come from the sidecars the same way. Pure."""
    m = primary.metadata
    sides = sorted(
        (c for c in companions if c.kind == "sidecar" and c.format in _METADATA_SIDECARS),
        key=lambda c: (_METADATA_SIDECARS.index(c.format or ""), os.fsencode(c.path)),
    )
    changes: dict = {}
    if m.captured_at is None:
        side = next((s for s in sides if s.metadata.captured_at is not None), None)
        if side is not None:
            changes.update(
                captured_at=side.metadata.captured_at,
                captured_source=f"{os.path.basename(side.path)}: {side.metadata.captured_source}",
            )
    if m.gps is None:
        side = next((s for s in sides if s.metadata.gps is not None), None)
        if side is not None:
            changes.update(
                gps_lat=side.metadata.gps_lat,
                gps_lon=side.metadata.gps_lon,
                gps_source=f"{os.path.basename(side.path)}: {side.metadata.gps_source}",
            )
    for name in LABELS:
        if getattr(m, name) is None:
            side = next((s for s in sides if getattr(s.metadata, name) is not None), None)
            if side is not None:
                changes[name] = getattr(side.metadata, name)
    return replace(m, **changes) if changes else m

"""Typed relations -> a networkx graph -> assets and duplicate clusters.

Relations (edges carry `kind` and `evidence`):
  identical   same BLAKE3 (empty files excluded)
  same-photo  one capture in another encoding, size or metadata state: perceptual hashes within
              the threshold and nothing contradicts it (capture time to the second, sub-seconds,
              aspect ratio, Apple ContentIdentifier / ImageUniqueID: equal ids are strong
              evidence, different ids a veto)
  derived     an edit of a photo: an edit name (IMG_E1234, _edited, -adjusted) beside the
              original, or the same capture instant with a different picture (a crop)
  similar     a different capture that looks alike (burst frames, the next shot)
  companion   parts of one asset (see dedupe.companions)

Clusters are formed over assets from identical and same-photo edges only, and never chain: every
two assets in a cluster are themselves related (clusters are cliques, grown greedily from the best
copy in policy order, so the result does not depend on input order).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

import networkx as nx
import numpy as np

from photoverify.dedupe.catalog.signature import (
    EDIT_SIGNALS,
    SMALL_SIDE,
    STRETCH_RESIDUAL,
    compare,
    crop_of,
    picture_edit,
    unpack,
)
from photoverify.dedupe.core.records import (
    Asset,
    Cluster,
    ClusterMember,
    DupesResult,
    FileRecord,
    Relation,
)
from photoverify.dedupe.core.timeparse import parse, same_second, subsec_equal
from photoverify.dedupe.match.candidates import SignatureSource, name_parts, pair_keys
from photoverify.dedupe.match.companions import find_assets
from photoverify.dedupe.match.policy import choose_keeper, rank_key
from photoverify.dedupe.match.spill import KEEP_IN_MEMORY, RelationLog

DEFAULT_THRESHOLD = 10  # pHash bits; measured on the generated library (RESULTS.md)
DHASH_SLACK = 6  # dHash may stand this much further apart than the pHash threshold


@dataclass(frozen=True)
class DupesOptions:
    threshold: int = DEFAULT_THRESHOLD
    prefer: tuple[str, ...] = ()


def _bits(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _aspect_agrees(a: FileRecord, b: FileRecord) -> bool | None:
    if not (a.width and a.height and b.width and b.height):
        return None
    ra, rb = a.width / a.height, b.width / b.height
    # a few pixels of rounding in a downscale; small images round more
    tolerance = 0.01 + 2 / min(a.width, a.height, b.width, b.height)
    return abs(ra - rb) / max(ra, rb) <= tolerance


@dataclass(frozen=True, slots=True)
class _Facts:
    """What the metadata of two pictures says about them (see `_facts`)."""

    time_same: bool | None  # the same capture instant (None: a time is missing)
    subsecs: bool  # both capture times carry sub-seconds
    ids_equal: bool  # a camera id (ContentIdentifier, ImageUniqueID) equal on both
    ids_differ: bool  # ... or different
    aspect: bool | None  # the same aspect ratio (None: a size is unknown)


def _facts(a: FileRecord, b: FileRecord, ev: dict) -> _Facts:
    """The metadata's facts about two pictures; their words added to the evidence `ev`."""
    ma, mb = a.metadata, b.metadata
    ta, tb = parse(ma.captured_at), parse(mb.captured_at)
    ids_equal = ids_differ = False
    for name in ("content_id", "image_unique_id"):
        va, vb = getattr(ma, name), getattr(mb, name)
        if va and vb:
            if va == vb:
                ids_equal = True
                ev[name] = "equal"
            else:
                ids_differ = True
                ev[name] = "different"
    time_same = None
    if ta and tb:
        time_same = same_second(ta, tb) and subsec_equal(ta, tb) is not False
        ev["capture_time"] = "equal" if time_same else f"{ma.captured_at} vs {mb.captured_at}"
    else:
        ev["capture_time"] = "missing on one side" if (ta or tb) else "missing"
    aspect = _aspect_agrees(a, b)
    ev["aspect_ratio"] = {True: "equal", False: "different", None: "unknown"}[aspect]
    subsecs = bool(ta and tb and ta.subsec is not None and tb.subsec is not None)
    return _Facts(time_same, subsecs, ids_equal, ids_differ, aspect)


def judge(a: FileRecord, b: FileRecord, threshold: int) -> Relation | None:
    """The relation between two images, or None. Pure: the heart of what counts as a duplicate."""
    if _is_flat(a) and _is_flat(b):
        return _judge_flat(a, b)
    if not (a.phash and b.phash and a.dhash and b.dhash):
        return None
    pd, dd = _bits(a.phash, b.phash), _bits(a.dhash, b.dhash)
    ev: dict = {"phash_distance": pd, "dhash_distance": dd}
    f = _facts(a, b, ev)
    named = _edit_named(a, b, ev, f.time_same)
    if named is not None:
        return named
    near = pd <= threshold and dd <= threshold + DHASH_SLACK
    same_capture = f.time_same is True and (f.subsecs or f.ids_equal)
    contradicted = f.ids_differ or f.time_same is False
    if not near and not contradicted and not _small(a, b):
        turned = _turned(a, b, ev) or _cropped(a, b, ev)
        if turned is not None:
            return turned
    if contradicted:
        if near:
            why = "different capture time" if f.time_same is False else "different camera ids"
            burst = a.metadata.burst_id and a.metadata.burst_id == b.metadata.burst_id
            by = "hashes, capture time" if f.time_same is False else "hashes, camera ids"
            ev = {**ev, "why": "burst frame" if burst else why, "decided_by": by}
            return Relation(a.path, b.path, "similar", ev)
        return None
    if f.aspect is False:
        return _judge_framing(a, b, ev, near, same_capture or f.ids_equal)
    if f.ids_equal and (near or pd <= 2 * threshold):
        # equal ids prove one capture, not one picture: an edit exported from Photos keeps them
        return _confirm(a, b, ev, True, "camera ids")
    if near:
        return _confirm(a, b, ev, same_capture, "hashes")
    if same_capture:
        return _derived(a, b, ev, "same capture, other picture", None)
    return None


def _edit_named(a: FileRecord, b: FileRecord, ev: dict, time_same: bool | None) -> Relation | None:
    """One file named as an edit of the other (IMG_E1234 beside IMG_1234) whose capture time
    does not say otherwise: derived, the named one the edit."""
    (_, base_a, stem_a), (_, base_b, stem_b) = name_parts(a.path), name_parts(b.path)
    edited, stems = (base_a, base_b), (stem_a, stem_b)
    if not (edited[0] == stems[1] or edited[1] == stems[0]) or time_same is False:
        return None
    original, edit = (b, a) if edited[0] == stems[1] else (a, b)
    by = "file name" if time_same is None else "file name and capture time"
    return Relation(
        original.path, edit.path, "derived", {**ev, "why": "edit name", "decided_by": by}
    )


def _judge_framing(
    a: FileRecord, b: FileRecord, ev: dict, near: bool, one_capture: bool
) -> Relation | None:
    """Two pictures of other proportions, nothing in the metadata against them: one capture
    (`one_capture`: the same instant or equal ids) framed otherwise is derived, and so is a
    stretched look-alike; another look-alike is similar."""
    if not (near or one_capture):
        return None  # what the pixels would say decides nothing here
    framing, pixels = _framing(a, b)
    if pixels:
        ev = {**ev, "pixels": pixels}
    if one_capture:
        return _derived(a, b, ev, "same capture, other framing", framing, "aspect ratio and pixels")
    if framing == "aspect changed":
        by = "hashes, aspect ratio, then pixels (residual)"
        ev = {**ev, "why": framing, "edit": framing, "decided_by": by}
        return Relation(*_orient(a, b), "derived", ev)
    ev = {**ev, "why": "other framing", "decided_by": "hashes and aspect ratio"}
    return Relation(a.path, b.path, "similar", ev)


def _small(a: FileRecord, b: FileRecord) -> bool:
    sides = [min(r.width, r.height) for r in (a, b) if r.width and r.height]
    return len(sides) < 2 or min(sides) < SMALL_SIDE


def _confirm(a: FileRecord, b: FileRecord, ev: dict, same_capture: bool, proof: str) -> Relation:
    """Near hashes (or equal camera ids: `proof`), nothing in the metadata against it: the
    pixels decide between the same photo, an edit of it (named) and a different photo that
    looks alike. Without both signatures the proof stands alone."""
    original, edit = (a, b) if rank_key(a) <= rank_key(b) else (b, a)
    sa, sb = unpack(original.signature), unpack(edit.signature)
    if sa is None or sb is None:
        return Relation(a.path, b.path, "same-photo", {**ev, "decided_by": f"{proof} (no pixels)"})
    c = compare(sa, sb)
    name = picture_edit(c, small=_small(a, b))
    if name == "colour added":  # the colourless one is the edit, whatever the ranking says
        original, edit, sa, sb = edit, original, sb, sa
        c = compare(sa, sb)
        name = "colour removed"
    ev = {**ev, "pixels": c.to_json()}
    if name is None:
        return Relation(a.path, b.path, "same-photo", {**ev, "decided_by": f"{proof} and pixels"})
    if name == "other picture":
        if same_capture:
            return _derived(a, b, ev, "same capture, other picture", None, "pixels (residual)")
        ev = {**ev, "why": "pixels differ", "decided_by": f"{proof}, then pixels (residual)"}
        return Relation(a.path, b.path, "similar", ev)
    by = f"{proof}, then pixels ({EDIT_SIGNALS[name]})"
    ev = {**ev, "why": name, "edit": name, "decided_by": by}
    return Relation(original.path, edit.path, "derived", ev)


def _derived(
    a: FileRecord, b: FileRecord, ev: dict, why: str, edit: str | None, pixels: str = ""
) -> Relation:
    original, derived = _orient(a, b)
    by = "capture time and ids" + (f", {pixels}" if pixels else "")
    out = {**ev, "why": why, "decided_by": by}
    if edit:
        out["edit"] = edit
    return Relation(original, derived, "derived", out)


def _framing(a: FileRecord, b: FileRecord) -> tuple[str | None, dict | None]:
    """A picture of other proportions: 'aspect changed' when squashed to a square it is the
    same picture (a stretch), else 'cropped'; and the pixel evidence."""
    sa, sb = unpack(a.signature), unpack(b.signature)
    if sa is None or sb is None:
        return None, None
    c = compare(sa, sb)
    return ("aspect changed" if c.residual <= STRETCH_RESIDUAL else "cropped"), c.to_json()


def _turned(a: FileRecord, b: FileRecord, ev: dict) -> Relation | None:
    """b as a turned or mirrored a (and otherwise the same picture), as a derived relation.
    For pictures of SMALL_SIDE and more (as `_cropped`): `judge` asks only about those."""
    original, edit = (a, b) if rank_key(a) <= rank_key(b) else (b, a)
    sa, sb = unpack(original.signature), unpack(edit.signature)
    if sa is None or sb is None:
        return None
    c = compare(sa, sb, turns=True)
    if c.transform == "identity" or picture_edit(c) is not None:
        return None
    if a.width and a.height and b.width and b.height:
        quarter = c.transform in ("rotated 90°", "rotated 270°")
        shown_a = (a.height, a.width) if quarter else (a.width, a.height)
        swapped = FileRecord(a.path, a.root, 0, 0, 0, 0, width=shown_a[0], height=shown_a[1])
        if _aspect_agrees(swapped, b) is False and not _is_transpose_mirror(c.transform, a, b):
            return None
    ev = {**ev, "pixels": c.to_json(), "why": c.transform, "edit": c.transform}
    ev["decided_by"] = "pixels (turned or mirrored)"
    return Relation(original.path, edit.path, "derived", ev)


def _cropped(a: FileRecord, b: FileRecord, ev: dict) -> Relation | None:
    """One picture as a centred crop of the other (and otherwise the same), as derived."""
    sa, sb = unpack(a.signature), unpack(b.signature)
    if sa is None or sb is None:
        return None
    for (original, so), (edit, se) in (((a, sa), (b, sb)), ((b, sb), (a, sa))):
        found = crop_of(so, se)
        if found is not None:
            scale, residual, gain, offset = found
            crop = {"crop_scale": scale, "residual": round(residual, 2), "gain": round(gain, 3)}
            pixels = {**compare(so, se).to_json(), **crop, "offset": round(offset, 2)}
            ev = {**ev, "pixels": pixels}
            ev.update(why="cropped", edit="cropped", decided_by="pixels (centred crop)")
            return Relation(original.path, edit.path, "derived", ev)
    return None


def _is_transpose_mirror(name: str, a: FileRecord, b: FileRecord) -> bool:
    # a mirror across a diagonal also swaps width and height
    return (
        name == "mirrored"
        and _aspect_agrees(
            FileRecord(a.path, a.root, 0, 0, 0, 0, width=a.height, height=a.width), b
        )
        is not False
    )


VIDEO_DURATION_SLACK = 0.5  # seconds, or 2% of the longer video, whichever is more


def durations_agree(a: FileRecord, b: FileRecord) -> bool | None:
    if not (a.duration and b.duration):
        return None
    return abs(a.duration - b.duration) <= max(
        VIDEO_DURATION_SLACK, 0.02 * max(a.duration, b.duration)
    )


def judge_video(a: FileRecord, b: FileRecord, threshold: int) -> Relation | None:
    """The relation between two videos, or None. Pure. A re-encoded video starts on the same
    picture and lasts as long: first frames judged as photos are (`judge`: capture times and
    camera ids still decide between the same recording and a similar one), and durations that
    agree. Without both durations it is never the same recording."""
    if a.kind != "video" or b.kind != "video":
        return None
    agree = durations_agree(a, b)
    if agree is False:
        return None
    rel = judge(a, b, threshold)
    if rel is None:
        return None
    ev = {**rel.evidence, "compared": "first frames", "duration": _seconds(a, b)}
    kind = rel.kind if agree or rel.kind != "same-photo" else "similar"
    if kind != rel.kind:
        ev["decided_by"] = f"{ev.get('decided_by')}; durations unknown"
    elif agree:
        ev["decided_by"] = f"{ev.get('decided_by')} and durations"
    return Relation(rel.a, rel.b, kind, ev)


def _seconds(a: FileRecord, b: FileRecord) -> str:
    def show(d: float | None) -> str:
        return "unknown" if d is None else f"{d:.2f} s"

    return f"{show(a.duration)} vs {show(b.duration)}"


def _is_flat(r: FileRecord) -> bool:
    """Decoded, with no detail to hash (a blank frame): looks cannot tell such pictures apart."""
    return bool(r.decode_ok) and r.kind == "image" and not r.phash


def _judge_flat(a: FileRecord, b: FileRecord) -> Relation | None:
    """Two flat pictures are one photo only on metadata proof: an equal camera id, or the same
    capture instant to the sub-second, and the same aspect ratio."""
    ma, mb = a.metadata, b.metadata
    ev: dict = {"phash_distance": None, "flat": True}
    for name in ("content_id", "image_unique_id"):
        va, vb = getattr(ma, name), getattr(mb, name)
        if va and vb and va != vb:
            return None
        if va and va == vb:
            ev[name] = "equal"
    ta, tb = parse(ma.captured_at), parse(mb.captured_at)
    same_instant = bool(ta and tb and same_second(ta, tb) and subsec_equal(ta, tb))
    if ta and tb and not same_second(ta, tb):
        return None
    if same_instant:
        ev["capture_time"] = "equal to the sub-second"
    if _aspect_agrees(a, b) is False or not (
        same_instant or "content_id" in ev or "image_unique_id" in ev
    ):
        return None
    proof = [k for k in ("content_id", "image_unique_id") if k in ev]
    proof += ["capture time to the sub-second"] if same_instant else []
    ev["decided_by"] = " and ".join(proof) + " (flat picture: no hashes)"
    return Relation(a.path, b.path, "same-photo", ev)


def _orient(a: FileRecord, b: FileRecord) -> tuple[str, str]:
    """(original, derived): the better-ranked copy is taken as the original."""
    return (a.path, b.path) if rank_key(a) <= rank_key(b) else (b.path, a.path)


def relate(records: Sequence[FileRecord], options: DupesOptions) -> list[Relation]:
    """Every identical, same-photo, derived and similar relation among the records."""
    groups = _identical_groups(records)
    relations = [
        Relation(
            group[0].path,
            other.path,
            "identical",
            {"blake3": group[0].blake3, "decided_by": "bytes (BLAKE3)"},
        )
        for group in groups.values()
        for other in group[1:]
    ]
    distinct = [group[0] for group in groups.values()]
    return relations + list(_judged_relations(distinct, options))


def _identical_groups(records: Iterable[FileRecord]) -> dict[str, list[FileRecord]]:
    """{BLAKE3: the readable, non-empty files with those bytes}, in the records' order."""
    by_hash: dict[str, list[FileRecord]] = defaultdict(list)
    for r in records:
        if r.blake3 and r.size > 0 and r.error is None:
            by_hash[r.blake3].append(r)
    return by_hash


PAIR_CHUNK = 16384  # candidate pairs judged with their ends' signatures read at once


def _pairs(
    items: list[FileRecord], threshold: int, signatures: SignatureSource | None
) -> Iterator[tuple[FileRecord, FileRecord]]:
    """The candidate pairs of `items`, as records, in order. Items read without their
    signatures get them for the time their chunk of pairs is judged: the pairs' ends only, a
    chunk at a time (a library of look-alikes has most of its images at some pair's end)."""
    keys = pair_keys(items, threshold, signatures)
    for start in range(0, len(keys), PAIR_CHUNK):
        chunk = np.stack(np.divmod(keys[start : start + PAIR_CHUNK], len(items)), axis=1)
        signed: dict[int, FileRecord] = {}
        if signatures is not None:
            ends = np.unique(chunk).tolist()
            blobs = signatures([items[i] for i in ends])
            signed = {i: replace(items[i], signature=b) for i, b in zip(ends, blobs, strict=True)}
        for i, j in chunk.tolist():
            yield signed.get(i, items[i]), signed.get(j, items[j])


def _distinct(records: Iterable[FileRecord]) -> list[FileRecord]:
    """The first record of each content (as `_identical_groups` would list them), with no
    list a content: a set of the digests seen."""
    seen: set[str] = set()
    out = []
    for r in records:
        if r.blake3 and r.size > 0 and r.error is None and r.blake3 not in seen:
            seen.add(r.blake3)
            out.append(r)
    return out


def _judged_relations(
    distinct: list[FileRecord],
    options: DupesOptions,
    signatures: SignatureSource | None = None,
) -> Iterator[Relation]:
    """The same-photo, derived and similar relations between `distinct` contents (one record
    each: identical copies share every relation), as judged."""
    images = [r for r in distinct if r.kind == "image" and r.decode_ok]
    images.sort(key=lambda r: os.fsencode(r.path))
    for a, b in _pairs(images, options.threshold, signatures):
        rel = judge(a, b, options.threshold)
        if rel is not None:
            yield rel
    del images
    # Videos only ever meet videos: a Live Photo's still looks like its own motion's first frame.
    videos = [r for r in distinct if r.kind == "video" and r.decode_ok and r.phash]
    del distinct
    videos.sort(key=lambda r: os.fsencode(r.path))
    for a, b in _pairs(videos, options.threshold, signatures):
        rel = judge_video(a, b, options.threshold)
        if rel is not None:
            yield rel


def build_graph(records: Sequence[FileRecord], relations: Iterable[Relation]) -> nx.MultiGraph:
    g = nx.MultiGraph()
    for r in records:
        g.add_node(r.path, kind=r.kind, format=r.format)
    for rel in relations:
        g.add_edge(rel.a, rel.b, key=rel.kind, kind=rel.kind, evidence=rel.evidence)
    return g


def find_duplicates(
    records: Sequence[FileRecord],
    options: DupesOptions = DupesOptions(),
    signatures: SignatureSource | None = None,
    keep_relations: int = KEEP_IN_MEMORY,
) -> DupesResult:
    """The whole analysis: assets, relations, clusters with keepers, reported relations.

    `signatures`: where the images' picture signatures come from when `records` were read
    without them (`Catalog.signatures`; see candidates.SignatureSource). `keep_relations`: how
    many relations are held as objects before the rest go to a temporary file (dedupe.match.spill;
    the result's `related` is then a RelationLog, read back from that file in order)."""
    if not _path_sorted(records):  # the catalog gives them sorted: no copy, no million keys
        records = sorted(records, key=lambda r: os.fsencode(r.path))
    assets, _ = find_assets(records)
    # identical relations are not needed as objects here: units hold the same facts. The others
    # are logged (on disk past a point: see dedupe.match.spill); same-photo ones, which clusters
    # are made of, are also kept.
    relations = RelationLog(keep=keep_relations)
    same_photo: list[Relation] = []
    ends: set[str] = set()
    for rel in _judged_relations(_distinct(records), options, signatures):
        relations.append(rel)
        ends.update((rel.a, rel.b))
        if rel.kind == "same-photo":
            same_photo.append(rel)

    # Units: primaries with the same bytes (identity is transitive, so this is safe), in path
    # order; only those a cluster can hold (of two primaries or more, or tied by a same-photo
    # relation). They hold records, so no map of every path is needed: only same-photo ends.
    tied = {p for rel in same_photo for p in (rel.a, rel.b)}
    by_path = {r.path: r for r in records if r.path in tied}
    units = _units(records, assets, {r.blake3 for r in by_path.values()})
    del tied

    # The unit graph: one node per unit, an edge per same-photo relation between units.
    # (only units with a relation are its nodes: a million lone units would cost ~250 MiB)
    unit_graph = nx.Graph()
    for rel in same_photo:
        ua, ub = by_path[rel.a].blake3, by_path[rel.b].blake3
        if ua in units and ub in units and ua != ub:
            unit_graph.add_edge(ua, ub, relation=rel)
    del same_photo

    def unit_rank(key: str) -> tuple:
        return min(rank_key(r, options.prefer) for r in units[key])

    def distance(u: str, v: str) -> int:
        d = unit_graph.edges[u, v]["relation"].evidence.get("phash_distance")
        return 99 if d is None else d

    # Only units with a relation can join another's cluster; a lone unit is its own (ranking
    # a million lone units would hold a key each).
    order = sorted(unit_graph.nodes, key=unit_rank)
    members = _assign(order, unit_graph, distance, unit_rank)
    lone = ([u] for u in units if u not in unit_graph and len(units[u]) >= 2)
    clusters = [
        _make_cluster(chosen, units, unit_graph, options)
        for chosen in (*members.values(), *lone)
        if sum(len(units[u]) for u in chosen) >= 2
    ]
    # by position: the ids are given only after sorting, below
    in_cluster = {m.path: n for n, c in enumerate(clusters) for m in c.members if m.path in ends}
    del ends, by_path
    # A same-photo relation left out of every cluster (a unit near two keepers went to the
    # nearer; a unit tied to a keeper but not to all of its cluster) is reported too.
    related = RelationLog(
        (
            rel
            for rel in relations
            if rel.kind in ("derived", "similar", "same-photo")
            and not (rel.a in in_cluster and in_cluster[rel.a] == in_cluster.get(rel.b))
        ),
        keep=keep_relations,
    )
    relations.close()
    clusters.sort(key=lambda c: os.fsencode(c.keeper))
    clusters = [
        Cluster(f"c{i + 1:05d}", c.kind, c.keeper, c.reason, c.members)
        for i, c in enumerate(clusters)
    ]
    return DupesResult(
        tuple(clusters), related if related.spilled else tuple(related), tuple(assets)
    )


def _units(
    records: Sequence[FileRecord], assets: Sequence[Asset], tied: set[str]
) -> dict[str, list[FileRecord]]:
    """{digest: the readable primaries with those bytes} for the digests of two primaries or
    more, or in `tied`. Which digests repeat is counted by their hashes first, so that a
    million distinct files do not each get a list."""
    primaries = {a.primary for a in assets}
    kept = [
        r for r in records if r.path in primaries and r.blake3 and r.size > 0 and r.error is None
    ]
    del primaries
    hashes = np.fromiter((hash(r.blake3) for r in kept), dtype=np.int64, count=len(kept))
    values, counts = np.unique(hashes, return_counts=True)
    repeated = set(values[counts > 1].tolist())
    del hashes, values, counts
    units: dict[str, list[FileRecord]] = defaultdict(list)
    for r in kept:
        if hash(r.blake3) in repeated or r.blake3 in tied:  # equal hashes, perhaps unequal
            units[r.blake3].append(r)
    return units


def _path_sorted(records: Sequence[FileRecord]) -> bool:
    return all(
        os.fsencode(records[i].path) <= os.fsencode(records[i + 1].path)
        for i in range(len(records) - 1)
    )


def _assign(order: list[str], graph: nx.Graph, distance, rank) -> dict[str, list[str]]:
    """{keeper unit: member units}. Keepers are found in policy order (a unit tied to no
    earlier keeper is one); then every other unit joins the keeper it is closest to (pHash
    distance, then the keeper's rank) among those whose whole cluster it is related to, so
    clusters stay cliques and never chain, and a unit near two keepers goes to the nearer."""

    def near(u: str):  # a unit related to none is not a node of the graph
        return graph.adj[u] if u in graph else ()

    keepers: set[str] = set()
    for u in order:  # by neighbours, not by keepers: linear in the edges
        if not any(k in keepers for k in near(u)):
            keepers.add(u)
    clusters: dict[str, list[str]] = {k: [k] for k in order if k in keepers}
    homeless = []
    for u in order:
        if u in clusters:
            continue
        options = sorted(
            (k for k in near(u) if k in keepers),
            key=lambda k: (distance(u, k), rank(k)),
        )
        for k in options:
            if all(graph.has_edge(u, m) for m in clusters[k]):
                clusters[k].append(u)
                break
        else:
            homeless.append(u)
    # A unit no cluster can take (related to a keeper but not to all its members) starts its own,
    # with whatever later homeless units are tied to all of it.
    first_keepers = set(keepers)
    for u in homeless:  # rare: a unit tied to a keeper but not to all of that cluster
        home = next(
            (
                ms
                for k, ms in clusters.items()
                if k not in first_keepers and all(graph.has_edge(u, m) for m in ms)
            ),
            None,
        )
        if home is None:
            clusters[u] = [u]
        else:
            home.append(u)
    return clusters


def _make_cluster(
    chosen: list[str],
    units: dict[str, list[FileRecord]],
    unit_graph: nx.Graph,
    options: DupesOptions,
) -> Cluster:
    members = [r for u in chosen for r in units[u]]
    keeper, reason = choose_keeper(members, options.prefer)
    keeper_unit = keeper.blake3
    out = [ClusterMember(keeper.path, "keeper", 0, {})]
    # one evidence for every identical copy of the keeper (read-only, as every record here)
    same_bytes = {"blake3": keeper_unit, "decided_by": "bytes (BLAKE3)"}
    for r in sorted(members, key=lambda r: rank_key(r, options.prefer)):
        if r.path == keeper.path:
            continue
        if r.blake3 == keeper_unit:
            out.append(ClusterMember(r.path, "identical", 0, same_bytes))
        else:
            rel = unit_graph.edges[keeper_unit, r.blake3]["relation"]
            out.append(
                ClusterMember(
                    r.path, "same-photo", rel.evidence.get("phash_distance"), dict(rel.evidence)
                )
            )
    kind = "identical" if len(chosen) == 1 else "same-photo"
    return Cluster("", kind, keeper.path, reason, tuple(out))

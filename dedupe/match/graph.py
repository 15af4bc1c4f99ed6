"""Typed relations -> a networkx graph -> assets and duplicate clusters.

Which pairs are looked at comes from dedupe.match.candidates, what each pair is from
dedupe.match.judge (the relation kinds are described there).

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

from photoverify.dedupe.core.records import (
    Cluster,
    ClusterMember,
    DupesResult,
    FileRecord,
    Relation,
)
from photoverify.dedupe.match.candidates import (
    SignatureSource,
    pair_keys,
    pairs_of,
)
from photoverify.dedupe.match.companions import AssetList, find_assets
from photoverify.dedupe.match.judge import DEFAULT_THRESHOLD, judge, judge_video
from photoverify.dedupe.match.policy import choose_keeper, rank_key
from photoverify.dedupe.match.spill import KEEP_IN_MEMORY, RelationLog
from photoverify.dedupe.match.table import RecordTable, as_table

__all__ = ["DEFAULT_THRESHOLD", "DupesOptions", "find_duplicates", "judge", "judge_video", "relate"]


@dataclass(frozen=True)
class DupesOptions:
    threshold: int = DEFAULT_THRESHOLD
    prefer: tuple[str, ...] = ()


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
    return relations + list(_judged_relations(_distinct(as_table(records)), options))


def _has_content(r: FileRecord) -> bool:
    """Readable, non-empty and hashed: a file whose bytes can be identical to another's."""
    return bool(r.blake3) and r.size > 0 and r.error is None


def _identical_groups(records: Iterable[FileRecord]) -> dict[str, list[FileRecord]]:
    """{BLAKE3: the readable, non-empty files with those bytes}, in the records' order."""
    by_hash: dict[str, list[FileRecord]] = defaultdict(list)
    for r in records:
        if _has_content(r):
            by_hash[r.blake3].append(r)
    return by_hash


PAIR_CHUNK = 16384  # candidate pairs judged with their ends' signatures read at once


def _pairs(
    items: RecordTable, threshold: int, signatures: SignatureSource | None
) -> Iterator[tuple[FileRecord, FileRecord]]:
    """The candidate pairs of `items`, as records, in order. Items read without their
    signatures get them for the time their chunk of pairs is judged: the pairs' ends only, a
    chunk at a time (a library of look-alikes has most of its images at some pair's end)."""
    keys = pair_keys(items, threshold, signatures)
    for start in range(0, len(keys), PAIR_CHUNK):
        chunk = pairs_of(keys[start : start + PAIR_CHUNK], len(items))
        ends = np.unique(chunk).tolist()
        made = dict(zip(ends, items.records(ends), strict=True))  # each end once a chunk
        if signatures is not None:
            blobs = signatures(list(made.values()))
            made = {i: replace(made[i], signature=b) for i, b in zip(ends, blobs, strict=True)}
        for i, j in chunk.tolist():
            yield made[i], made[j]


def _content(table: RecordTable) -> tuple[np.ndarray, np.ndarray]:
    """(a mask of the records `_has_content` holds for, an id per record equal for equal
    digests), from the table's columns."""
    ids = table.content_ids()
    ok = (ids >= 0) & (table.ints("size") > 0) & table.is_in("error", lambda e: e is None)
    return ok, ids


def _distinct(table: RecordTable) -> RecordTable:
    """The first record of each content (as `_identical_groups` would list them), in order."""
    ok, ids = _content(table)
    positions = np.flatnonzero(ok)
    _, first = np.unique(ids[positions], return_index=True)
    return table.take(np.sort(positions[first]))


def _judged_relations(
    distinct: RecordTable,
    options: DupesOptions,
    signatures: SignatureSource | None = None,
) -> Iterator[Relation]:
    """The same-photo, derived and similar relations between `distinct` contents (one record
    each: identical copies share every relation), as judged."""
    decoded = distinct.is_in("decode_ok", bool)
    images = distinct.take(np.flatnonzero(distinct.is_in("kind", lambda k: k == "image") & decoded))
    for a, b in _pairs(images.sorted_by_path(), options.threshold, signatures):
        rel = judge(a, b, options.threshold)
        if rel is not None:
            yield rel
    del images
    # Videos only ever meet videos: a Live Photo's still looks like its own motion's first frame.
    video = distinct.is_in("kind", lambda k: k == "video") & decoded & distinct.present("phash")
    videos = distinct.take(np.flatnonzero(video)).sorted_by_path()
    del distinct
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
    table = as_table(records)  # columns (dedupe.match.table): a record is made when needed
    del records
    assets, _ = find_assets(table)
    relations, same_photo, ends = _logged(table, options, signatures, keep_relations)

    # Units: primaries with the same bytes (identity is transitive, so this is safe), in path
    # order; only those a cluster can hold (of two primaries or more, or tied by a same-photo
    # relation). They hold positions in the table: a unit's records are made when its cluster
    # is (a record each of a million copies would cost ~0.7 KiB each).
    tied = {p for rel in same_photo for p in (rel.a, rel.b)}
    at = [i for i, p in enumerate(table.paths()) if p in tied]
    digest_of = {r.path: r.blake3 for r in table.take(at)}
    units = _units(table, assets, np.asarray(at, np.int64))
    del tied

    # The unit graph: one node per unit, an edge per same-photo relation between units.
    # (only units with a relation are its nodes: a million lone units would cost ~250 MiB)
    unit_graph = nx.Graph()
    for rel in same_photo:
        ua, ub = digest_of[rel.a], digest_of[rel.b]
        if ua in units and ub in units and ua != ub:
            unit_graph.add_edge(ua, ub, relation=rel)
    del same_photo, digest_of
    ranks = {
        u: min(rank_key(r, options.prefer) for r in table.records(units[u])) for u in unit_graph
    }

    def distance(u: str, v: str) -> int:
        d = unit_graph.edges[u, v]["relation"].evidence.get("phash_distance")
        return 99 if d is None else d

    # Only units with a relation can join another's cluster; a lone unit is its own (ranking
    # a million lone units would hold a key each).
    order = sorted(unit_graph.nodes, key=ranks.__getitem__)
    members = _assign(order, unit_graph, distance, ranks.__getitem__)
    del ranks
    lone = ([u] for u in units if u not in unit_graph and len(units[u]) >= 2)
    clusters = [
        _make_cluster(table.records([i for u in chosen for i in units[u]]), unit_graph, options)
        for chosen in (*members.values(), *lone)
        if sum(len(units[u]) for u in chosen) >= 2
    ]
    del units
    # by position: the ids are given only after sorting, below
    in_cluster = {m.path: n for n, c in enumerate(clusters) for m in c.members if m.path in ends}
    del ends
    # A same-photo relation left out of every cluster (a unit near two keepers went to the
    # nearer; a unit tied to a keeper but not to all of its cluster) is reported too.
    related = RelationLog(
        (
            r
            for r in relations
            if not (r.a in in_cluster and in_cluster[r.a] == in_cluster.get(r.b))
        ),
        keep=keep_relations,
    )
    relations.close()
    clusters.sort(key=lambda c: os.fsencode(c.keeper))
    clusters = [
        Cluster(f"c{i + 1:05d}", c.kind, c.keeper, c.reason, c.members)
        for i, c in enumerate(clusters)
    ]
    return DupesResult(tuple(clusters), related if related.spilled else tuple(related), assets)


def _logged(
    records: RecordTable,
    options: DupesOptions,
    signatures: SignatureSource | None,
    keep: int,
) -> tuple[RelationLog, list[Relation], set[str]]:
    """(every same-photo, derived and similar relation, logged: on disk past `keep`, see
    dedupe.match.spill; the same-photo ones, which clusters are made of, kept as a list; the
    paths at any relation's end). Identical relations are not made as objects: units hold the
    same facts."""
    relations = RelationLog(keep=keep)
    same_photo: list[Relation] = []
    ends: set[str] = set()
    for rel in _judged_relations(_distinct(records), options, signatures):
        relations.append(rel)
        ends.update((rel.a, rel.b))
        if rel.kind == "same-photo":
            same_photo.append(rel)
    return relations, same_photo, ends


def _units(table: RecordTable, assets: AssetList, tied: np.ndarray) -> dict[str, list[int]]:
    """{digest: the positions of the readable primaries with those bytes, in order} for the
    digests of two primaries or more, or of the records at positions `tied`. Which digests
    repeat is counted in the table's columns; a unit is named by its first record's digest."""
    is_primary = np.isin(table.rows, assets.rows())
    ok, ids = _content(table)
    kept = np.flatnonzero(ok & is_primary)
    counts = np.bincount(ids[kept], minlength=1)
    wanted = (counts[ids[kept]] > 1) | np.isin(ids[kept], ids[tied][ok[tied]])
    by_id: dict[int, list[int]] = {}  # content id -> its positions, in order
    for i, c in zip(kept[wanted].tolist(), ids[kept[wanted]].tolist(), strict=True):
        by_id.setdefault(c, []).append(i)
    digests = table.take([positions[0] for positions in by_id.values()]).digests()
    return dict(zip(digests, by_id.values(), strict=True))


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
    members: list[FileRecord], unit_graph: nx.Graph, options: DupesOptions
) -> Cluster:
    """The cluster of these records (the units chosen together, `_assign`), keeper first."""
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
    kind = "identical" if len({r.blake3 for r in members}) == 1 else "same-photo"
    return Cluster("", kind, keeper.path, reason, tuple(out))

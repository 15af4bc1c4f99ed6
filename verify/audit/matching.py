"""Finding each source asset's copy in DEST: the phases of an audit that decide an asset's
outcome, and what DEST holds that no source asset claims. Pure over records.

1. `claim_identical`: the primary's bytes are in DEST (same BLAKE3, or the bytes a metadata merge
   started from). Each DEST primary is claimed by one source asset (the ledger's placement or
   a plain copy at the same relative path first); the others with those bytes merge into it.
2. `claim_same_photo`: no identical bytes, but the same photo in another encoding, size or
   metadata state (`dedupe.match.judge.judge`), or for a video the same ContentIdentifier, the
   same capture second and duration, or the same first frame and duration. Candidates come from
   `near_groups` over both sides' pHashes (plus equal camera ids), so matching is sub-quadratic.
3. `extra_in_dest`: DEST assets no source asset claims, with what each is a copy of.
"""

from __future__ import annotations

import bisect
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from photoverify.dedupe.core.findings import Finding
from photoverify.dedupe.core.records import Asset, FileRecord
from photoverify.dedupe.core.timeparse import parse as parse_time
from photoverify.dedupe.core.timeparse import same_second
from photoverify.dedupe.match.companions import find_assets
from photoverify.dedupe.match.index import hex_to_uint64, near_groups
from photoverify.dedupe.match.judge import DEFAULT_THRESHOLD, judge, judge_video
from photoverify.verify.audit.outcomes import finding

CANDIDATES_PER_VALUE = 64  # files sharing one pHash beyond this are not all judged
VIDEO_DURATION_SLACK = 1.0  # seconds
SAME_PIXELS_BITS = 2  # pHash and dHash this close under another capture time: the same pixels
SAME_PIXELS_RANK = 1000

# One source asset as the phases fill it in: asset, outcome (None until decided), error, dest,
# via, match, dest_companions, changes.
Row = dict[str, Any]


@dataclass(frozen=True)
class Sides:
    """Both sides of an audit, indexed once for every phase."""

    src_by_path: dict[str, FileRecord]
    dst_by_path: dict[str, FileRecord]
    src_assets: list[Asset]
    dst_assets: list[Asset]
    dst_asset_of: dict[str, Asset]  # any DEST file -> its asset
    dst_file_by_hash: dict[str, list[str]]  # BLAKE3 -> the DEST files with those bytes
    dest: str
    threshold: int = DEFAULT_THRESHOLD


def index_sides(
    src_records: Sequence[FileRecord],
    dst_records: Sequence[FileRecord],
    *,
    dest: str,
    threshold: int = DEFAULT_THRESHOLD,
) -> Sides:
    src_assets, _ = find_assets(src_records)
    dst_assets, _ = find_assets(dst_records)
    dst_file_by_hash: dict[str, list[str]] = defaultdict(list)
    for r in dst_records:
        if usable(r):
            dst_file_by_hash[r.blake3].append(r.path)
    return Sides(
        src_by_path={r.path: r for r in src_records},
        dst_by_path={r.path: r for r in dst_records},
        src_assets=src_assets,
        dst_assets=dst_assets,
        dst_asset_of={p: a for a in dst_assets for p in (a.primary, *a.companions)},
        dst_file_by_hash=dst_file_by_hash,
        dest=dest,
        threshold=threshold,
    )


def usable(r: FileRecord) -> bool:
    """Read and hashed: a record the matching can use."""
    return r.error is None and r.blake3 is not None


# ---------------------------------------------------------------------------- 1. identical bytes


def claim_identical(
    rows: dict[str, Row],
    sides: Sides,
    hint: Mapping[str, str],
    gained: Mapping[str, Mapping[str, Any]],
) -> dict[str, str]:
    """Phase 1: settle the undecided rows whose primary's bytes are in DEST (`present`, or
    `merged` into the source asset that claimed that copy). `hint`: the ledger's source -> DEST
    path; `gained`: DEST copies a metadata merge rewrote (their bytes before the merge count).
    Returns DEST primary -> the source primary that claimed it."""
    dst_primary_by_hash: dict[str, list[str]] = defaultdict(list)
    for a in sides.dst_assets:
        r = sides.dst_by_path[a.primary]
        if usable(r):
            dst_primary_by_hash[r.blake3].append(a.primary)
        if a.primary in gained:  # apply merged metadata into it: its bytes before the merge
            dst_primary_by_hash[gained[a.primary]["source_blake3"]].append(a.primary)
    src_by_hash: dict[str, list[str]] = defaultdict(list)
    for p, row in rows.items():
        if row["outcome"] is None and sides.src_by_path[p].blake3 in dst_primary_by_hash:
            src_by_hash[sides.src_by_path[p].blake3].append(p)
    claimed: dict[str, str] = {}
    for digest, srcs in src_by_hash.items():
        _claim_copies(rows, sides, srcs, dst_primary_by_hash[digest], hint, claimed)
    return claimed


def _claim_copies(
    rows: dict[str, Row],
    sides: Sides,
    srcs: list[str],
    dests: list[str],
    hint: Mapping[str, str],
    claimed: dict[str, str],
) -> None:
    """Source assets `srcs` with the bytes of the DEST primaries `dests`: strong claims first
    (the ledger placed it there, or a plain copy at the same relative path), then each remaining
    source in path order takes its most preferred free copy; the rest merge into their first."""
    free = set(dests)
    wanted = {s: _prefer(sides.src_by_path[s], dests, hint, sides.dest) for s in srcs}

    def take(s: str, d: str) -> None:
        rows[s].update(outcome="present", dest=d, match="identical")
        claimed[d] = s
        free.discard(d)

    for s in sorted(srcs):
        first = wanted[s][0]
        if rows[s]["outcome"] is None and first in free:
            root = sides.src_by_path[s].root
            if hint.get(s) == first or _relative(first, sides.dest) == _relative(s, root):
                take(s, first)
    for s in sorted(srcs):
        d = next((d for d in wanted[s] if d in free), None)
        if rows[s]["outcome"] is None and d is not None:
            take(s, d)
    for s in sorted(srcs):
        if rows[s]["outcome"] is None:
            d = wanted[s][0]
            rows[s].update(outcome="merged", dest=d, via=claimed[d], match="identical")


# ---------------------------------------------------------------------------- 2. same photo


def claim_same_photo(rows: dict[str, Row], sides: Sides, claimed: dict[str, str]) -> None:
    """Phase 2: settle the undecided rows whose photo (or recording) is in DEST in other bytes:
    the best-ranked pair whose DEST primary is still free makes it `converted` (and claims that
    primary), else its best pair makes it `merged` into the copy another asset claimed."""
    unmatched = [sides.src_by_path[p] for p, row in rows.items() if row["outcome"] is None]
    dst_primaries = [r for a in sides.dst_assets if usable(r := sides.dst_by_path[a.primary])]
    pairs = _same_photo_pairs(unmatched, dst_primaries, sides.threshold)
    pairs += [
        (2 * SAME_PIXELS_RANK + rank, s, t, how)
        for rank, s, t, how in _same_video_pairs(unmatched, dst_primaries, sides.threshold)
    ]
    pairs.sort()
    for _, s, d, how in pairs:
        if rows[s]["outcome"] is None and d not in claimed:
            rows[s].update(outcome="converted", dest=d, match=how)
            claimed[d] = s
    best: dict[str, tuple[str, str]] = {}
    for _, s, d, how in pairs:
        if rows[s]["outcome"] is None and s not in best:
            best[s] = (d, how)
    for s, (d, how) in best.items():
        rows[s].update(outcome="merged", dest=d, via=claimed.get(d), match=how)


# ---------------------------------------------------------------------------- candidates


def _same_photo_pairs(
    src: Sequence[FileRecord], dst: Sequence[FileRecord], threshold: int
) -> list[tuple[int, str, str, str]]:
    """(rank, source path, DEST path, how) of cross pairs that are one photo: judged
    `same-photo` (rank = pHash distance), or the same pixels under another capture time
    (`same-pixels`, ranked after every same-photo pair)."""
    src = [r for r in src if r.kind == "image" and r.phash and r.dhash]
    dst = [r for r in dst if r.kind == "image" and r.phash and r.dhash]
    if not src or not dst:
        return []
    candidates: set[tuple[int, int]] = set()
    hashes = hex_to_uint64([r.phash for r in src] + [r.phash for r in dst])
    near = near_groups(hashes, threshold)
    order, starts = near.groups._grouped()
    n = len(src)

    def sides(value: int) -> tuple[list[int], list[int]]:
        members = order[starts[value] : starts[value + 1]][: CANDIDATES_PER_VALUE * 2]
        return [int(i) for i in members if i < n], [int(i) - n for i in members if i >= n]

    for value in range(near.groups.values.size):
        s, d = sides(value)
        candidates.update((i, j) for i in s for j in d[:CANDIDATES_PER_VALUE])
    for u, v, _ in near.pairs:
        su, du = sides(int(u))
        sv, dv = sides(int(v))
        candidates.update((i, j) for i in su for j in dv[:CANDIDATES_PER_VALUE])
        candidates.update((i, j) for i in sv for j in du[:CANDIDATES_PER_VALUE])
    # Equal camera ids: judge accepts these at twice the threshold, which near_groups misses.
    by_id: dict[tuple[str, str], list[int]] = defaultdict(list)
    for j, r in enumerate(dst):
        for name in ("content_id", "image_unique_id"):
            value = getattr(r.metadata, name)
            if value:
                by_id[(name, value)].append(j)
    for i, r in enumerate(src):
        for name in ("content_id", "image_unique_id"):
            value = getattr(r.metadata, name)
            if value:
                same = by_id.get((name, value), [])[:CANDIDATES_PER_VALUE]
                candidates.update((i, j) for j in same)
    out = []
    for i, j in candidates:
        rel = judge(src[i], dst[j], threshold)
        if rel is None:
            continue
        ev = rel.evidence
        pd, dd = int(ev.get("phash_distance", 99)), int(ev.get("dhash_distance", 99))
        if rel.kind == "same-photo":
            out.append((pd, src[i].path, dst[j].path, "same-photo"))
        elif (
            rel.kind == "similar"
            and pd <= SAME_PIXELS_BITS
            and dd <= SAME_PIXELS_BITS
            and (
                "different"
                not in (ev.get("content_id"), ev.get("image_unique_id"), ev.get("aspect_ratio"))
            )
        ):
            # judge calls a different capture time "another capture"; across a migration the
            # same pixels under a new date are this photo with its date rewritten.
            out.append((SAME_PIXELS_RANK + pd, src[i].path, dst[j].path, "same-pixels"))
    out.sort()
    return out


def _same_video_pairs(
    src: Sequence[FileRecord], dst: Sequence[FileRecord], threshold: int = DEFAULT_THRESHOLD
) -> list[tuple[int, str, str, str]]:
    """(rank, source path, DEST path, how) of videos that are one recording in other bytes: the
    same ContentIdentifier, the same capture second and duration, or (metadata stripped too)
    first frames and durations that `judge_video` calls the same recording."""
    dst = [r for r in dst if r.kind == "video"]
    by_cid: dict[str, list[FileRecord]] = defaultdict(list)
    by_minute: dict[str, list[FileRecord]] = defaultdict(list)
    for r in dst:
        if r.metadata.content_id:
            by_cid[r.metadata.content_id].append(r)
        t = parse_time(r.metadata.captured_at)
        if t is not None:
            by_minute[t.wall.strftime("%Y-%m-%dT%H:%M")].append(r)
    out = []
    for s in (r for r in src if r.kind == "video"):
        if s.metadata.content_id:
            same = by_cid.get(s.metadata.content_id, [])
            out += [(0, s.path, d.path, "content-id") for d in same]
        t = parse_time(s.metadata.captured_at)
        if t is None:
            continue
        for d in by_minute.get(t.wall.strftime("%Y-%m-%dT%H:%M"), []):
            td = parse_time(d.metadata.captured_at)
            if (
                td
                and same_second(t, td)
                and s.duration
                and d.duration
                and (abs(s.duration - d.duration) <= VIDEO_DURATION_SLACK)
            ):
                out.append((1, s.path, d.path, "capture-time"))
    framed = sorted(
        (r for r in dst if r.decode_ok and r.phash and r.duration), key=lambda r: r.duration
    )
    lengths = [r.duration for r in framed]
    for s in (r for r in src if r.kind == "video" and r.decode_ok and r.phash and r.duration):
        slack = max(VIDEO_DURATION_SLACK, 0.03 * s.duration)  # a window judge_video narrows
        lo = bisect.bisect_left(lengths, s.duration - slack)
        hi = bisect.bisect_right(lengths, s.duration + slack)
        for d in framed[lo:hi]:
            rel = judge_video(s, d, threshold)
            if rel is not None and rel.kind == "same-photo":
                out.append((2, s.path, d.path, "first-frame"))
    out.sort()
    return out


def _relative(path: str, root: str) -> str:
    return os.path.relpath(path, root).casefold() if root else path.casefold()


def _prefer(
    source: FileRecord, dests: list[str], hint: Mapping[str, str], dest_root: str
) -> list[str]:
    """DEST candidates for a source, best first: the ledger's mapping, the same path relative
    to the roots (a plain copy), the same name, then path order."""
    name = os.path.basename(source.path).casefold()
    rel = _relative(source.path, source.root)
    return sorted(
        dests,
        key=lambda d: (
            hint.get(source.path) != d,
            _relative(d, dest_root) != rel,
            os.path.basename(d).casefold() != name,
            d,
        ),
    )


# ---------------------------------------------------------------------------- 3. extra in DEST


def extra_in_dest(
    rows: Mapping[str, Row], sides: Sides, claimed: Mapping[str, str], accounted: set[str]
) -> tuple[list[dict[str, Any]], list[Finding]]:
    """Phase 3: the DEST assets no source asset claims and no source file maps to (`accounted`),
    each with what it is a copy of (identical bytes in DEST, or the same photo as a source
    asset already accounted for): (their rows, their `extra` findings)."""
    unclaimed = [
        sides.dst_by_path[a.primary]
        for a in sides.dst_assets
        if a.primary not in claimed and a.primary not in accounted
    ]
    same_photo_of: dict[str, str] = {}
    if unclaimed:  # what an extra copy is a copy of, for the person who reads the report
        everyone = [r for p in rows if (r := sides.src_by_path.get(p)) is not None and usable(r)]
        for _, s, d, _how in _same_photo_pairs(everyone, unclaimed, sides.threshold):
            same_photo_of.setdefault(d, s)
    extra_rows: list[dict[str, Any]] = []
    findings: list[Finding] = []
    for a in sorted(sides.dst_assets, key=lambda a: a.primary):
        if a.primary in claimed or a.primary in accounted:
            continue
        r = sides.dst_by_path[a.primary]
        evidence: dict[str, Any] = {
            "companions": list(a.companions),
            "kind": r.kind,
            "captured_at": r.metadata.captured_at,
        }
        twins = [q for q in sides.dst_file_by_hash.get(r.blake3 or "", []) if q != a.primary]
        if twins:
            evidence["copy_of"] = twins[0]
        if a.primary in same_photo_of:
            evidence["same_photo_as"] = same_photo_of[a.primary]
        why = (
            "a second copy of " + os.path.basename(twins[0])
            if twins
            else "the same photo as a source already accounted for"
            if a.primary in same_photo_of
            else "no source asset maps to it"
        )
        extra_rows.append({"dest": a.primary, **evidence})
        findings.append(finding(a.primary, "extra", f"extra in DEST: {why}", **evidence))
    return extra_rows, findings

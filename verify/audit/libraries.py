"""Did the migration lose anything? Every source asset accounted for in DEST.

`audit_libraries(sources, dest, catalog=...)` scans both sides into the catalog, then
`audit_records` (pure) matches every source asset (a primary file with its Live Photo motion,
sidecars and RAW+JPEG partner, see dedupe.companions) to DEST:

  present    the primary's bytes are in DEST (same BLAKE3), kept by this asset
  converted  no identical bytes, but the same photo (dedupe.graph.judge says `same-photo`) in
             another encoding, size or metadata state; or, for a video, the same Apple
             ContentIdentifier or the same capture instant and duration
  merged     the photo is in DEST only as a copy that another source asset already accounts for
             (the source held two copies of it, DEST keeps one): each DEST asset is claimed by at
             most one source asset, and the rest that match it are merged into it
  missing    none of the above
  extra      (DEST side) a DEST asset that no source asset claims

Matching is sub-quadratic: identical bytes through a BLAKE3 index, same-photo candidates
through `near_groups` over the pHashes of both sides (plus equal Apple ContentIdentifier or
ImageUniqueID), each candidate pair judged once.

For present, converted and merged assets the asset's metadata is compared (the primary file's,
with a capture time or GPS it lacks taken from its XMP or Takeout JSON sidecar:
dedupe.companions.asset_metadata) and losses become Findings with
check "audit"; the outcomes and severities are listed in `OUTCOMES` and docs/audit.md. When DEST
holds `photoverify-ledger.json` (written by `photoverify apply`) it is checked against DEST and
the sources, and `Photo Details*.csv` files of an Apple privacy export among the sources are
checked by verify.checks.apple.
"""

from __future__ import annotations

import bisect
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from photoverify.dedupe.catalog.apple_csv import ApplePart, is_photo_details, read_photo_details
from photoverify.dedupe.catalog.scan import scan
from photoverify.dedupe.catalog.store import Catalog
from photoverify.dedupe.core.errors import UsageError
from photoverify.dedupe.core.jsonio import read_json
from photoverify.dedupe.core.paths import under_any
from photoverify.dedupe.core.records import Asset, FileRecord, Finding, Verdict
from photoverify.dedupe.core.timeparse import parse as parse_time
from photoverify.dedupe.core.timeparse import same_second
from photoverify.dedupe.match.companions import LABELS, asset_metadata, find_assets
from photoverify.dedupe.match.graph import DEFAULT_THRESHOLD, judge, judge_video
from photoverify.dedupe.match.index import hex_to_uint64, near_groups
from photoverify.dedupe.move.plan import LEDGER_CSV, LEDGER_JSON, MANIFEST
from photoverify.progress import ticker
from photoverify.verify.audit.gained import gained_finding, merged_copies
from photoverify.verify.audit.source_damage import broken_in_source
from photoverify.verify.checks.apple import AppleCheck, check_export, checksum_digests
from photoverify.verify.checks.expect import GPS_TOLERANCE_M, compare_capture, distance_m

SCHEMA = "photoverify.audit/1"
CHECK = "audit"
ASSET_OUTCOMES = ("present", "converted", "merged", "missing", "unreadable")
# Every finding outcome the audit makes, with its severity (docs/audit.md says why).
OUTCOMES: dict[str, str] = {
    "missing": "error",
    "unreadable": "error",
    "extra": "warning",
    "capture-time-lost": "error",
    "capture-time-shifted": "error",
    "capture-time-changed": "error",
    "capture-time-zone-shift": "warning",
    "capture-time-precision-lost": "warning",
    "gps-lost": "error",
    "labels-lost": "error",
    "gps-moved": "error",
    "camera-lost": "warning",
    "camera-changed": "warning",
    "resolution-reduced": "error",
    "content-altered": "error",
    "live-photo-motion-lost": "error",
    "sidecar-lost": "error",
    "companion-lost": "error",
    "companion-detached": "warning",
    "ledger-unreadable": "error",
    "ledger-target-missing": "error",
    "ledger-target-changed": "error",
    "ledger-duplicate-target-missing": "error",
    "ledger-entry-failed": "error",
    "ledger-entry-skipped": "warning",
    "ledger-source-unlisted": "warning",
    "ledger-source-not-audited": "info",
    "metadata-gained": "info",
    "broken-in-source": "warning",
}
MAX_ZONE_SHIFT = timedelta(hours=14)
HALF_HOUR = 1800
RESOLUTION_SLACK = 0.99  # fewer than 99 % of the pixels is a reduction, not rounding
CANDIDATES_PER_VALUE = 64  # files sharing one pHash beyond this are not all judged
VIDEO_DURATION_SLACK = 1.0  # seconds
SAME_PIXELS_BITS = 2  # pHash and dHash this close under another capture time: the same pixels
SAME_PIXELS_RANK = 1000

Progress = Callable[[int, int, int, int], None]


# ---------------------------------------------------------------------------- results


@dataclass(frozen=True)
class AssetRow:
    """How one source asset is accounted for."""

    source: str
    outcome: str  # one of ASSET_OUTCOMES
    companions: tuple[str, ...] = ()
    dest: str | None = None  # the DEST primary it maps to
    dest_companions: tuple[str, ...] = ()
    via: str | None = None  # merged: the source asset that claimed `dest`
    match: str | None = None  # identical, same-photo, content-id, capture-time, first-frame
    changes: dict[str, Any] = field(default_factory=dict)  # format, pixels, bytes
    findings: tuple[str, ...] = ()  # outcomes of the findings about this asset
    apple: dict[str, Any] | None = None  # its Photo Details row, when it has one

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "companions": list(self.companions),
            "outcome": self.outcome,
            "dest": self.dest,
            "dest_companions": list(self.dest_companions),
            "via": self.via,
            "match": self.match,
            "changes": self.changes,
            "findings": list(self.findings),
            "apple": self.apple,
        }


@dataclass
class AuditResult(Verdict):
    sources: list[str]
    dest: str
    findings: list[Finding]
    counts: dict[str, int]
    assets: list[AssetRow]
    extra: list[dict[str, Any]]
    records: dict[str, FileRecord]  # every record of both sides by path (for build_report)
    threshold: int = DEFAULT_THRESHOLD
    ledger: dict[str, Any] | None = None
    apple: dict[str, Any] | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "sources": self.sources,
            "dest": self.dest,
            "threshold": self.threshold,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "counts": self.counts,
            "assets": [a.to_json() for a in self.assets],
            "extra": self.extra,
            "findings": [f.to_json() for f in self.findings],
            "ledger": self.ledger,
            "apple": self.apple,
            "seconds": round(self.seconds, 3),
        }


# ---------------------------------------------------------------------------- capture times


def _human_seconds(seconds: float) -> str:
    sign = "+" if seconds >= 0 else "-"
    s = abs(seconds)
    if s < 60:
        return f"{sign}{s:g} s"
    days, rest = divmod(round(s), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{days} d" if days else "",
        f"{hours} h" if hours else "",
        f"{minutes} min" if minutes else "",
        f"{secs} s" if secs else "",
    ]
    return sign + " ".join(p for p in parts if p)


def _offset_text(offset: timedelta | None) -> str | None:
    if offset is None:
        return None
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def classify_capture(expected: str | None, actual: str | None) -> tuple[str, str, dict] | None:
    """(outcome, severity, evidence) when `actual` does not keep the capture time `expected`.

    Builds on verify.expect.compare_capture (lost / precision-lost), and tells a time-zone shift
    (wall clocks a whole number of half hours apart, at most 14 h, same seconds and sub-seconds,
    or the same wall clock under another offset) from a shifted, wrong time.
    """
    if not expected:
        return None
    base = compare_capture(expected, actual)
    pe, pa = parse_time(expected), parse_time(actual)
    if base is not None and base[0] in ("capture-time-lost", "capture-time-precision-lost"):
        return base
    if pe is None or pa is None:
        return base  # unparseable text: compare_capture's "changed"
    wall_shift = (pa.wall - pe.wall).total_seconds()
    sub_ok = (
        pe.subsec is None
        or pa.subsec is None
        or (
            pe.subsec[: min(len(pe.subsec), len(pa.subsec))]
            == pa.subsec[: min(len(pe.subsec), len(pa.subsec))]
        )
    )
    evidence: dict[str, Any] = {"expected": expected, "actual": actual}
    instant_same = None
    if pe.instant is not None and pa.instant is not None:
        instant_same = pe.instant == pa.instant
    offsets_differ = pe.offset is not None and pa.offset is not None and pe.offset != pa.offset
    if base is None and wall_shift == 0 and not offsets_differ:
        return None  # the same moment, written the same way up to the format
    zone_like = (
        sub_ok
        and wall_shift % HALF_HOUR == 0
        and abs(wall_shift) <= MAX_ZONE_SHIFT.total_seconds()
        and (wall_shift != 0 or offsets_differ)
    )
    if zone_like:
        evidence.update(
            {
                "shift_hours": wall_shift / 3600,
                "offset_before": _offset_text(pe.offset),
                "offset_after": _offset_text(pa.offset),
                "instant_same": instant_same,
            }
        )
        return "capture-time-zone-shift", "warning", evidence
    if pe.instant is not None and pa.instant is not None:
        shift = (pa.instant - pe.instant).total_seconds()
    else:
        shift = wall_shift
    frac_e = float("0." + pe.subsec) if pe.subsec else 0.0
    frac_a = float("0." + pa.subsec) if pa.subsec else 0.0
    if pe.subsec and pa.subsec:
        shift += frac_a - frac_e
    evidence.update({"shift_seconds": round(shift, 3), "shift": _human_seconds(shift)})
    return "capture-time-shifted", "error", evidence


# ---------------------------------------------------------------------------- comparisons


def _finding(path: str, outcome: str, message: str, **evidence: Any) -> Finding:
    return Finding(path, CHECK, OUTCOMES[outcome], outcome, f"{path}: {message}", evidence)


def compare_metadata(src: FileRecord, dst: FileRecord) -> list[Finding]:
    """What `dst` lost of `src`'s metadata and pixels. Pure. Findings name the DEST file."""
    out: list[Finding] = []
    sm, dm = src.metadata, dst.metadata
    diff = classify_capture(sm.captured_at, dm.captured_at)
    if diff is not None:
        outcome, severity, evidence = diff
        if outcome == "capture-time-lost":
            message = f"capture time {sm.captured_at} ({sm.captured_source}) is gone"
        elif outcome == "capture-time-precision-lost":
            lost = " and ".join(evidence.get("lost", []))
            message = f"capture time {sm.captured_at} is now {dm.captured_at} (lost its {lost})"
        elif outcome == "capture-time-zone-shift":
            message = (
                f"capture time moved {evidence['shift_hours']:+g} h on the clock, "
                f"{sm.captured_at} -> {dm.captured_at} (a time-zone shift)"
            )
        elif outcome == "capture-time-shifted":
            message = (
                f"capture time shifted {evidence['shift']}: {sm.captured_at} -> {dm.captured_at}"
            )
        else:
            message = f"capture time changed from {sm.captured_at} to {dm.captured_at}"
        out.append(
            Finding(
                dst.path,
                CHECK,
                severity,
                outcome,
                f"{dst.path}: {message}",
                {"source": src.path, **evidence},
            )
        )
    if sm.gps is not None:
        if dm.gps is None:
            out.append(
                _finding(
                    dst.path,
                    "gps-lost",
                    f"GPS position {sm.gps_lat:.6f}, {sm.gps_lon:.6f} ({sm.gps_source}) is gone",
                    source=src.path,
                    expected=sm.gps,
                    actual=None,
                )
            )
        else:
            moved = distance_m(sm.gps, dm.gps)
            if moved > GPS_TOLERANCE_M:
                out.append(
                    _finding(
                        dst.path,
                        "gps-moved",
                        f"GPS position moved {moved:.1f} m",
                        source=src.path,
                        expected=sm.gps,
                        actual=dm.gps,
                        distance_m=round(moved, 3),
                    )
                )
    labels = {k: getattr(sm, k) for k in LABELS if getattr(sm, k) is not None}
    gone = [k for k in labels if getattr(dm, k) is None]
    if gone:
        out.append(
            _finding(
                dst.path,
                "labels-lost",
                "the photo's " + ", ".join(f"{k} {labels[k]!r}" for k in gone) + " is gone",
                source=src.path,
                lost={k: labels[k] for k in gone},
            )
        )
    lost = [k for k in ("make", "model") if getattr(sm, k) and not getattr(dm, k)]
    changed = {
        k: [getattr(sm, k), getattr(dm, k)]
        for k in ("make", "model")
        if getattr(sm, k)
        and getattr(dm, k)
        and getattr(sm, k).strip().casefold() != getattr(dm, k).strip().casefold()
    }
    if lost:
        out.append(
            _finding(
                dst.path,
                "camera-lost",
                f"camera {' '.join(filter(None, (sm.make, sm.model)))} is gone "
                f"({' and '.join(lost)})",
                source=src.path,
                lost=lost,
                make=sm.make,
                model=sm.model,
            )
        )
    elif changed:
        out.append(
            _finding(
                dst.path,
                "camera-changed",
                "camera " + ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changed.items()),
                source=src.path,
                changed=changed,
            )
        )
    if src.pixels and dst.pixels and dst.pixels < src.pixels * RESOLUTION_SLACK:
        out.append(
            _finding(
                dst.path,
                "resolution-reduced",
                f"{src.width}x{src.height} reduced to {dst.width}x{dst.height}",
                source=src.path,
                source_size=[src.width, src.height],
                dest_size=[dst.width, dst.height],
                kept=round(dst.pixels / src.pixels, 4),
            )
        )
    return out


def _changes(src: FileRecord, dst: FileRecord) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if (src.format or "") != (dst.format or ""):
        out["format"] = [src.format, dst.format]
    if src.pixels and dst.pixels and src.pixels != dst.pixels:
        out["pixels"] = [[src.width, src.height], [dst.width, dst.height]]
    if src.blake3 != dst.blake3:
        out["bytes"] = [src.size, dst.size]
    return out


def _altered_in_place(src: FileRecord, dst: FileRecord) -> bool:
    """The same format and byte count, other bytes: what a flipped bit, a bad sector or a tool
    that rewrites a fixed-size field leaves. A converter (re-encode, resize, metadata strip or
    rewrite) practically never lands on the source's exact size, so this is no conversion."""
    return (
        src.blake3 != dst.blake3
        and src.size == dst.size
        and (src.format or "") == (dst.format or "")
    )


def _ext(path: str) -> str:
    return os.path.splitext(path)[1].lower()


# ---------------------------------------------------------------------------- matching


def _usable(r: FileRecord) -> bool:
    return r.error is None and r.blake3 is not None


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


# ---------------------------------------------------------------------------- the audit (pure)


def audit_records(
    src_records: Sequence[FileRecord],
    dst_records: Sequence[FileRecord],
    *,
    sources: Sequence[str],
    dest: str,
    threshold: int = DEFAULT_THRESHOLD,
    ledger: Mapping[str, Any] | None = None,
    ledger_path: str | None = None,
    apple_parts: Sequence[ApplePart] = (),
    apple_digests: Mapping[str, Mapping[str, str]] | None = None,
    unreadable: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> AuditResult:
    """Account for every source asset in DEST. Pure over records (and the ledger's content).
    `progress` (assets done, assets, their bytes done, bytes) follows the comparison of each
    asset with what arrived.

    `unreadable`: source paths the scan could not read (folders it could not list) -> why.
    Each one, every record under such a folder, and every source record that carries a read
    error, is an ``unreadable`` row: nothing the audit could not read is silently absent.
    """
    unreadable = dict(unreadable or {})
    src_by_path = {r.path: r for r in src_records}
    dst_by_path = {r.path: r for r in dst_records}
    src_assets, _ = find_assets(src_records)
    dst_assets, _ = find_assets(dst_records)
    dst_asset_of: dict[str, Asset] = {}  # any DEST file -> its asset
    for a in dst_assets:
        for p in (a.primary, *a.companions):
            dst_asset_of[p] = a
    findings: list[Finding] = []
    hint: dict[str, str] = {}  # source path -> DEST path, from the ledger
    if ledger and isinstance(ledger.get("entries"), list):
        for e in ledger["entries"]:
            if isinstance(e, dict) and isinstance(e.get("source"), str):
                target = e.get("new_path")  # a duplicate's target belongs to its keeper
                if isinstance(target, str):
                    hint[e["source"]] = os.path.join(dest, target)
    gained = merged_copies(ledger, dest, dst_by_path)

    rows: dict[str, dict[str, Any]] = {}  # source primary -> row fields
    claimed: dict[str, str] = {}  # DEST primary -> the source primary that claimed it
    accounted: set[str] = set()  # DEST files some source file maps to

    closed = [p for p in unreadable if p not in src_by_path]  # folders that could not be listed
    for a in sorted(src_assets, key=lambda a: a.primary):
        rec = src_by_path[a.primary]
        # a record under an unlistable folder is the catalog's memory, not what is there now
        stale = under_any(a.primary, closed)
        outcome = "unreadable" if stale or not _usable(rec) else None
        rows[a.primary] = {"asset": a, "outcome": outcome}
        if stale:
            rows[a.primary]["error"] = "its folder could not be listed"
    # A file that could not be read has no kind, so it is in no asset; a folder that could not be
    # listed has no records at all. Each still gets its row.
    in_assets = {p for a in src_assets for p in (a.primary, *a.companions)}
    for r in src_records:
        if r.error is not None and r.path not in in_assets:
            rows[r.path] = {"asset": Asset(r.path), "outcome": "unreadable", "error": r.error}
    for path in closed:
        rows.setdefault(path, {"asset": Asset(path), "outcome": "unreadable"})
        rows[path]["error"] = unreadable[path]

    # 1. Identical bytes: each DEST primary is claimed by one source asset, the rest merge into it.
    dst_primary_by_hash: dict[str, list[str]] = defaultdict(list)
    for a in dst_assets:
        r = dst_by_path[a.primary]
        if _usable(r):
            dst_primary_by_hash[r.blake3].append(a.primary)
        if a.primary in gained:  # apply merged metadata into it: its bytes before the merge
            dst_primary_by_hash[gained[a.primary]["source_blake3"]].append(a.primary)
    src_by_hash: dict[str, list[str]] = defaultdict(list)
    for p, row in rows.items():
        if row["outcome"] is None and src_by_path[p].blake3 in dst_primary_by_hash:
            src_by_hash[src_by_path[p].blake3].append(p)
    for digest, srcs in src_by_hash.items():
        dests = dst_primary_by_hash[digest]
        free = set(dests)
        # Strong claims first (the ledger placed it there, or a plain copy at the same relative
        # path), then each remaining source in path order takes its most preferred free copy.
        wanted = {s: _prefer(src_by_path[s], dests, hint, dest) for s in srcs}
        for s in sorted(srcs):
            if rows[s]["outcome"] is not None:
                continue
            first = wanted[s][0]
            if first in free and (
                hint.get(s) == first or _relative(first, dest) == _relative(s, src_by_path[s].root)
            ):
                rows[s].update(outcome="present", dest=first, match="identical")
                claimed[first] = s
                free.discard(first)
        for s in sorted(srcs):
            if rows[s]["outcome"] is not None:
                continue
            d = next((d for d in wanted[s] if d in free), None)
            if d is not None:
                rows[s].update(outcome="present", dest=d, match="identical")
                claimed[d] = s
                free.discard(d)
        for s in sorted(srcs):
            if rows[s]["outcome"] is None:
                d = wanted[s][0]
                rows[s].update(outcome="merged", dest=d, via=claimed[d], match="identical")

    # 2. Same photo in other bytes (images) or the same recording (videos).
    unmatched = [src_by_path[p] for p, row in rows.items() if row["outcome"] is None]
    dst_primaries = [dst_by_path[a.primary] for a in dst_assets if _usable(dst_by_path[a.primary])]
    pairs = _same_photo_pairs(unmatched, dst_primaries, threshold)
    pairs += [
        (2 * SAME_PIXELS_RANK + rank, s, t, how)
        for rank, s, t, how in _same_video_pairs(unmatched, dst_primaries, threshold)
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
    for row in rows.values():
        if row["outcome"] is None:
            row["outcome"] = "missing"

    # 3. Companions, metadata, and the findings of each asset.
    dst_file_by_hash: dict[str, list[str]] = defaultdict(list)
    for r in dst_records:
        if _usable(r):
            dst_file_by_hash[r.blake3].append(r.path)
    asset_findings: dict[str, list[Finding]] = defaultdict(list)
    tick = ticker({p: r.size if (r := src_by_path.get(p)) else 0 for p in rows}, progress)
    for p, row in sorted(rows.items()):
        tick(p)
        a: Asset = row["asset"]
        rec = src_by_path.get(p)
        if row["outcome"] == "unreadable":
            why = row.get("error") or (rec.error if rec is not None else None) or "no hash"
            asset_findings[p].append(
                _finding(p, "unreadable", f"could not be read: {why}", source=p)
            )
            continue
        if row["outcome"] == "missing":
            found_elsewhere = {}
            for c in a.companions:
                cr = src_by_path[c]
                where = dst_file_by_hash.get(cr.blake3 or "", []) if _usable(cr) else []
                if where:
                    found_elsewhere[c] = where[0]
                    accounted.add(where[0])
            asset_findings[p].append(
                _finding(
                    p,
                    "missing",
                    "is not in DEST (no identical bytes, no same photo)",
                    source=p,
                    kind=rec.kind,
                    companions=list(a.companions),
                    companions_in_dest=found_elsewhere,
                    captured_at=rec.metadata.captured_at,
                    size=rec.size,
                )
            )
            continue
        d = row["dest"]
        accounted.add(d)
        dst_rec = dst_by_path[d]
        dst_asset = dst_asset_of.get(d, Asset(d))
        row["dest_companions"] = dst_asset.companions
        accounted.update(dst_asset.companions)
        if d in gained and rec.blake3 == gained[d]["source_blake3"]:
            asset_findings[p].append(gained_finding(d, p, gained[d]))  # not a change: what arrived
        elif row["outcome"] != "present" or row["match"] != "identical":
            row["changes"] = _changes(rec, dst_rec)
        if rec.kind in ("image", "video"):
            # the assets' metadata, sidecars included: a value that moved from the file into a
            # sidecar is kept, a sidecar that held the only value and did not come along is lost
            src_meta = asset_metadata(rec, [src_by_path[c] for c in a.companions])
            dst_meta = asset_metadata(
                dst_rec, [dst_by_path[c] for c in dst_asset.companions if c in dst_by_path]
            )
            asset_findings[p].extend(
                compare_metadata(
                    replace(rec, metadata=src_meta), replace(dst_rec, metadata=dst_meta)
                )
            )
        if (
            row["outcome"] == "converted"
            and _altered_in_place(rec, dst_rec)
            and not asset_findings[p]
        ):
            # no metadata change explains the other bytes (a date shifted in place keeps the
            # size too, and is reported as what it is)
            asset_findings[p].append(
                _finding(
                    d,
                    "content-altered",
                    f"has the source's format and size ({rec.size} bytes) but other bytes: "
                    "damaged on the way, or edited in place (a conversion changes the size)",
                    source=p,
                    size=rec.size,
                    source_blake3=rec.blake3,
                    dest_blake3=dst_rec.blake3,
                )
            )
        asset_findings[p].extend(
            _companion_findings(a, dst_asset, src_by_path, dst_by_path, dst_file_by_hash, accounted)
        )

    tick(None)
    for p, f in broken_in_source(rows, src_by_path):  # broken before the move, not by it
        asset_findings[p].append(f)

    # 4. DEST assets nobody claimed.
    extra_rows: list[dict[str, Any]] = []
    unclaimed = [
        dst_by_path[a.primary]
        for a in dst_assets
        if a.primary not in claimed and a.primary not in accounted
    ]
    same_photo_of: dict[str, str] = {}
    if unclaimed:  # what an extra copy is a copy of, for the person who reads the report
        everyone = [r for p in rows if (r := src_by_path.get(p)) is not None and _usable(r)]
        for _, s, d, _how in _same_photo_pairs(everyone, unclaimed, threshold):
            same_photo_of.setdefault(d, s)
    for a in sorted(dst_assets, key=lambda a: a.primary):
        if a.primary in claimed or a.primary in accounted:
            continue
        r = dst_by_path[a.primary]
        evidence: dict[str, Any] = {
            "companions": list(a.companions),
            "kind": r.kind,
            "captured_at": r.metadata.captured_at,
        }
        twins = [q for q in dst_file_by_hash.get(r.blake3 or "", []) if q != a.primary]
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
        findings.append(_finding(a.primary, "extra", f"extra in DEST: {why}", **evidence))

    # 5. The ledger of `photoverify apply`, and the Apple export.
    ledger_summary = None
    if ledger is not None or ledger_path is not None:
        lf, ledger_summary = check_ledger(
            ledger,
            ledger_path or os.path.join(dest, LEDGER_JSON),
            dest=dest,
            dst_by_path=dst_by_path,
            src_by_path=src_by_path,
            sources=sources,
        )
        findings.extend(lf)
    apple: AppleCheck | None = None
    if apple_parts:
        apple = check_export(list(apple_parts), src_records, digests=apple_digests)
        findings.extend(apple.findings)

    # Several source copies may report the same loss on one DEST file: say it once.
    merged_findings: dict[tuple[str, str], Finding] = {}
    also: dict[tuple[str, str], list[str]] = defaultdict(list)
    for p in sorted(asset_findings):
        for f in asset_findings[p]:
            key = (f.path, f.outcome)
            if key in merged_findings:
                also[key].append(p)
            else:
                merged_findings[key] = f
    for key, extra_sources in also.items():
        f = merged_findings[key]
        merged_findings[key] = Finding(
            f.path,
            f.check,
            f.severity,
            f.outcome,
            f.message,
            {**f.evidence, "also_from": extra_sources},
        )
    findings = list(merged_findings.values()) + findings
    findings.sort(key=lambda f: (f.path, f.outcome))

    assets = []
    for p, row in sorted(rows.items()):
        apple_row = apple.rows_by_file.get(p) if apple else None
        assets.append(
            AssetRow(
                source=p,
                outcome=row["outcome"],
                companions=row["asset"].companions,
                dest=row.get("dest"),
                dest_companions=tuple(row.get("dest_companions", ())),
                via=row.get("via"),
                match=row.get("match"),
                changes=row.get("changes", {}),
                findings=tuple(sorted({f.outcome for f in asset_findings[p]})),
                apple=apple_row.to_json() if apple_row else None,
            )
        )
    counts: dict[str, int] = {o: 0 for o in ASSET_OUTCOMES}
    counts.update(Counter(a.outcome for a in assets))
    counts["extra"] = len(extra_rows)
    if apple is not None:
        for k, v in apple.counts.items():
            if k.startswith("apple-checksum"):
                counts[k] = v
    return AuditResult(
        sources=list(sources),
        dest=dest,
        findings=findings,
        counts=counts,
        assets=assets,
        extra=extra_rows,
        records={**src_by_path, **dst_by_path},
        threshold=threshold,
        ledger=ledger_summary,
        apple=apple.to_json() if apple else None,
    )


def _companion_findings(
    a: Asset,
    dst_asset: Asset,
    src_by_path: Mapping[str, FileRecord],
    dst_by_path: Mapping[str, FileRecord],
    dst_file_by_hash: Mapping[str, list[str]],
    accounted: set[str],
) -> list[Finding]:
    """The companions of a source asset that its DEST asset lacks."""
    out: list[Finding] = []
    dst_comp = [dst_by_path[c] for c in dst_asset.companions if c in dst_by_path]
    used: set[str] = set()
    for c in a.companions:
        cr = src_by_path[c]
        here = [d for d in dst_comp if d.blake3 == cr.blake3 and d.path not in used]
        if not here:  # another encoding of the motion, a rewritten sidecar: same kind and type
            here = [
                d
                for d in dst_comp
                if d.path not in used
                and d.kind == cr.kind
                and (cr.kind != "sidecar" or _ext(d.path) == _ext(cr.path))
            ]
        if here:
            used.add(here[0].path)
            continue
        elsewhere = dst_file_by_hash.get(cr.blake3 or "", []) if _usable(cr) else []
        if elsewhere:
            accounted.add(elsewhere[0])
            out.append(
                _finding(
                    dst_asset.primary,
                    "companion-detached",
                    f"{os.path.basename(c)} is in DEST, but not beside it: {elsewhere[0]}",
                    source=c,
                    found_at=elsewhere[0],
                )
            )
        elif cr.kind == "video":
            out.append(
                _finding(
                    dst_asset.primary,
                    "live-photo-motion-lost",
                    f"the still is here, its motion video {os.path.basename(c)} is not",
                    source=c,
                    source_primary=a.primary,
                    content_id=cr.metadata.content_id,
                )
            )
        elif cr.kind == "sidecar":
            out.append(
                _finding(
                    dst_asset.primary,
                    "sidecar-lost",
                    f"sidecar {os.path.basename(c)} did not come along",
                    source=c,
                    source_primary=a.primary,
                    format=cr.format,
                )
            )
        else:
            out.append(
                _finding(
                    dst_asset.primary,
                    "companion-lost",
                    f"companion {os.path.basename(c)} did not come along",
                    source=c,
                    source_primary=a.primary,
                    kind=cr.kind,
                )
            )
    return out


# ---------------------------------------------------------------------------- the ledger


def check_ledger(
    ledger: Mapping[str, Any] | None,
    ledger_path: str,
    *,
    dest: str,
    dst_by_path: Mapping[str, FileRecord],
    src_by_path: Mapping[str, FileRecord],
    sources: Sequence[str],
) -> tuple[list[Finding], dict[str, Any]]:
    """A ledger against DEST as scanned and the sources. Pure: DEST files are known by record."""
    out: list[Finding] = []
    summary: dict[str, Any] = {"path": ledger_path, "entries": 0, "verified": 0}
    if (
        not isinstance(ledger, Mapping)
        or ledger.get("format") != "photoverify-ledger"
        or not isinstance(ledger.get("entries"), list)
    ):
        out.append(
            _finding(
                ledger_path,
                "ledger-unreadable",
                "not a photoverify ledger (format or entries missing)",
            )
        )
        summary["error"] = "not a photoverify ledger"
        return out, summary
    entries = [e for e in ledger["entries"] if isinstance(e, dict)]
    summary["entries"] = len(entries)
    listed: set[str] = set()
    not_audited = 0
    for e in entries:
        source = e.get("source")
        if not isinstance(source, str):
            continue
        listed.add(source)
        if not under_any(source, sources):
            not_audited += 1
        fate = str(e.get("fate") or "")
        new_path, target = e.get("new_path"), e.get("target")
        ev = {"source": source, "fate": fate, "ledger": ledger_path}
        if fate.startswith("failed"):
            out.append(
                _finding(
                    source,
                    "ledger-entry-failed",
                    f"apply could not place it: {fate}",
                    **ev,
                    target=target,
                )
            )
            continue
        if fate == "skipped":
            out.append(
                _finding(
                    source,
                    "ledger-entry-skipped",
                    f"apply left it out: {e.get('reason') or 'no reason given'}",
                    **ev,
                    reason=e.get("reason"),
                )
            )
            continue
        if fate == "duplicate":
            if isinstance(target, str) and os.path.join(dest, target) not in dst_by_path:
                out.append(
                    _finding(
                        os.path.join(dest, target),
                        "ledger-duplicate-target-missing",
                        "the copy this duplicate was merged into is not in DEST",
                        **ev,
                        target=target,
                    )
                )
            continue
        if not isinstance(new_path, str):
            continue
        placed = os.path.join(dest, new_path)
        rec = dst_by_path.get(placed)
        if rec is None:
            out.append(
                _finding(
                    placed,
                    "ledger-target-missing",
                    f"the ledger says {os.path.basename(source)} was placed here; it is not there",
                    **ev,
                )
            )
        elif e.get("blake3") and rec.blake3 and rec.blake3 != e["blake3"]:
            out.append(
                _finding(
                    placed,
                    "ledger-target-changed",
                    "its bytes are not those the ledger recorded",
                    **ev,
                    expected=e["blake3"],
                    actual=rec.blake3,
                )
            )
        else:
            summary["verified"] += 1
    unlisted = sorted(
        p
        for p, r in src_by_path.items()
        if r.kind in ("image", "video", "sidecar") and p not in listed
    )
    for p in unlisted:
        out.append(
            _finding(
                p,
                "ledger-source-unlisted",
                "a source file the ledger does not mention (added after the plan, "
                "or outside its roots)",
                ledger=ledger_path,
            )
        )
    summary["not_audited"] = not_audited
    summary["unlisted"] = len(unlisted)
    return out, summary


# ---------------------------------------------------------------------------- I/O: the audit


def _records_under(catalog: Catalog, root: str) -> list[FileRecord]:
    if os.path.isdir(root):
        return catalog.records(under=[root])
    return catalog.records([root])


def read_ledger(dest: str) -> tuple[dict[str, Any] | None, str | None]:
    """(ledger, path) of DEST's photoverify-ledger.json; (None, path) when unreadable,
    (None, None) when there is none."""
    path = os.path.join(dest, LEDGER_JSON)
    if not os.path.exists(path):
        return None, None
    try:
        doc = read_json(path, UsageError, "ledger")
    except UsageError:
        return None, path
    return (doc if isinstance(doc, dict) else None), path


def audit_libraries(
    sources: list[str],
    dest: str,
    *,
    catalog: Catalog,
    threshold: int = DEFAULT_THRESHOLD,
    apple_checksum: bool = False,
    progress: Progress | None = None,
    match_progress: Progress | None = None,
) -> AuditResult:
    """Scan SOURCES and DEST into the catalog (every file read and hashed again; only files whose
    bytes still match the catalog keep its other facts) and account for every source asset in
    DEST. Raises UsageError for missing or overlapping folders. `progress` follows the scan (as
    dedupe.scan calls it), `match_progress` the matching (as audit_records calls it)."""
    started = time.perf_counter()
    if not sources:
        raise UsageError("audit needs at least one SOURCE")
    sources = [os.path.abspath(s) for s in sources]
    dest = os.path.abspath(dest)
    for p in (*sources, dest):
        if not os.path.exists(p):
            raise UsageError(f"{p}: no such file or folder")
    if not os.path.isdir(dest):
        raise UsageError(f"{dest}: DEST must be a folder")
    real_dest = os.path.realpath(dest)
    for s in sources:
        real = os.path.realpath(s)
        if under_any(real_dest, [real]) or under_any(real, [real_dest]):
            raise UsageError(f"{s}: overlaps DEST {dest}; audit two separate trees")
    # reread: "present" is a statement about bytes, so no cached digest stands in for a read
    scanned = scan([*sources, dest], catalog, progress=progress, reread=True)
    # DEST is a copy: commands given no ROOTs answer about the library, not about DEST too
    catalog.mark_roots([dest], "copy")
    src_records: dict[str, FileRecord] = {}
    for s in sources:
        for r in _records_under(catalog, s):
            src_records[r.path] = r
    # apply's own report files at the root of DEST are not part of the library.
    reports = {os.path.join(dest, name) for name in (LEDGER_JSON, LEDGER_CSV, MANIFEST)}
    dst_records = [r for r in _records_under(catalog, dest) if r.path not in reports]
    ledger, ledger_path = read_ledger(dest)
    csvs = sorted(p for p, r in src_records.items() if is_photo_details(p))
    parts = [read_photo_details(p) for p in csvs]
    digests = None
    if apple_checksum and parts:
        folders = {os.path.dirname(p) for p in csvs}
        digests = checksum_digests(
            p
            for p, r in src_records.items()
            if r.kind in ("image", "video") and os.path.dirname(p) in folders
        )
    result = audit_records(
        list(src_records.values()),
        dst_records,
        sources=sources,
        dest=dest,
        threshold=threshold,
        ledger=ledger,
        ledger_path=ledger_path,
        apple_parts=parts,
        apple_digests=digests,
        unreadable={
            e["path"].rstrip("/"): e["error"]
            for e in scanned.errors
            if under_any(e["path"].rstrip("/"), sources) and e["path"] not in src_records
        },
        progress=match_progress,
    )
    result.seconds = time.perf_counter() - started
    return result

"""Each source asset against what arrived in DEST, once the matching has decided its outcome:
why an unreadable or missing asset is lost, and for an asset in DEST how its bytes changed
(`changes`), what its metadata lost (verify.audit.metadata), bytes altered in place
(`content-altered`), and its companions (Live Photo motion, sidecars, RAW+JPEG partner) that did
not come along or came apart. Pure over records."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from photoverify.dedupe.core.findings import Finding
from photoverify.dedupe.core.records import Asset, FileRecord
from photoverify.dedupe.core.ticker import ticker
from photoverify.dedupe.match.companions import asset_metadata
from photoverify.verify.audit.gained import gained_finding
from photoverify.verify.audit.matching import Row, Sides, usable
from photoverify.verify.audit.metadata import compare_metadata
from photoverify.verify.audit.outcomes import finding

Progress = Callable[[int, int, int, int], None]


def compare_assets(
    rows: Mapping[str, Row],
    sides: Sides,
    gained: Mapping[str, Mapping[str, Any]],
    progress: Progress | None = None,
) -> tuple[dict[str, list[Finding]], set[str]]:
    """The findings of each source asset (source primary -> findings), and the DEST files some
    source file maps to (`accounted`). Fills in each accounted-for row's `dest_companions` and
    `changes`. `progress` (assets done, assets, their bytes done, bytes) follows the assets."""
    src_by_path = sides.src_by_path
    asset_findings: dict[str, list[Finding]] = defaultdict(list)
    accounted: set[str] = set()
    tick = ticker({p: r.size if (r := src_by_path.get(p)) else 0 for p in rows}, progress)
    for p, row in sorted(rows.items()):
        tick(p)
        rec = src_by_path.get(p)
        if row["outcome"] == "unreadable":
            why = row.get("error") or (rec.error if rec is not None else None) or "no hash"
            asset_findings[p].append(
                finding(p, "unreadable", f"could not be read: {why}", source=p)
            )
        elif row["outcome"] == "missing":
            asset_findings[p].append(_missing(row["asset"], sides, accounted))
        else:
            asset_findings[p].extend(_arrived(row, sides, gained, accounted))
    tick(None)
    return asset_findings, accounted


def _missing(a: Asset, sides: Sides, accounted: set[str]) -> Finding:
    """A source asset not in DEST; its companions that are there anyway count as accounted."""
    rec = sides.src_by_path[a.primary]
    found_elsewhere = {}
    for c in a.companions:
        cr = sides.src_by_path[c]
        where = sides.dst_file_by_hash.get(cr.blake3 or "", []) if usable(cr) else []
        if where:
            found_elsewhere[c] = where[0]
            accounted.add(where[0])
    return finding(
        a.primary,
        "missing",
        "is not in DEST (no identical bytes, no same photo)",
        source=a.primary,
        kind=rec.kind,
        companions=list(a.companions),
        companions_in_dest=found_elsewhere,
        captured_at=rec.metadata.captured_at,
        size=rec.size,
    )


def _arrived(
    row: Row, sides: Sides, gained: Mapping[str, Mapping[str, Any]], accounted: set[str]
) -> list[Finding]:
    """A source asset (present, converted or merged) against its DEST asset."""
    a: Asset = row["asset"]
    p = a.primary
    rec = sides.src_by_path[p]
    d = row["dest"]
    accounted.add(d)
    dst_rec = sides.dst_by_path[d]
    dst_asset = sides.dst_asset_of.get(d, Asset(d))
    row["dest_companions"] = dst_asset.companions
    accounted.update(dst_asset.companions)
    out: list[Finding] = []
    if d in gained and rec.blake3 == gained[d]["source_blake3"]:
        out.append(gained_finding(d, p, gained[d]))  # not a change: what arrived
    elif row["outcome"] != "present" or row["match"] != "identical":
        row["changes"] = _changes(rec, dst_rec)
    if rec.kind in ("image", "video"):
        # the assets' metadata, sidecars included: a value that moved from the file into a
        # sidecar is kept, a sidecar that held the only value and did not come along is lost
        src_meta = asset_metadata(rec, [sides.src_by_path[c] for c in a.companions])
        dst_meta = asset_metadata(
            dst_rec, [sides.dst_by_path[c] for c in dst_asset.companions if c in sides.dst_by_path]
        )
        out.extend(
            compare_metadata(replace(rec, metadata=src_meta), replace(dst_rec, metadata=dst_meta))
        )
    if row["outcome"] == "converted" and _altered_in_place(rec, dst_rec) and not out:
        # no metadata change explains the other bytes (a date shifted in place keeps the
        # size too, and is reported as what it is)
        out.append(
            finding(
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
    out.extend(_companion_findings(a, dst_asset, sides, accounted))
    return out


def _companion_findings(
    a: Asset, dst_asset: Asset, sides: Sides, accounted: set[str]
) -> list[Finding]:
    """The companions of a source asset that its DEST asset lacks."""
    src_by_path, dst_by_path = sides.src_by_path, sides.dst_by_path
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
        elsewhere = sides.dst_file_by_hash.get(cr.blake3 or "", []) if usable(cr) else []
        if elsewhere:
            accounted.add(elsewhere[0])
            out.append(
                finding(
                    dst_asset.primary,
                    "companion-detached",
                    f"{os.path.basename(c)} is in DEST, but not beside it: {elsewhere[0]}",
                    source=c,
                    found_at=elsewhere[0],
                )
            )
        elif cr.kind == "video":
            out.append(
                finding(
                    dst_asset.primary,
                    "live-photo-motion-lost",
                    f"the still is here, its motion video {os.path.basename(c)} is not",
                    source=c,
                    source_primary=a.primary,
                    content_id=cr.metadata.content_id,
                )
            )
        else:  # a sidecar (which has a format), or another companion (which has a kind)
            what = "sidecar" if cr.kind == "sidecar" else "companion"
            out.append(
                finding(
                    dst_asset.primary,
                    f"{what}-lost",
                    f"{what} {os.path.basename(c)} did not come along",
                    source=c,
                    source_primary=a.primary,
                    **({"format": cr.format} if what == "sidecar" else {"kind": cr.kind}),
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

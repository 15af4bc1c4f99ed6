"""Did the migration lose anything? Every source asset accounted for in DEST.

`audit_libraries(sources, dest, catalog=...)` scans both sides into the catalog, then
`audit_records` (pure) matches every source asset (a primary file with its Live Photo motion,
sidecars and RAW+JPEG partner, see dedupe.companions) to DEST:

  present    the primary's bytes are in DEST (same BLAKE3), kept by this asset
  converted  no identical bytes, but the same photo (dedupe.match.judge.judge says `same-photo`) in
             another encoding, size or metadata state; or, for a video, the same Apple
             ContentIdentifier or the same capture instant and duration
  merged     the photo is in DEST only as a copy that another source asset already accounts for
             (the source held two copies of it, DEST keeps one): each DEST asset is claimed by at
             most one source asset, and the rest that match it are merged into it
  missing    none of the above
  extra      (DEST side) a DEST asset that no source asset claims

`audit_records` runs the audit's phases, each in its own module: the matching (identical bytes,
then the same photo or recording, then what is extra in DEST: verify.audit.matching; sub-quadratic,
through a BLAKE3 index and `near_groups` over the pHashes of both sides), then each asset against
what arrived (verify.audit.comparison), whose metadata losses (the primary file's, with a capture
time or GPS it lacks taken from its XMP or Takeout JSON sidecar: dedupe.companions.asset_metadata)
come from verify.audit.metadata. Losses become Findings with check "audit"; the outcomes and
severities are listed in verify.audit.outcomes and docs/audit.md. When DEST holds
`photoverify-ledger.json` (written by `photoverify apply`) it is checked against DEST and the
sources (verify.audit.ledger), and `Photo Details*.csv` files of an Apple privacy export among the
sources are checked by verify.checks.apple.
"""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from photoverify.dedupe.catalog.apple_csv import ApplePart, is_photo_details, read_photo_details
from photoverify.dedupe.catalog.scan import scan
from photoverify.dedupe.catalog.store import Catalog
from photoverify.dedupe.core.errors import UsageError
from photoverify.dedupe.core.findings import Finding, Verdict
from photoverify.dedupe.core.paths import under_any
from photoverify.dedupe.core.records import Asset, FileRecord
from photoverify.dedupe.match.judge import DEFAULT_THRESHOLD
from photoverify.dedupe.move.plan import LEDGER_CSV, LEDGER_JSON, MANIFEST
from photoverify.verify.audit.comparison import Progress, compare_assets
from photoverify.verify.audit.gained import merged_copies
from photoverify.verify.audit.ledger import check_ledger, ledger_hints, read_ledger
from photoverify.verify.audit.matching import (
    Row,
    Sides,
    claim_identical,
    claim_same_photo,
    extra_in_dest,
    index_sides,
    usable,
)
from photoverify.verify.audit.outcomes import ASSET_OUTCOMES
from photoverify.verify.audit.source_damage import broken_in_source
from photoverify.verify.checks.apple import AppleCheck, check_export, checksum_digests

SCHEMA = "photoverify.audit/1"


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
    sides = index_sides(src_records, dst_records, dest=dest, threshold=threshold)
    gained = merged_copies(ledger, dest, sides.dst_by_path)
    rows = source_rows(src_records, sides, dict(unreadable or {}))
    claimed = claim_identical(rows, sides, ledger_hints(ledger, dest), gained)
    claim_same_photo(rows, sides, claimed)
    for row in rows.values():
        if row["outcome"] is None:
            row["outcome"] = "missing"
    asset_findings, accounted = compare_assets(rows, sides, gained, progress)
    for p, f in broken_in_source(rows, sides.src_by_path):  # broken before the move, not by it
        asset_findings[p].append(f)
    extra_rows, findings = extra_in_dest(rows, sides, claimed, accounted)

    ledger_summary = None
    if ledger is not None or ledger_path is not None:
        lf, ledger_summary = check_ledger(
            ledger,
            ledger_path or os.path.join(dest, LEDGER_JSON),
            dest=dest,
            dst_by_path=sides.dst_by_path,
            src_by_path=sides.src_by_path,
            sources=sources,
        )
        findings.extend(lf)
    apple: AppleCheck | None = None
    if apple_parts:
        apple = check_export(list(apple_parts), src_records, digests=apple_digests)
        findings.extend(apple.findings)
    findings = _said_once(asset_findings) + findings
    findings.sort(key=lambda f: (f.path, f.outcome))
    assets = _asset_rows(rows, asset_findings, apple)
    return AuditResult(
        sources=list(sources),
        dest=dest,
        findings=findings,
        counts=_counts(assets, extra_rows, apple),
        assets=assets,
        extra=extra_rows,
        records={**sides.src_by_path, **sides.dst_by_path},
        threshold=threshold,
        ledger=ledger_summary,
        apple=apple.to_json() if apple else None,
    )


def source_rows(
    src_records: Sequence[FileRecord], sides: Sides, unreadable: Mapping[str, str]
) -> dict[str, Row]:
    """A row for every source asset, undecided (outcome None) unless it could not be read: its
    primary carries a read error, it lies under a folder that could not be listed (`unreadable`:
    path -> why), or it is such a folder itself."""
    src_by_path = sides.src_by_path
    rows: dict[str, Row] = {}  # source primary -> row fields
    closed = [p for p in unreadable if p not in src_by_path]  # folders that could not be listed
    for a in sorted(sides.src_assets, key=lambda a: a.primary):
        rec = src_by_path[a.primary]
        # a record under an unlistable folder is the catalog's memory, not what is there now
        stale = under_any(a.primary, closed)
        outcome = "unreadable" if stale or not usable(rec) else None
        rows[a.primary] = {"asset": a, "outcome": outcome}
        if stale:
            rows[a.primary]["error"] = "its folder could not be listed"
    # A file that could not be read has no kind, so it is in no asset; a folder that could not be
    # listed has no records at all. Each still gets its row.
    in_assets = {p for a in sides.src_assets for p in (a.primary, *a.companions)}
    for r in src_records:
        if r.error is not None and r.path not in in_assets:
            rows[r.path] = {"asset": Asset(r.path), "outcome": "unreadable", "error": r.error}
    for path in closed:
        rows.setdefault(path, {"asset": Asset(path), "outcome": "unreadable"})
        rows[path]["error"] = unreadable[path]
    return rows


def _said_once(asset_findings: Mapping[str, list[Finding]]) -> list[Finding]:
    """Several source copies may report the same loss on one DEST file: say it once, naming
    the other sources under `also_from`."""
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
    return list(merged_findings.values())


def _asset_rows(
    rows: Mapping[str, Row],
    asset_findings: Mapping[str, list[Finding]],
    apple: AppleCheck | None,
) -> list[AssetRow]:
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
                findings=tuple(sorted({f.outcome for f in asset_findings.get(p, ())})),
                apple=apple_row.to_json() if apple_row else None,
            )
        )
    return assets


def _counts(
    assets: Sequence[AssetRow], extra_rows: Sequence[dict[str, Any]], apple: AppleCheck | None
) -> dict[str, int]:
    counts: dict[str, int] = {o: 0 for o in ASSET_OUTCOMES}
    counts.update(Counter(a.outcome for a in assets))
    counts["extra"] = len(extra_rows)
    if apple is not None:
        for k, v in apple.counts.items():
            if k.startswith("apple-checksum"):
                counts[k] = v
    return counts


# ---------------------------------------------------------------------------- I/O: the audit


def _records_under(catalog: Catalog, root: str) -> list[FileRecord]:
    if os.path.isdir(root):
        return catalog.records(under=[root])
    return catalog.records([root])


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
    parts, digests = _read_apple_export(src_records, apple_checksum)
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


def _read_apple_export(
    src_records: Mapping[str, FileRecord], checksum: bool
) -> tuple[list[ApplePart], dict[str, dict[str, str]] | None]:
    """The Photo Details CSVs among the sources, read; with `checksum`, the digests of the media
    files in their folders (for the fileChecksum check)."""
    csvs = sorted(p for p in src_records if is_photo_details(p))
    parts = [read_photo_details(p) for p in csvs]
    if not (checksum and parts):
        return parts, None
    folders = {os.path.dirname(p) for p in csvs}
    return parts, checksum_digests(
        p
        for p, r in src_records.items()
        if r.kind in ("image", "video") and os.path.dirname(p) in folders
    )

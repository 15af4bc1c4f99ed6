"""Reports for people: the pure model the HTML page, the terminal summary and the JSON share.

`build_report` is pure: findings (and optionally duplicate clusters and catalog records) in, a
`ReportModel` out, with the verdict in one sentence (`verdict`). The renderers are the only I/O:
`render_html` (verify.report.html) writes one self-contained HTML file, `render_terminal`
(verify.report.terminal) prints a rich summary.

The JSON form (`ReportModel.to_json`) is documented in docs/report-schema.md.
"""

from __future__ import annotations

import json
import mimetypes
import os
import posixpath
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from photoverify.dedupe.core.display import display_text
from photoverify.dedupe.core.findings import Finding
from photoverify.verify.report.outcome_text import LISTED, plain, tone

if TYPE_CHECKING:  # the records' dataclasses (~8 ms to import): a verify summary needs none
    from photoverify.dedupe.core.records import Cluster, DupesResult, FileRecord

SCHEMA = "photoverify.report/2"

# Sections in the order a person reads them; the first rule that matches a finding wins.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("missing", "Missing assets", "Files the original had that the copy does not."),
    (
        "metadata",
        "Metadata losses",
        "Files that arrived, but lost their capture time, place, camera or other metadata.",
    ),
    ("failed", "Failed checks", "Files that changed, do not decode, or could not be read."),
    ("notes", "Worth a look", "Moves, new files and extra copies: not losses, but changes."),
    (
        "listed",
        "Listed, not problems",
        "Duplicates merged into the copy that was kept, files that are not photos, and files "
        "nothing here could check: neither a loss nor a proof that all is well.",
    ),
)
SECTION_IDS = tuple(s[0] for s in SECTIONS)
PROBLEM_SECTIONS = ("missing", "metadata", "failed", "notes")
BROKEN = "broken-in-source"  # verify.source_damage: flagged, and said to be no migration loss
SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}


VIDEO_EXTENSIONS = frozenset({".mov", ".mp4", ".m4v", ".3gp", ".avi", ".mkv", ".mts", ".m2ts"})
_SIDECAR_EXTENSIONS = frozenset({".xmp", ".aae", ".json"})
_HEX_DIGEST = re.compile(r"^[0-9a-fA-F]{24,}$")
_YEAR = re.compile(r"^(\d{4})")


# ------------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Row:
    """One finding as the report shows it."""

    path: str
    name: str
    folder: str
    check: str
    severity: str
    outcome: str
    message: str
    evidence: dict[str, Any]
    kind: str  # image | video | sidecar | other (from the catalog record, else the name)
    year: str  # year of capture, or "unknown"
    file: str | None = None  # the file on disk to preview (the catalog record's absolute path)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "name": self.name,
            "folder": self.folder,
            "check": self.check,
            "severity": self.severity,
            "outcome": self.outcome,
            "message": self.message,
            "evidence": self.evidence,
            "kind": self.kind,
            "year": self.year,
        }


@dataclass(frozen=True)
class Group:
    """The rows of one section that share an outcome."""

    outcome: str
    severity: str
    rows: tuple[Row, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "severity": self.severity,
            "count": len(self.rows),
            "rows": [r.to_json() for r in self.rows],
        }


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    blurb: str
    groups: tuple[Group, ...]

    @property
    def total(self) -> int:
        return sum(len(g.rows) for g in self.groups)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "total": self.total,
            "groups": [g.to_json() for g in self.groups],
        }


@dataclass(frozen=True)
class Bar:
    label: str
    parts: tuple[tuple[str, int], ...]  # (section id, count), in SECTIONS order, zeros left out

    @property
    def total(self) -> int:
        return sum(n for _, n in self.parts)

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "total": self.total, "parts": dict(self.parts)}


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    bars: tuple[Bar, ...]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "bars": [b.to_json() for b in self.bars]}


@dataclass(frozen=True)
class MemberView:
    path: str
    name: str
    folder: str
    relation: str  # "keeper", "identical" or "same-photo"
    distance: int | None
    size: int | None
    width: int | None
    height: int | None
    format: str | None
    captured_at: str | None
    place: str = ""  # the folder as shown in the cluster: without the members' common prefix

    @property
    def is_keeper(self) -> bool:
        return self.relation == "keeper"

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "name": self.name,
            "folder": self.folder,
            "relation": self.relation,
            "keeper": self.is_keeper,
            "distance": self.distance,
            "size": self.size,
            "width": self.width,
            "height": self.height,
            "format": self.format,
            "captured_at": self.captured_at,
        }


@dataclass(frozen=True)
class ClusterView:
    id: str
    kind: str
    keeper: str
    reason: str
    members: tuple[MemberView, ...]  # the keeper first

    @property
    def redundant_bytes(self) -> int:
        return sum(m.size or 0 for m in self.members if not m.is_keeper)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "keeper": self.keeper,
            "reason": self.reason,
            "redundant_bytes": self.redundant_bytes,
            "members": [m.to_json() for m in self.members],
        }


@dataclass(frozen=True)
class RelatedView:
    a: str
    b: str
    kind: str
    evidence: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "kind": self.kind, "evidence": self.evidence}


@dataclass(frozen=True)
class ReportModel:
    title: str
    generated: str  # ISO 8601 UTC
    summary_counts: dict[str, int]  # outcome -> number of files
    severity_of: dict[str, str]  # outcome -> error | warning | info
    sections: tuple[Section, ...]
    charts: tuple[Chart, ...]
    clusters: tuple[ClusterView, ...] = ()
    related: tuple[RelatedView, ...] = ()
    has_dupes: bool = False
    files: int | None = None  # catalog records the report was given
    findings: int = 0

    @property
    def checked(self) -> bool:
        """Whether the report holds the results of a check (verify, audit): a page of
        duplicates alone says nothing about losses, so it shows no verdict about them."""
        return bool(self.findings or self.summary_counts)

    @property
    def problems(self) -> int:
        return sum(s.total for s in self.sections if s.id in PROBLEM_SECTIONS)

    @property
    def problem_files(self) -> int:
        """Files the problems are about (one file may have several)."""
        return len(
            {
                r.path
                for s in self.sections
                if s.id in PROBLEM_SECTIONS
                for g in s.groups
                for r in g.rows
            }
        )

    @property
    def redundant_files(self) -> int:
        return sum(len(c.members) - 1 for c in self.clusters)

    @property
    def redundant_bytes(self) -> int:
        return sum(c.redundant_bytes for c in self.clusters)

    def section(self, section_id: str) -> Section:
        return next(s for s in self.sections if s.id == section_id)

    def to_json(self) -> dict[str, Any]:
        dupes = None
        if self.has_dupes:
            dupes = {
                "clusters": [c.to_json() for c in self.clusters],
                "related": [r.to_json() for r in self.related],
                "redundant_files": self.redundant_files,
                "redundant_bytes": self.redundant_bytes,
            }
        return {
            "schema": SCHEMA,
            "title": self.title,
            "generated": self.generated,
            "findings": self.findings,
            "files": self.files,
            "problems": self.problems,
            "summary_counts": dict(self.summary_counts),
            "severity_of": dict(self.severity_of),
            "tone_of": {o: tone(o, sev) for o, sev in self.severity_of.items()},
            "plain": {o: plain(o) for o in self.summary_counts},
            "sections": [s.to_json() for s in self.sections],
            "charts": [c.to_json() for c in self.charts],
            "duplicates": dupes,
        }


# ---------------------------------------------------------------------------- pure decisions


def section_of(finding: Finding) -> str | None:
    """Which section lists a finding; None for findings that are only counted (severity info)."""
    if finding.outcome in LISTED and finding.severity == "info":
        return "listed"
    if finding.severity == "info":
        return None
    outcome = finding.outcome
    if outcome == "missing" or outcome.startswith("missing-") or outcome.endswith("-missing"):
        return "missing"
    if (
        outcome.endswith("-lost")
        or "metadata" in outcome
        or finding.check == "expect"
        or outcome.startswith(("capture-time-", "gps-", "apple-capture-time-"))
    ):
        return "metadata"
    if finding.severity == "error":
        return "failed"
    return "notes"


def guess_kind(path: str) -> str:
    """The kind of a file known only by name (a missing file has no record to ask)."""
    ext = posixpath.splitext(path)[1].lower()
    if ext in _SIDECAR_EXTENSIONS:
        return "sidecar"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    mime = mimetypes.guess_type("x" + ext)[0] or ""
    if mime.startswith("image/") or ext in (".heic", ".heif", ".avif", ".jxl", ".dng"):
        return "image"
    if mime.startswith("video/"):
        return "video"
    return "other"


def year_of(captured_at: object) -> str:
    if isinstance(captured_at, str):
        m = _YEAR.match(captured_at)
        if m and m.group(1) != "0000":
            return m.group(1)
    return "unknown"


def split_path(path: str) -> tuple[str, str]:
    """(file name, folder) of a path written with either separator."""
    norm = path.replace("\\", "/") if "/" not in path else path
    folder, _, name = norm.rstrip("/").rpartition("/")
    return name or norm, folder


def strip_path_prefix(message: str, path: str) -> str:
    """Checks start messages with the path for logs; the report shows the path beside it."""
    for prefix in (f"{path}: ", f"{path} "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def _rounded(value: Any) -> Any:
    """Floats to 8 significant digits (a GPS coordinate to about a metre), at any depth."""
    if isinstance(value, float):
        return float(f"{value:.8g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


def _short(value: Any, limit: int = 90) -> str:
    if isinstance(value, str) and _HEX_DIGEST.match(value):
        return value[:12] + "…"
    if isinstance(value, float):
        text = f"{_rounded(value)}"
    elif isinstance(value, (dict, list, tuple)):
        text = json.dumps(_rounded(value), ensure_ascii=False, default=str, separators=(", ", ": "))
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def key_evidence(evidence: Mapping[str, Any], limit: int = 6) -> list[tuple[str, str]]:
    """The evidence worth a glance, shortened: digests cut to 12 characters, empty values and
    the algorithm name (shown once per digest would be noise) left out."""
    out: list[tuple[str, str]] = []
    for key, value in evidence.items():
        if value is None or value == "" or value == [] or value == {} or key == "algorithm":
            continue
        out.append((display_text(str(key)), display_text(_short(value))))
        if len(out) == limit:
            break
    return out


def _row(f: Finding, section: str, records: Mapping[str, FileRecord]) -> Row:
    rec = records.get(f.path)
    name, folder = split_path(f.path)
    if rec is not None:
        kind, year = rec.kind, year_of(rec.metadata.captured_at)
    else:
        kind, year = guess_kind(f.path), "unknown"
    if year == "unknown":
        year = year_of(f.evidence.get("captured_at") or f.evidence.get("expected_captured_at"))
    file = rec.path if rec is not None else (f.path if os.path.isabs(f.path) else None)
    return Row(
        path=f.path,
        name=name,
        folder=folder,
        check=f.check,
        severity=f.severity,
        outcome=f.outcome,
        message=strip_path_prefix(f.message, f.path),
        evidence=dict(f.evidence),
        kind=kind,
        year=year,
        file=file if section != "missing" else None,
    )


def _worst(severities: Iterable[str]) -> str:
    return min(severities, key=lambda s: SEVERITY_RANK.get(s, 3), default="info")


def _chart(chart_id: str, title: str, rows_by_section: Mapping[str, list[Row]], attr: str) -> Chart:
    counts: dict[str, Counter] = defaultdict(Counter)
    for sid, rows in rows_by_section.items():
        for r in rows:
            counts[getattr(r, attr)][sid] += 1
    labels = sorted(counts)
    if attr == "year":  # chronological, unknown last
        labels.sort(key=lambda y: (y == "unknown", y))
    else:  # biggest first
        labels.sort(key=lambda k: -sum(counts[k].values()))
    bars = tuple(
        Bar(label, tuple((sid, counts[label][sid]) for sid in SECTION_IDS if counts[label][sid]))
        for label in labels
    )
    return Chart(chart_id, title, bars)


def short_folders(folders: Sequence[str]) -> list[str]:
    """Folders without their common prefix ("…/Imports" and "…/2015/02", not two absolute
    paths that wrap over five lines); a folder that is all prefix keeps its last part."""
    if len(folders) < 2:
        return [f.rsplit("/", 1)[-1] for f in folders]
    parts = [f.split("/") for f in folders]
    common = 0
    while all(len(p) > common and p[common] == parts[0][common] for p in parts):
        common += 1
    shown = []
    for p in parts:
        rest = p[common:] or p[-1:]
        prefix = "…/" if p[: len(p) - len(rest)] not in ([], [""]) else ""
        shown.append(prefix + "/".join(rest))
    return shown


def _member(m, records: Mapping[str, FileRecord], place: str = "") -> MemberView:
    rec = records.get(m.path)
    name, folder = split_path(m.path)
    return MemberView(
        path=m.path,
        name=name,
        folder=folder,
        relation=m.relation,
        distance=m.distance,
        size=rec.size if rec else None,
        width=rec.width if rec else None,
        height=rec.height if rec else None,
        format=rec.format if rec else None,
        captured_at=rec.metadata.captured_at if rec else None,
        place=place,
    )


def _cluster(c: Cluster, records: Mapping[str, FileRecord]) -> ClusterView:
    members = sorted(c.members, key=lambda m: (m.relation != "keeper", m.path != c.keeper, m.path))
    places = short_folders([split_path(m.path)[1] for m in members])
    views = tuple(_member(m, records, place) for m, place in zip(members, places, strict=True))
    return ClusterView(c.id, c.kind, c.keeper, c.reason, views)


def build_report(
    findings: Sequence[Finding],
    *,
    counts: Mapping[str, int] | None = None,
    dupes: DupesResult | None = None,
    records: Mapping[str, FileRecord] | None = None,
    title: str = "photoverify report",
    generated: str | None = None,
    severity_overrides: Mapping[str, str] | None = None,
) -> ReportModel:
    """The report model of findings (and duplicates). Pure but for the clock when `generated`
    is not given.

    `counts` (outcome -> number) overrides the counts taken from `findings` outcome by outcome:
    a check may pass its full tallies and only the findings worth listing. `records` is keyed by
    the paths the findings and clusters use; it gives kinds, capture years and sizes.
    `severity_overrides` (outcome -> severity) colours outcomes that are counted, not found (the
    audit's `converted` takes the worst loss among its assets).
    """
    records = records or {}
    summary = Counter(f.outcome for f in findings)
    if counts:
        summary.update({k: 0 for k in counts})
        for k, v in counts.items():
            summary[k] = int(v)
    severity_of = _severity_of(findings, summary, severity_overrides or {})
    # Problems first (errors, then warnings), biggest first; then what passed; zeros last.
    ordered = sorted(
        summary,
        key=lambda o: (not summary[o], SEVERITY_RANK.get(severity_of[o], 3), -summary[o], o),
    )
    rows_by_section: dict[str, list[Row]] = {sid: [] for sid in SECTION_IDS}
    for f in findings:
        sid = section_of(f)
        if sid is not None:
            rows_by_section[sid].append(_row(f, sid, records))
    problem_rows = {sid: rows_by_section[sid] for sid in PROBLEM_SECTIONS}
    clusters, related = _dupes_views(dupes, records)
    return ReportModel(
        title=title,
        generated=generated or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        summary_counts={o: summary[o] for o in ordered},
        severity_of=severity_of,
        sections=_sections(rows_by_section),
        charts=(
            _chart("by-kind", "Problems by kind of file", problem_rows, "kind"),
            _chart("by-year", "Problems by year taken", problem_rows, "year"),
        ),
        clusters=clusters,
        related=related,
        has_dupes=dupes is not None,
        files=len({r.path for r in records.values()}) if records else None,
        findings=len(findings),
    )


def _severity_of(
    findings: Sequence[Finding], summary: Mapping[str, int], overrides: Mapping[str, str]
) -> dict[str, str]:
    """Each counted outcome's severity: the worst of its findings; for an outcome only counted,
    fixity's table, else info; `overrides` win for the outcomes counted."""
    severities: dict[str, set[str]] = defaultdict(set)
    for f in findings:
        severities[f.outcome].add(f.severity)
    try:  # fixity's table covers outcomes passed in `counts` with no finding behind them
        from photoverify.verify.manifest.fixity import SEVERITY as fixity_severity
    except ImportError:  # pragma: no cover - fixity is part of the package
        fixity_severity = {}
    severity_of = {
        o: _worst(severities[o]) if severities.get(o) else fixity_severity.get(o, "info")
        for o in summary
    }
    severity_of.update({o: sev for o, sev in overrides.items() if o in summary})
    return severity_of


def _sections(rows_by_section: Mapping[str, list[Row]]) -> tuple[Section, ...]:
    """The sections in reading order, each with its rows grouped by outcome: worst group first,
    then the biggest; rows by folder, name and check."""
    sections = []
    for sid, title, blurb in SECTIONS:
        by_outcome: dict[str, list[Row]] = defaultdict(list)
        for r in rows_by_section[sid]:
            by_outcome[r.outcome].append(r)
        groups = []
        for outcome, rows in by_outcome.items():
            rows.sort(key=lambda r: (r.folder, r.name, r.check))
            groups.append(Group(outcome, _worst(r.severity for r in rows), tuple(rows)))
        groups.sort(key=lambda g: (SEVERITY_RANK.get(g.severity, 3), -len(g.rows), g.outcome))
        sections.append(Section(sid, title, blurb, tuple(groups)))
    return tuple(sections)


def _dupes_views(
    dupes: DupesResult | None, records: Mapping[str, FileRecord]
) -> tuple[tuple[ClusterView, ...], tuple[RelatedView, ...]]:
    """The clusters as the report shows them, biggest savings first (that is where a person's
    attention pays), and the related pairs never merged."""
    if dupes is None:
        return (), ()
    views = [_cluster(c, records) for c in dupes.clusters]
    views.sort(key=lambda c: (-len(c.members), -c.redundant_bytes, c.id))
    related = tuple(RelatedView(r.a, r.b, r.kind, dict(r.evidence)) for r in dupes.related)
    return tuple(views), related


def render_terminal(model: ReportModel, console, **options: Any) -> None:
    """The model on a terminal: see verify.report_terminal, where this rendering lives."""
    from photoverify.verify.report.terminal import render_terminal as render

    render(model, console, **options)

"""Reports for people: one self-contained HTML file, a terminal summary, and a JSON model.

`build_report` is pure: findings (and optionally duplicate clusters and catalog records) in, a
`ReportModel` out. The renderers are the only I/O: `render_html` writes one HTML file with inline
CSS, inline SVG charts, a few lines of inline JavaScript and thumbnails as JPEG data URIs, and
nothing that loads from anywhere else; `render_terminal` prints a rich summary.

Large reports stay quick to open: each group shows its first `ROWS_INLINE` rows as HTML and keeps
the rest as inline JSON that a small script turns into rows `ROWS_PER_PAGE` at a time on request,
so the browser parses a few hundred table rows whatever the number of findings. Thumbnail work is
bounded by `max_thumbnails` (the first clusters, then the first metadata-loss rows) and runs in
a process pool.

The JSON form (`ReportModel.to_json`) is documented in docs/report-schema.md.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import mimetypes
import os
import posixpath
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photoverify.dedupe.core.errors import UsageError
from photoverify.dedupe.core.jsonio import read_json
from photoverify.dedupe.core.outfile import write_output
from photoverify.dedupe.core.records import Cluster, DupesResult, FileRecord, Finding
from photoverify.render import display_text
from photoverify.verify.report.outcome_text import LISTED, plain, tone

if TYPE_CHECKING:
    import jinja2

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

ROWS_INLINE = 200  # rows of each group rendered as HTML; the rest wait in inline JSON
ROWS_PER_PAGE = 1000  # rows the "show more" button adds at a time
CLUSTERS_INLINE = 100  # cluster cards rendered as HTML; the rest wait in inline JSON
MEMBERS_SHOWN = 8  # members of one cluster that get a tile (and maybe a thumbnail)
MAX_THUMBNAILS = 400
THUMB_BOX = 160
THUMB_QUALITY = 70
THUMB_TIMEOUT_S = 120.0  # for all thumbnails together; the rest get placeholders

_VIDEO_EXTENSIONS = frozenset({".mov", ".mp4", ".m4v", ".3gp", ".avi", ".mkv", ".mts", ".m2ts"})
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
    if ext in _VIDEO_EXTENSIONS:
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


_FINDING_TEXT = ("path", "check", "severity", "outcome", "message")


def read_verify_json(path: str | os.PathLike) -> tuple[list[Finding], dict[str, int] | None]:
    """(findings, counts) from the JSON of `verify --json` / `audit --json` (for `report
    --verify`); anything else is a UsageError naming the file and what is wrong. Fields a
    finding does not have are ignored, so a newer version's output still reads."""
    where = os.fspath(path)
    doc = read_json(path, UsageError, "verify output")
    if not isinstance(doc, dict):
        raise UsageError(f"{where}: not the JSON of verify --json (not an object)")
    rows = doc.get("findings", [])
    if not isinstance(rows, list):
        raise UsageError(f"{where}: findings is not a list")
    findings = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise UsageError(f"{where}: finding {i} is not an object")
        for key in _FINDING_TEXT:
            if not isinstance(row.get(key), str):
                raise UsageError(f"{where}: finding {i} needs a text field {key!r}")
        evidence = row.get("evidence", {})
        if not isinstance(evidence, dict):
            raise UsageError(f"{where}: finding {i}: evidence is not an object")
        findings.append(Finding(**{k: row[k] for k in _FINDING_TEXT}, evidence=evidence))
    counts = doc.get("counts")
    if counts is not None and not (
        isinstance(counts, dict)
        and all(isinstance(v, int) and not isinstance(v, bool) for v in counts.values())
    ):
        raise UsageError(f"{where}: counts must map outcomes to numbers of files")
    return findings, counts


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
    severity_of.update({o: sev for o, sev in (severity_overrides or {}).items() if o in summary})
    # Problems first (errors, then warnings), biggest first; then what passed; zeros last.
    ordered = sorted(
        summary,
        key=lambda o: (not summary[o], SEVERITY_RANK.get(severity_of[o], 3), -summary[o], o),
    )
    summary_counts = {o: summary[o] for o in ordered}

    rows_by_section: dict[str, list[Row]] = {sid: [] for sid in SECTION_IDS}
    for f in findings:
        sid = section_of(f)
        if sid is not None:
            rows_by_section[sid].append(_row(f, sid, records))

    sections = []
    for sid, title_, blurb in SECTIONS:
        by_outcome: dict[str, list[Row]] = defaultdict(list)
        for r in rows_by_section[sid]:
            by_outcome[r.outcome].append(r)
        groups = []
        for outcome, rows in by_outcome.items():
            rows.sort(key=lambda r: (r.folder, r.name, r.check))
            groups.append(Group(outcome, _worst(r.severity for r in rows), tuple(rows)))
        groups.sort(key=lambda g: (SEVERITY_RANK.get(g.severity, 3), -len(g.rows), g.outcome))
        sections.append(Section(sid, title_, blurb, tuple(groups)))

    problem_rows = {sid: rows_by_section[sid] for sid in PROBLEM_SECTIONS}
    charts = (
        _chart("by-kind", "Problems by kind of file", problem_rows, "kind"),
        _chart("by-year", "Problems by year taken", problem_rows, "year"),
    )
    clusters: tuple[ClusterView, ...] = ()
    related: tuple[RelatedView, ...] = ()
    if dupes is not None:
        # Biggest savings first: that is where a person's attention pays.
        views = [_cluster(c, records) for c in dupes.clusters]
        views.sort(key=lambda c: (-len(c.members), -c.redundant_bytes, c.id))
        clusters = tuple(views)
        related = tuple(RelatedView(r.a, r.b, r.kind, dict(r.evidence)) for r in dupes.related)
    return ReportModel(
        title=title,
        generated=generated or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        summary_counts=summary_counts,
        severity_of=severity_of,
        sections=tuple(sections),
        charts=charts,
        clusters=clusters,
        related=related,
        has_dupes=dupes is not None,
        files=len({r.path for r in records.values()}) if records else None,
        findings=len(findings),
    )


# -------------------------------------------------------------------------------- thumbnails


def make_thumbnail(path: str, box: int = THUMB_BOX, quality: int = THUMB_QUALITY) -> str | None:
    """A JPEG data URI of the picture as shown (EXIF orientation applied), at most `box` pixels
    on its long side; None when the file does not decode (the report shows a placeholder)."""
    try:
        im = _open_picture(path, box)
        if im is None:
            return None
        im.thumbnail((box, box))
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            from PIL import Image

            rgba = im.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            im = flat
        else:
            im = im.convert("RGB")
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality, optimize=True)
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    except Exception:  # noqa: BLE001 - a file that does not decode gets a placeholder
        return None


def _open_picture(path: str, box: int):
    from PIL import Image, ImageOps

    if os.path.splitext(path)[1].lower() in _VIDEO_EXTENSIONS:
        import av

        with av.open(path) as container:
            for frame in container.decode(video=0):
                return frame.to_image()
        return None
    import pillow_heif

    pillow_heif.register_heif_opener()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(path) as im:
            if im.format == "JPEG":
                im.draft("RGB", (box * 2, box * 2))  # DCT scaling: decode only what is shown
            im.load()
            return ImageOps.exif_transpose(im).copy()


def _thumbnail_targets(model: ReportModel, limit: int) -> list[str]:
    """The files whose thumbnails are worth their bytes, most useful first, at most `limit`."""
    targets: list[str] = []
    seen: set[str] = set()

    def add(path: str | None) -> bool:
        if path and path not in seen:
            seen.add(path)
            targets.append(path)
        return len(targets) < limit

    for c in model.clusters[:CLUSTERS_INLINE]:
        for m in c.members[:MEMBERS_SHOWN]:
            if not add(m.path):
                return targets
    for g in model.section("metadata").groups:
        for r in g.rows[:ROWS_INLINE]:
            if not add(r.file):
                return targets
    return targets


def make_thumbnails(
    paths: Sequence[str],
    *,
    executor: Executor | None = None,
    workers: int | None = None,
    timeout: float = THUMB_TIMEOUT_S,
) -> dict[str, str]:
    """path -> data URI for the paths that decode, made in a process pool."""
    if not paths:
        return {}
    if len(paths) <= 4 and executor is None:  # a pool costs more than it saves here
        return {p: uri for p in paths if (uri := make_thumbnail(p)) is not None}
    from photoverify.dedupe.catalog.executors import local_executor

    own = executor is None
    ex = executor or local_executor(workers)
    try:
        futures = {ex.submit(make_thumbnail, p): p for p in paths}
        done, _ = wait(futures, timeout=timeout)
        out = {}
        for fut in done:
            uri = fut.result() if fut.exception() is None else None
            if uri is not None:
                out[futures[fut]] = uri
        return out
    finally:
        if own:
            ex.shutdown(wait=False, cancel_futures=True)


# --------------------------------------------------------------------------------- rendering


def _env() -> jinja2.Environment:
    import jinja2  # only the HTML page needs it: a terminal summary starts faster without

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).with_name("templates"))),
        autoescape=True,  # every name and message is escaped, in text and in attributes
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["show"] = display_text
    env.filters["num"] = lambda n: f"{n:,}"
    env.filters["bytes"] = human_bytes
    env.filters["evidence"] = key_evidence
    env.filters["plain"] = plain
    return env


def human_bytes(n: int | None) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def script_json(data: Any) -> str:
    """JSON safe inside a <script> element: no '<', '>' or '&' survives literally, so neither
    `</script>` nor `<!--` in a file name can end or change the element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _compact_row(r: Row) -> list[Any]:
    return [
        display_text(r.name),
        display_text(r.folder),
        display_text(r.message),
        key_evidence(r.evidence),
        r.check,
    ]


def _compact_cluster(c: ClusterView) -> list[Any]:
    return [
        display_text(c.id),
        c.kind,
        display_text(c.reason),
        [
            [display_text(m.name), display_text(m.place), m.relation, _member_detail(m)]
            for m in c.members
        ],
    ]


def _member_detail(m: MemberView) -> str:
    bits = []
    if m.captured_at:
        bits.append(m.captured_at[:10])
    if m.width and m.height:
        bits.append(f"{m.width}×{m.height}")
    if m.size is not None:
        bits.append(human_bytes(m.size))
    if m.format:
        bits.append(m.format)
    if m.distance:
        bits.append(f"distance {m.distance}")
    return " · ".join(bits)


def render_html(
    model: ReportModel,
    out_path: str | os.PathLike,
    *,
    thumbnails: bool = True,
    max_thumbnails: int = MAX_THUMBNAILS,
    executor: Executor | None = None,
) -> None:
    """Write the report as one self-contained HTML file (atomically: a reader never sees half)."""
    thumbs: dict[str, str] = {}
    if thumbnails and max_thumbnails > 0:
        thumbs = make_thumbnails(_thumbnail_targets(model, max_thumbnails), executor=executor)

    more_rows: dict[str, list[list[Any]]] = {}
    for s in model.sections:
        for i, g in enumerate(s.groups):
            if len(g.rows) > ROWS_INLINE:
                more_rows[f"{s.id}-{i}"] = [_compact_row(r) for r in g.rows[ROWS_INLINE:]]
    more = {
        "rows": more_rows,
        "clusters": [_compact_cluster(c) for c in model.clusters[CLUSTERS_INLINE:]],
        "related": [
            [display_text(r.a), display_text(r.b), r.kind, key_evidence(r.evidence)]
            for r in model.related[ROWS_INLINE:]
        ],
    }
    anchors: dict[str, str] = {}
    for s in model.sections:
        for i, g in enumerate(s.groups):
            anchors.setdefault(g.outcome, f"g-{s.id}-{i}")
    script = Path(__file__).with_name("templates").joinpath("report.js").read_text("utf-8")
    script_hash = "sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    html = (
        _env()
        .get_template("report.html.j2")
        .render(
            m=model,
            sections=SECTIONS,
            thumbs=thumbs,
            more_json=script_json(more),
            rows_inline=ROWS_INLINE,
            rows_per_page=ROWS_PER_PAGE,
            clusters_inline=CLUSTERS_INLINE,
            members_shown=MEMBERS_SHOWN,
            anchors=anchors,
            script=script,
            script_hash=script_hash,
            member_detail=_member_detail,
            tone=tone,
            problem_sections=PROBLEM_SECTIONS,
            singular=SINGULAR,
            problems_in=_problems_in,
            broken_only=broken_only,
        )
    )
    write_output(out_path, html.encode("utf-8"))


def verdict(model: ReportModel) -> str:
    """The run in one sentence a person reads in five seconds."""
    if not model.checked:
        return (
            f"{len(model.clusters):,} duplicate clusters, {model.redundant_files:,} redundant "
            f"copies ({human_bytes(model.redundant_bytes)}); nothing was verified"
        )
    listed = next((s for s in model.sections if s.id == "listed"), None)
    also = ""
    if listed is not None and listed.total:
        also = "; also listed, not problems: " + ", ".join(
            f"{len(g.rows):,} {g.outcome}" for g in listed.groups
        )
    if not model.problems:
        return "Nothing lost: no missing files, metadata losses or failed checks" + also
    broken = broken_only(model)
    if broken:  # flagged, but not lost in the move: say that first
        return (
            f"Nothing lost in the move; {broken:,} {'file was' if broken == 1 else 'files were'} "
            "already broken in the original (they do not decode there either) and copied as "
            "they were" + also
        )
    parts = [
        f"{s.total:,} {SINGULAR.get(s.title, s.title) if s.total == 1 else s.title}".lower()
        for s in model.sections
        if s.total and s.id in PROBLEM_SECTIONS
    ]
    return f"{_problems_in(model)}: " + ", ".join(parts) + also


# a section title as one item counts it: "1 missing asset", not "1 missing assets"
SINGULAR = {
    "Missing assets": "Missing asset",
    "Metadata losses": "Metadata loss",
    "Failed checks": "Failed check",
}


def broken_only(model: ReportModel) -> int:
    """How many files were already broken in the original, when those are all the problems
    (nothing was lost in the move); 0 otherwise."""
    broken = sum(len(g.rows) for s in model.sections for g in s.groups if g.outcome == BROKEN)
    return broken if broken == model.problems else 0


def _problems_in(model: ReportModel) -> str:
    n, files = model.problems, model.problem_files
    words = f"{n:,} {'problem' if n == 1 else 'problems'}"
    if files != n:
        words += f" in {files:,} {'file' if files == 1 else 'files'}"
    return words + (" needs a look" if n == 1 else " need a look")


def render_terminal(model: ReportModel, console, **options: Any) -> None:
    """The model on a terminal: see verify.report_terminal, where this rendering lives."""
    from photoverify.verify.report.terminal import render_terminal as render

    render(model, console, **options)

"""The run in words a person reads in five seconds: the verdict sentence the terminal and the
HTML page both show, and the counts it rests on. Pure: a `ReportModel` in, text out."""

from __future__ import annotations

from photoverify.verify.report.model import BROKEN, PROBLEM_SECTIONS, ReportModel


def human_bytes(n: int | None) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


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
    return f"{problems_in(model)}: " + ", ".join(parts) + also


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


def problems_in(model: ReportModel) -> str:
    n, files = model.problems, model.problem_files
    words = f"{n:,} {'problem' if n == 1 else 'problems'}"
    if files != n:
        words += f" in {files:,} {'file' if files == 1 else 'files'}"
    return words + (" needs a look" if n == 1 else " need a look")

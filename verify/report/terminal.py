"""The report on a terminal: a counts table with what each outcome means, the first problems
(a path broken only after a '/', then its message), and the verdict in one line. Renders a
`ReportModel` (verify.report) on a rich Console; decides nothing."""

from __future__ import annotations

from photoverify.dedupe.core.display import plain_error, wrap_path
from photoverify.verify.report.model import ReportModel
from photoverify.verify.report.outcome_text import plain, tone
from photoverify.verify.report.verdict import broken_only, human_bytes, verdict

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "green"}
TONE_STYLE = {"bad": "bold red", "warn": "yellow", "good": "green", "neutral": ""}


def render_terminal(
    model: ReportModel, console, *, first: int = 20, seconds: float | None = None
) -> None:
    """A counts table, the first problems and the verdict, for the CLI (`console` is a rich
    Console)."""
    from rich.text import Text

    _render_terminal_tables(model, console, first=first)
    took = f" ({seconds:.1f} s)" if seconds else ""
    # red for a loss; yellow when the only findings are originals broken before the move
    style = "yellow" if broken_only(model) else "bold red" if model.problems else ""
    style = style or ("green" if model.checked else "")
    console.print(Text(verdict(model) + took, style=style), soft_wrap=False)


def _render_terminal_tables(model: ReportModel, console, *, first: int = 20) -> None:
    """A counts table and the first problems, for the CLI (`console` is a rich Console).

    Names go in as `Text`, never as markup: a file called `[red]x` is printed as it is."""
    from rich.table import Table
    from rich.text import Text

    counts = Table(title=Text(model.title), show_edge=False, title_justify="left")
    counts.add_column("outcome", no_wrap=True)
    counts.add_column("files", justify="right", no_wrap=True)
    counts.add_column("what it means", overflow="fold", style="dim")
    for outcome, n in model.summary_counts.items():
        if n:
            style = TONE_STYLE[tone(outcome, model.severity_of.get(outcome, "info"))]
            counts.add_row(
                Text(outcome, style=style), Text(f"{n:,}", style=style), Text(plain(outcome))
            )
    zeros = [o for o, n in model.summary_counts.items() if not n]
    if zeros:  # one line for what did not happen
        counts.add_row(Text("none", style="dim"), Text("0", style="dim"), Text(", ".join(zeros)))
    if model.has_dupes:
        counts.add_row(Text("duplicate clusters"), Text(f"{len(model.clusters):,}"))
        counts.add_row(
            Text("redundant copies"),
            Text(f"{model.redundant_files:,} ({human_bytes(model.redundant_bytes)})"),
        )
    console.print(counts)

    # the problems, and the originals that were broken before the move (which ones, by name)
    listed = [
        (s, r)
        for s in model.sections
        for g in s.groups
        if s.id not in ("notes", "listed") or g.outcome == "broken-in-source"
        for r in g.rows
    ]
    rows = listed[:first]
    shown = len(rows)
    problems = Table(show_edge=False, title=Text("First to look at"), title_justify="left")
    problems.add_column("outcome", no_wrap=True)
    problems.add_column("file, and what happened", overflow="fold")
    # the file's path is broken only after a '/', the message between words
    width = max(console.width - max((len(r.outcome) for _, r in rows), default=7) - 5, 20)
    for _, r in rows:
        cell = Text(wrap_path(r.path, width))
        cell.append("\n" + plain_error(r.message), style="dim")
        problems.add_row(Text(r.outcome, style=SEVERITY_STYLE.get(r.severity, "")), cell)
    if shown:
        console.print(problems)
        rest = len(listed) - shown
        if rest > 0:
            console.print(Text(f"… and {rest:,} more (see the HTML report)", style="dim"))

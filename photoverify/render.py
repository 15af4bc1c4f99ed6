"""Output for people (rich, on standard error for progress) and for programs (JSON on stdout)."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from photoverify.dedupe.core.display import display_text, plain_error  # noqa: F401
from photoverify.dedupe.core.display import wrap_path as wrap_path_lines

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text


def __getattr__(name: str):
    # the consoles load rich: made on first use, so `--help` and JSON output go without it
    if name in ("stdout", "stderr", "SafeConsole"):
        from photoverify import consoles

        return getattr(consoles, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=True) + "\n")


def print_lines(lines: Iterable[str], console: Console | None = None, chunk: int = 1000) -> None:
    """Plain lines, each shown safely (display_text), printed `chunk` at a time as ready
    segments: as console.print of each line prints them, without its ~40 µs a line of parsing
    and wrapping (`show` of 22,000 records, 130,000 lines: 5.8 s before)."""
    from rich.segment import Segment, Segments

    from photoverify.consoles import stdout

    console = console or stdout
    batch: list[Segment] = []
    for line in lines:
        batch += (Segment(display_text(line)), Segment.line())
        if len(batch) >= 2 * chunk:
            console.print(Segments(batch), soft_wrap=True)
            batch = []
    if batch:
        console.print(Segments(batch), soft_wrap=True)


# progress bars live in their own module; these names are where callers have found them
from .progress import scan_progress, stage_progress  # noqa: E402, F401


def wrap_path(path: str, width: int) -> Text:
    """`dedupe.core.display.wrap_path` as rich Text, for a table cell."""
    from rich.text import Text

    return Text(wrap_path_lines(path, width))


_FENCED = re.compile("\0\1*\0")


def wrap_reason(reason: str, names: list[str], width: int) -> Text:
    """A keeper's reason as lines of at most `width` characters: the keeper, then each `over …`
    clause on its own line, wrapped at spaces but never inside one of `names` (a name with a space,
    `Downscaled 256/IMG_1.JPG`, stays whole; one longer than a line breaks only after a `/`)."""
    clauses = display_text(reason).replace(" kept over ", " kept\n  over ").split("; over ")
    # Each name stands in for one word while the clause is split at spaces: a NUL, n SOHs and a
    # NUL (display_text leaves neither in a name, so no name can match inside one); longest
    # first, so a name inside a longer one stays in that one. A regular expression of the names
    # cost a compile each cluster: 0.3 ms, more than the cluster's table.
    shown = sorted({display_text(n) for n in names if n}, key=len, reverse=True)
    fenced = {"\0" + "\1" * i + "\0": name for i, name in enumerate(shown)}
    lines: list[str] = []
    for i, clause in enumerate("\n  over ".join(clauses).split("\n")):
        for token, name in fenced.items():
            clause = clause.replace(name, token)
        indent = "  " if i else ""
        line = indent
        for word in clause.split():
            if "\0" in word:
                word = _FENCED.sub(lambda m: fenced[m.group()], word)
            if line.strip() and len(line) + 1 + len(word) > width:
                lines.append(line)
                line = indent + "  "
            line += ("" if not line.strip() else " ") + word
            while len(line) > width and "/" in line[len(indent) + 2 : width]:
                cut = line.rindex("/", 0, width) + 1
                lines.append(line[:cut])
                line = indent + "  " + line[cut:]
        lines.append(line)
    from rich.text import Text

    return Text("\n".join(lines))


def _common_folder(paths: list[str]) -> str:
    try:
        folder = os.path.commonpath([os.path.dirname(p) for p in paths])
    except ValueError:  # relative and absolute mixed
        return ""
    return "" if folder in ("", os.sep) else folder


def _dupes_columns(fold: int):
    """A cluster's table: the keeper's star, the file (folded at `fold`), relation, pHash Δ."""
    from .grid import Column

    return (
        Column("", width=2),
        Column("file", fold=fold),
        Column("relation"),
        Column("pHash Δ", "right"),
    )


def _print_block(console: Console, block: list[tuple[Text, bool]], cols: int) -> None:
    """Texts printed as one when every line fits the console (and none has a style of its own
    or a tab, which rich's print would expand), as the segments they already are
    (rich's print of a Text splits, wraps and crops it line by line: 0.3 ms a cluster, more
    than all the rest of a cluster's output), else each as asked: soft-wrapped, or folded."""
    from rich.cells import cell_len
    from rich.segment import Segment, Segments

    plain = all(not text.style and "\t" not in text.plain for text, _ in block)  # as printed
    if plain and all(cell_len(ln) <= cols for text, _ in block for ln in text.plain.split("\n")):
        segments = []
        for text, _ in block:
            segments += text.render(console)
            segments.append(Segment.line())
        console.print(Segments(segments), soft_wrap=True)
        return
    for text, soft in block:
        console.print(text, soft_wrap=soft)


def dupes_table(result, console: Console | None = None) -> None:
    """One rich table per cluster, keeper marked, reasons shown; then the reported relations.
    Members are shown relative to the folder they share (named under the title) and wrapped
    at `/`, so a narrow or piped terminal never breaks a name in two."""
    from rich.text import Text

    from photoverify.consoles import stdout

    from .grid import grid

    console = console or stdout

    cols = console.width  # read once: rich reads the environment and the terminal each time
    for c in result.clusters:
        paths = [m.path for m in c.members]
        folder = _common_folder(paths)
        title = f"{c.id} · {c.kind} · {len(c.members)} files" + (" in" if folder else "")
        block: list[tuple[Text, bool]] = []  # what is printed, and whether soft-wrapped
        if folder and len(title) + 1 + len(display_text(folder)) + 1 <= cols:
            block.append((Text(display_text(f"{title} {folder}{os.sep}")), True))
        else:
            block.append((Text(title), True))
            if folder:
                block.append((wrap_path(folder + os.sep, cols), False))
        names = [os.path.relpath(m.path, folder) if folder else m.path for m in c.members]
        # 13: the table's five borders and the cells' padding
        width = cols - 13 - 2 - max(map(len, ["relation", *(m.relation for m in c.members)])) - 7
        rows = [
            (
                "★" if m.relation == "keeper" else "",
                wrap_path_lines(name, max(width, 16)),
                display_text(m.relation),
                "" if m.distance is None else str(m.distance),
            )
            for m, name in zip(c.members, names, strict=True)
        ]
        block.append((grid(console, _dupes_columns(max(width, 1)), rows), True))
        block.append((wrap_reason(c.reason, names, cols), False))
        _print_block(console, block, cols)
    by_kind: dict[str, int] = {}
    for rel in result.related:
        by_kind[rel.kind] = by_kind.get(rel.kind, 0) + 1
    dup_files = sum(len(c.members) - 1 for c in result.clusters)
    shown = result.related[:50]
    folder = _common_folder([p for rel in shown for p in (rel.a, rel.b)])
    console.print(
        f"{len(result.clusters)} clusters, {dup_files} duplicate files; {len(result.assets)} assets"
    )
    console.print(
        "related (not merged): "
        + (", ".join(f"{n} {k}" for k, n in sorted(by_kind.items())) or "none")
        + (" in" if folder else "")
    )
    if folder:
        console.print(wrap_path(folder + os.sep, console.width), soft_wrap=False)
    for rel in shown:  # one file a line, broken only after a `/`: no name is cut in two
        why = rel.evidence.get("why", "")
        console.print(Text(display_text(f"  {rel.kind}" + (f" ({why})" if why else ""))))
        for mark, p in (("    ", rel.a), ("  ~ ", rel.b)):
            shown_path = os.path.relpath(p, folder) if folder else p
            lines = wrap_path(shown_path, max(console.width - 4, 16)).plain.split("\n")
            text = "\n".join((mark if i == 0 else "    ") + line for i, line in enumerate(lines))
            console.print(Text(text), soft_wrap=False)
    if len(result.related) > 50:
        console.print(f"  … and {len(result.related) - 50} more (use --format json)")


def dupes_csv(result, out) -> None:
    """The clusters as CSV, written to the binary stream `out` as UTF-8: an undecodable name byte
    is spelled `\\udcXX`, as in every file photoverify writes (dedupe.jsonio.json_bytes)."""
    import csv
    import io

    from photoverify.dedupe.core.jsonio import escape_surrogates

    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["cluster", "kind", "path", "relation", "distance", "keeper", "reason"])
    for c in result.clusters:
        for m in c.members:
            writer.writerow(
                [
                    c.id,
                    c.kind,
                    m.path,
                    m.relation,
                    "" if m.distance is None else m.distance,
                    c.keeper,
                    c.reason,
                ]
            )
    out.write(escape_surrogates(text.getvalue()).encode("utf-8"))


def dupes_fdupes(result, out, *, null: bool = False) -> None:
    """fdupes' format: one path a line, the keeper first, groups separated by a blank line.

    Names are written as their bytes, as fdupes and jdupes write them. fdupes writes a name
    holding a newline raw too, which makes it two lines of its output (a forged group member):
    here such a run is refused, before anything is written, with one line naming the file.
    `null` is jdupes' `-0` layout instead, which holds any name: each path ends with a NUL, and
    a group with a second NUL.
    """
    from photoverify.dedupe.core import UsageError

    end, group_end = (b"\0", b"\0") if null else (b"\n", b"\n")
    if not null:
        for c in result.clusters:
            for m in c.members:
                if "\n" in m.path or "\r" in m.path:
                    raise UsageError(
                        f"{display_text(m.path)}: a name holding a line break cannot be written "
                        "in the fdupes format (one name a line); use --format json, or "
                        "--format fdupes0 (NUL-separated, as jdupes -0)"
                    )
    for c in result.clusters:
        for m in c.members:
            out.write(os.fsencode(m.path) + end)
        out.write(group_end)


# apply's fates in words, (what happened, what would happen): one wording for the run and the
# dry run, so that the two can be compared line by line
_FATE_WORDS = {
    "copied": ("copied", "would copy"),
    "moved": ("moved", "would move"),
    "hardlinked": ("hardlinked", "would hardlink"),
    "reflinked": ("reflinked", "would reflink"),
    "already-present": ("already in place", "already in place"),
    "skipped": ("skipped", "would skip"),
    "duplicate": ("left out (duplicates)", "would leave out (duplicates)"),
    "failed": ("failed", "would fail"),
}
_WOULD = {
    "would-copy": "copied",
    "would-move": "moved",
    "would-hardlink": "hardlinked",
    "would-reflink": "reflinked",
    "would-reflink-or-copy": "copied",
    "skip": "skipped",
}


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def apply_fates(result) -> str:
    """The fates of an apply run as words: "copied 77, skipped 6, …"; a re-run's files that an
    earlier run placed are "already in place", never "copied" again."""
    dry = result.dry_run
    counts: dict[str, int] = {}
    for fate, n in result.fates.items():
        key = _WOULD.get(fate, fate) if dry else fate
        counts[key] = counts.get(key, 0) + n
    for fate, n in getattr(result, "earlier", {}).items():
        if fate != "already-present":
            counts[fate] = counts.get(fate, 0) - n
            counts["already-present"] = counts.get("already-present", 0) + n
    order = {fate: n for n, fate in enumerate(_FATE_WORDS)}
    parts = []
    for fate, n in sorted(counts.items(), key=lambda kv: order.get(kv[0], len(order))):
        if n <= 0:
            continue
        past, future = _FATE_WORDS.get(fate, (fate, f"would be {fate}"))
        parts.append(f"{future if dry else past} {n}")
    return ", ".join(parts) or "nothing to do"


def apply_summary(result, console: Console | None = None) -> None:
    """apply's terminal summary: plain words, no Python values (None, True)."""
    from photoverify.consoles import stdout

    console = console or stdout
    out = lambda line: console.print(line, markup=False)  # noqa: E731
    if result.dry_run:
        out("dry run: nothing was changed")
    out(f"plan      {result.plan}")
    out(f"dest      {result.dest}  (mode {result.mode})")
    out(f"files     {apply_fates(result)}")
    if result.dry_run:
        out(f"bytes     would write {_mb(result.bytes_planned)}")
    elif result.bytes_written:
        out(
            f"bytes     wrote {_mb(result.bytes_written)} of {_mb(result.bytes_planned)} planned"
            f" in {result.seconds:.1f} s"
        )
    else:
        out(f"bytes     wrote nothing ({_mb(result.bytes_planned)} planned)")
    if result.journal and not result.dry_run:
        out(f"journal   {result.journal}")
    if result.ledger:
        out(f"ledger    {result.ledger}")
    if result.manifest:
        out(f"manifest  {result.manifest}")
    problems = sum(f.severity == "error" for f in result.findings)
    if problems:
        out(f"problems  {problems} (listed on standard error)")

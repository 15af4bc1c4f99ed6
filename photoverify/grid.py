"""A box table drawn as rich draws its default `Table` (heavy head, top-aligned cells, one space
of padding), for outputs that print thousands of small tables: `dupes` prints one a cluster.

Rich's Table measures and renders every cell through its layout engine, about 0.7-1 ms for a
table of two rows (`dupes` on 2,000 clusters spent 2.4 s printing, 0.46 s finding them). Here the
caller knows each column's width (it wraps the file names itself), so the table is a few string
joins. tests/cli/test_render.py draws random tables both ways and checks they are the same
characters and the same styles. Where a table cannot fit the console even with its folding
column at its header's width (dupes' under 34 columns), rich folds the headers too; this one
lets its lines run over."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.text import Span, Text


class Column(NamedTuple):
    header: str
    justify: str = "left"  # or "right"
    width: int | None = None  # fixed, as rich's Column(width=...); None: fit the cells
    fold: int | None = None  # the longest line, in cells; a longer one is wrapped to this width


def _pad(text: str, width: int, justify: str) -> str:
    gap = " " * max(0, width - cell_len(text))
    return gap + text if justify == "right" else text + gap


def _lines(console: Console, cell: str, col: Column) -> list[str]:
    """A cell's lines; one longer than the column's fold is wrapped by rich (at spaces, a word
    longer than the line cut), as rich's Table folds it."""
    out = []
    for line in cell.split("\n"):
        if col.fold is None or cell_len(line) <= col.fold:
            out.append(line)
        else:
            out += [piece.plain for piece in Text(line).wrap(console, col.fold, overflow="fold")]
    return out


def grid(console: Console, columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> Text:
    """The table as one Text (header in rich's table.header style), ready for console.print
    with soft_wrap=True. Cells are shown as given: the caller makes them safe to show."""
    widths = []
    for i, col in enumerate(columns):
        widest = max((cell_len(line) for row in rows for line in row[i].split("\n")), default=0)
        if col.fold is not None:
            widest = min(widest, col.fold)  # as rich: a folded column takes the whole fold
        widths.append(col.width if col.width is not None else max(cell_len(col.header), widest))
    cells = [[_lines(console, cell, col) for cell, col in zip(row, columns, strict=True)]
             for row in rows]  # fmt: skip
    b = box.HEAVY_HEAD.substitute(console.options, safe=console.safe_box)
    padded = [w + 2 for w in widths]
    # The header in rich's table.header style, cell by cell: a space, the header, a space, each
    # its own span, so a terminal gets the same escape codes as from rich.
    head, spans = [b.get_top(padded), "\n", b.head_left], []
    at = len(head[0]) + 1 + len(b.head_left)
    for i, (col, w) in enumerate(zip(columns, widths, strict=True)):
        if i:
            head.append(b.head_vertical)
            at += len(b.head_vertical)
        for piece in (" ", _pad(col.header, w, col.justify), " "):
            head.append(piece)
            spans.append(Span(at, at + len(piece), "table.header"))
            at += len(piece)
    head += [b.head_right, "\n", b.get_row(padded, "head", edge=True)]
    lines = ["".join(head)]
    for row in cells:
        for n in range(max(len(cell) for cell in row)):
            parts = [
                f" {_pad(cell[n] if n < len(cell) else '', w, col.justify)} "
                for cell, col, w in zip(row, columns, widths, strict=True)
            ]
            lines.append(b.mid_left + b.mid_vertical.join(parts) + b.mid_right)
    lines.append(b.get_bottom(padded))
    return Text("\n".join(lines), spans=spans, end="")

"""dupes' terminal output drawn without rich's Table: the same characters and escape codes as
rich's own table, printed for thousands of clusters in a fraction of the time. Rich itself is
the oracle: each test draws the same thing both ways."""

from __future__ import annotations

import io
import os
import re
from types import SimpleNamespace as NS

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.table import Table
from rich.text import Text

from photoverify import render
from photoverify.consoles import SafeConsole
from photoverify.dedupe.core.display import wrap_path as wrap_path_lines
from photoverify.grid import grid

# names with spaces, wide (two-cell) characters, combining marks and emoji, as libraries hold
PIECES = [*"abcXYZ019 ._-()", "日", "本", "写", "é", "e\u0301", "🙂", "ß"]
NAME = (
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=40)
    .map("".join)
    .filter(lambda s: s.strip(" ") == s)
)
PATH = st.lists(NAME, min_size=1, max_size=5).map("/".join)
RELATION = st.sampled_from(["keeper", "identical", "same-photo", "edited", "live-photo"])


def console(width: int, styled: bool) -> SafeConsole:
    colour = {"color_system": "truecolor", "force_terminal": True} if styled else {}
    return SafeConsole(
        file=io.StringIO(),
        width=width,
        highlight=False,
        soft_wrap=True,
        markup=False,
        emoji=False,
        **({"color_system": None} | colour),
    )


def rich_table(rows, fold_at: int) -> Table:
    """The table dupes printed with rich before (the oracle)."""
    table = Table(expand=False)
    table.add_column("", width=2)
    table.add_column("file", overflow="fold")
    table.add_column("relation", no_wrap=True)
    table.add_column("pHash Δ", justify="right", no_wrap=True)
    for mark, path, relation, distance in rows:
        table.add_row(mark, Text(wrap_path_lines(path, max(fold_at, 16))), relation, distance)
    return table


@settings(max_examples=300, deadline=None)
@given(
    members=st.lists(
        st.tuples(PATH, RELATION, st.one_of(st.none(), st.integers(0, 64))), min_size=1, max_size=4
    ),
    extra=st.integers(0, 120),
    styled=st.booleans(),
)
def test_a_cluster_table_is_drawn_as_rich_draws_it(members, extra, styled):
    widest = max(len(r) for _, r, _ in members)
    # From the narrowest console the table fits without folding a header (34 columns and up;
    # narrower, rich folds `file` into a column of "f", "i", "l", "e", and this table does not)
    cols = 13 + 2 + max(8, widest) + 7 + 4 + extra
    fold_at = cols - 13 - 2 - max(8, widest) - 7
    rows = [
        ("★" if i == 0 else "", path, rel, "" if d is None else str(d))
        for i, (path, rel, d) in enumerate(members)
    ]
    ours, theirs = console(cols, styled), console(cols, styled)
    shown = [(m, wrap_path_lines(p, max(fold_at, 16)), r, d) for m, p, r, d in rows]
    ours.print(grid(ours, render._dupes_columns(fold_at), shown), soft_wrap=True)
    theirs.print(rich_table(rows, fold_at))
    assert ours.file.getvalue() == theirs.file.getvalue()


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.lists(NAME, min_size=1, max_size=3), min_size=1, max_size=4),
       cols=st.integers(10, 100), styled=st.booleans())  # fmt: skip
def test_a_block_printed_at_once_reads_as_its_parts_printed_one_by_one(lines, cols, styled):
    block = [(Text("\n".join(words), style="bold" if i % 2 else ""), bool(i % 2))
             for i, words in enumerate(lines)]  # fmt: skip
    at_once, one_by_one = console(cols, styled), console(cols, styled)
    render._print_block(at_once, block, cols)
    for text, soft in block:
        one_by_one.print(text, soft_wrap=soft)
    assert at_once.file.getvalue() == one_by_one.file.getvalue()


@settings(max_examples=300, deadline=None)
@given(names=st.lists(PATH, min_size=2, max_size=4, unique=True), width=st.integers(20, 120),
       why=st.sampled_from(["a shorter name", "the earliest capture time, 2019-07-01",
                            "larger (4032x3024 over 2016x1512)"]))  # fmt: skip
def test_a_keepers_reason_keeps_its_words_and_every_name_whole(names, width, why):
    """The reason's words in order (a line broken at a space or after a `/`), every name on one
    line unless broken after a `/`, and no line wider than `width` but one that a name or a
    word cannot be broken in. (The names were one regular expression before, which also took a
    one-letter name `c` out of the word `capture`: "c a pture".)"""
    reason = f"{names[0]} kept over " + "; over ".join(f"{n}: {why}" for n in names[1:])
    got = render.wrap_reason(reason, names, width).plain
    unbroken = re.sub(r"/\n +", "/", got)  # a name longer than a line breaks after a "/" only
    assert unbroken.split() == reason.replace("; over ", " over ").split()  # a clause a line
    for name in names:
        assert name in unbroken
    for line in got.split("\n"):
        word = line.strip().rstrip(":,")
        assert len(line) <= width or " " not in word or any(word in n for n in names), line


def test_two_thousand_clusters_print_as_rich_printed_them(tmp_path):
    """The whole of dupes' table output, styled, against the same clusters printed with rich's
    Table, cluster by cluster, as dupes printed them before."""
    clusters = []
    for i in range(2000):
        a, b = f"/lib/d{i // 100:03d}/IMG {i}.jpg", f"/lib/copies/{i}/IMG {i}.jpg"
        members = [NS(path=a, relation="keeper", distance=0),
                   NS(path=b, relation="identical", distance=None)]  # fmt: skip
        reason = f"d{i // 100:03d}/IMG {i}.jpg kept over copies/{i}/IMG {i}.jpg: a shorter name"
        clusters.append(NS(id=f"c{i:05d}", kind="identical", members=members, reason=reason))
    ours, theirs = console(80, True), console(80, True)
    render.dupes_table(NS(clusters=clusters, related=[], assets=[]), ours)
    for c in clusters:
        theirs.print(Text(f"{c.id} · identical · 2 files in /lib/"))
        rows = [("★" if m.relation == "keeper" else "", m.path.removeprefix("/lib/"), m.relation,
                 "" if m.distance is None else str(m.distance)) for m in c.members]  # fmt: skip
        theirs.print(rich_table(rows, 80 - 13 - 2 - 9 - 7))
        names = [m.path.removeprefix("/lib/") for m in c.members]
        theirs.print(render.wrap_reason(c.reason, names, 80), soft_wrap=False)
    tail = "2000 clusters"
    assert ours.file.getvalue().split(tail)[0] == theirs.file.getvalue()


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.text(max_size=60) | st.binary(max_size=60).map(os.fsdecode), max_size=30),
       cols=st.integers(10, 120),
       styled=st.booleans(), chunk=st.integers(1, 5))  # fmt: skip
def test_lines_printed_in_chunks_read_as_printed_one_by_one(lines, cols, styled, chunk):
    """Any text (controls, surrogates, markup, emoji codes, wide characters, lines wider than
    the console): print_lines shows what console.print showed of each line."""
    at_once, one_by_one = console(cols, styled), console(cols, styled)
    render.print_lines(lines, at_once, chunk=chunk)
    for line in lines:
        one_by_one.print(line, markup=False)
    assert at_once.file.getvalue() == one_by_one.file.getvalue()

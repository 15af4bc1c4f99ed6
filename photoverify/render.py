"""Output for people (rich, on standard error for progress) and for programs (JSON on stdout)."""

from __future__ import annotations

import json
import os
import sys
from contextlib import ExitStack, contextmanager
from typing import Any

from rich.console import Console

stdout = Console(highlight=False, soft_wrap=True, no_color="NO_COLOR" in os.environ)
stderr = Console(stderr=True, highlight=False, soft_wrap=True, no_color="NO_COLOR" in os.environ)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=True) + "\n")


def _rate(value: float, unit: str) -> str:
    for prefix in ("", "k", "M", "G"):
        if value < 1000:
            return f"{value:6.1f} {prefix}{unit}/s"
        value /= 1000
    return f"{value:.1f} T{unit}/s"


@contextmanager
def scan_progress(quiet: bool):
    """A progress callback for dedupe.scan: files/s and bytes/s, on standard error. The bar
    appears once there are files to fingerprint (none on a re-scan of an unchanged tree)."""
    if quiet:
        yield None
        return
    with ExitStack() as stack:
        state: dict[str, Any] = {}

        def start():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            columns = (
                TextColumn("[bold]scan"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[files_rate]}"),
                TextColumn("{task.fields[bytes_rate]}"),
                TimeRemainingColumn(),
            )
            bar = stack.enter_context(Progress(*columns, console=stderr, transient=True))
            task = bar.add_task("scan", total=None, files_rate="", bytes_rate="")
            state.update(bar=bar, task=task)

        def update(files: int, nbytes: int, total_files: int, total_bytes: int) -> None:
            if not state:
                if not total_files:
                    return
                start()
            bar, task = state["bar"], state["task"]
            elapsed = bar.tasks[0].elapsed or 1e-9
            bar.update(
                task,
                completed=files,
                total=total_files,
                files_rate=_rate(files / elapsed, "files"),
                bytes_rate=_rate(nbytes / elapsed, "B"),
            )

        yield update


def dupes_table(result, console: Console = stdout) -> None:
    """One rich table per cluster, keeper marked, reasons shown; then the reported relations."""
    from rich.table import Table

    for c in result.clusters:
        table = Table(
            title=f"{c.id} · {c.kind} · {len(c.members)} files",
            title_justify="left",
            caption=c.reason,
            caption_justify="left",
            expand=False,
        )
        table.add_column("", width=2)
        table.add_column("file", overflow="fold")
        table.add_column("tie", no_wrap=True)
        table.add_column("pHash Δ", justify="right")
        for m in c.members:
            mark = "★" if m.relation == "keeper" else ""
            table.add_row(mark, m.path, m.relation, "" if m.distance is None else str(m.distance))
        console.print(table)
    by_kind: dict[str, int] = {}
    for rel in result.related:
        by_kind[rel.kind] = by_kind.get(rel.kind, 0) + 1
    dup_files = sum(len(c.members) - 1 for c in result.clusters)
    console.print(
        f"{len(result.clusters)} clusters, {dup_files} duplicate files; "
        f"{len(result.assets)} assets; related (not merged): "
        + (", ".join(f"{n} {k}" for k, n in sorted(by_kind.items())) or "none")
    )
    for rel in result.related[:50]:
        why = rel.evidence.get("why", "")
        console.print(f"  {rel.kind:8} {rel.a}  ~  {rel.b}  {why}", markup=False)
    if len(result.related) > 50:
        console.print(f"  … and {len(result.related) - 50} more (use --format json)")


def dupes_csv(result, out) -> None:
    import csv

    writer = csv.writer(out)
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


def dupes_fdupes(result, out) -> None:
    """fdupes' format: one path a line, the keeper first, groups separated by a blank line."""
    for c in result.clusters:
        for m in c.members:
            out.write(m.path + "\n")
        out.write("\n")

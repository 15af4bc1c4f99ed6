"""Output for people (rich, on standard error for progress) and for programs (JSON on stdout)."""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

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
    """A progress callback for dedupe.scan: files/s and bytes/s, on standard error."""
    if quiet:
        yield None
        return
    columns = (
        TextColumn("[bold]scan"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[files_rate]}"),
        TextColumn("{task.fields[bytes_rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task("scan", total=None, files_rate="", bytes_rate="")

        def update(files: int, nbytes: int, total_files: int, total_bytes: int) -> None:
            elapsed = bar.tasks[0].elapsed or 1e-9
            bar.update(
                task,
                completed=files,
                total=total_files,
                files_rate=_rate(files / elapsed, "files"),
                bytes_rate=_rate(nbytes / elapsed, "B"),
            )

        yield update

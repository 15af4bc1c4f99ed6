"""Progress for long runs (scan, apply, verify's stages, audit): a rich bar on standard error
with files done of all, bytes, rates and the time remaining, gone when the run ends.

Bars are drawn only on a terminal: a piped or redirected standard error gets nothing, not even
the blank line a finished rich display leaves behind; `--quiet` and `--json` hide them too."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any


def _stderr():
    from .render import stderr

    return stderr


def human_rate(value: float, unit: str) -> str:
    for prefix in ("", "k", "M", "G"):
        if value < 1000:
            return f"{value:6.1f} {prefix}{unit}/s"
        value /= 1000
    return f"{value:.1f} T{unit}/s"


def human_bytes(n: float) -> str:
    for prefix in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {prefix}" if prefix == "B" else f"{n:.1f} {prefix}"
        n /= 1000
    return f"{n:.1f} TB"


def shown(quiet: bool) -> bool:
    """Whether to draw a bar: not asked to be quiet, and standard error is a terminal."""
    return not quiet and _stderr().is_terminal


def _bar(label: str):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[bytes]}"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    return Progress(*columns, console=_stderr(), transient=True)


class _Bars:
    """One bar per stage, made when the stage first reports work to do."""

    def __init__(self, stack: ExitStack, label: str) -> None:
        self.stack, self.label = stack, label
        self.progress = None
        self.tasks: dict[str, Any] = {}

    def update(self, stage: str, done: int, total: int, nbytes: int | None = None,
               total_bytes: int | None = None) -> None:  # fmt: skip
        if self.progress is None:
            if not total:
                return
            self.progress = self.stack.enter_context(_bar(self.label))
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total, bytes="", rate="")
        task = self.tasks[stage]
        elapsed = self.progress.tasks[task].elapsed or 1e-9
        rate = human_rate(done / elapsed, "files")
        size = ""
        if nbytes is not None:
            size = human_bytes(nbytes) + (f"/{human_bytes(total_bytes)}" if total_bytes else "")
            rate += " " + human_rate(nbytes / elapsed, "B")
        self.progress.update(task, completed=done, total=total, bytes=size, rate=rate)


@contextmanager
def scan_progress(quiet: bool) -> Iterator[Any]:
    """A progress callback for dedupe.scan (files, bytes, total files, total bytes). The bar
    appears once there are files to fingerprint (none on a re-scan of an unchanged tree)."""
    if not shown(quiet):
        yield None
        return
    with ExitStack() as stack:
        bars = _Bars(stack, "[bold]scan")

        def update(files: int, nbytes: int, total_files: int, total_bytes: int) -> None:
            bars.update("scan", files, total_files, nbytes, total_bytes)

        yield update


@contextmanager
def stage_progress(quiet: bool) -> Iterator[Any]:
    """A progress callback (stage, done, total[, bytes done, bytes in all]) for verify's stages
    (scan, fixity, decode) and the audit's (scan, match): one bar per stage."""
    if not shown(quiet):
        yield None
        return
    with ExitStack() as stack:
        yield _Bars(stack, "{task.description:7}").update


@contextmanager
def apply_progress(quiet: bool) -> Iterator[Any]:
    """A progress callback (settled, total, plan entry) for dedupe.apply: files placed of all,
    and the bytes of those placed."""
    if not shown(quiet):
        yield None
        return
    with ExitStack() as stack:
        bars = _Bars(stack, "[bold]apply")
        done_bytes = [0]

        def update(settled: int, total: int, entry) -> None:
            done_bytes[0] += getattr(entry, "size", 0) or 0
            bars.update("apply", settled, total, done_bytes[0])

        yield update

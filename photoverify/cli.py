"""The command line: each command parses its arguments, calls one library function and renders
the result. Exit codes: 0 all well, 1 the run worked and found problems, 2 usage error,
3 environment error (exiftool missing, catalog unreadable).

This module holds the group, its error handling and `main`; the commands live in
photoverify/commands/, one module a concern, and the options they share in commands/options."""

from __future__ import annotations

import gc
import importlib
import os
import sys

import click

from photoverify.dedupe.core.errors import PhotoverifyError

from . import __version__, render
from .commands.options import (  # noqa: F401  (the shared options, importable from here)
    NO_PROGRESS,
    catalog_option,
    json_option,
    prefer_option,
    quiet_option,
    report_option,
    threshold_option,
    trust_stat_option,
)

# Each command and the module that holds it, in the order of the workflow (as `photoverify --help`
# lists them, not the alphabet). A command's module is imported when the command runs (click's
# "lazily loading subcommands"): a run pays for its own command's imports, not for all eleven.
COMMANDS = {
    "scan": "catalog",
    "show": "catalog",
    "doctor": "doctor",
    "dupes": "dupes",
    "manifest": "manifest",
    "report": "report",
    "verify": "checks",
    "plan": "plan",
    "apply": "apply",
    "undo": "apply",
    "audit": "checks",
}


class Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module = importlib.import_module(f"photoverify.commands.{COMMANDS[cmd_name]}")
            self.add_command(getattr(module, cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:  # the group's own options (`photoverify --nope`)
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            _usage_error(exc)

    def invoke(self, ctx: click.Context):
        try:  # parsing the command's arguments happens in here too
            return super().invoke(ctx)
        except click.UsageError as exc:
            _usage_error(exc)
        except PhotoverifyError as exc:
            render.stderr.print(f"photoverify: error: {exc}", markup=False, soft_wrap=True)
            ctx.exit(exc.exit_code)


def _usage_error(exc: click.UsageError):
    """A usage error as the README promises: one line on standard error naming the problem
    (and where help is), exit 2 — not click's three lines."""
    if isinstance(exc, getattr(click.exceptions, "NoArgsIsHelpError", ())):
        raise exc  # `photoverify` alone: the help, as before
    where = exc.ctx.command_path if exc.ctx is not None else "photoverify"
    message = exc.format_message()
    message = message[:-1] if message.endswith(".") else message
    render.stderr.print(
        f"photoverify: error: {message} (see '{where} --help')",
        markup=False,
        soft_wrap=True,
    )
    sys.exit(exc.exit_code)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="photoverify")
def cli() -> None:
    """Find duplicates in a photo library, plan and carry out its move, verify nothing was lost."""


# Python runs its cycle collector every 700 new container objects, and each pass over the older
# generations walks every object still alive. A run makes its walk, manifest lines, records and
# findings once and keeps them to its end, and reference counting frees what it drops: those
# passes find next to nothing. Every 10,000 instead, on 22,000 small files `verify` spends 8-10 %
# less CPU, `dupes --exact --trust-stat` 3-11 % less time and `dupes` 4-10 %, at the same peak
# memory (benchmarks/RESULTS.md, the fixity section's evening runs). The worker processes a run
# forks keep Python's default: they decode file after file, and any garbage a decode leaves in
# a cycle (an image held by an exception's frames, say) is freed as soon as it was before.
GC_THRESHOLD = (10_000, 10, 10)


def main() -> None:
    default = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLD)
    # What is loaded by now (click, the commands) lives to the end: left out of every later pass
    # (`dupes --exact --trust-stat` on 22,000 files: 0.244 -> 0.228 s, as with no collector)
    gc.freeze()
    os.register_at_fork(after_in_child=lambda: gc.set_threshold(*default))
    cli(prog_name="photoverify")

"""Carrying out a plan (`apply`) and taking it back (`undo`)."""

from __future__ import annotations

import sys

import click

from photoverify import render

from .options import NO_PROGRESS, json_option, quiet_option


@click.command()
@click.argument("plan_path", metavar="PLAN", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--mode",
    type=click.Choice(["copy", "hardlink", "reflink", "reflink-or-copy", "move"]),
    default="copy",
    show_default=True,
    help="move removes each source only after its copy is verified.",
)
@click.option("--dry-run", is_flag=True, help="Say what would happen; change nothing.")
@click.option("--force-space", is_flag=True, help="Start even if DEST looks too small.")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Files copied at once; 1 suits a source on a spinning disk, where parallel reads seek.",
)
@quiet_option()
@json_option
def apply(plan_path, mode, dry_run, force_space, threads, quiet, as_json) -> None:
    """Carry out a plan: journaled, verified, resumable (run the same command again)."""
    from photoverify.dedupe.move import apply_plan
    from photoverify.progress import apply_progress
    from photoverify.verify.manifest import render_b3sum

    with apply_progress(quiet or as_json or dry_run) as progress:
        result = apply_plan(
            plan_path,
            render_manifest=render_b3sum,
            mode=mode,
            dry_run=dry_run,
            force_space=force_space,
            threads=threads,
            progress=progress,
        )
    if as_json:
        render.print_json(result.to_json())
    else:
        render.apply_summary(result)
        for f in result.findings:
            render.stderr.print(f"photoverify: {f.line()}", markup=False)
    sys.exit(0 if result.ok else 1)


@click.command()
@click.argument("journal", type=click.Path(exists=True, dir_okay=False))
@quiet_option(NO_PROGRESS)
@json_option
def undo(journal, quiet, as_json) -> None:
    """Reverse a finished or interrupted apply: remove what it created, put back what it moved."""
    from photoverify.dedupe.move import undo as undo_apply
    from photoverify.verify.manifest import render_b3sum

    result = undo_apply(journal, render_manifest=render_b3sum)
    data = result.to_json()
    if as_json:
        render.print_json(data)
    else:
        for key, value in data.items():
            if not isinstance(value, (dict, list)):
                render.stdout.print(f"{key:18} {value}", markup=False)
    ok = getattr(result, "ok", True)
    sys.exit(0 if ok else 1)

"""The options several commands share (the README's common options among them)."""

from __future__ import annotations

import click

catalog_option = click.option(
    "--catalog",
    "catalog_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Catalog file (default: $PHOTOVERIFY_CATALOG or the user data directory); "
    "photoverify's other state, the decode cache, is kept beside it.",
)
# dedupe.graph.DEFAULT_THRESHOLD, spelled here so that `--help` does not load the graph code
# (tests/cli/test_cli.py checks that the two agree)
threshold_option = click.option(
    "--threshold",
    type=click.IntRange(0, 32),
    default=10,
    show_default=True,
    help="pHash bits within which two images may be one photo.",
)
prefer_option = click.option(
    "--prefer",
    multiple=True,
    type=click.Path(exists=True),
    help="Reference root: its copies are the keepers, never proposed as duplicates.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON on standard output.")
report_option = click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False),
    help="Also write the findings as a self-contained HTML page.",
)
trust_stat_option = click.option(
    "--trust-stat",
    is_flag=True,
    help="Do not read files whose size, mtime and inode match the catalog: take its BLAKE3 "
    "(fast, but blind to bit rot and to tools that keep timestamps).",
)


def existing_file_option(flag: str, dest: str, help: str):
    """An option naming a file that must exist (a folder is refused), e.g. `--check PLAN`."""
    return click.option(flag, dest, type=click.Path(exists=True, dir_okay=False), help=help)


def quiet_option(help: str = "No progress bar on standard error."):
    """--quiet/-q, which every command takes (the README's common options), even one that shows
    no progress: a script passes it to any command."""
    return click.option("--quiet", "-q", is_flag=True, help=help)


NO_PROGRESS = "Accepted by every command; this one shows no progress bar."

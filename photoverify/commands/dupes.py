"""`photoverify dupes`: the duplicate clusters, from the catalog or (--exact) from bytes alone."""

from __future__ import annotations

import os
import sys

import click

from photoverify import render

from .options import (
    catalog_option,
    prefer_option,
    quiet_option,
    threshold_option,
    trust_stat_option,
)


@click.command()
@click.argument("roots", nargs=-1, type=click.Path(exists=True))
@catalog_option
@threshold_option
@prefer_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv", "fdupes", "fdupes0"]),
    default="table",
    show_default=True,
    help="fdupes: one path a line (refused for a name holding a line break); fdupes0: each "
    "path ends with a NUL, each group with another (jdupes -0).",
)
@click.option(
    "--exact",
    is_flag=True,
    help="Identical bytes only, found without a scan or the catalog (as jdupes -r): files "
    "grouped by size, only same-size files read. Needs ROOTS. With --trust-stat, the "
    "catalog's BLAKE3 for files whose stat it holds unchanged.",
)
@trust_stat_option
@quiet_option("No progress bar while scanning ROOTS.")
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
def dupes(roots, catalog_path, threshold, prefer, fmt, exact, trust_stat, quiet, as_json) -> None:
    """Find duplicate clusters (identical bytes, same photo re-encoded) and pick keepers.

    With ROOTS, they are scanned first (cheap when unchanged) and only their files are
    considered; without, the library (every file but the copies verify and audit scanned).
    With --exact, ROOTS are only walked and read; with --exact --trust-stat, a file whose
    stat the catalog holds unchanged is not read (its BLAKE3 is the catalog's)."""
    fmt = "json" if as_json else fmt
    prefer_abs = tuple(os.path.abspath(p) for p in prefer)
    exact_result = None
    if trust_stat and not exact:
        raise click.UsageError("--trust-stat goes with --exact (dupes reads the catalog anyway)")
    if exact:
        from photoverify.dedupe.match import find_exact

        if not roots:
            raise click.UsageError("--exact reads files, not the catalog: name the ROOTS")
        roots_abs = [os.path.abspath(r) for r in roots]
        if trust_stat:
            from photoverify.dedupe.catalog import Catalog

            with Catalog(catalog_path) as catalog:
                exact_result = find_exact(roots_abs, prefer=prefer_abs, known=catalog.digests_of)
        else:
            exact_result = find_exact(roots_abs, prefer=prefer_abs)
        result = exact_result.dupes
        for f in exact_result.errors:
            render.stderr.print(f"photoverify: {f.line()}", markup=False)
    else:
        from photoverify.dedupe.catalog import Catalog
        from photoverify.dedupe.match import DupesOptions, find_duplicates

        from .catalog import records_for

        options = DupesOptions(threshold=threshold, prefer=prefer_abs)
        with Catalog(catalog_path) as catalog:
            # signatures are read for the images a judgement needs, not kept for every record;
            # of the metadata, only what finding duplicates reads
            records = records_for(
                catalog, roots, quiet or fmt != "table", signatures=False, for_matching=True
            )
            result = find_duplicates(records, options, signatures=catalog.signatures)
    _print_dupes(result, fmt, exact_result)
    if exact_result is not None and exact_result.errors:
        sys.exit(1)  # the clusters found are still written; what could not be read was named


def _print_dupes(result, fmt: str, exact_result) -> None:
    """The clusters in the format asked for (JSON: the exact run's own document when --exact)."""
    if fmt == "json":
        if exact_result is not None:
            render.print_json(exact_result.to_json())
        else:
            sys.stdout.writelines(result.json_chunks())  # streamed: the same text as print_json
            sys.stdout.write("\n")
    elif fmt == "csv":
        sys.stdout.flush()
        render.dupes_csv(result, sys.stdout.buffer)
    elif fmt in ("fdupes", "fdupes0"):
        sys.stdout.flush()
        render.dupes_fdupes(result, sys.stdout.buffer, null=fmt == "fdupes0")
    else:
        render.dupes_table(result)

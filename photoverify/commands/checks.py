"""The checking runs: `verify` (a tree against its manifest) and `audit` (a migrated library
against its sources); both end in the same report (report.finish_checks)."""

from __future__ import annotations

import os
from contextlib import ExitStack

import click

from photoverify import render

from .options import (
    catalog_option,
    existing_file_option,
    json_option,
    quiet_option,
    report_option,
    threshold_option,
    trust_stat_option,
)
from .report import finish_checks


@click.command()
@click.argument("root", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--manifest",
    "manifest_path",
    required=True,
    type=click.Path(exists=True),
    help="A manifest (any format `manifest` writes).",
)
@existing_file_option(
    "--expect", "rules", help="A TOML file of metadata expectations (docs/expect-rules.md)."
)
@click.option("--decode", is_flag=True, help="Decode every image fully, play every video through.")
@click.option("--no-decode-cache", is_flag=True, help="Decode again what was decoded before.")
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="Worker processes for scanning and decoding (default: one per core; 0: in this process).",
)
@report_option
@trust_stat_option
@catalog_option
@quiet_option()
@json_option
def verify(
    root,
    manifest_path,
    rules,
    decode,
    no_decode_cache,
    workers,
    report_path,
    trust_stat,
    catalog_path,
    quiet,
    as_json,
) -> None:
    """Check ROOT against a manifest: fixity, decodability, metadata expectations."""
    from photoverify.verify.checks import verify_tree

    from .manifest import not_read_note

    with ExitStack() as opened, render.stage_progress(quiet or as_json) as progress:

        def open_catalog():  # only when a scan is needed: fixity alone reads no catalog
            from photoverify.dedupe.catalog import Catalog

            return opened.enter_context(Catalog(catalog_path))

        result = verify_tree(
            root,
            manifest_path,
            catalog=open_catalog,
            expect_rules=rules,
            decode=decode,
            use_decode_cache=not no_decode_cache,
            workers=workers,
            trust_stat=trust_stat,
            progress=progress,
        )
    if result.digests_reused and not as_json:
        render.stdout.print(not_read_note(result.digests_reused), markup=False)
    finish_checks(result, f"verify {os.path.abspath(root)}", report_path, as_json)


@click.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--against",
    "dest",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="The exported or migrated library to check.",
)
@threshold_option
@click.option(
    "--apple-checksum",
    is_flag=True,
    help="Also try Photo Details.csv fileChecksum (believed a salted SHA-1; never "
    "proof of damage on its own).",
)
@report_option
@catalog_option
@quiet_option("No progress bar while scanning SOURCES and DEST.")
@json_option
def audit(
    sources, dest, threshold, apple_checksum, report_path, catalog_path, quiet, as_json
) -> None:
    """Account for every source photo and video in DEST, and for what metadata it lost."""
    from photoverify.dedupe.catalog import Catalog
    from photoverify.verify.audit import audit_libraries

    with Catalog(catalog_path) as catalog, render.stage_progress(quiet or as_json) as bars:
        result = audit_libraries(
            list(sources),
            dest,
            catalog=catalog,
            threshold=threshold,
            apple_checksum=apple_checksum,
            progress=(lambda f, b, tf, tb: bars("scan", f, tf, b, tb)) if bars else None,
            match_progress=(lambda d, t, b, tb: bars("match", d, t, b, tb)) if bars else None,
        )
    finish_checks(result, f"audit {os.path.abspath(dest)}", report_path, as_json)

"""The catalog's own commands: `scan` fills it, `show` prints what it holds; and the records
dupes, report and plan read from it (`records_for`)."""

from __future__ import annotations

import os
import sys

import click
from click.core import ParameterSource

from photoverify import render

from .options import NO_PROGRESS, catalog_option, existing_file_option, json_option, quiet_option

SHOWN_FIELDS = (
    "kind",
    "format",
    "size",
    "width",
    "height",
    "blake3",
    "phash",
    "captured_at",
    "gps",
    "make",
    "model",
    "content_id",
    "decode_ok",
    "decode_error",
    "error",
)


@click.command()
@click.argument("roots", nargs=-1, required=True, type=click.Path(exists=True))
@catalog_option
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="Worker processes of the local pool (default: one per core; 0: in this process).",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="Where files are read and fingerprinted: a local process pool, or the workers of a "
    "running dask.distributed cluster (pip install 'photoverify[cluster]'). Every dask worker "
    "must see ROOTS at the same absolute paths (shared storage); this process owns the catalog.",
)
@click.option(
    "--scheduler",
    metavar="tcp://HOST:PORT",
    envvar="PHOTOVERIFY_SCHEDULER",
    help="The dask scheduler's address, for --executor dask (default: $PHOTOVERIFY_SCHEDULER).",
)
@existing_file_option(
    "--scheduler-file",
    "scheduler_file",
    help="Instead of --scheduler: the file `dask scheduler --scheduler-file PATH` wrote.",
)
@click.option("--follow-symlinks", is_flag=True, help="Follow symbolic links (loops are reported).")
@click.option(
    "--full-decode",
    is_flag=True,
    help="Hash fully decoded images instead of JPEG draft / HEIC thumbnails.",
)
@quiet_option()
@json_option
def scan(
    roots,
    catalog_path,
    workers,
    executor,
    scheduler,
    scheduler_file,
    follow_symlinks,
    full_decode,
    quiet,
    as_json,
) -> None:
    """Fingerprint every file under ROOTS into the catalog (re-scans read only what changed).

    With --executor dask, batches of files go to the workers of a dask.distributed cluster,
    which read them from storage they share with this process (same paths); a worker lost
    mid-scan costs only its batches, which the scheduler gives to another worker.

    Exits 1 when a file could not be read or decoded (listed under errors), 0 otherwise. A
    picture nothing here decodes (a RAW without a preview, a layout Pillow does not read, one
    over the decode budget) is listed under "not checked": neither an error nor fine."""
    from photoverify.dedupe.catalog import Catalog
    from photoverify.dedupe.catalog.scan import scan as run_scan

    pool = _scan_pool(workers, executor, scheduler, scheduler_file)
    try:
        with Catalog(catalog_path) as catalog, render.scan_progress(quiet or as_json) as progress:
            result = run_scan(
                roots,
                catalog,
                workers=workers,
                executor=pool,
                progress=progress,
                follow_symlinks=follow_symlinks,
                fast=not full_decode,
            )
            catalog.mark_roots(roots, "library", replace=True)
    finally:
        if pool is not None:
            pool.close()
    # the README's exit codes: 1 = the run worked and found problems (files not read or decoded)
    if as_json:
        render.print_json(result.to_json())
    else:
        _print_scan(result)
    sys.exit(1 if result.errors else 0)


def _scan_pool(workers, executor: str, scheduler, scheduler_file):
    """The dask client `--executor dask` asks for (None: the local pool); refuses the options
    that belong to the other executor."""
    ctx = click.get_current_context()
    if executor == "local" and (
        scheduler_file or ctx.get_parameter_source("scheduler") is ParameterSource.COMMANDLINE
    ):
        raise click.UsageError("--scheduler and --scheduler-file are for --executor dask")
    if executor == "dask" and workers is not None:
        raise click.UsageError("--workers sizes the local pool; a dask cluster has its workers")
    if executor != "dask":
        return None
    from photoverify.dedupe.catalog import dask_client

    return dask_client(scheduler, scheduler_file)


def _print_scan(result) -> None:
    out = render.stdout
    out.print(f"catalog  {result.catalog}")
    out.print(
        f"files    {result.files}  (new {result.new}, changed {result.changed}, "
        f"unchanged {result.unchanged}, removed {result.removed})"
    )
    rate = result.bytes_read / result.seconds / 1e6 if result.seconds else 0
    out.print(
        f"read     {result.bytes_read / 1e6:.1f} MB in {result.seconds:.1f} s ({rate:.1f} MB/s)"
    )
    _print_listed("errors", result.errors, "error")
    _print_listed("not checked", result.not_checked, "reason")


def _print_listed(title: str, items: list[dict[str, str]], why: str) -> None:
    """A count, then the first 20 files by path, each broken only after a '/', the `why` of it
    below."""
    if not items:
        return
    from rich.text import Text

    out = render.stdout
    out.print(f"{title:8} {len(items)}")
    for item in sorted(items, key=lambda e: e["path"])[:20]:  # workers finish in any order
        out.print(Text("  ") + render.wrap_path(item["path"], out.width - 2), soft_wrap=False)
        out.print(Text("      " + render.plain_error(item[why])), soft_wrap=False)
    if len(items) > 20:
        out.print(f"  … and {len(items) - 20} more (use --json for all)")


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@catalog_option
@quiet_option(NO_PROGRESS)
@json_option
def show(paths, catalog_path, quiet, as_json) -> None:
    """Print the catalog records of PATHS (files, or every file under a folder)."""
    from photoverify.dedupe.catalog import Catalog

    files = [os.path.abspath(p) for p in paths if not os.path.isdir(p)]
    folders = [os.path.abspath(p) for p in paths if os.path.isdir(p)]
    with Catalog(catalog_path) as catalog:
        records = catalog.records(files, under=folders)
    if as_json:
        render.print_json([r.to_json() for r in records])
    else:
        render.print_lines(_shown(records))
    missing = set(files) - {r.path for r in records}
    for path in sorted(missing):
        render.stderr.print(f"photoverify: not in the catalog: {path}", markup=False)
    if missing:
        sys.exit(1)


def _shown(records):
    """Each record as `show` prints it: its path, then a line a known field."""
    for r in records:
        d = r.to_json()
        yield r.path
        for key in SHOWN_FIELDS:
            if d[key] is not None:
                yield f"  {key:12} {d[key]}"


def records_for(
    catalog,
    roots,
    quiet: bool,
    unlisted: dict | None = None,
    signatures: bool = True,
    for_matching: bool = False,
):
    """Catalog records under ROOTS after scanning them (a root not seen before joins the
    library), or without ROOTS every record of the library (not of the copies verify and
    audit scanned).
    `unlisted`, when given, receives the folders the scan could not list (path -> why).
    `signatures=False`: the records without their picture signatures (`Catalog.signatures`).
    `for_matching`: with only the metadata finding duplicates reads (see Catalog.records), and
    without ROOTS as an iterator over the open catalog: find_duplicates packs them into columns
    as they are read (dedupe.match.table), with no list of them all."""
    if not roots:
        read = catalog.library_records(signatures, for_matching)
        return read if for_matching else list(read)
    from photoverify.dedupe.catalog.scan import scan as run_scan

    with render.scan_progress(quiet) as progress:
        scanned = run_scan(roots, catalog, progress=progress)
    catalog.mark_roots(roots, "library")
    files = [os.path.abspath(p) for p in roots if not os.path.isdir(p)]
    folders = [os.path.abspath(p) for p in roots if os.path.isdir(p)]
    records = catalog.records(
        files, under=folders, signatures=signatures, for_matching=for_matching
    )
    if unlisted is not None:
        have = {r.path for r in records}
        unlisted.update(
            (e["path"].rstrip("/"), e["error"]) for e in scanned.errors if e["path"] not in have
        )
    return records

"""`photoverify manifest`: a checksum manifest of a tree, in the peer tools' formats."""

from __future__ import annotations

import os
import sys

import click

from photoverify import render
from photoverify.dedupe.core import ALGORITHMS

from .options import catalog_option, json_option, quiet_option, trust_stat_option


def not_read_note(n: int) -> str:
    """What --trust-stat left unread, said on every text output that used it."""
    return (
        f"--trust-stat: contents of {n} files were NOT read; "
        "their BLAKE3 came from the catalog because their size, mtime and inode were unchanged"
    )


@click.command()
@click.argument("root", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--algorithm",
    type=click.Choice(list(ALGORITHMS)),
    default=None,
    help="Default: blake3, or sha256 for hashdeep and bagit.",
)
@click.option(
    "--format",
    "fmt",
    default="b3sum",
    type=click.Choice(["b3sum", "sha256sum", "sha1sum", "md5sum", "hashdeep", "bagit", "json"]),
    show_default=True,
    help="Manifest format: the checksum tools' own (b3sum, sha256sum…), hashdeep, a BagIt bag, "
    "or JSON with capture time and GPS from the catalog.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    default=None,
    help="Manifest file (bagit: the bag folder). Default: beside ROOT, ROOT.<format>.",
)
@click.option("--bag-copy", is_flag=True, help="bagit: copy files into the bag instead of linking.")
@trust_stat_option
@catalog_option
@click.option(
    "--no-catalog", is_flag=True, help="Do not open the catalog (json: no capture time, GPS)."
)
@quiet_option("No progress bar while scanning ROOT (--format json).")
@json_option
def manifest(
    root, algorithm, fmt, output, bag_copy, trust_stat, catalog_path, no_catalog, quiet, as_json
) -> None:
    """Write a checksum manifest of ROOT (b3sum, sha256sum, md5sum, hashdeep, BagIt, JSON)."""
    from photoverify.verify.manifest import write_manifest

    root = os.path.abspath(root)
    out = output or f"{root.rstrip('/')}.{fmt if fmt != 'bagit' else 'bag'}"
    if no_catalog and trust_stat:
        raise click.UsageError("--trust-stat takes its digests from the catalog: drop --no-catalog")
    catalog = None if no_catalog else _open_catalog(catalog_path)
    try:
        known, media = _catalog_facts(catalog, root, fmt, trust_stat, quiet or as_json)
        m = write_manifest(
            root,
            out,
            fmt,
            algorithm,
            known_digest=known,
            media_info=media,
            bag_mode="copy" if bag_copy else "link",
        )
    finally:
        if catalog is not None:
            catalog.close()
    _print_manifest(m, out, as_json)
    if any(f.severity == "error" for f in m.errors):
        sys.exit(1)


def _open_catalog(catalog_path):
    from photoverify.dedupe.catalog import Catalog

    return Catalog(catalog_path)


def _catalog_facts(catalog, root: str, fmt: str, trust_stat: bool, quiet: bool):
    """What the manifest takes from the catalog: the known digests (--trust-stat) and, for
    JSON, capture time and GPS, which come from a scan of ROOT."""
    known = media = None
    if catalog is None:
        return known, media
    from photoverify.dedupe.catalog import digest_lookup, media_lookup

    if fmt == "json":
        from photoverify.dedupe.catalog.scan import scan as run_scan

        with render.scan_progress(quiet) as progress:
            run_scan([root], catalog, progress=progress)
        media = media_lookup(catalog)
    if trust_stat:
        known = digest_lookup(catalog)
    return known, media


def _print_manifest(m, out: str, as_json: bool) -> None:
    if as_json:
        render.print_json(
            {
                "manifest": out,
                "format": m.format,
                "algorithm": m.algorithm,
                "files": len(m.entries),
                "digests_reused": m.digests_reused,
                "errors": [f.to_json() for f in m.errors],
            }
        )
        return
    render.stdout.print(f"{out}: {len(m.entries)} files, {m.format}, {m.algorithm}", markup=False)
    if m.digests_reused:
        render.stdout.print(not_read_note(m.digests_reused), markup=False)
    for f in m.errors:
        render.stderr.print(f"photoverify: {f.line()}", markup=False)

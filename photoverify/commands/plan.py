"""`photoverify plan`: a merge plan mapping every original file to its place under DEST
(or, with --check, an existing plan validated)."""

from __future__ import annotations

import os
import sys

import click

from photoverify import render

from .options import (
    catalog_option,
    existing_file_option,
    json_option,
    prefer_option,
    quiet_option,
    threshold_option,
)


@click.command()
@click.argument("roots", nargs=-1, type=click.Path(exists=True))
@click.option("--dest", type=click.Path(file_okay=False), help="The new library's folder.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="The plan file to write.")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False),
    help="Also write the mapping (original path, capture date, new path or fate).",
)
@click.option(
    "--template",
    default="{year}/{month}/{name}",
    show_default=True,
    help="Target path under DEST: {year} {month} {day} {name} {stem} {ext} {make} {model}.",
)
@prefer_option
@threshold_option
@click.option("--exclude", multiple=True, help="Skip paths matching this glob (repeatable).")
@click.option(
    "--exact",
    is_flag=True,
    help="Merge identical bytes only (the clusters of dupes --exact); keep re-encoded copies.",
)
@existing_file_option(
    "--check", "check_path", help="Validate an existing plan instead of writing one."
)
@click.option(
    "--merge-metadata",
    is_flag=True,
    help="Give each kept copy the capture time, GPS, title, keywords, rating and face regions it "
    "lacks, from its duplicates and sidecars (written by apply into DEST only).",
)
@catalog_option
@quiet_option("No progress bar while scanning ROOTS.")
@json_option
def plan(
    roots,
    dest,
    output,
    csv_path,
    template,
    prefer,
    threshold,
    exclude,
    exact,
    check_path,
    merge_metadata,
    catalog_path,
    quiet,
    as_json,
) -> None:
    """Write a merge plan that maps every original file to its place under DEST.

    With ROOTS, they are scanned first and planned; without, the library (every file but the
    copies verify and audit scanned)."""
    if check_path:
        _check(check_path, as_json)
    from photoverify.dedupe.core import UsageError
    from photoverify.dedupe.move import write_csv, write_plan

    if not dest or not output:
        raise UsageError("plan needs --dest DEST and -o PLAN.json (or --check PLAN.json)")
    options = {
        "prefer": [os.path.abspath(p) for p in prefer],
        "threshold": threshold,
        "exclude": list(exclude),
        "template": template,
        "exact": exact,
    }
    the_plan = _make_plan(roots, dest, options, merge_metadata, catalog_path, quiet or as_json)
    write_plan(the_plan, output)
    if csv_path:
        write_csv(the_plan, csv_path)
    summary = _summary(the_plan, output, merge_metadata)
    if as_json:
        render.print_json(summary)
    else:
        _print_summary(summary, dest)


def _check(check_path: str, as_json: bool) -> None:
    """`plan --check PLAN`: the plan's findings, and exit 1 when any is an error."""
    from photoverify.dedupe.move import check_plan, read_plan

    findings = check_plan(read_plan(check_path))
    errors = [f for f in findings if f.severity == "error"]
    if as_json:
        render.print_json(
            {"plan": check_path, "ok": not errors, "findings": [f.to_json() for f in findings]}
        )
    else:
        for f in findings:
            render.stdout.print(f"{f.severity:7} {f.line()}", markup=False)
        render.stdout.print(
            f"{check_path}: " + ("valid" if not errors else f"{len(errors)} problems"),
            markup=False,
        )
    sys.exit(1 if errors else 0)


def _make_plan(roots, dest: str, options: dict, merge_metadata: bool, catalog_path, quiet: bool):
    """The plan of the records under ROOTS (scanned first) or of the library, with the free
    space of DEST; `options` are the plan's own record of how it was made."""
    from photoverify.dedupe.catalog import Catalog
    from photoverify.dedupe.move import build_plan, plan_with_merges, with_free_space

    from .catalog import records_for

    with Catalog(catalog_path) as catalog:
        unlisted: dict[str, str] = {}
        # without their picture signatures, as dupes reads them: the matcher reads those it
        # judges from the open catalog (711 MB of a million 12 MP photos' records otherwise).
        # All the metadata, though: with only what matching reads, the plan of a million files
        # took 20 % less time but 300 MB more at its peak (bench_scale --plan, 2026-12-07)
        records = records_for(catalog, roots, quiet, unlisted, signatures=False)
        catalog_file = str(catalog.path)
        dupes = _clusters(records, options, catalog.signatures)
    scanned_roots = [os.path.abspath(r) for r in roots] or sorted({r.root for r in records})

    def build(recs):
        return build_plan(
            recs,
            dupes,
            os.path.abspath(dest),
            template=options["template"],
            roots=scanned_roots,
            catalog=catalog_file,
            options=options,
            unreadable=unlisted,
        )

    if merge_metadata:
        return with_free_space(plan_with_merges(records, dupes, build))
    return with_free_space(build(records))


def _clusters(records, options: dict, signatures):
    """The duplicate clusters the plan merges: identical bytes only (--exact), or those of
    `dupes` (re-encoded copies too; `signatures`: the catalog's, for the images judged)."""
    prefer = tuple(options["prefer"])
    if options["exact"]:
        from photoverify.dedupe.match import exact_asset_clusters

        return exact_asset_clusters(records, prefer)
    from photoverify.dedupe.match import DupesOptions, find_duplicates

    options = DupesOptions(threshold=options["threshold"], prefer=prefer)
    return find_duplicates(records, options, signatures=signatures)


def _summary(the_plan, output: str, merge_metadata: bool) -> dict:
    """What `plan --json` prints: counts, bytes, what could not be read, what the merge gives."""
    summary = {
        "plan": output,
        "counts": the_plan.counts(),
        "bytes_to_write": the_plan.bytes_to_write,
        "dest_free_bytes": the_plan.dest_free_bytes,
        # what could not be read is named, never silently left out (each is a skip entry)
        "unreadable": [
            {"path": e.source, "reason": e.reason}
            for e in the_plan.entries
            if e.action == "skip" and (e.reason or "").startswith("unreadable")
        ],
    }
    if merge_metadata:
        merges = [e.merge for e in the_plan.entries if e.merge]
        summary["metadata_merge"] = {
            "files": sum(1 for m in merges if m["fields"] and not m["refused"]),
            "fields": sum(len(m["fields"]) for m in merges if not m["refused"]),
            "conflicts": sum(len(m["conflicts"]) for m in merges),
        }
    return summary


def _print_summary(summary: dict, dest: str) -> None:
    for u in summary["unreadable"]:
        render.stderr.print(f"photoverify: {u['path']}: {u['reason']}", markup=False)
    counts = ", ".join(f"{n} {k}" for k, n in sorted(summary["counts"].items()))
    render.stdout.print(f"{summary['plan']}: {counts}", markup=False)
    render.stdout.print(
        f"writes {summary['bytes_to_write'] / 1e6:.1f} MB into {dest} "
        f"({summary['dest_free_bytes'] / 1e9:.1f} GB free)",
        markup=False,
    )
    if "metadata_merge" in summary:
        mm = summary["metadata_merge"]
        render.stdout.print(
            f"metadata merge: {mm['files']} files receive {mm['fields']} fields; "
            f"{mm['conflicts']} conflicts left unmerged (listed in the plan)",
            markup=False,
        )

"""`photoverify report`, and what verify and audit share: their findings as a report model,
rendered on the terminal, as JSON, or as a self-contained HTML page."""

from __future__ import annotations

import sys

import click

from photoverify import render

from .options import catalog_option, existing_file_option, json_option, quiet_option


@click.command()
@click.argument("roots", nargs=-1, type=click.Path(exists=True))
@catalog_option
@click.option("--dupes", "with_dupes", is_flag=True, help="Include the duplicate clusters.")
@existing_file_option(
    "--verify",
    "verify_json",
    help="Include the findings of `photoverify verify --json` saved in this file.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), required=True, help="The HTML file to write."
)
@click.option("--title", default="photoverify report", show_default=True, help="The page's title.")
@click.option("--no-thumbnails", is_flag=True, help="Leave thumbnails out (faster).")
@quiet_option("No progress bar while scanning ROOTS.")
@json_option
def report(
    roots, catalog_path, with_dupes, verify_json, output, title, no_thumbnails, quiet, as_json
) -> None:
    """Render duplicate clusters and verification findings as one self-contained HTML page.

    With ROOTS, they are scanned first (cheap when unchanged) and only their files are
    considered; without, the library (every file but the copies verify and audit scanned)."""
    from photoverify.dedupe.catalog import Catalog
    from photoverify.verify.report import (
        build_report,
        read_verify_json,
        render_html,
        render_terminal,
    )

    from .catalog import records_for

    with Catalog(catalog_path) as catalog:
        records = {r.path: r for r in records_for(catalog, roots, quiet or as_json)}
    dupes = None
    if with_dupes:
        from photoverify.dedupe.match import find_duplicates

        dupes = find_duplicates(list(records.values()))
    findings, counts = [], None
    if verify_json:
        findings, counts = read_verify_json(verify_json)
    model = build_report(findings, counts=counts, dupes=dupes, records=records, title=title)
    render_html(model, output, thumbnails=not no_thumbnails)
    if as_json:
        render.print_json(model.to_json())
    else:
        render_terminal(model, render.stdout)
        render.stdout.print(f"report written to {output}", markup=False)


def finish_checks(result, title: str, report_path: str | None, as_json: bool) -> None:
    """What verify and audit share: the HTML report, the summary or JSON, the exit code."""
    if report_path or not as_json:  # the report model is for people: JSON is the result's own
        model = _checks_model(result, title)
        if report_path:
            from photoverify.verify.report import render_html

            render_html(model, report_path)
    if as_json:
        render.print_json(result.to_json())
    else:
        from photoverify.verify.report import render_terminal

        render_terminal(model, render.stdout, seconds=getattr(result, "seconds", None))
        if report_path:
            render.stdout.print(f"report written to {report_path}", markup=False)
    sys.exit(result.exit_code)


def _checks_model(result, title: str):
    """The report model of a verify or an audit result (an audit as a person reads it)."""
    from photoverify.verify.report import build_report

    findings, counts, severities = result.findings, result.counts, None
    if hasattr(result, "assets"):  # an audit: shown as a person reads it (verify.audit_view)
        from photoverify.verify.audit import audit_view

        findings, counts, severities = audit_view(result)
    return build_report(
        findings, counts=counts, records=result.records, title=title, severity_overrides=severities
    )

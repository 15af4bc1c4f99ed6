"""The command line: each command parses its arguments, calls one library function and renders
the result. Exit codes: 0 all well, 1 the run worked and found problems, 2 usage error,
3 environment error (exiftool missing, catalog unreadable)."""

from __future__ import annotations

import os
import sys

import click
from click.core import ParameterSource
from rich.text import Text

from photoverify.dedupe.catalog import Catalog, digest_lookup, media_lookup
from photoverify.dedupe.catalog import scan as run_scan
from photoverify.dedupe.core import ALGORITHMS, PhotoverifyError

from . import __version__, render
from . import doctor as doctor_mod

catalog_option = click.option(
    "--catalog",
    "catalog_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Catalog file (default: $PHOTOVERIFY_CATALOG or the user data directory); "
    "photoverify's other state, the decode cache, is kept beside it.",
)
# dedupe.graph.DEFAULT_THRESHOLD, spelled here so that `--help` does not load the graph code
# (tests/cli/test_cli.py.py checks that the two agree)
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


def quiet_option(help: str = "No progress bar on standard error."):
    """--quiet/-q, which every command takes (the README's common options), even one that shows
    no progress: a script passes it to any command."""
    return click.option("--quiet", "-q", is_flag=True, help=help)


NO_PROGRESS = "Accepted by every command; this one shows no progress bar."


class Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # in the order of the workflow, not the alphabet

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


@cli.command()
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
@click.option(
    "--scheduler-file",
    type=click.Path(exists=True, dir_okay=False),
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

    Exits 1 when a file could not be read or decoded (listed under errors), 0 otherwise."""
    ctx = click.get_current_context()
    if executor == "local" and (
        scheduler_file or ctx.get_parameter_source("scheduler") is ParameterSource.COMMANDLINE
    ):
        raise click.UsageError("--scheduler and --scheduler-file are for --executor dask")
    if executor == "dask" and workers is not None:
        raise click.UsageError("--workers sizes the local pool; a dask cluster has its workers")
    pool = None
    if executor == "dask":
        from photoverify.dedupe.catalog import dask_client

        pool = dask_client(scheduler, scheduler_file)
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
        sys.exit(1 if result.errors else 0)
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
    if result.errors:
        out.print(f"errors   {len(result.errors)}")
        errors = sorted(result.errors, key=lambda e: e["path"])  # workers finish in any order
        for err in errors[:20]:  # the path broken only after a '/', the reason below it
            out.print(Text("  ") + render.wrap_path(err["path"], out.width - 2), soft_wrap=False)
            out.print(Text("      " + render.plain_error(err["error"])), soft_wrap=False)
        if len(result.errors) > 20:
            out.print(f"  … and {len(result.errors) - 20} more (use --json for all)")
        sys.exit(1)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@catalog_option
@quiet_option(NO_PROGRESS)
@json_option
def show(paths, catalog_path, quiet, as_json) -> None:
    """Print the catalog records of PATHS (files, or every file under a folder)."""
    files = [os.path.abspath(p) for p in paths if not os.path.isdir(p)]
    folders = [os.path.abspath(p) for p in paths if os.path.isdir(p)]
    with Catalog(catalog_path) as catalog:
        records = catalog.records(files, under=folders)
    if as_json:
        render.print_json([r.to_json() for r in records])
    else:
        for r in records:
            d = r.to_json()
            render.stdout.print(r.path, markup=False)
            for key in (
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
            ):
                if d[key] is not None:
                    render.stdout.print(f"  {key:12} {d[key]}", markup=False)
    missing = set(files) - {r.path for r in records}
    for path in sorted(missing):
        render.stderr.print(f"photoverify: not in the catalog: {path}", markup=False)
    if missing:
        sys.exit(1)


@cli.command()
@catalog_option
@quiet_option(NO_PROGRESS)
@json_option
def doctor(catalog_path, quiet, as_json) -> None:
    """Report the versions of exiftool, libheif and FFmpeg, what is missing, and the formats
    with their decoders."""
    checks = doctor_mod.checks()
    location = catalog_path or doctor_mod.catalog_location()
    from photoverify.verify.checks import decode_cache_path

    decode_cache = str(decode_cache_path(location))
    try:
        formats = doctor_mod.formats()
    except ImportError:  # a decoder missing: the checks above say which
        formats = []
    if as_json:
        render.print_json(
            {
                "catalog": location,
                "decode_cache": decode_cache,
                "checks": [c.__dict__ for c in checks],
                "formats": formats,
            }
        )
    else:
        for c in checks:
            mark = "ok     " if c.ok else "MISSING"
            line = f"{mark} {c.name}: {c.version or ''}"
            if c.fix:
                line += f"  → install: {c.fix}"
            render.stdout.print(line, markup=False)
        render.stdout.print(f"catalog {location}", markup=False)
        render.stdout.print(f"decode cache {decode_cache}", markup=False)
        if formats:
            render.stdout.print("formats (format, decoder, version):", markup=False)
            for row in formats:
                line = f"  {row['format']:<6} {row['decoder']}"
                line += f" {row['version']}" if row["version"] else " (unsupported-format)"
                render.stdout.print(line, markup=False)
    required = [c for c in checks if not c.ok and "optional" not in c.name]
    if required:
        sys.exit(3)


@cli.command()
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
    "grouped by size, only same-size files read. Needs ROOTS.",
)
@quiet_option("No progress bar while scanning ROOTS.")
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
def dupes(roots, catalog_path, threshold, prefer, fmt, exact, quiet, as_json) -> None:
    """Find duplicate clusters (identical bytes, same photo re-encoded) and pick keepers.

    With ROOTS, they are scanned first (cheap when unchanged) and only their files are
    considered; without, the library (every file but the copies verify and audit scanned).
    With --exact, ROOTS are only walked and read."""
    fmt = "json" if as_json else fmt
    prefer_abs = tuple(os.path.abspath(p) for p in prefer)
    exact_result = None
    if exact:
        from photoverify.dedupe.match import find_exact

        if not roots:
            raise click.UsageError("--exact reads files, not the catalog: name the ROOTS")
        exact_result = find_exact([os.path.abspath(r) for r in roots], prefer=prefer_abs)
        result = exact_result.dupes
        for f in exact_result.errors:
            render.stderr.print(f"photoverify: {f.line()}", markup=False)
    else:
        from photoverify.dedupe.match import DupesOptions, find_duplicates

        with Catalog(catalog_path) as catalog:
            records = _records_for(catalog, roots, quiet or fmt != "table")
        result = find_duplicates(records, DupesOptions(threshold=threshold, prefer=prefer_abs))
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
    if exact_result is not None and exact_result.errors:
        sys.exit(1)  # the clusters found are still written; what could not be read was named


def _records_for(catalog: Catalog, roots, quiet: bool, unlisted: dict | None = None):
    """Catalog records under ROOTS after scanning them (a root not seen before joins the
    library), or without ROOTS every record of the library (not of the copies verify and
    audit scanned).
    `unlisted`, when given, receives the folders the scan could not list (path -> why)."""
    if not roots:
        return list(catalog.library_records())
    with render.scan_progress(quiet) as progress:
        scanned = run_scan(roots, catalog, progress=progress)
    catalog.mark_roots(roots, "library")
    files = [os.path.abspath(p) for p in roots if not os.path.isdir(p)]
    folders = [os.path.abspath(p) for p in roots if os.path.isdir(p)]
    records = catalog.records(files, under=folders)
    if unlisted is not None:
        have = {r.path for r in records}
        unlisted.update(
            (e["path"].rstrip("/"), e["error"]) for e in scanned.errors if e["path"] not in have
        )
    return records


trust_stat_option = click.option(
    "--trust-stat",
    is_flag=True,
    help="Do not read files whose size, mtime and inode match the catalog: take its BLAKE3 "
    "(fast, but blind to bit rot and to tools that keep timestamps).",
)


def _not_read_note(n: int) -> str:
    return (
        f"--trust-stat: contents of {n} files were NOT read; "
        "their BLAKE3 came from the catalog because their size, mtime and inode were unchanged"
    )


@cli.command()
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
    known = media = None
    catalog = None
    if not no_catalog:
        catalog = Catalog(catalog_path)
        if fmt == "json":  # capture time and GPS come from a scan
            with render.scan_progress(quiet or as_json) as progress:
                run_scan([root], catalog, progress=progress)
            media = media_lookup(catalog)
        if trust_stat:
            known = digest_lookup(catalog)
    elif trust_stat:
        raise click.UsageError("--trust-stat takes its digests from the catalog: drop --no-catalog")
    try:
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
    errors = [f for f in m.errors if f.severity == "error"]
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
    else:
        render.stdout.print(
            f"{out}: {len(m.entries)} files, {m.format}, {m.algorithm}", markup=False
        )
        if m.digests_reused:
            render.stdout.print(_not_read_note(m.digests_reused), markup=False)
        for f in m.errors:
            render.stderr.print(f"photoverify: {f.line()}", markup=False)
    if errors:
        sys.exit(1)


@cli.command()
@click.argument("roots", nargs=-1, type=click.Path(exists=True))
@catalog_option
@click.option("--dupes", "with_dupes", is_flag=True, help="Include the duplicate clusters.")
@click.option(
    "--verify",
    "verify_json",
    type=click.Path(exists=True, dir_okay=False),
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
    from photoverify.verify.report import (
        build_report,
        read_verify_json,
        render_html,
        render_terminal,
    )

    with Catalog(catalog_path) as catalog:
        records = {r.path: r for r in _records_for(catalog, roots, quiet or as_json)}
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


def _finish_checks(result, title: str, report_path: str | None, as_json: bool) -> None:
    """What verify and audit share: the HTML report, the summary or JSON, the exit code."""
    from photoverify.verify.report import build_report, render_html, render_terminal

    findings, counts, severities = result.findings, result.counts, None
    if hasattr(result, "assets"):  # an audit: shown as a person reads it (verify.audit_view)
        from photoverify.verify.audit import audit_view

        findings, counts, severities = audit_view(result)
    model = build_report(
        findings, counts=counts, records=result.records, title=title, severity_overrides=severities
    )
    if report_path:
        render_html(model, report_path)
    if as_json:
        render.print_json(result.to_json())
    else:
        render_terminal(model, render.stdout, seconds=getattr(result, "seconds", None))
        if report_path:
            render.stdout.print(f"report written to {report_path}", markup=False)
    sys.exit(result.exit_code)


@cli.command()
@click.argument("root", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--manifest",
    "manifest_path",
    required=True,
    type=click.Path(exists=True),
    help="A manifest (any format `manifest` writes).",
)
@click.option(
    "--expect",
    "rules",
    type=click.Path(exists=True, dir_okay=False),
    help="A TOML file of metadata expectations (docs/expect-rules.md).",
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

    with Catalog(catalog_path) as catalog, render.stage_progress(quiet or as_json) as progress:
        result = verify_tree(
            root,
            manifest_path,
            catalog=catalog,
            expect_rules=rules,
            decode=decode,
            use_decode_cache=not no_decode_cache,
            workers=workers,
            trust_stat=trust_stat,
            progress=progress,
        )
    if result.digests_reused and not as_json:
        render.stdout.print(_not_read_note(result.digests_reused), markup=False)
    _finish_checks(result, f"verify {os.path.abspath(root)}", report_path, as_json)


@cli.command()
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
@click.option(
    "--check",
    "check_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Validate an existing plan instead of writing one.",
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
    from photoverify.dedupe.core import UsageError
    from photoverify.dedupe.match import DupesOptions, find_duplicates
    from photoverify.dedupe.move import (
        build_plan,
        check_plan,
        read_plan,
        with_free_space,
        write_csv,
        write_plan,
    )

    if check_path:
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
    if not dest or not output:
        raise UsageError("plan needs --dest DEST and -o PLAN.json (or --check PLAN.json)")
    prefer_abs = tuple(os.path.abspath(p) for p in prefer)
    with Catalog(catalog_path) as catalog:
        unlisted: dict[str, str] = {}
        records = _records_for(catalog, roots, quiet or as_json, unlisted)
        catalog_file = str(catalog.path)
    if exact:
        from photoverify.dedupe.match import exact_asset_clusters

        dupes = exact_asset_clusters(records, prefer_abs)
    else:
        dupes = find_duplicates(records, DupesOptions(threshold=threshold, prefer=prefer_abs))
    scanned_roots = [os.path.abspath(r) for r in roots] or sorted({r.root for r in records})

    def build(recs):
        return build_plan(
            recs,
            dupes,
            os.path.abspath(dest),
            template=template,
            roots=scanned_roots,
            catalog=catalog_file,
            options={
                "prefer": list(prefer_abs),
                "threshold": threshold,
                "exclude": list(exclude),
                "template": template,
                "exact": exact,
            },
            unreadable=unlisted,
        )

    if merge_metadata:
        from photoverify.dedupe.move import plan_with_merges

        the_plan = with_free_space(plan_with_merges(records, dupes, build))
    else:
        the_plan = with_free_space(build(records))
    write_plan(the_plan, output)
    if csv_path:
        write_csv(the_plan, csv_path)
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
    if as_json:
        render.print_json(summary)
    else:
        for u in summary["unreadable"]:
            render.stderr.print(f"photoverify: {u['path']}: {u['reason']}", markup=False)
        counts = ", ".join(f"{n} {k}" for k, n in sorted(the_plan.counts().items()))
        render.stdout.print(f"{output}: {counts}", markup=False)
        render.stdout.print(
            f"writes {the_plan.bytes_to_write / 1e6:.1f} MB into {dest} "
            f"({the_plan.dest_free_bytes / 1e9:.1f} GB free)",
            markup=False,
        )
        if merge_metadata:
            mm = summary["metadata_merge"]
            render.stdout.print(
                f"metadata merge: {mm['files']} files receive {mm['fields']} fields; "
                f"{mm['conflicts']} conflicts left unmerged (listed in the plan)",
                markup=False,
            )


@cli.command()
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
    from photoverify.verify.manifest import render_b3sum

    from .progress import apply_progress

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


@cli.command()
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


@cli.command()
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
    _finish_checks(result, f"audit {os.path.abspath(dest)}", report_path, as_json)


def main() -> None:
    cli(prog_name="photoverify")

"""`photoverify doctor`: the tools photoverify runs, their versions, and the formats it decodes."""

from __future__ import annotations

import sys

import click

from photoverify import render

from .options import NO_PROGRESS, catalog_option, json_option, quiet_option


@click.command()
@catalog_option
@quiet_option(NO_PROGRESS)
@json_option
def doctor(catalog_path, quiet, as_json) -> None:
    """Report the versions of exiftool, libheif and FFmpeg, what is missing, and the formats
    with their decoders."""
    from photoverify import doctor as doctor_mod
    from photoverify.verify.checks import decode_cache_path

    checks = doctor_mod.checks()
    location = catalog_path or doctor_mod.catalog_location()
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
        _print_doctor(checks, location, decode_cache, formats)
    required = [c for c in checks if not c.ok and "optional" not in c.name]
    if required:
        sys.exit(3)


def _print_doctor(checks, location: str, decode_cache: str, formats: list[dict]) -> None:
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

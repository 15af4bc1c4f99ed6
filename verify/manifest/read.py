"""Reading a manifest file or a bag (read_manifest), its format detected (detect_format) unless
given."""

from __future__ import annotations

import os
import re
from pathlib import Path

from photoverify.dedupe.core.errors import ManifestError, UsageError
from photoverify.dedupe.core.jsonio import read_text
from photoverify.verify.manifest.entries import FORMATS, LINE_FORMATS, Manifest
from photoverify.verify.manifest.sums import read_sums, sum_algorithm_hint


def read_manifest(path: str | os.PathLike, fmt: str | None = None) -> Manifest:
    """Read a manifest file (or a bag directory); the format is detected when fmt is None."""
    p = Path(path)
    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"unknown manifest format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if p.is_dir():
        if fmt not in (None, "bagit"):
            raise ManifestError(f"{p}: is a directory, not a {fmt} manifest")
        from photoverify.verify.manifest.bag import read_bag  # each format's reader on demand

        return read_bag(p)
    in_bag = re.fullmatch(r"manifest-\w+\.txt", p.name) and (p.parent / "bagit.txt").exists()
    if fmt == "bagit" or (fmt is None and in_bag):
        from photoverify.verify.manifest.bag import read_bag

        return read_bag(p.parent if p.is_file() else p)
    text = read_text(p, ManifestError, "manifest")
    explicit = fmt is not None
    if fmt is None:
        fmt = detect_format(text, p.name)
    if fmt == "json":
        from photoverify.verify.manifest.json_format import read_json

        return read_json(p, text)
    if fmt == "hashdeep":
        from photoverify.verify.manifest.hashdeep import read_hashdeep

        return read_hashdeep(p, text)
    return read_sums(p, text, LINE_FORMATS[fmt] if explicit else None)


def detect_format(text: str, name: str = "") -> str:
    """Guess a manifest's format from its content (and, for 64-hex sums, its file name)."""
    head = text.lstrip()
    if head.startswith("%%%% HASHDEEP"):
        return "hashdeep"
    if head.startswith("{"):
        return "json"
    algorithm = sum_algorithm_hint(text, name)
    for fmt, alg in LINE_FORMATS.items():
        if alg == algorithm:
            return fmt
    return "sha256sum"

"""The ``hashdeep`` format, written and read: the HASHDEEP-1.0 CSV with sizes, paths written
``./rel`` as ``hashdeep -l`` does.

Audit it from inside ROOT with ``hashdeep -a -k MANIFEST -r -l .`` (without ``-l`` hashdeep
compares absolute paths and reports every file as moved). The format has no escaping, so a name
holding a newline cannot be written: such files are left out and reported in ``errors``.
"""

from __future__ import annotations

import re
from pathlib import Path

from photoverify.dedupe.core.errors import ManifestError, UsageError
from photoverify.verify.manifest.entries import HEX_LENGTH, STRENGTH, Manifest, ManifestEntry
from photoverify.verify.manifest.parsing import add_entry, checked_path, split_lines


def render_hashdeep(root: str | Path, algorithm: str, entries: list[ManifestEntry]) -> bytes:
    lines = [
        "%%%% HASHDEEP-1.0\n",
        f"%%%% size,{algorithm},filename\n",
        f"## Invoked from: {root}\n",
        f"## $ photoverify manifest --format hashdeep --algorithm {algorithm}\n",
        "## \n",
    ]
    for e in entries:
        if e.size is None:
            raise UsageError(f"{e.path!r}: hashdeep needs a size")
        lines.append(f"{e.size},{e.digests[algorithm]},./{e.path}\n")
    return "".join(lines).encode("utf-8", "surrogateescape")


def read_hashdeep(p: Path, text: str) -> Manifest:
    entries: dict[str, ManifestEntry] = {}
    columns: list[str] | None = None
    algs_seen: set[str] = set()
    for lineno, line in enumerate(split_lines(text), 1):
        where = f"{p}:{lineno}"
        if line.startswith("%%%%"):
            body = line[4:].strip()
            if body.startswith("HASHDEEP"):
                if body != "HASHDEEP-1.0":
                    raise ManifestError(f"{where}: unsupported version {body!r}")
                columns = None
                continue
            columns = [c.strip().lower() for c in body.split(",")]
            if len(columns) < 2 or columns[0] != "size" or columns[-1] != "filename":
                raise ManifestError(f"{where}: bad column header {body!r}")
            continue
        if line.startswith("##") or not line.strip():
            continue
        if columns is None:
            raise ManifestError(f"{where}: entry before the %%%% column header")
        fields = line.split(",", len(columns) - 1)
        if len(fields) != len(columns):
            raise ManifestError(f"{where}: expected {len(columns)} fields")
        # int() would also take "-5", " 5", "1_000" and "١٢"; hashdeep writes ASCII digits.
        if not re.fullmatch(r"[0-9]{1,20}", fields[0]):
            raise ManifestError(f"{where}: size {fields[0]!r} is not a number")
        size = int(fields[0])
        digests = {}
        for col, value in zip(columns[1:-1], fields[1:-1], strict=True):
            if not re.fullmatch(r"[0-9a-fA-F]+", value):
                raise ManifestError(f"{where}: {col} digest {value!r} is not hexadecimal")
            if col in HEX_LENGTH and len(value) != HEX_LENGTH[col]:
                raise ManifestError(f"{where}: {col} digest has {len(value)} hex digits")
            digests[col] = value.lower()
        name = fields[-1]
        if name.startswith("/"):
            raise ManifestError(
                f"{where}: refused entry: absolute path {name!r} (write hashdeep files with -l)"
            )
        rel = checked_path(name, where)
        algs_seen.update(digests)
        add_entry(entries, ManifestEntry(rel, digests, size=size, line=lineno), where)
    if not entries:
        raise ManifestError(f"{p}: no hashdeep entries")
    usable = [
        a for a in STRENGTH if a in algs_seen and all(a in e.digests for e in entries.values())
    ]
    if not usable:
        raise ManifestError(f"{p}: no supported algorithm among {', '.join(sorted(algs_seen))}")
    return Manifest(usable[0], "hashdeep", list(entries.values()), str(p))

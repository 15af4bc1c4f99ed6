"""What every manifest reader shares: the lines of a manifest's text, a name checked before it
is read, and one entry per spelling of a name."""

from __future__ import annotations

from collections.abc import Iterator

from photoverify.dedupe.core.errors import ManifestError
from photoverify.verify.manifest.entries import ManifestEntry, safe_relpath


def split_lines(text: str) -> Iterator[str]:
    """The lines of a manifest one at a time (a list of a million lines costs ~150 MB)."""
    # A manifest saved on Windows: strip CR only when every line has one, since a lone trailing
    # CR may belong to a name.
    n_lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    n_cr = text.count("\r\n") + (1 if text.endswith("\r") else 0)
    crlf = n_lines > 0 and n_cr == n_lines
    start, end = 0, len(text)
    while start < end:
        stop = text.find("\n", start)
        if stop < 0:
            stop = end
        line = text[start:stop]
        start = stop + 1
        yield line[:-1] if crlf else line


def checked_path(raw: str, where: str) -> str:
    try:
        return safe_relpath(raw)
    except ValueError as exc:
        raise ManifestError(f"{where}: refused entry: {exc}") from None


def add_entry(entries: dict[str, ManifestEntry], entry: ManifestEntry, where: str) -> None:
    # Keyed by the exact spelling: NFC and NFD `café` are two files on Linux, both listed.
    # Matching across normalizations is the checker's (fixity.check_fixity).
    key = entry.path
    old = entries.get(key)
    if old is None:
        entries[key] = entry
        return
    for alg, d in entry.digests.items():
        if old.digests.get(alg, d) != d:
            raise ManifestError(f"{where}: {entry.path!r} listed again with another digest")
        old.digests[alg] = d

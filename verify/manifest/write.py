"""Writing a manifest: of a tree on disk (write_manifest), or of digests a caller already holds
(render_manifest), in any of the formats (sums, hashdeep, bag, json_format)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from photoverify.dedupe.core.errors import UsageError
from photoverify.dedupe.core.findings import Finding
from photoverify.dedupe.core.hashing import ALGORITHMS
from photoverify.dedupe.core.outfile import write_output
from photoverify.verify.manifest.bag import write_bag
from photoverify.verify.manifest.entries import (
    BAGIT_ALGORITHMS,
    DEFAULT_ALGORITHM,
    FORMATS,
    HASHDEEP_ALGORITHMS,
    LINE_FORMATS,
    KnownDigest,
    Manifest,
    ManifestEntry,
    MediaInfo,
    Progress,
    holdable,
)
from photoverify.verify.manifest.hashdeep import render_hashdeep
from photoverify.verify.manifest.json_format import render_json
from photoverify.verify.manifest.sums import sum_line
from photoverify.verify.manifest.tree import hash_tree_files, walk_tree


def write_manifest(
    root: str | os.PathLike,
    out_path: str | os.PathLike,
    fmt: str = "b3sum",
    algorithm: str | None = None,
    known_digest: KnownDigest | None = None,
    media_info: MediaInfo | None = None,
    progress: Progress | None = None,
    bag_mode: str = "link",
) -> Manifest:
    """Hash every regular file under root and write a manifest of format `fmt` to out_path.

    For ``bagit`` out_path is the bag directory (`bag_mode`: see the bag module).
    Files that cannot be read are left out and returned in ``Manifest.errors``.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown manifest format {fmt!r}; choose one of {', '.join(FORMATS)}")
    algorithm = _resolve_algorithm(fmt, algorithm)
    root_p = Path(root).absolute()
    out_p = Path(out_path).absolute()
    if not root_p.is_dir():
        raise UsageError(f"{root_p}: not a directory")
    if fmt == "bagit":
        return write_bag(root_p, out_p, algorithm, known_digest, progress, bag_mode)

    # A line format holds no size or mtime: its files need no stat unless the stat-only opt-in
    # compares stats (the sizes of the entries are then those the reads found).
    stat = fmt not in LINE_FORMATS or known_digest is not None
    files, errors = walk_tree(root_p, skip=(str(out_p), str(out_p) + ".tmp"), stat=stat)
    files = holdable(fmt, files, errors)
    entries, reused = hash_tree_files(files, (algorithm,), known_digest, progress, errors)
    del files  # the walk's records, ~450 bytes a file: not held while the file is written
    if fmt == "json" and media_info is not None:
        for e in entries:
            info = media_info(str(root_p / e.path)) or {}
            e.extra.update({k: info[k] for k in ("captured_at", "gps") if info.get(k) is not None})

    manifest = Manifest(
        algorithm, fmt, entries, str(out_p), str(root_p), errors=errors, digests_reused=reused
    )
    write_output(out_p, render_pieces(manifest))
    return manifest


def render_manifest(manifest: Manifest) -> bytes:
    """The bytes of a manifest file in manifest.format (any but ``bagit``, which is a directory).

    Lets a caller write a manifest from digests it already holds (e.g. the catalog's, or apply's
    ledger) without walking a tree. Entries need ``size`` for hashdeep. An entry the format
    cannot hold (see :func:`unholdable`) is moved from ``manifest.entries`` to
    ``manifest.errors``, one finding naming it: every manifest written reads back, here and in
    the peer tool.
    """
    return b"".join(render_pieces(manifest))


def render_pieces(manifest: Manifest, per_piece: int = 4096) -> Iterable[bytes]:
    """render_manifest's bytes in pieces: a line format `per_piece` lines at a time (a million
    lines are never one list and one string in memory as well as the entries). What the
    format cannot hold is settled here, before a piece is made."""
    manifest.entries = holdable(manifest.format, manifest.entries, manifest.errors)
    fmt, algorithm, entries = manifest.format, manifest.algorithm, manifest.entries
    if fmt in LINE_FORMATS:
        return _lines(entries, algorithm, per_piece)
    if fmt == "hashdeep":
        return [render_hashdeep(manifest.root or "", algorithm, entries)]
    if fmt == "json":
        return [render_json(manifest.root or "", algorithm, entries)]
    raise UsageError(f"format {fmt!r} is not a single manifest file")


def _lines(entries: list[ManifestEntry], algorithm: str, per_piece: int) -> Iterator[bytes]:
    for start in range(0, len(entries), per_piece):
        chunk = entries[start : start + per_piece]
        yield b"".join([sum_line(e.digests[algorithm], e.path) for e in chunk])


def _resolve_algorithm(fmt: str, algorithm: str | None) -> str:
    if algorithm is None:
        return DEFAULT_ALGORITHM[fmt]
    if algorithm not in ALGORITHMS:
        raise UsageError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    if fmt in LINE_FORMATS and LINE_FORMATS[fmt] != algorithm:
        raise UsageError(f"format {fmt} holds {LINE_FORMATS[fmt]} digests, not {algorithm}")
    if fmt == "hashdeep" and algorithm not in HASHDEEP_ALGORITHMS:
        raise UsageError(f"hashdeep cannot hold {algorithm}; use md5, sha1 or sha256")
    if fmt == "bagit" and algorithm not in BAGIT_ALGORITHMS:
        raise UsageError(f"BagIt cannot hold {algorithm}; use sha256, sha1 or md5")
    return algorithm


def render_b3sum(blake3s: dict[str, str], name: str) -> tuple[bytes, list[Finding]]:
    """The b3sum manifest `name` of {relative path: BLAKE3}, sorted by path, and a finding for
    each file it cannot hold (left out): the manifest apply writes into DEST, handed to
    photoverify.dedupe.move's apply_plan and undo, which do not import verify."""
    entries = [ManifestEntry(p, {"blake3": h}) for p, h in sorted(blake3s.items())]
    manifest = Manifest("blake3", "b3sum", entries, name)
    return render_manifest(manifest), manifest.errors

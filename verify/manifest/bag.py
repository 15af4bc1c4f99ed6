"""The ``bagit`` format, written and read: a BagIt 1.0 bag that bagit-python validates.

BagIt needs the payload under ``data/`` and the user's files are never moved, so:

- ``out_path == root`` (in place): allowed only when ROOT already has a ``data/`` directory;
  the tag files are written into ROOT and the payload is ROOT/data.
- ``bag_mode="link"`` (default): OUT/data is a tree of *hard links* to ROOT's files. Nothing is
  copied or moved; OUT must be on ROOT's file system. A ``data`` *symlink* to ROOT was tried and
  is refused by bagit-python 1.9 ("Path ... is unsafe": it resolves every payload path with
  realpath and requires it inside the bag), so it is not offered.
- ``bag_mode="copy"``: the files are copied into OUT/data (then the copies are hashed).

Payload names are written NFC (bagit-python matches NFC/NFD-insensitively) with CR/LF
percent-encoded as bagit-python does (it decodes no other escape, so ``%`` is written raw).
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
from pathlib import Path

from photoverify.dedupe.core.errors import ManifestError, UsageError
from photoverify.dedupe.core.hashing import hash_file
from photoverify.dedupe.core.jsonio import read_text
from photoverify.dedupe.core.outfile import write_output
from photoverify.verify.manifest.entries import (
    BAG_TAG_FILES,
    BAGIT_ALGORITHMS,
    HEX_LENGTH,
    STRENGTH,
    KnownDigest,
    Manifest,
    ManifestEntry,
    Progress,
    holdable,
    path_key,
)
from photoverify.verify.manifest.parsing import add_entry, checked_path, split_lines
from photoverify.verify.manifest.tree import hash_tree_files, walk_tree


def _bag_name(rel: str) -> str:
    return "data/" + path_key(rel).replace("\r", "%0D").replace("\n", "%0A")


def write_bag(
    root: Path,
    out: Path,
    algorithm: str,
    known_digest: KnownDigest | None,
    progress: Progress | None,
    bag_mode: str,
) -> Manifest:
    if bag_mode not in ("link", "copy"):
        raise UsageError(f"unknown bag mode {bag_mode!r}; choose link or copy")
    in_place = out.resolve() == root.resolve()
    if in_place:
        payload = root / "data"
        if not payload.is_dir() or payload.is_symlink():
            raise UsageError(
                f"{root}: has no data/ directory to bag in place; give an output directory"
            )
        files, errors = walk_tree(payload)
        files = holdable("bagit", files, errors)  # still in data/: bagit-python will say so
    else:
        if out.resolve().is_relative_to(root.resolve()):
            raise UsageError(f"{out}: the bag directory must not be inside {root}")
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise UsageError(f"{out}: exists and is not an empty directory")
        out.mkdir(parents=True, exist_ok=True)
        if bag_mode == "link" and os.stat(out).st_dev != os.stat(root).st_dev:
            raise UsageError(
                f"{out}: not on the same file system as {root}, so the payload cannot be "
                "hard-linked; use --bag-copy"
            )
        payload = out / "data"
        files, errors = walk_tree(root)
        files = holdable("bagit", files, errors)  # left out of the payload too
        payload.mkdir()
        for f in files:
            dst = payload / f.rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if bag_mode == "link":
                os.link(f.abs, dst, follow_symlinks=False)
            else:
                shutil.copy2(f.abs, dst, follow_symlinks=False)
        if bag_mode == "copy":
            # What the bag certifies is the copies: hash them, not the originals.
            files, more = walk_tree(payload)
            errors += more
            known_digest = None
    entries, reused = hash_tree_files(files, (algorithm,), known_digest, progress, errors)
    for e in entries:
        e.path = path_key(e.path)  # the payload written above carries the on-disk spelling

    oxum_bytes = sum(e.size or 0 for e in entries)
    manifest_name = f"manifest-{algorithm}.txt"
    write_output(
        out / manifest_name,
        "".join(f"{e.digests[algorithm]}  {_bag_name(e.path)}\n" for e in entries).encode(),
    )
    write_output(out / "bagit.txt", b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    info = (
        f"Bag-Software-Agent: photoverify\n"
        f"Bagging-Date: {_dt.date.today().isoformat()}\n"
        f"Payload-Oxum: {oxum_bytes}.{len(entries)}\n"
    )
    write_output(out / "bag-info.txt", info.encode())
    tags = "".join(
        f"{hash_file(out / name, (algorithm,))[algorithm]}  {name}\n"
        for name in (*BAG_TAG_FILES, manifest_name)
    )
    write_output(out / f"tagmanifest-{algorithm}.txt", tags.encode())
    return Manifest(
        algorithm, "bagit", entries, str(out), str(payload), errors=errors, digests_reused=reused
    )


def read_bag(bag: Path) -> Manifest:
    if not (bag / "bagit.txt").is_file():
        raise ManifestError(f"{bag}: not a bag (no bagit.txt)")
    present = [a for a in ("sha512", *STRENGTH) if (bag / f"manifest-{a}.txt").is_file()]
    usable = [a for a in present if a in BAGIT_ALGORITHMS]
    if not usable:
        raise ManifestError(
            f"{bag}: no payload manifest in a supported algorithm (found: {', '.join(present)})"
        )
    entries: dict[str, ManifestEntry] = {}
    for alg in usable:
        mpath = bag / f"manifest-{alg}.txt"
        text = read_text(mpath, ManifestError, "bag manifest")
        for lineno, line in enumerate(split_lines(text), 1):
            where = f"{mpath}:{lineno}"
            if not line.strip() or line.startswith("#"):
                continue
            m = re.match(r"^([0-9a-fA-F]+)[ \t]+\*?(.*)$", line, re.S)
            if not m or len(m.group(1)) != HEX_LENGTH[alg]:
                raise ManifestError(f"{where}: not a BagIt manifest line")
            name = m.group(2).replace("%0D", "\r").replace("%0A", "\n")
            name = name.replace("%0d", "\r").replace("%0a", "\n")
            rel = checked_path(name, where)
            if not rel.startswith("data/"):
                raise ManifestError(f"{where}: refused entry: payload path outside data/ {name!r}")
            add_entry(
                entries, ManifestEntry(rel[5:], {alg: m.group(1).lower()}, line=lineno), where
            )
    best = usable[0]
    if any(best not in e.digests for e in entries.values()):
        raise ManifestError(f"{bag}: manifest-{best}.txt does not list every payload file")
    return Manifest(best, "bagit", list(entries.values()), str(bag), str(bag / "data"))

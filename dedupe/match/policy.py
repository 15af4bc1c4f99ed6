"""Which copy to keep: pure, ranked, explainable. Functions over FileRecords, no I/O.

Default order, first difference wins:
  1. under a `--prefer` root (reference roots: an explicit choice beats any inference, and a
     file there is never proposed as a duplicate when it can be the keeper)
  2. the original format over a conversion (RAW > HEIC/HEIF/AVIF > PNG/TIFF > JPEG > others;
     MOV > MP4 for video)
  3. more pixels
  4. more metadata (capture time, GPS, camera make/model, Apple/unique ids)
  5. earlier capture time (modification times say more about copying than about the photo)
  6. shorter, less suffixed name (`(1)`, `-1234`, `_edited`, ` copy` count against it)
  7. the path, so that the decision never depends on input order
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from photoverify.dedupe.core.paths import under_any
from photoverify.dedupe.core.records import FileRecord

FORMAT_RANK = {
    **dict.fromkeys(("DNG", "CR2", "CR3", "NEF", "ARW", "ORF", "RW2", "RAF", "PEF", "SRW"), 5),
    "HEIC": 4,
    "HEIF": 4,
    "AVIF": 4,
    "PNG": 3,
    "TIFF": 3,
    "JPEG": 2,
    "MOV": 2,
    "MP4": 1,
    "WEBP": 1,
    "GIF": 1,
}
_SUFFIXES = re.compile(
    r"(\s*\(\d+\)|-\d{3,5}|[ _-](edited|copy|adjusted|bearbeitet|modifié)|\s+copy(\s\d+)?)$",
    re.IGNORECASE,
)


def name_penalty(path: str) -> int:
    """How many copy/size/edit suffixes the file's stem carries (`IMG_1 (1)-1234` -> 2)."""
    stem = os.path.splitext(os.path.basename(path))[0]
    count = 0
    while True:
        stripped = _SUFFIXES.sub("", stem)
        if stripped == stem or not stripped:
            return count
        stem, count = stripped, count + 1


def metadata_score(r: FileRecord) -> int:
    m = r.metadata
    return sum(
        (
            m.captured_at is not None,
            m.gps is not None,
            m.make is not None or m.model is not None,
            m.content_id is not None or m.image_unique_id is not None,
        )
    )


@dataclass(frozen=True)
class Criterion:
    name: str
    key: callable  # FileRecord, prefer roots -> sortable, smaller is better
    explain: callable  # winner, loser -> words


def _mp(r: FileRecord) -> str:
    return f"{r.pixels / 1e6:.1f} MP" if r.pixels >= 100_000 else f"{r.width}x{r.height}"


CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "preferred root",
        lambda r, prefer: 0 if prefer and under_any(r.path, prefer) else 1,
        lambda w, loser: "it is under a preferred (reference) root",
    ),
    Criterion(
        "original format",
        lambda r, prefer: -FORMAT_RANK.get(r.format or "", 0),
        lambda w, loser: f"{w.format} is the original format, {loser.format} a conversion",
    ),
    Criterion(
        "pixels",
        lambda r, prefer: -r.pixels,
        lambda w, loser: f"more pixels ({_mp(w)} against {_mp(loser)})",
    ),
    Criterion(
        "metadata",
        lambda r, prefer: -metadata_score(r),
        lambda w, loser: (
            f"more metadata ({metadata_score(w)} of 4 fields: capture time, "
            f"GPS, camera, ids; against {metadata_score(loser)})"
        ),
    ),
    Criterion(
        "capture time",
        lambda r, prefer: (r.metadata.captured_at is None, r.metadata.captured_at or ""),
        lambda w, loser: "an earlier capture time",
    ),
    Criterion(
        "name",
        lambda r, prefer: (name_penalty(r.path), len(os.path.basename(r.path))),
        lambda w, loser: "a shorter name without copy or size suffixes",
    ),
    Criterion(
        "path",
        lambda r, prefer: os.fsencode(r.path),
        lambda w, loser: "the first path in order (they are otherwise equal)",
    ),
)


def rank_key(r: FileRecord, prefer: Sequence[str] = ()) -> tuple:
    """Sort key: the best copy sorts first."""
    return tuple([c.key(r, prefer) for c in CRITERIA])


def deciding_criterion(winner: FileRecord, loser: FileRecord, prefer: Sequence[str] = ()) -> str:
    """The first criterion on which `winner` beats `loser`, in words."""
    return _decided(winner, loser, rank_key(winner, prefer), rank_key(loser, prefer))


def _decided(winner: FileRecord, loser: FileRecord, win_key: tuple, lose_key: tuple) -> str:
    """`deciding_criterion` from the two files' rank keys (`rank_key`), already made."""
    at = next((n for n, (a, b) in enumerate(zip(win_key, lose_key, strict=True)) if a != b), None)
    return "they are the same file" if at is None else CRITERIA[at].explain(winner, loser)


def telling_names(paths: Sequence[str]) -> dict[str, str]:
    """Each path relative to the folder all of `paths` share: the bare name when they sit in one
    folder, `Camera Roll/2019/03/IMG_1.HEIC` and `iCloud Photos/Photos/IMG_1.HEIC` when they do
    not. A shortest telling suffix (`03/IMG_1.HEIC`) names a folder no reader knows; this is the
    path as the dupes table shows it, from the first folder where the copies part."""
    if len(paths) == 1:
        return {paths[0]: os.path.basename(paths[0])}
    try:
        shared = _shared_folder([os.path.dirname(p) for p in paths])
    except ValueError:  # relative and absolute mixed: the whole paths tell them apart
        shared = ""
    if shared in ("", os.sep):
        return {p: p for p in paths}
    return {p: _relative(p, shared) for p in paths}


def _clean(path: str) -> bool:
    """An absolute path without an empty, `.` or `..` component (nor any other starting with a
    dot), and no trailing separator: one that os.path's normalizing functions leave as it is."""
    if path == os.sep:
        return True
    return path[:1] == os.sep != path[-1:] and "//" not in path and "/." not in path


def _shared_folder(folders: list[str]) -> str:
    """os.path.commonpath(folders); for clean absolute folders (all that walks give), the
    common prefix of the first and last in order, each ending in a separator, cut back to a
    whole folder."""
    if not all(map(_clean, folders)):
        return os.path.commonpath(folders)
    ends = [f + os.sep for f in folders]  # (the first and last of these, not of the folders)
    first, last = min(ends).split(os.sep), max(ends).split(os.sep)
    same = 0
    for a, b in zip(first[:-1], last, strict=False):  # (os.path.commonprefix goes by letters)
        if a != b:
            break
        same += 1
    return os.sep.join(first[:same]) or os.sep


def _relative(path: str, folder: str) -> str:
    """os.path.relpath(path, folder), by slicing when `path` is `folder`/ and a clean tail (no
    empty, `.` or `..` component, nor any other starting with a dot): relpath normalizes both
    (9 µs a cluster of two, a quarter of `dupes --exact`'s keeper policy)."""
    prefix = folder + os.sep
    tail = path[len(prefix) :]
    if tail and path.startswith(prefix) and _clean(os.sep + tail):
        return tail
    return os.path.relpath(path, folder)


def choose_keeper(
    members: Sequence[FileRecord], prefer: Sequence[str] = ()
) -> tuple[FileRecord, str]:
    """The keeper of a cluster and why it won, in words a person can check."""
    if not members:
        raise ValueError("an empty cluster has no keeper")
    ranked = sorted(((rank_key(r, prefer), r) for r in members), key=lambda kr: kr[0])
    best, keeper = ranked[0]
    name = telling_names([r.path for _, r in ranked])
    reasons: dict[str, list[str]] = {}
    for key, other in ranked[1:]:
        reasons.setdefault(_decided(keeper, other, best, key), []).append(name[other.path])
    if not reasons:
        return keeper, "the only member"
    parts = []
    for words, names in reasons.items():
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        parts.append(f"over {shown}: {words}")
    return keeper, f"{name[keeper.path]} kept " + "; ".join(parts)

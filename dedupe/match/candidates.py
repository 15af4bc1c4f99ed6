"""Which pairs of pictures `judge` looks at: the few worth judging among all n² of a library.

Near pHashes (a sub-quadratic self-join, dedupe.match.index), shared camera ids and capture
instants, edit names beside their originals, and pictures whose signature, turned, mirrored or
centre-cropped, hashes near another's (a join of the uprights against those variants,
dedupe.match.cross). Pure: records in, pairs of positions out.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache
from itertools import combinations

import numpy as np

from photoverify.dedupe.catalog.signature import crop_hashes, dct_hashes, unpack_grids
from photoverify.dedupe.core.records import FileRecord
from photoverify.dedupe.core.timeparse import parse
from photoverify.dedupe.match.cross import cross_pairs
from photoverify.dedupe.match.index import hex_to_uint64, near_pairs

ID_GROUP_LIMIT = 64  # files sharing one id or instant beyond this are not compared pairwise
TURNED_HASH_DISTANCE = 8  # turned/mirrored copies: <= 2 bits; unrelated photos: >= 20 (1%)
HASH_CHUNK = 1024  # signatures unpacked at once: a whole library's would take ~6 KiB an image
_EDIT_NAME = re.compile(
    r"^(?:(?P<pre>img_)e(?P<num>\d+)"
    r"|(?P<base>.+?)(?:[ _-](?:edited|edit|adjusted)|\s*\(edited\)))$",
    re.IGNORECASE,
)


@lru_cache(maxsize=1 << 16)  # judge asks again for the files of every pair
def name_parts(path: str) -> tuple[str, str | None, str]:
    """(folder, the stem an edit name points back to (IMG_E1234 -> img_1234, x_edited -> x)
    or None, the stem in lower case)."""
    folder, name = os.path.split(path)
    stem = os.path.splitext(name)[0]
    m = _EDIT_NAME.match(stem)
    if not m:
        base = None
    elif m["num"]:
        base = (m["pre"] + m["num"]).lower()
    else:
        base = m["base"].lower()
    return folder, base, stem.lower()


def candidate_pairs(images: Sequence[FileRecord], threshold: int) -> set[tuple[int, int]]:
    """Pairs worth judging: near pHashes (sub-quadratic index), shared ids, shared instants,
    and edit names beside their originals."""
    pairs: set[tuple[int, int]] = set()
    hashed = [i for i, r in enumerate(images) if r.phash]
    if len(hashed) > 1:
        hashes = hex_to_uint64([images[i].phash for i in hashed])
        for i, j, _ in near_pairs(hashes, threshold):
            pairs.add((hashed[int(i)], hashed[int(j)]))
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, r in enumerate(images):
        m = r.metadata
        if m.content_id:
            groups[("cid", m.content_id)].append(i)
        if m.image_unique_id:
            groups[("uid", m.image_unique_id)].append(i)
        t = parse(m.captured_at)
        if t and t.subsec is not None:
            groups[("t", t.wall, t.subsec)].append(i)
        folder, base, stem = name_parts(r.path)
        groups[("stem", folder, base or stem)].append(i)
    for members in groups.values():
        if 1 < len(members) <= ID_GROUP_LIMIT:
            pairs.update(combinations(sorted(members), 2))
    pairs.update(turned_pairs(images))
    return pairs


def turned_pairs(images: Sequence[FileRecord]) -> set[tuple[int, int]]:
    """Pairs where one picture's signature, turned, mirrored or centre-cropped, hashes near the
    other's: every upright hash joined against every signature's 7 other orientations and 3
    crops (two uprights are the pHash join's to find)."""
    signed, hashes = orientation_hashes(images)
    if len(signed) < 2:
        return set()
    turns = hashes.shape[1] - 1
    found = cross_pairs(hashes[:, 0], hashes[:, 1:].reshape(-1), TURNED_HASH_DISTANCE)
    positions = np.asarray(signed, dtype=np.int64)
    i, j = positions[found[:, 0]], positions[found[:, 1] // turns]
    keep = i != j
    lo, hi = np.minimum(i[keep], j[keep]), np.maximum(i[keep], j[keep])
    return set(zip(lo.tolist(), hi.tolist(), strict=True))


def orientation_hashes(images: Sequence[FileRecord]) -> tuple[list[int], np.ndarray]:
    """(positions of the images that have a signature, their N x 11 hashes: 8 orientations,
    then 3 centre crops), computed a chunk of images at a time (each row depends on its own
    image only)."""
    signed: list[int] = []
    parts: list[np.ndarray] = []
    for start in range(0, len(images), HASH_CHUNK):
        ok, grids = unpack_grids([r.signature for r in images[start : start + HASH_CHUNK]])
        if ok:
            signed.extend(start + i for i in ok)
            parts.append(np.concatenate([dct_hashes(grids), crop_hashes(grids)], axis=1))
    hashes = np.concatenate(parts) if parts else np.zeros((0, 1), np.uint64)
    return signed, hashes

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
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from itertools import combinations

import numba
import numpy as np

from photoverify.dedupe.catalog.signature import crop_hashes, dct_hashes, unpack_grids
from photoverify.dedupe.core.records import FileRecord
from photoverify.dedupe.core.timeparse import parse
from photoverify.dedupe.match.cross import cross_pairs
from photoverify.dedupe.match.index import hex_to_uint64, near_groups
from photoverify.dedupe.match.table import RecordTable

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


# Where the picture signatures of records come from, when the records were read without them
# (a million 711-byte signatures would not fit in dupes' memory): records -> their signatures,
# in order. None: each record's own `signature`.
SignatureSource = Callable[[Sequence[FileRecord]], list[bytes | None]]


def signatures_of(
    records: Sequence[FileRecord], source: SignatureSource | None
) -> list[bytes | None]:
    return source(records) if source is not None else [r.signature for r in records]


def candidate_pairs(
    images: Sequence[FileRecord], threshold: int, signatures: SignatureSource | None = None
) -> np.ndarray:
    """Pairs worth judging: near pHashes (sub-quadratic index), shared ids, shared instants,
    and edit names beside their originals; turned and cropped copies by their signatures (from
    `signatures`, see SignatureSource). An (N, 2) array of positions (i, j), i < j, each pair
    once, sorted."""
    return pairs_of(pair_keys(images, threshold, signatures), len(images))


def pairs_of(keys: np.ndarray, n: int) -> np.ndarray:
    """Pair keys (`key_of`) of n items back as an (N, 2) array of positions (i, j)."""
    return np.stack(np.divmod(keys, max(n, 1)), axis=1)


def key_of(i: np.ndarray, j: np.ndarray, n: int) -> np.ndarray:
    """One int64 key a pair of positions of n items, the smaller first: min * n + max."""
    return np.minimum(i, j) * n + np.maximum(i, j)


def repeated_hashes(keys: Iterable) -> set[int]:
    """The hashes of the keys that occur more than once, counted in an array: a million keys
    held once each are never kept (equal hashes may still be unequal keys: check the keys)."""
    hashes = np.fromiter((hash(k) for k in keys), dtype=np.int64, count=-1)
    values, counts = np.unique(hashes, return_counts=True)
    return set(values[counts > 1].tolist())


def pair_keys(
    images: Sequence[FileRecord], threshold: int, signatures: SignatureSource | None = None
) -> np.ndarray:
    """`candidate_pairs` as one sorted int64 key a pair, i * len(images) + j: 8 bytes a pair
    (a library of look-alikes has tens of millions of candidate pairs at a million images;
    each part is turned into keys as soon as it is found, and deduplicated in one 1-D sort)."""
    n = len(images)
    parts = [turned_keys(images, signatures)]
    positions, hashes = _phashes(images)
    if len(positions) > 1:
        near = near_groups(hashes, threshold, ordered=False)
        del hashes
        for rows in near.expand_chunks():
            parts.append(key_of(positions[rows[:, 0]], positions[rows[:, 1]], n))
        del near
    shared = [pair for members in shared_keys(images) for pair in combinations(members, 2)]
    shared_pairs = np.asarray(shared, dtype=np.int64).reshape(-1, 2)
    parts.append(key_of(shared_pairs[:, 0], shared_pairs[:, 1], n))
    del shared, shared_pairs
    return unique_in_place(_joined(parts))


def _phashes(images: Sequence[FileRecord]) -> tuple[np.ndarray, np.ndarray]:
    """(the positions of the images with a pHash, those pHashes as uint64), from a
    RecordTable's column when every value there is 16 hex digits."""
    if isinstance(images, RecordTable):
        positions = np.flatnonzero(images.present("phash"))
        hashes = images.hashes("phash")
        if hashes is not None:
            return positions, hashes[positions]
    else:
        n = len(images)
        positions = np.flatnonzero(np.fromiter((bool(r.phash) for r in images), bool, n))
    return positions, hex_to_uint64([images[i].phash for i in positions.tolist()])


def unique_in_place(keys: np.ndarray) -> np.ndarray:
    """np.unique(keys), sorting `keys` itself and moving each value's first copy to its front:
    neither a sorted copy nor a copy of the unique keys (tens of millions at a million images).
    The result is a view of `keys`, or a copy when far fewer keys are left."""
    keys.sort()
    m = _drop_repeats(keys)
    return keys[:m] if 2 * m > len(keys) else keys[:m].copy()


@numba.njit(nogil=True, cache=True)
def _drop_repeats(keys: np.ndarray) -> int:  # pragma: no cover (compiled)
    """The values of sorted `keys`, each once, moved to its front; how many there are."""
    m = 0
    for i in range(keys.shape[0]):
        if m == 0 or keys[i] != keys[m - 1]:
            keys[m] = keys[i]
            m += 1
    return m


def _keys(r: FileRecord) -> Iterator[tuple]:
    """What may tie an image to another: its camera ids, its instant (with sub-seconds) and
    the stem its name shares with an edit's (IMG_E1234 and IMG_1234)."""
    m = r.metadata
    if m.content_id:
        yield ("cid", m.content_id)
    if m.image_unique_id:
        yield ("uid", m.image_unique_id)
    t = parse(m.captured_at)
    if t and t.subsec is not None:
        yield ("t", t.wall, t.subsec)
    folder, base, stem = name_parts(r.path)
    yield ("stem", folder, base or stem)


def shared_keys(images: Sequence[FileRecord]) -> list[list[int]]:
    """The positions of images sharing a key (`_keys`), in order, for each key that 2 to
    ID_GROUP_LIMIT images share. Keys held by one image only (most of them) are found by a count
    of their hashes first, so that a million images do not each keep a key and a list."""
    wanted = repeated_hashes(k for r in images for k in _keys(r))
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, r in enumerate(images):
        for k in _keys(r):
            if hash(k) in wanted:  # equal hashes, perhaps unequal keys: grouped by the key
                groups[k].append(i)
    return [members for members in groups.values() if 1 < len(members) <= ID_GROUP_LIMIT]


def turned_pairs(
    images: Sequence[FileRecord], signatures: SignatureSource | None = None
) -> np.ndarray:
    """Pairs where one picture's signature, turned, mirrored or centre-cropped, hashes near the
    other's: every upright hash joined against every signature's 7 other orientations and 3
    crops (two uprights are the pHash join's to find). An (N, 2) array, i < j, sorted."""
    return pairs_of(turned_keys(images, signatures), len(images))


TURNED_TABLE = 1 << 21  # variant hashes bucketed in one join (its tables: ~50 bytes a hash)


def turned_keys(
    images: Sequence[FileRecord], signatures: SignatureSource | None = None
) -> np.ndarray:
    """`turned_pairs` as sorted unique keys i * len(images) + j. The variants are joined
    against the uprights TURNED_TABLE at a time: at a million images, one join of all ten
    million variants held ~0.5 GiB of bucket tables and result rows at once."""
    signed, hashes = orientation_hashes(images, signatures)
    n = len(images)
    if len(signed) < 2:
        return np.zeros(0, np.int64)
    turns = hashes.shape[1] - 1
    uprights = np.ascontiguousarray(hashes[:, 0])
    rows = max(1, TURNED_TABLE // turns)
    parts = [np.zeros(0, np.int64)]
    for start in range(0, len(signed), rows):
        variants = hashes[start : start + rows, 1:].reshape(-1)
        found = cross_pairs(uprights, variants, TURNED_HASH_DISTANCE, ordered=False)
        i, j = signed[found[:, 0]], signed[start + found[:, 1] // turns]
        del found
        keep = i != j
        parts.append(np.unique(key_of(i[keep], j[keep], n)))
    return unique_in_place(_joined(parts))


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """np.concatenate(parts), emptying `parts` as each is copied: the keys are held about
    once, not twice (tens of millions of keys at a million images)."""
    keys = np.empty(sum(len(p) for p in parts), np.int64)
    at = 0
    parts.reverse()
    while parts:
        part = parts.pop()
        keys[at : at + len(part)] = part
        at += len(part)
        del part
    return keys


def orientation_hashes(
    images: Sequence[FileRecord], signatures: SignatureSource | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(positions of the images that have a signature, their N x 11 hashes: 8 orientations,
    then 3 centre crops), computed a chunk of images at a time (each row depends on its own
    image only) into one array (a list of chunks joined at the end held them twice)."""
    signed = np.empty(len(images), dtype=np.int64)
    hashes: np.ndarray | None = None
    count = 0
    for start in range(0, len(images), HASH_CHUNK):
        ok, grids = unpack_grids(signatures_of(images[start : start + HASH_CHUNK], signatures))
        if not ok:
            continue
        rows = np.concatenate([dct_hashes(grids), crop_hashes(grids)], axis=1)
        if hashes is None:
            hashes = np.empty((len(images), rows.shape[1]), dtype=np.uint64)
        hashes[count : count + len(ok)] = rows
        signed[count : count + len(ok)] = start + np.asarray(ok, dtype=np.int64)
        count += len(ok)
    if hashes is None:
        return signed[:0], np.zeros((0, 1), np.uint64)
    return signed[:count], hashes[:count]

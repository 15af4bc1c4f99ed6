"""The one table of content-hash functions, and the one routine that reads a file to hash it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import blake3

CHUNK = 4 * 1024 * 1024  # large reads: a photo is read in one or a few syscalls
# Above this size one file is worth all cores (blake3's own threads over a memory map, as b3sum
# does); below it the pool over files in `hash_files` keeps the cores busy instead.
MMAP_THREADED = 16 * 1024 * 1024


class Hasher(Protocol):
    def update(self, data: bytes, /) -> object: ...
    def hexdigest(self) -> str: ...


ALGORITHMS: dict[str, Callable[[], Hasher]] = {
    "blake3": lambda: blake3.blake3(max_threads=1),
    "sha256": hashlib.sha256,
    "sha1": hashlib.sha1,
    "md5": hashlib.md5,
}


def new_hasher(algorithm: str) -> Hasher:
    try:
        return ALGORITHMS[algorithm]()
    except KeyError:
        raise ValueError(
            f"unknown hash algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}"
        ) from None


def hash_file(path: str | os.PathLike, algorithms: tuple[str, ...] = ("blake3",)) -> dict[str, str]:
    """Hash one file with one or more algorithms in a single read pass.

    Returns {algorithm: hex digest}. Raises OSError when the file cannot be read.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        return hash_fd(fd, algorithms)
    finally:
        os.close(fd)


def hash_fd(
    fd: int, algorithms: tuple[str, ...] = ("blake3",), buf: bytearray | None = None
) -> dict[str, str]:
    """hash_file over an open file, from its start (its offset is left alone). `buf`, reused
    across files by a caller that hashes many, saves zeroing a fresh CHUNK each time."""
    hashers = {name: new_hasher(name) for name in algorithms}
    buf = buf if buf is not None else bytearray(CHUNK)
    view = memoryview(buf)
    offset = 0
    while n := os.preadv(fd, [buf], offset):
        chunk = view[:n]
        for h in hashers.values():
            h.update(chunk)
        offset += n
    return {name: h.hexdigest() for name, h in hashers.items()}


def hash_whole_file(path: str | os.PathLike, algorithms: tuple[str, ...]) -> dict[str, str]:
    """hash_file tuned for reading whole trees: blake3 alone over a memory map (a large file with
    all cores), one hashlib algorithm by `hashlib.file_digest`, several by hash_file. Each
    releases the GIL while hashing, so a thread pool over files runs in parallel. Raises OSError
    when the file cannot be read."""
    if algorithms == ("blake3",):
        # memory-mapped: no copy through a read buffer, as b3sum does
        big = os.stat(path).st_size >= MMAP_THREADED
        h = blake3.blake3(max_threads=blake3.blake3.AUTO if big else 1)
        try:
            h.update_mmap(path)
        except OSError:  # what cannot be mapped is read; what cannot be read says why plainly
            return hash_file(path, algorithms)
        return {"blake3": h.hexdigest()}
    if len(algorithms) == 1 and algorithms[0] != "blake3":
        with open(path, "rb") as fh:
            return {algorithms[0]: hashlib.file_digest(fh, ALGORITHMS[algorithms[0]]).hexdigest()}
    return hash_file(path, algorithms)


def hash_files(
    paths: Iterable[str], algorithms: tuple[str, ...], workers: int | None = None
) -> Iterator[tuple[str, dict[str, str] | OSError]]:
    """(path, digests) for each path, in the order given, hashed by a pool of threads; an
    unreadable file yields its OSError in place of digests, and never stops the others."""

    def one(path: str) -> dict[str, str] | OSError:
        try:
            return hash_whole_file(path, algorithms)
        except OSError as exc:
            return exc

    paths = list(paths)
    workers = workers or min(32, (os.cpu_count() or 1) + 2)
    if workers <= 1 or len(paths) <= 1:
        for p in paths:
            yield p, one(p)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield from zip(paths, pool.map(one, paths), strict=True)


def blake3_file(path: str | os.PathLike) -> str:
    return hash_file(path)["blake3"]

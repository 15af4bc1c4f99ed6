"""The one table of content-hash functions, and the one routine that reads a file to hash it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Protocol

import blake3

CHUNK = 4 * 1024 * 1024  # large reads: a photo is read in one or a few syscalls


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


def blake3_file(path: str | os.PathLike) -> str:
    return hash_file(path)["blake3"]

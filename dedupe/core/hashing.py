"""The one table of content-hash functions, and the one routine that reads a file to hash it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Protocol

import blake3

if TYPE_CHECKING:
    from concurrent.futures import Executor

CHUNK = 4 * 1024 * 1024  # large reads: a photo is read in one or a few syscalls
# Above this size one file is worth all cores (blake3's own threads over a memory map, as b3sum
# does); below it the pool over files in `hash_files` keeps the cores busy instead.
MMAP_THREADED = 16 * 1024 * 1024
# Below this size a file is read into a reused buffer: a memory map's set-up and page faults cost
# more than the copy. b3sum draws the line at 16 KiB. On an Intel Xeon lines from 16 KiB to 4 MiB
# measured alike within the noise; on an AMD EPYC (2026-12-07) reads through a 256 KiB buffer
# hashed the 12 MP library (most files 256 KiB-1 MiB) in 0.24 s where memory maps took 0.32 s,
# files of 512 KiB 15 % faster, of 1 MiB alike, of 2 and 4 MiB 3-5 % slower: the line is 1 MiB.
MMAP_MIN = 1024 * 1024
SMALL_BUF = 256 * 1024  # the reused buffer: a file under MMAP_MIN is read in a few calls
# A file under this size is "small" to the choice of a pool (`_pool`): hashing it is mostly
# Python (open, read, digest, close), not the hash.
SMALL_FILE = 256 * 1024
BATCH_FILES = 64  # files per task of the pool, or
BATCH_BYTES = 64 * 1024 * 1024  # about this many bytes, whichever comes first
# From this many files under SMALL_FILE, a pool of processes hashes, in batches of
# PROCESS_BATCH files: a task's round trip costs more between processes than between threads.
PROCESSES_FROM = 2000
PROCESS_BATCH = 256


class Hasher(Protocol):
    def update(self, data: bytes, /) -> object: ...
    def hexdigest(self) -> str: ...


def _from_hashlib(name: str) -> Callable[[], Hasher]:
    def make() -> Hasher:
        import hashlib  # OpenSSL: 2.5 ms of start-up, only for the runs that ask for it

        return getattr(hashlib, name)()

    return make


ALGORITHMS: dict[str, Callable[[], Hasher]] = {
    "blake3": lambda: blake3.blake3(max_threads=1),
    "sha256": _from_hashlib("sha256"),
    "sha1": _from_hashlib("sha1"),
    "md5": _from_hashlib("md5"),
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
    across files by a caller that hashes many, saves making a buffer each time; without it the
    buffer is the file's size (one read, and a byte to see its end), up to CHUNK: a fresh CHUNK
    costs 0.14 ms to zero, ten times the hashing of a 25 KB photo."""
    hashers = {name: new_hasher(name) for name in algorithms}
    if buf is None:
        buf = bytearray(min(CHUNK, os.fstat(fd).st_size + 1))
    view = memoryview(buf)
    offset = 0
    while n := os.preadv(fd, [buf], offset):
        chunk = view[:n]
        for h in hashers.values():
            h.update(chunk)
        offset += n
    return {name: h.hexdigest() for name, h in hashers.items()}


def hash_whole_file(
    path: str | os.PathLike,
    algorithms: tuple[str, ...],
    size: int | None = None,
    buf: bytearray | None = None,
) -> dict[str, str]:
    """hash_file tuned for reading whole trees. A file under MMAP_MIN is read through `buf`
    (reused across a batch: a memory map, or hashlib.file_digest's fresh 256 KiB buffer, costs
    more than the reads); a larger one is hashed by blake3 alone over a memory map (with all
    cores when it is large), by one hashlib algorithm through `hashlib.file_digest`, by several
    through hash_file. Each releases the GIL while hashing, so a thread pool over files runs in
    parallel. `size`, when the caller has it from its walk, saves a stat. Raises OSError when
    the file cannot be read."""
    size = os.stat(path).st_size if size is None else size
    if size < MMAP_MIN:
        return hash_small_file(path, algorithms, buf)
    if algorithms == ("blake3",):
        # memory-mapped: no copy through a read buffer, as b3sum does
        h = blake3.blake3(max_threads=blake3.blake3.AUTO if size >= MMAP_THREADED else 1)
        try:
            h.update_mmap(path)
        except OSError:  # what cannot be mapped is read; what cannot be read says why plainly
            return hash_file(path, algorithms)
        return {"blake3": h.hexdigest()}
    if len(algorithms) == 1:
        import hashlib

        with open(path, "rb") as fh:
            return {algorithms[0]: hashlib.file_digest(fh, ALGORITHMS[algorithms[0]]).hexdigest()}
    return hash_file(path, algorithms)


def hash_small_file(
    path: str | os.PathLike, algorithms: tuple[str, ...], buf: bytearray | None = None
) -> dict[str, str]:
    """hash_file through `buf`: a small file read whole (to its end, whatever its size now)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return hash_fd(fd, algorithms, buf)
    finally:
        os.close(fd)


def batches(sizes: list[int], files: int = BATCH_FILES, size: int = BATCH_BYTES) -> list[range]:
    """Consecutive index ranges of at most `files` files or about `size` bytes each: one task of
    the pool hashes a batch, so a tree of small files does not pay a future per file. Pure."""
    out, start, total = [], 0, 0
    for i, n in enumerate(sizes):
        if i > start and (i - start >= files or total + n > size):
            out.append(range(start, i))
            start, total = i, 0
        total += n
    if start < len(sizes):
        out.append(range(start, len(sizes)))
    return out


def _hash_batch(
    paths: list[str], sizes: list[int | None], algorithms: tuple[str, ...]
) -> list[dict[str, str] | OSError]:
    """hash_whole_file over a batch, each unreadable file's OSError in its place: one task of
    a pool (threads or processes)."""
    buf = bytearray(SMALL_BUF)  # one per batch, reused by its small files
    out: list[dict[str, str] | OSError] = []
    for path, size in zip(paths, sizes, strict=True):
        try:
            out.append(hash_whole_file(path, algorithms, size, buf))
        except OSError as exc:
            out.append(exc)
    return out


def _pool(workers: int, small_files: int) -> Executor:
    """Threads, or processes for a tree of many small files: hashing a small file is mostly
    Python (open, read, digest, close), which holds the GIL, so threads take turns where
    processes run side by side. A large file is hashed with the GIL released either way.
    As many processes as threads would be (`workers`, more than cores by default): from a disk,
    more reads in flight are what a cold tree of small files waits on (20,000 files of 2-40 KB,
    cold: 1.86 s with one process per core, 1.53 s with four; warm alike within the noise)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if small_files >= PROCESSES_FROM and (cores or 1) > 1:
        import multiprocessing  # here: ~15 ms of start-up for the runs that hash no file
        from concurrent.futures import ProcessPoolExecutor

        # fork: the workers need nothing but this module, which the caller has loaded
        return ProcessPoolExecutor(workers, multiprocessing.get_context("fork"))
    from concurrent.futures import ThreadPoolExecutor  # (and logging): ~4 ms, only for a pool

    return ThreadPoolExecutor(max_workers=workers)


def hash_files(
    paths: Iterable[str],
    algorithms: tuple[str, ...],
    workers: int | None = None,
    sizes: Iterable[int] | None = None,
) -> Iterator[tuple[str, dict[str, str] | OSError]]:
    """(path, digests) for each path, in the order given, hashed by a pool of threads (of
    processes when the files are many and small) in batches; an unreadable file yields its
    OSError in place of digests, and never stops the others. `sizes` (from the caller's walk)
    saves a stat per file and sizes the batches."""
    paths = list(paths)
    known = list(sizes) if sizes is not None else None
    if known is None:
        plan = batches([MMAP_MIN] * len(paths))
        small = 0
    else:
        small = sum(1 for n in known if n < SMALL_FILE)
        plan = batches(known, files=PROCESS_BATCH if small >= PROCESSES_FROM else BATCH_FILES)
    workers = workers or min(32, (os.cpu_count() or 1) + 2)

    def task(indexes: range) -> tuple[list[str], list[int | None], tuple[str, ...]]:
        return (
            paths[indexes.start : indexes.stop],
            known[indexes.start : indexes.stop] if known else [None] * len(indexes),
            algorithms,
        )

    if workers <= 1 or len(plan) <= 1:
        for indexes in plan:
            got = _hash_batch(*task(indexes))
            yield from zip(paths[indexes.start : indexes.stop], got, strict=True)
        return
    with _pool(workers, small) as pool:
        futures = [pool.submit(_hash_batch, *task(indexes)) for indexes in plan]
        for n, indexes in enumerate(plan):
            got = futures[n].result()
            futures[n] = None  # a batch's digests are the caller's now: not held to the end
            yield from zip(paths[indexes.start : indexes.stop], got, strict=True)


def blake3_file(path: str | os.PathLike) -> str:
    return hash_file(path)["blake3"]

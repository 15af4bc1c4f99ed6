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
) -> list[tuple[int | None, dict[str, str] | OSError]]:
    """(size, hash_whole_file) over a batch, each unreadable file's OSError in its place: one
    task of a pool (threads or processes). A size not given is taken from the open file (fstat:
    cheaper here, in parallel, than a stat of each path by the caller's walk); it is None when
    the file could not be opened."""
    buf = bytearray(SMALL_BUF)  # one per batch, reused by its small files
    out: list[tuple[int | None, dict[str, str] | OSError]] = []
    for path, size in zip(paths, sizes, strict=True):
        try:
            if size is None:
                size, got = _hash_unsized_file(path, algorithms, buf)
            else:
                got = hash_whole_file(path, algorithms, size, buf)
            out.append((size, got))
        except OSError as exc:
            out.append((size, exc))
    return out


def _hash_unsized_file(
    path: str, algorithms: tuple[str, ...], buf: bytearray
) -> tuple[int, dict[str, str]]:
    """(size, digests) of a file whose size the caller does not know: a small one is hashed
    through the descriptor its size was read from, a large one as hash_whole_file does."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size < MMAP_MIN:
            return size, hash_fd(fd, algorithms, buf)
    finally:
        os.close(fd)
    return size, hash_whole_file(path, algorithms, size, buf)


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
    saves a stat per file and sizes the batches; without them the batches are planned as if
    each file were MMAP_MIN bytes, by threads."""
    paths = list(paths)
    if sizes is None:
        known: list[int | None] = [None] * len(paths)
        planned = [MMAP_MIN] * len(paths)
    else:
        known = list(sizes)
        planned = known  # type: ignore[assignment]  # every size known
    for path, _size, got in _hash_planned(paths, known, planned, algorithms, workers):
        yield path, got


def hash_files_sized(
    paths: Iterable[str],
    algorithms: tuple[str, ...],
    sizes: Iterable[int | None],
    workers: int | None = None,
) -> Iterator[tuple[str, int | None, dict[str, str] | OSError]]:
    """hash_files, each file with its size: the caller's, or for a size given as None (a walk
    that did not stat the file) the size of the file as it was opened to be read (None when it
    could not be). The sizes not given are guessed from a sample of those files, to choose the
    pool and size the batches."""
    paths = list(paths)
    known = list(sizes)
    yield from _hash_planned(paths, known, _planned_sizes(paths, known), algorithms, workers)


def _hash_planned(
    paths: list[str],
    known: list[int | None],
    planned: list[int],
    algorithms: tuple[str, ...],
    workers: int | None,
) -> Iterator[tuple[str, int | None, dict[str, str] | OSError]]:
    """(path, size, digests) in order: batches and the pool chosen by the `planned` sizes."""
    small = sum(1 for n in planned if n < SMALL_FILE)
    plan = batches(planned, files=PROCESS_BATCH if small >= PROCESSES_FROM else BATCH_FILES)
    workers = workers or min(32, (os.cpu_count() or 1) + 2)

    def task(indexes: range) -> tuple[list[str], list[int | None], tuple[str, ...]]:
        return (
            paths[indexes.start : indexes.stop],
            known[indexes.start : indexes.stop],
            algorithms,
        )

    def results(indexes: range, got: list) -> Iterator[tuple[str, int | None, dict | OSError]]:
        for path, (size, digests) in zip(paths[indexes.start : indexes.stop], got, strict=True):
            yield path, size, digests

    if workers <= 1 or len(plan) <= 1:
        for indexes in plan:
            yield from results(indexes, _hash_batch(*task(indexes)))
        return
    with _pool(workers, small) as pool:
        futures = [pool.submit(_hash_batch, *task(indexes)) for indexes in plan]
        for n, indexes in enumerate(plan):
            got = futures[n].result()
            futures[n] = None  # a batch's digests are the caller's now: not held to the end
            yield from results(indexes, got)


SIZE_SAMPLE = 64  # files stat-ed to guess the sizes a caller's walk did not take


def _planned_sizes(paths: list[str], known: list[int | None]) -> list[int]:
    """The sizes to plan batches and choose the pool by: the known ones, and for the others the
    median of a sample of them stat-ed, evenly spread (a file that cannot be stat-ed counts as
    empty: it is read in no time)."""
    unknown = [i for i, n in enumerate(known) if n is None]
    if not unknown:
        return known  # type: ignore[return-value]  # no None left
    step = max(1, len(unknown) // SIZE_SAMPLE)
    sample = []
    for i in unknown[::step][:SIZE_SAMPLE]:
        try:
            sample.append(os.stat(paths[i]).st_size)
        except OSError:
            sample.append(0)
    guess = sorted(sample)[len(sample) // 2]
    return [guess if n is None else n for n in known]


def blake3_file(path: str | os.PathLike) -> str:
    return hash_file(path)["blake3"]

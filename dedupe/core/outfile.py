"""Writing a file the user named as an output (a plan, a manifest, an HTML report).

One home for the rule: a regular file (or a new name) is written whole or not at all, through a
temporary file beside it that is synced and renamed over it; anything else the name already is
(`/dev/null`, `/dev/stdout`, a FIFO, a terminal) is written into, never replaced. Renaming over
`/dev/null` as root turned the device into an empty regular file for the whole machine.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable


def write_output(path: str | os.PathLike, data: bytes | Iterable[bytes]) -> None:
    """Write `data` as the content of `path`, atomically where `path` is a regular file.
    `data` may come in pieces (a plan of a million entries is written as it is encoded, never
    held whole)."""
    path = os.fspath(path)
    pieces = [data] if isinstance(data, bytes | bytearray) else data
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        # a device, FIFO or socket: open it as it is (no O_TRUNC games, no temporary beside it)
        with open(path, "wb") as fh:
            fh.writelines(pieces)
        return
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb", buffering=1 << 20) as fh:
            fh.writelines(pieces)  # (pieces made as they are written may fail half-way)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)  # our own half-written file; what `path` held is untouched
        raise
    os.replace(tmp, path)


def fsync_dir(path: str) -> None:
    """Make a rename or unlink in folder `path` durable (apply's targets, the merge's copies)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: str) -> None:
    """Make a file's written bytes durable before it is renamed into place."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def unlink_quiet(path: str | None) -> None:
    """Remove our own temporary file if it is there (a killed run may or may not have left it)."""
    if path:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

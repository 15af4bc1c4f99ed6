"""Opening one of photoverify's SQLite files (the catalog, the decode cache): one home for the
set-up both need when several photoverify processes open a file at once (`open_wal`), and for
holding one open (`WalFile`)."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

BUSY_SECONDS = 30  # how long a process waits for another one's write
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def open_wal(
    path: str | os.PathLike, set_up: Callable[[sqlite3.Connection], None]
) -> sqlite3.Connection:
    """A connection to `path` in WAL mode, with `set_up` (schema creation or migration) done.

    SQLite answers "database is locked" at once, without waiting, where waiting could deadlock:
    two processes switching a new file to WAL together, or a reader that must become a writer.
    The loser starts again, as SQLite expects, until the busy timeout."""
    db = sqlite3.connect(path, timeout=BUSY_SECONDS)
    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            set_up(db)
            return db
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF not in _BUSY or time.monotonic() > deadline:
                db.close()
                raise
            import random  # (1 ms of start-up) only when two openers collide

            time.sleep(random.uniform(0.005, 0.05))


class WalFile:
    """One of photoverify's SQLite files, open as `db`. Use as a context manager.

    Its folder is made if missing; a file that cannot be opened or set up raises `error`
    with one line naming the file and `what` it is."""

    def __init__(
        self,
        path: Path,
        set_up: Callable[[sqlite3.Connection], None],
        error: type[Exception],
        what: str,
    ) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = open_wal(path, set_up)
        except (sqlite3.Error, OSError) as exc:
            raise error(f"{path}: cannot open {what}: {exc}") from exc

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

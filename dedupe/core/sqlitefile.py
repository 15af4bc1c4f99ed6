"""Opening one of photoverify's SQLite files (the catalog, the decode cache): one home for the
set-up both need when several photoverify processes open a file at once."""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Callable

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
            time.sleep(random.uniform(0.005, 0.05))

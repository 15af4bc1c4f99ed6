"""The decode cache: (BLAKE3, decoder version) -> a decode check's outcome, in one SQLite file
beside the catalog (decode_cache_path).

Finding where the cache lives loads no decoder; opening one does, since the decoders' versions
(decode.DECODER_VERSION) name what it holds: only a run that decodes pays for PyAV and Pillow.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from photoverify.dedupe.core.errors import EnvironmentProblem
from photoverify.dedupe.core.sqlitefile import WalFile

if TYPE_CHECKING:
    from photoverify.verify.checks.decode import DecodeOutcome

DECODE_CACHE_NAME = "decode-cache.sqlite"


def decode_cache_path(catalog_path: str | os.PathLike) -> Path:
    """photoverify keeps its state in one place, chosen by --catalog or $PHOTOVERIFY_CATALOG:
    the decode cache is the file `decode-cache.sqlite` beside the catalog."""
    return Path(catalog_path).with_name(DECODE_CACHE_NAME)


def default_cache_path() -> Path:
    """The decode cache beside the default catalog (dedupe.catalog.default_path)."""
    from photoverify.dedupe.catalog.store import default_path

    return decode_cache_path(default_path())


def _create_table(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE IF NOT EXISTS decode_results ("
        " blake3 TEXT NOT NULL, decoder TEXT NOT NULL, outcome TEXT NOT NULL,"
        " error TEXT, detail TEXT NOT NULL, checked_at TEXT NOT NULL,"
        " PRIMARY KEY (blake3, decoder))"
    )


class DecodeCache(WalFile):
    """(blake3, decoder version) -> DecodeOutcome, in one SQLite file. Use as a context manager."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        from photoverify.verify.checks.decode import DECODER_VERSION, DecodeOutcome

        self.decoder = DECODER_VERSION
        self._outcome = DecodeOutcome
        path = Path(path) if path else default_cache_path()
        super().__init__(path, _create_table, EnvironmentProblem, "decode cache")

    def get_many(self, digests: Iterable[str]) -> dict[str, DecodeOutcome]:
        out: dict[str, DecodeOutcome] = {}
        for digest in set(digests):
            row = self.db.execute(
                "SELECT outcome, error, detail FROM decode_results"
                " WHERE blake3 = ? AND decoder = ?",
                (digest, self.decoder),
            ).fetchone()
            if row is not None:
                out[digest] = self._outcome(row[0], row[1], json.loads(row[2]))
        return out

    def put_many(self, results: Iterable[tuple[str, DecodeOutcome]]) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        rows = [
            (digest, self.decoder, o.outcome, o.error, json.dumps(o.detail), now)
            for digest, o in results
            if o.cacheable
        ]
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO decode_results VALUES (?, ?, ?, ?, ?, ?)", rows
            )

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM decode_results").fetchone()[0]

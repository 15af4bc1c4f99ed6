"""A list of relations that moves to a temporary file when it grows long.

A library of look-alike pictures can hold hundreds of thousands of derived and similar
relations, each with its evidence (~1 KiB in memory): at a million files they outweighed the
records themselves. `RelationLog` keeps the first `keep` in memory, as a list would; past that,
it writes them to a temporary file in pickled batches and reads them back, in order, each
time it is iterated. The file is the process's own (deleted when the log is closed or
collected) and is only ever read by the process that wrote it.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

from photoverify.dedupe.core.errors import EnvironmentProblem
from photoverify.dedupe.core.records import Relation

KEEP_IN_MEMORY = 20_000  # relations held as objects before the log moves to disk
BATCH = 4096  # relations pickled together


class RelationLog(Sequence):
    """Relations in the order appended; a read-only Sequence once written (iteration streams
    from disk when spilled; indexing walks to the index, which is fine for the first few)."""

    def __init__(self, items: Iterable[Relation] = (), keep: int = KEEP_IN_MEMORY) -> None:
        self.keep = keep
        self._pending: list[Relation] = []  # not yet on disk (all of them, until `keep`)
        self._file: Any = None
        self._written = 0
        self.extend(items)

    def append(self, rel: Relation) -> None:
        self._pending.append(rel)
        if len(self) > self.keep and (self._file is None or len(self._pending) >= BATCH):
            self._flush()

    def extend(self, items: Iterable[Relation]) -> None:
        for rel in items:
            self.append(rel)

    @property
    def spilled(self) -> bool:
        return self._file is not None

    def _flush(self) -> None:
        where = tempfile.gettempdir()
        try:
            if self._file is None:
                self._file = tempfile.NamedTemporaryFile(prefix="photoverify-relations-")
            where = self._file.name
            self._file.seek(0, 2)
            for start in range(0, len(self._pending), BATCH):
                batch = self._pending[start : start + BATCH]
                pickle.dump(batch, self._file, pickle.HIGHEST_PROTOCOL)
            self._file.flush()  # readers open the file by name
        except OSError as exc:
            raise EnvironmentProblem(
                f"{where}: cannot keep the relations found on disk: {exc.strerror or exc} "
                "(set TMPDIR to a folder with room)"
            ) from None
        self._written += len(self._pending)
        self._pending = []

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __len__(self) -> int:
        return self._written + len(self._pending)

    def __iter__(self) -> Iterator[Relation]:
        if self._file is not None:
            with open(self._file.name, "rb") as fh:  # its own position: iterations may nest
                read = 0
                while read < self._written:
                    batch = pickle.load(fh)
                    read += len(batch)
                    yield from batch
        yield from list(self._pending)

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step < 0:
                return tuple(self)[index]
            return tuple(islice(self, start, stop, step))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("relation index out of range")
        return next(islice(self, index, None))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        where = "on disk" if self.spilled else "in memory"
        return f"RelationLog({len(self)} relations, {where})"

"""A library's records held as columns (`RecordTable`): what `dupes` holds of a million files.

A FileRecord is ~0.7 KiB in memory (a slotted object of 22 fields, its path, BLAKE3, pHash and
dHash as strings, its size, mtime and inode as ints), so a million of them took ~690 MiB: most of
dupes' peak, and a camera file's Metadata added ~0.4 KiB more. Here the digests and 64-bit hashes
are raw bytes in arrays, the integers int64 arrays, the paths one byte string with offsets, the
metadata marshal bytes (`_Meta`: ~0.1 KiB for a camera file's capture time, GPS, camera and ids),
and each field whose values repeat (root, kind, format, ...) a code a file; ~0.3 KiB a file in
all. `table[i]` makes the record when asked, equal to the one that went in, field by field; the
matching code makes the few it judges, and asks the columns (`is_in`, `content_ids`, `hashes`)
for the rest. A value a column cannot pack (a digest that is not 64 lowercase hex digits, an int
beyond int64) is kept as it is, by position.
"""

from __future__ import annotations

import contextlib
import ctypes
import marshal
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import fields
from operator import attrgetter

import numpy as np

from photoverify.dedupe.core.records import FileRecord, Metadata

CHUNK = 1 << 16  # records packed into columns at a time while a table is built
BATCH = 4096  # records made at a time, a column at a time, when a table is iterated


class _Repeated:
    """Values that repeat (root, kind, a shared Metadata): a code each, the values listed once.
    Unhashable values (a Metadata) are told apart by identity; the column keeps them alive."""

    def __init__(self) -> None:
        self.values: list = []
        self._index: dict = {}
        self._parts: list[np.ndarray] = []
        self.codes = np.zeros(0, np.uint32)

    def _code(self, v) -> int:
        try:
            key = (type(v), v)
            hash(key)
        except TypeError:
            key = ("id", id(v))
        code = self._index.get(key)
        if code is None:
            code = self._index[key] = len(self.values)
            self.values.append(v)
        return code

    def add(self, values: list) -> None:
        self._parts.append(np.fromiter(map(self._code, values), np.uint32, len(values)))

    def finish(self) -> None:
        self.codes = np.concatenate([self.codes, *self._parts])
        self._parts = []

    def get(self, i: int):
        return self.values[self.codes[i]]

    def take(self, ks: np.ndarray) -> list:
        values = self.values
        return [values[c] for c in self.codes[ks].tolist()]

    def is_in(self, rows: np.ndarray, accept) -> np.ndarray:
        """A mask of `rows` whose value `accept(value)` holds (asked once per distinct value)."""
        ok = np.fromiter((bool(accept(v)) for v in self.values), bool, len(self.values))
        return ok[self.codes[rows]] if len(self.values) else np.zeros(len(rows), bool)


class _Ints:
    """Integers as int64, None flagged; any other value (a bool, a huge int) kept by position."""

    def __init__(self) -> None:
        self._parts: list[tuple[np.ndarray, np.ndarray]] = []
        self.values = np.zeros(0, np.int64)
        self.none = np.zeros(0, bool)
        self.odd: dict[int, object] = {}
        self._count = 0

    def add(self, values: list) -> None:
        ints = np.zeros(len(values), np.int64)
        none = np.zeros(len(values), bool)
        for k, v in enumerate(values):
            if v is None:
                none[k] = True
            elif type(v) is int and -(1 << 63) <= v < (1 << 63):
                ints[k] = v
            else:
                self.odd[self._count + k] = v
        self._parts.append((ints, none))
        self._count += len(values)

    def finish(self) -> None:
        self.values, self.none = _appended((self.values, self.none), self._parts)
        self._parts = []

    def get(self, i: int):
        if self.odd and i in self.odd:
            return self.odd[i]
        return None if self.none[i] else int(self.values[i])

    def take(self, ks: np.ndarray) -> list:
        out = self.values[ks].tolist()
        for n in np.flatnonzero(self.none[ks]).tolist():
            out[n] = None
        return _with_odd(out, ks, self.odd)


class _Hex:
    """Lowercase hex strings of one length (a BLAKE3, a pHash) as their bytes, `width` a row;
    None flagged; any other string kept by position."""

    def __init__(self, width: int) -> None:
        self.width = width
        self._parts: list[tuple[np.ndarray, np.ndarray]] = []
        self.raw = np.zeros((0, width), np.uint8)
        self.packed = np.zeros(0, bool)
        self.odd: dict[int, object] = {}
        self._count = 0

    def _pack(self, k: int, v) -> bytes:
        if isinstance(v, str) and len(v) == 2 * self.width:
            try:
                raw = bytes.fromhex(v)
            except ValueError:
                raw = None
            if raw is not None and raw.hex() == v:
                return raw
        if v is not None:
            self.odd[self._count + k] = v
        return bytes(self.width)

    def add(self, values: list) -> None:
        blob = b"".join(self._pack(k, v) for k, v in enumerate(values))
        raw = np.frombuffer(blob, np.uint8).reshape(len(values), self.width).copy()
        packed = np.fromiter(
            (v is not None and self._count + k not in self.odd for k, v in enumerate(values)),
            bool,
            len(values),
        )
        self._parts.append((raw, packed))
        self._count += len(values)

    def finish(self) -> None:
        self.raw, self.packed = _appended((self.raw, self.packed), self._parts)
        self._parts = []

    def get(self, i: int):
        if self.packed[i]:
            return self.raw[i].tobytes().hex()
        return self.odd.get(i)

    def take(self, ks: np.ndarray) -> list:
        text, w = self.raw[ks].tobytes().hex(), 2 * self.width
        out: list = [text[n : n + w] for n in range(0, len(text), w)]
        for n in np.flatnonzero(~self.packed[ks]).tolist():
            out[n] = None
        return _with_odd(out, ks, self.odd)

    def present(self, rows: np.ndarray) -> np.ndarray:
        """A mask of `rows` holding a non-empty value."""
        ok = self.packed[rows]
        for k in np.flatnonzero(~ok).tolist():
            ok[k] = bool(self.odd.get(int(rows[k])))
        return ok


class _Texts:
    """Strings (paths) as one UTF-8 byte string with offsets; lone surrogates (names that are
    not UTF-8, as os.fsdecode gives them) pass through unchanged."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._lengths: list[np.ndarray] = []
        self.blob = b""
        self.starts = np.zeros(1, np.int64)

    def add(self, values: list) -> None:
        encoded = [v.encode("utf-8", "surrogatepass") for v in values]
        self._parts.append(b"".join(encoded))
        self._lengths.append(np.fromiter(map(len, encoded), np.int64, len(encoded)))

    def finish(self) -> None:
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.int64)
        ends = self.starts[-1] + np.cumsum(lengths)
        self.starts = np.concatenate([self.starts, ends])
        self.blob = b"".join([self.blob, *self._parts])
        self._parts, self._lengths = [], []

    def get(self, i: int) -> str:
        return self.blob[self.starts[i] : self.starts[i + 1]].decode("utf-8", "surrogatepass")

    def take(self, ks: np.ndarray) -> list:
        blob = self.blob
        return [
            blob[a:b].decode("utf-8", "surrogatepass")
            for a, b in zip(self.starts[ks].tolist(), self.starts[ks + 1].tolist(), strict=True)
        ]


class _Meta:
    """Metadata objects, each as the marshal bytes of its field values (~0.1 KiB for a camera
    file's, where the object and its strings took ~0.4 KiB), made again when asked: equal, field
    by field, not the same object. The rows of one object share its bytes (the empty Metadata of
    a tree without EXIF is stored once a chunk); a value marshal cannot hold, or anything but
    a Metadata, is kept as it is, by position."""

    _values = attrgetter(*(f.name for f in fields(Metadata)))

    def __init__(self) -> None:
        self._parts: list[tuple[bytes, np.ndarray, np.ndarray]] = []
        self.blob = b""
        self.starts = np.zeros(0, np.int64)
        self.lengths = np.zeros(0, np.uint32)
        self.odd: dict[int, object] = {}
        self._count = 0

    def add(self, values: list) -> None:
        pieces: list[bytes] = []
        at = len(self.blob) + sum(len(p[0]) for p in self._parts)
        starts = np.zeros(len(values), np.int64)
        lengths = np.zeros(len(values), np.uint32)
        seen: dict[int, tuple[int, int]] = {}  # id of a Metadata of this chunk -> its bytes
        for k, m in enumerate(values):
            place = seen.get(id(m))
            if place is None:
                try:
                    if type(m) is not Metadata:
                        raise ValueError
                    data = marshal.dumps(self._values(m))
                except ValueError:
                    self.odd[self._count + k] = m
                    continue
                place = seen[id(m)] = (at, len(data))
                pieces.append(data)
                at += len(data)
            starts[k], lengths[k] = place
        self._parts.append((b"".join(pieces), starts, lengths))
        self._count += len(values)

    def finish(self) -> None:
        self.blob = b"".join([self.blob, *(p[0] for p in self._parts)])
        parts = [p[1:] for p in self._parts]
        self.starts, self.lengths = _appended((self.starts, self.lengths), parts)
        self._parts = []

    def get(self, i: int):
        return self.take(np.asarray([i]))[0]

    def take(self, ks: np.ndarray) -> list:
        blob, made = self.blob, {}
        out = []
        for a, n in zip(self.starts[ks].tolist(), self.lengths[ks].tolist(), strict=True):
            m = made.get(a)  # rows sharing bytes share the object made of them
            if m is None and n:  # no bytes: a value kept by position
                m = made[a] = Metadata(*marshal.loads(blob[a : a + n]))
            out.append(m)
        return _with_odd(out, ks, self.odd)

    def is_in(self, rows: np.ndarray, accept) -> np.ndarray:
        """A mask of `rows` whose Metadata `accept(metadata)` holds."""
        ok = np.zeros(len(rows), bool)
        for start in range(0, len(rows), BATCH):
            part = rows[start : start + BATCH]
            ok[start : start + len(part)] = [bool(accept(m)) for m in self.take(part)]
        return ok


def _appended(columns: tuple[np.ndarray, ...], parts: list[tuple]) -> tuple[np.ndarray, ...]:
    """Each of `columns` with the arrays at its place in each of `parts` appended."""
    return tuple(np.concatenate([c, *(p[k] for p in parts)]) for k, c in enumerate(columns))


def _with_odd(out: list, ks: np.ndarray, odd: dict) -> list:
    """`out` (the values at positions `ks`) with the values kept by position put back."""
    if odd:
        for n, k in enumerate(ks.tolist()):
            if k in odd:
                out[n] = odd[k]
    return out


def _give_back_freed() -> None:
    """Hand the heap the packed records were freed from back to the system: glibc keeps it
    otherwise (~120 MiB at a million camera files' records). Nothing where there is no
    malloc_trim (not glibc)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _columns() -> dict[str, object]:
    """A column for each FileRecord field (a field without one is an error at import)."""
    kinds = {
        "path": _Texts,
        "size": _Ints,
        "mtime_ns": _Ints,
        "inode": _Ints,
        "width": _Ints,
        "height": _Ints,
        "frames": _Ints,
        "blake3": lambda: _Hex(32),
        "phash": lambda: _Hex(8),
        "dhash": lambda: _Hex(8),
        "metadata": _Meta,
    }
    return {f.name: kinds.get(f.name, _Repeated)() for f in fields(FileRecord)}


class RecordTable(Sequence[FileRecord]):
    """Records as columns (see the module's docstring), or some of them (`take`): a Sequence of
    FileRecords made on demand. Built by `from_records`; not changed after."""

    def __init__(self, columns: dict, rows: np.ndarray, path_sorted: bool) -> None:
        self._columns = columns
        self._getters = [c.get for c in columns.values()]
        self.rows = rows  # positions in the columns, in this table's order
        self.path_sorted = path_sorted  # in the order of their paths' bytes (as the catalog's)

    @classmethod
    def from_records(cls, records: Iterable[FileRecord]) -> RecordTable:
        """The records packed, CHUNK at a time: only a chunk of them is held as objects."""
        if isinstance(records, RecordTable):
            return records
        columns = _columns()
        names = list(columns)
        count, last, in_order = 0, b"", True
        chunk: list[FileRecord] = []

        def pack() -> None:
            for name in names:
                columns[name].add([getattr(r, name) for r in chunk])
            chunk.clear()

        for r in records:
            key = os.fsencode(r.path)
            in_order = in_order and last <= key
            last = key
            chunk.append(r)
            count += 1
            if len(chunk) >= CHUNK:
                pack()
        pack()
        for column in columns.values():
            column.finish()
        _give_back_freed()
        return cls(columns, np.arange(count, dtype=np.int64), in_order)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self._make(self.rows[i])
        return FileRecord(*[get(int(self.rows[i])) for get in self._getters])

    def __iter__(self) -> Iterator[FileRecord]:
        for start in range(0, len(self.rows), BATCH):
            yield from self._make(self.rows[start : start + BATCH])

    def records(self, positions: Sequence[int]) -> list[FileRecord]:
        """The records at these positions of this table (made a column at a time)."""
        return self._make(self.rows[np.asarray(positions, dtype=np.int64)])

    def _make(self, ks: np.ndarray) -> list[FileRecord]:
        if not len(ks):
            return []
        columns = [c.take(ks) for c in self._columns.values()]
        return [FileRecord(*values) for values in zip(*columns, strict=True)]

    def take(self, positions: np.ndarray | Sequence[int]) -> RecordTable:
        """The records at these positions of this table, in that order."""
        positions = np.asarray(positions, dtype=np.int64)
        rows = self.rows[positions]
        in_order = self.path_sorted and bool(np.all(positions[1:] > positions[:-1]))
        return RecordTable(self._columns, rows, in_order)

    def sorted_by_path(self) -> RecordTable:
        """This table in the order of its paths' bytes (itself when it is)."""
        if self.path_sorted:
            return self
        order = sorted(range(len(self)), key=lambda i: os.fsencode(self.path(i)))
        return RecordTable(self._columns, self.rows[order], True)

    # Columns, without making records

    def path(self, i: int) -> str:
        return self._columns["path"].get(int(self.rows[i]))

    def path_reader(self) -> Callable[[np.ndarray], list[str]]:
        """rows (places in the columns, as `rows` holds them) -> their paths; it holds the
        paths only, not the other columns."""
        return self._columns["path"].take

    def paths(self) -> Iterator[str]:
        get = self._columns["path"].get
        return (get(k) for k in self.rows.tolist())

    def digests(self) -> list:
        """The records' BLAKE3 values, as the records hold them."""
        return self._columns["blake3"].take(self.rows)

    def is_in(self, name: str, accept) -> np.ndarray:
        """A mask of this table's records whose field `name` (a repeated one: kind, format,
        decode_ok, ...; or metadata, made for the asking) `accept(value)` holds."""
        return self._columns[name].is_in(self.rows, accept)

    def ints(self, name: str) -> np.ndarray:
        """An int field (size, ...) as int64, None and unpackable values as 0."""
        return self._columns[name].values[self.rows]

    def present(self, name: str) -> np.ndarray:
        """A mask of the records whose hex field (blake3, phash, dhash) is set and not empty."""
        return self._columns[name].present(self.rows)

    def hashes(self, name: str) -> np.ndarray | None:
        """A 64-bit hex field (phash, dhash) as uint64 (0 where unset), or None when some
        value is not 16 lowercase hex digits."""
        column = self._columns[name]
        if column.width != 8 or (column.odd and any(k in column.odd for k in self.rows.tolist())):
            return None
        return column.raw[self.rows].view(">u8").ravel().astype(np.uint64)

    def content_ids(self) -> np.ndarray:
        """An int per record, equal for equal BLAKE3 digests (-1: none): identity of bytes
        without a string a record."""
        column = self._columns["blake3"]
        raw, packed = column.raw[self.rows], column.packed[self.rows]
        ids = np.full(len(self.rows), -1, np.int64)
        if packed.any():
            keys = np.ascontiguousarray(raw[packed]).view(f"V{column.width}").ravel()
            _, inverse = np.unique(keys, return_inverse=True)
            ids[packed] = inverse.ravel()
        base = int(ids.max()) + 1 if len(ids) else 0
        others: dict[object, int] = {}
        for k in np.flatnonzero(~packed).tolist():
            v = column.odd.get(int(self.rows[k]))
            if v is not None:
                ids[k] = others.setdefault(v, base + len(others))
        return ids


def as_table(records: Iterable[FileRecord]) -> RecordTable:
    """`records` as a RecordTable in path order (a table given is taken as it is, sorted)."""
    return RecordTable.from_records(records).sorted_by_path()

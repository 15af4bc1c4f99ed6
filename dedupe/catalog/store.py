"""The catalog: one SQLite file. The only module that speaks SQL.

Schema (version 9; `PRAGMA user_version` holds the version, `MIGRATIONS` brings older files up;
versions 7, 8 and 9 changed no column, only cleared decoded facts to be taken again):

files — one row per file ever scanned and still present
  path BLOB PRIMARY KEY   the absolute path as the OS's bytes (names need not be UTF-8)
  path_text TEXT          the same, decoded for people (invalid bytes as U+FFFD)
  root BLOB               the scan root it was found under
  size INTEGER, mtime_ns INTEGER, inode INTEGER, device INTEGER
  blake3 TEXT             64 hex characters
  kind TEXT               image | video | sidecar | other
  format TEXT             sniffed from the bytes: JPEG, HEIC, PNG, MOV, MP4, XMP, AAE, ...
  width, height INTEGER   as shown (EXIF orientation applied)
  duration REAL, codec TEXT            video
  phash, dhash TEXT       64-bit perceptual hashes as 16 hex characters (a video's: of its
                          first frame); phash_method (jpeg-draft, heic-thumbnail, full,
                          video-first-frame, tiff-segments: a TIFF Pillow does not
                          decode, decoded and reduced by tifffile a strip at a time (no
                          signature when its layout is not gray or RGB); no-decoder:
                          tried, a layout nothing here
                          reads or a picture over the decode budget, decode_ok NULL and
                          the reason in decode_error; added in version 7)
  decode_ok INTEGER (0/1/NULL), decode_error TEXT
  signature BLOB          an image's 711-byte picture signature (dedupe.signature: L* 24x24,
                          a*b* 8x8, detail energy; of the same decode as the hashes; added in
                          version 4); NULL for videos, undecoded files, and rows cataloged
                          before it (those images are fingerprinted again by the next scan)
  frames INTEGER          how many pictures a decoded image holds (GIF/APNG frames, MPO's
                          pictures, a HEIF's top-level images: bursts, sequences, stereo
                          pairs); its hashes are of the primary one; added in version 5
  captured_at TEXT        ISO 8601 with sub-seconds and offset when known
  captured_source, gps_source TEXT   the exiftool tag each came from (`Group:Tag`, e.g.
                          APP12:DateTimeOriginal, XMP:GPSLatitude); added in version 3
  gps_lat, gps_lon REAL, make, model, software, content_id, burst_id, image_unique_id TEXT
  orientation INTEGER
  metadata_json TEXT      the whole normalized Metadata record as JSON
  error TEXT              why the file could not be fingerprinted (unreadable, vanished, ...)
  scanned_at TEXT         ISO 8601 UTC
scans — one row per scan run: started_at, roots (JSON), counts (JSON)
roots — what each scan root is to the user (added in version 6):
  root BLOB PRIMARY KEY   a scan root, as files.root holds it
  role TEXT               library (scanned by scan, dupes, plan, report: the photos the user
                          asks about) | copy (the DEST of an audit, or a new library that
                          apply wrote, scanned by verify)
  marked_at TEXT          ISO 8601 UTC
  Commands given no ROOTs answer about the files whose root is not a copy. A catalog from before
  version 6 has no rows here: every root in it counts as library until a verify or an audit
  marks its DEST.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

from photoverify.dedupe.catalog.rows import COLUMNS as _COLUMNS
from photoverify.dedupe.catalog.rows import Shared as _Shared
from photoverify.dedupe.catalog.rows import record as _record
from photoverify.dedupe.catalog.rows import select_columns as _select
from photoverify.dedupe.catalog.sniff import (
    DECODABLE_IMAGES,
    NO_DECODER_METHOD,
    RAW_FORMATS,
    TIFF_SEGMENTS_METHOD,
)
from photoverify.dedupe.core.errors import CatalogError
from photoverify.dedupe.core.records import DECODED_FIELDS, FileRecord
from photoverify.dedupe.core.sqlitefile import WalFile
from photoverify.dedupe.core.timeparse import now_iso

SCHEMA_VERSION = 9

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE files (
        path BLOB PRIMARY KEY,
        path_text TEXT NOT NULL,
        root BLOB NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        inode INTEGER NOT NULL,
        device INTEGER NOT NULL,
        blake3 TEXT,
        kind TEXT NOT NULL,
        format TEXT,
        width INTEGER,
        height INTEGER,
        duration REAL,
        codec TEXT,
        phash TEXT,
        dhash TEXT,
        phash_method TEXT,
        decode_ok INTEGER,
        decode_error TEXT,
        captured_at TEXT,
        gps_lat REAL,
        gps_lon REAL,
        make TEXT,
        model TEXT,
        software TEXT,
        content_id TEXT,
        burst_id TEXT,
        image_unique_id TEXT,
        orientation INTEGER,
        metadata_json TEXT NOT NULL,
        error TEXT,
        scanned_at TEXT NOT NULL
    );
    CREATE INDEX files_blake3 ON files(blake3);
    CREATE INDEX files_root ON files(root);
    CREATE INDEX files_content_id ON files(content_id);
    CREATE TABLE scans (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        roots TEXT NOT NULL,
        counts TEXT NOT NULL
    );
    """,
    # 2: identical copies found by size take over their decoded facts (dedupe.fingerprint)
    2: "CREATE INDEX files_size ON files(size);",
    # 3: which tag gave the capture time and the GPS position (older rows: NULL until rescanned)
    3: """
    ALTER TABLE files ADD COLUMN captured_source TEXT;
    ALTER TABLE files ADD COLUMN gps_source TEXT;
    """,
    # 4: pixel-level confirmation of same-photo pairs (dedupe.signature)
    4: "ALTER TABLE files ADD COLUMN signature BLOB;",
    # 5: the number of pictures in a multi-frame image (older rows: NULL until fingerprinted)
    5: "ALTER TABLE files ADD COLUMN frames INTEGER;",
    # 6: a library's copies (verify's and audit's DEST) kept apart from the library itself
    6: """
    CREATE TABLE roots (
        root BLOB PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('library', 'copy')),
        marked_at TEXT NOT NULL
    );
    """,
    # 7: no new column. Decoded facts an older photoverify recorded wrongly as "does not
    # decode" are cleared, so the next scan takes them again (_STALE_DECODE: a decodable
    # format with no decode_ok, not tried): a picture whose opening depended on what its process
    # had opened before (a valid ICO after a TGA: "cannot load this image"), and a TIFF Pillow
    # could not identify (a sample layout it has no mode for, now "no decoder"). One that really
    # does not decode is recorded so again, once.
    7: """
    UPDATE files SET decode_ok = NULL, decode_error = NULL, phash_method = NULL
    WHERE kind = 'image' AND decode_ok = 0 AND (
        decode_error LIKE 'OSError: cannot load this image%'
        OR (format = 'TIFF' AND decode_error LIKE 'UnidentifiedImageError:%')
    );
    """,
    8: """
    UPDATE files SET decode_ok = NULL, decode_error = NULL, phash_method = NULL
    WHERE kind = 'image' AND decode_ok = 0 AND (
        (format = 'TIFF' AND (
            decode_error LIKE 'UnidentifiedImageError:%'
            OR decode_error LIKE 'OSError: decoder error%'
        ))
        OR (format = 'BMP' AND decode_error LIKE 'OSError: Unsupported BMP%')
        OR decode_error LIKE '%does not have the size signaled in the file%'
        OR (format IN ('JPEG', 'MPO')
            AND decode_error LIKE 'decompression bomb refused: Image size%')
    );
    """,
    # 9: no new column. A picture over the decode budget, recorded before as undecodable
    # ("decompression bomb refused: ..."), is not decoded and so not checked: taken again, once
    # (refused again at once, as no-decoder with the reason; a PNG's data checked). A TIFF
    # recorded with no decoder (a compression or sample layout Pillow does not read) is taken
    # again too: tifffile decodes it now (tiffsegments).
    9: """
    UPDATE files SET decode_ok = NULL, decode_error = NULL, phash_method = NULL
    WHERE kind = 'image' AND (
        (decode_ok = 0 AND decode_error LIKE 'decompression bomb refused:%')
        OR (format = 'TIFF' AND decode_ok IS NULL AND phash_method = 'no-decoder')
    );
    """,
}
ROLES = ("library", "copy")

# Decoded facts an older photoverify got wrong or left out, to be taken again: a decoded video
# cataloged before videos got first-frame hashes; a valid picture in a mode the old fast path
# could not reduce (P, 1, I;16 ...), recorded undecodable "image has wrong mode"; a picture in
# a format that had no decoder then and has one now (MPO, APNG, JXL, PCX, ...); a decoded image
# cataloged before picture signatures (version 4), with a version-1 signature (its hashes were
# taken from the picture's numbers before colour management), or before frame counts (5); a RAW
# picture cataloged before RAW files were read through their embedded preview; a HEIF picture
# in a codec exiftool does not name (AVC), cataloged as a video with no video stream. A picture
# tried and found to have no decoder for its layout (phash_method no-decoder) is not taken again.
_STALE_DECODE = (
    "((kind = 'video' AND decode_ok = 1 AND phash_method IS NULL) OR "
    "(kind = 'video' AND decode_ok = 0 AND decode_error = 'no video stream') OR "
    "(kind = 'image' AND decode_ok = 0 AND decode_error = 'ValueError: image has wrong mode') OR "
    "(kind = 'image' AND decode_ok IS NULL AND size > 0 "
    f"AND coalesce(phash_method, '') != '{NO_DECODER_METHOD}' AND format IN "
    f"({','.join(repr(f) for f in sorted(DECODABLE_IMAGES))})) OR "
    f"(kind = 'image' AND decode_ok = 1 AND coalesce(phash_method, '') != '{TIFF_SEGMENTS_METHOD}' "
    "AND "
    "(signature IS NULL OR frames IS NULL OR substr(signature, 1, 1) = x'01')) OR "
    "(kind = 'image' AND decode_ok IS NULL AND phash_method IS NULL AND size > 0 AND format IN "
    f"({','.join(repr(f) for f in sorted(RAW_FORMATS))})))"
)
# metadata read before version 3 (a fixed tag list: no APP12, MakerNotes, sidecar or QuickTime GPS
# values, no sources): read again once
# and a UTF-16 XMP sidecar read before such files were read through a UTF-8 copy
_OLD_METADATA = (
    "(metadata_json NOT LIKE '%\"gps_source\"%' OR (format = 'XMP' AND captured_at IS NULL "
    "AND gps_lat IS NULL AND metadata_json LIKE '%Superfluous BOM at start of XMP%'))"
)
_STALE = f"({_STALE_DECODE} OR {_OLD_METADATA})"


def default_path() -> Path:
    """$PHOTOVERIFY_CATALOG, else the user's data directory (XDG_DATA_HOME on Linux)."""
    env = os.environ.get("PHOTOVERIFY_CATALOG")
    if env:
        return Path(env)
    import platformdirs  # here: ~10 ms of start-up for the runs that name their catalog

    return Path(platformdirs.user_data_dir("photoverify")) / "catalog.sqlite"


def _key(path: str) -> bytes:
    return os.fsencode(path)


def _text(path_bytes: bytes) -> str:
    return path_bytes.decode("utf-8", "replace")


class Catalog(WalFile):
    """An open catalog. Use as a context manager."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        super().__init__(
            Path(path) if path else default_path(), self._migrate_on, CatalogError, "catalog"
        )

    def _migrate_on(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._migrate()

    def _migrate(self) -> None:
        if self._check_version() == SCHEMA_VERSION:
            return  # the common case takes no write lock
        # Processes opening one catalog at once must not both create or migrate it: the version
        # is read again under SQLite's write lock (BEGIN IMMEDIATE waits for it, up to the
        # timeout), and each migration's statements run in that one transaction (DDL is
        # transactional in SQLite), so a second process finds the work done or none of it.
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for target in range(self._check_version() + 1, SCHEMA_VERSION + 1):
                for statement in _statements(MIGRATIONS[target]):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {target}")
            self.db.commit()
        except BaseException:
            self.db.rollback()
            raise

    def _check_version(self) -> int:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise CatalogError(
                f"{self.path}: catalog schema {version} is newer than this photoverify "
                f"understands ({SCHEMA_VERSION}); upgrade photoverify"
            )
        return version

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    # --- writing -------------------------------------------------------------------------
    def upsert(self, records: Iterable[FileRecord]) -> None:
        """Insert or replace records, in one transaction."""
        now = now_iso()
        rows = []
        for r in records:
            m = r.metadata
            rows.append(
                (
                    _key(r.path),
                    _text(_key(r.path)),
                    _key(r.root),
                    r.size,
                    r.mtime_ns,
                    r.inode,
                    r.device,
                    r.blake3,
                    r.kind,
                    r.format,
                    r.width,
                    r.height,
                    r.duration,
                    r.codec,
                    r.phash,
                    r.dhash,
                    r.phash_method,
                    None if r.decode_ok is None else int(r.decode_ok),
                    r.decode_error,
                    r.signature,
                    m.captured_at,
                    m.gps_lat,
                    m.gps_lon,
                    m.make,
                    m.model,
                    m.software,
                    m.content_id,
                    m.burst_id,
                    m.image_unique_id,
                    m.orientation,
                    json.dumps(asdict(m)),
                    r.error,
                    now,
                    m.captured_source,
                    m.gps_source,
                    r.frames,
                )
            )
        placeholders = ",".join("?" * len(_COLUMNS))
        with self.db:
            self.db.executemany(
                f"INSERT OR REPLACE INTO files ({','.join(_COLUMNS)}) VALUES ({placeholders})",
                rows,
            )

    def remove(self, paths: Iterable[str]) -> int:
        keys = [(_key(p),) for p in paths]
        with self.db:
            self.db.executemany("DELETE FROM files WHERE path = ?", keys)
        return len(keys)

    def record_scan(self, roots: list[str], counts: dict) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO scans (started_at, roots, counts) VALUES (?, ?, ?)",
                (now_iso(), json.dumps(roots), json.dumps(counts)),
            )

    def mark_roots(self, roots: Iterable[str], role: str, *, replace: bool = False) -> None:
        """Record what ROOTS are, `library` or `copy` (the DEST of a verify or an audit). A role
        already recorded stays unless `replace` (`scan ROOT` says ROOT is the user's library),
        so verifying a library against its manifest leaves it a library, and `dupes COPY`
        answers about COPY without making it part of the library."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        with self.db:
            self.db.executemany(
                f"{verb} INTO roots (root, role, marked_at) VALUES (?, ?, ?)",
                [(_key(os.path.abspath(r)), role, now_iso()) for r in roots],
            )

    def roots(self) -> dict[str, str]:
        """{root: role} of every root whose role is recorded."""
        return {
            os.fsdecode(root): role
            for root, role in self.db.execute("SELECT root, role FROM roots ORDER BY root")
        }

    # --- reading -------------------------------------------------------------------------
    def stats_under(self, root: str) -> dict[str, tuple[int, int, int, bool]]:
        """{path: (size, mtime_ns, inode, stale)} of every file cataloged under root, or of root
        itself when it is a cataloged file. Stale: to be fingerprinted again even if unchanged
        (it had an error, its metadata was read before schema 3, or its decoded facts are from
        an older photoverify that got them wrong or left them out: see _STALE_DECODE)."""
        out = {}
        for path, size, mtime, inode, stale in self.db.execute(
            f"SELECT path, size, mtime_ns, inode, error IS NOT NULL OR {_STALE} FROM files "
            "WHERE path = ? OR (path >= ? AND path < ?)",
            (_key(os.path.abspath(root)), *_prefix_range(root)),
        ):
            out[os.fsdecode(path)] = (size, mtime, inode, bool(stale))
        return out

    def digests_of(self, paths: Sequence[str]) -> dict[str, tuple[int, int, int, str]]:
        """{path: (size, mtime_ns, inode, BLAKE3)} of those of `paths` the catalog holds, read
        without error: what `dupes --exact --trust-stat` takes for a file whose stat is
        unchanged, instead of reading it."""
        out = {}
        for path, size, mtime, inode, digest in self._rows_in(
            "SELECT path, size, mtime_ns, inode, blake3 FROM files WHERE path IN ({marks}) "
            "AND blake3 IS NOT NULL AND error IS NULL",
            sorted(map(_key, paths)),  # in the index's order: 30 % faster than as given
        ):
            out[os.fsdecode(path)] = (size, mtime, inode, digest)
        return out

    def records(
        self,
        paths: Iterable[str] = (),
        *,
        under: Iterable[str] = (),
        signatures: bool = True,
        for_matching: bool = False,
    ) -> list[FileRecord]:
        """Records of the given files and of every file under the given folders, path-sorted.
        `signatures=False`: without their picture signatures (see `signatures`).
        `for_matching`: with only the metadata finding duplicates reads (rows.MATCH_METADATA)."""
        found: dict[bytes, FileRecord] = {}
        shared = _Shared()
        columns = _select(signatures, for_matching)
        for p in paths:
            for row in self.db.execute(f"SELECT {columns} FROM files WHERE path = ?", (_key(p),)):
                found[row[0]] = _record(row, shared)
        for folder in under:
            for row in self.db.execute(
                f"SELECT {columns} FROM files WHERE path >= ? AND path < ?",
                _prefix_range(folder),
            ):
                found[row[0]] = _record(row, shared)
        return [found[k] for k in sorted(found)]

    def all_records(self) -> Iterator[FileRecord]:
        shared = _Shared()
        for row in self.db.execute(f"SELECT {','.join(_COLUMNS)} FROM files ORDER BY path"):
            yield _record(row, shared)

    def library_records(
        self, signatures: bool = True, for_matching: bool = False
    ) -> Iterator[FileRecord]:
        """Every record but those of copies (roots marked `copy`): what a command given no
        ROOTs answers about. `signatures=False`: without their picture signatures.
        `for_matching`: with only the metadata finding duplicates reads (rows.MATCH_METADATA),
        and each a record of its own (none kept to share its values with a later copy's): for
        packing into columns as they come (dedupe.match.table)."""
        shared = _Shared(by_digest=not for_matching)
        for row in self.db.execute(
            f"SELECT {_select(signatures, for_matching)} FROM files WHERE root NOT IN "
            "(SELECT root FROM roots WHERE role = 'copy') ORDER BY path"
        ):
            yield _record(row, shared)

    def signatures(self, records: Sequence[FileRecord]) -> list[bytes | None]:
        """The picture signatures of these records, in order (None where the catalog has none):
        what dupes reads when it read its records without them (a 711-byte signature a record
        is ~700 MiB at a million files), a chunk at a time."""
        keys = [_key(r.path) for r in records]
        out = dict(self._rows_in("SELECT path, signature FROM files WHERE path IN ({marks})", keys))
        return [out.get(k) for k in keys]

    _DECODED_ROW = (
        "blake3 IS NOT NULL AND error IS NULL AND decode_ok IS NOT NULL "
        f"AND kind IN ('image', 'video') AND NOT {_STALE_DECODE}"
    )

    def _rows_in(self, sql: str, keys: Sequence, mark: str = "?") -> Iterator[tuple]:
        """The rows of `sql` for all of `keys`, asked 500 at a time: `{marks}` in `sql` stands
        for a chunk's placeholders (`mark` each, comma-separated)."""
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            yield from self.db.execute(sql.replace("{marks}", ",".join([mark] * len(chunk))), chunk)

    def decoded_sizes(self, sizes: Iterable[int]) -> set[int]:
        """Which of these sizes a decoded image or video of the catalog has: the files of those
        sizes may be identical copies, whose decoded facts the scan can take over. One indexed
        probe per size, whatever the number of rows of that size."""
        sizes = sorted(set(sizes))
        rows = self._rows_in(
            "WITH wanted(size) AS (VALUES {marks}) SELECT size FROM wanted WHERE EXISTS "
            f"(SELECT 1 FROM files WHERE files.size = wanted.size AND {self._DECODED_ROW})",
            sizes,
            mark="(?)",
        )
        return {size for (size,) in rows}

    def decoded_facts(self, digests: Iterable[str]) -> dict[str, dict]:
        """{BLAKE3: {field: value}} (DECODED_FIELDS) of the decoded images and videos with these
        digests: what an identical copy found by the scanner takes over instead of decoding
        again. Looked up by digest (indexed), so the cost follows the digests asked for, not
        the size of the catalog."""
        digests = sorted(set(digests))
        names = list(DECODED_FIELDS)
        out: dict[str, dict] = {}
        for row in self._rows_in(
            f"SELECT blake3, {','.join(names)} FROM files WHERE blake3 IN ({{marks}}) "
            f"AND {self._DECODED_ROW}",
            digests,
        ):
            facts = dict(zip(names, row[1:], strict=True))
            facts["decode_ok"] = bool(facts["decode_ok"])
            out[row[0]] = facts
        return out

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM files").fetchone()[0]

    def by_blake3(self, digest: str) -> list[FileRecord]:
        return [
            _record(row)
            for row in self.db.execute(
                f"SELECT {','.join(_COLUMNS)} FROM files WHERE blake3 = ? ORDER BY path", (digest,)
            )
        ]


def _statements(script: str) -> list[str]:
    """A migration script's statements, one by one: `executescript` would commit first and run
    them outside the caller's transaction."""
    out, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            out.append(pending.strip())
            pending = ""
    if pending.strip():
        out.append(pending.strip())
    return out


def _prefix_range(folder: str) -> tuple[bytes, bytes]:
    """Byte range of paths strictly below `folder` ('/' + 1 == '0')."""
    base = _key(os.path.abspath(folder)).rstrip(b"/")
    return base + b"/", base + b"0"


def digest_lookup(catalog: Catalog):
    """A `known_digest(path, stat, algorithm)` for manifests: the catalog's BLAKE3 of a file whose
    size and mtime still match, so unchanged files are not read again."""

    def known(path: str, st: os.stat_result, algorithm: str) -> str | None:  # (or a FileStat)
        if algorithm != "blake3":
            return None
        row = catalog.db.execute(
            "SELECT blake3 FROM files WHERE path = ? AND size = ? AND mtime_ns = ? "
            "AND error IS NULL",
            (_key(os.path.abspath(path)), st.st_size, st.st_mtime_ns),
        ).fetchone()
        return row[0] if row else None

    return known


def media_lookup(catalog: Catalog):
    """A `media_info(path)` for JSON manifests: capture time and GPS from the catalog."""

    def info(path: str) -> dict | None:
        row = catalog.db.execute(
            "SELECT captured_at, gps_lat, gps_lon FROM files WHERE path = ?",
            (_key(os.path.abspath(path)),),
        ).fetchone()
        if row is None:
            return None
        gps = None if row[1] is None or row[2] is None else {"lat": row[1], "lon": row[2]}
        return {"captured_at": row[0], "gps": gps}

    return info

"""The catalog's `files` table as rows: its columns (in the order of its INSERT), and how a row
read from it becomes a FileRecord, with what a read of a million rows shares (`Shared`)."""

from __future__ import annotations

import json
import os
from dataclasses import fields

from photoverify.dedupe.core.records import NO_METADATA, FileRecord, Metadata

COLUMNS = (
    "path",
    "path_text",
    "root",
    "size",
    "mtime_ns",
    "inode",
    "device",
    "blake3",
    "kind",
    "format",
    "width",
    "height",
    "duration",
    "codec",
    "phash",
    "dhash",
    "phash_method",
    "decode_ok",
    "decode_error",
    "signature",
    "captured_at",
    "gps_lat",
    "gps_lon",
    "make",
    "model",
    "software",
    "content_id",
    "burst_id",
    "image_unique_id",
    "orientation",
    "metadata_json",
    "error",
    "scanned_at",
    "captured_source",
    "gps_source",
    "frames",
)
_METADATA_FIELDS = {f.name for f in fields(Metadata)}


class Shared:
    """Values that many rows of one read repeat, held once (a million records must fit in
    memory): names of roots, kinds, formats, cameras; and what identical copies have in common
    (their digest, hashes, picture signature and, when equal, their metadata), shared by
    digest. Records are not mutated after reading, so sharing equal values is invisible."""

    def __init__(self, by_digest: bool = True) -> None:
        self.values: dict = {}
        self.by_digest: dict[str, FileRecord] = {}
        self._by_digest = by_digest  # False: records streamed into columns, none kept here

    def value(self, v):
        return v if v is None else self.values.setdefault(v, v)

    def share(self, rec: FileRecord) -> FileRecord:
        """`rec` with its mtime, hashes, picture signature and Metadata replaced by the equal
        values of the record read before with the same digest, if any (a copy made by `cp -a`
        keeps the mtime too). The first record of a digest is remembered itself: no tuple of
        its facts a record (~100 bytes each at a million distinct files)."""
        if rec.blake3 is None or not self._by_digest:
            return rec
        seen = self.by_digest.setdefault(rec.blake3, rec)
        if seen is not rec:
            for name in _SHARED_BY_DIGEST:
                value = getattr(seen, name)
                if value == getattr(rec, name):
                    setattr(rec, name, value)
        return rec


_SHARED_BY_DIGEST = ("blake3", "size", "mtime_ns", "phash", "dhash", "signature", "metadata")


# Metadata fields whose values repeat across a library (cameras, tag names, types)
_REPEATED_METADATA = (
    "captured_source",
    "gps_source",
    "make",
    "model",
    "software",
    "file_type",
    "mime_type",
    "error",
    "warning",
)


# The Metadata fields that finding duplicates reads (dedupe.match: judging, companions, the
# keeper policy). A read `for_matching` holds these only, from their own columns.
MATCH_METADATA = (
    "captured_at",
    "gps_lat",
    "gps_lon",
    "make",
    "model",
    "content_id",
    "burst_id",
    "image_unique_id",
)


def select_columns(signatures: bool, for_matching: bool = False) -> str:
    """The column list of a record read, its signature left out (NULL) unless `signatures`,
    and the whole metadata (`metadata_json`) left out when `for_matching`."""
    left_out = {"signature"} if not signatures else set()
    left_out |= {"metadata_json"} if for_matching else set()
    return ",".join("NULL" if c in left_out else c for c in COLUMNS)


def record(row: tuple, shared: Shared | None = None) -> FileRecord:
    """The FileRecord of a row read with `select_columns`. A row read for matching (no
    `metadata_json`) gets a Metadata of the MATCH_METADATA fields only, from their columns;
    one with none of them set gets the one empty Metadata every such record shares (a million
    Metadata objects of ~0.2 KiB each, most of them empty in a tree of files without EXIF)."""
    shared = shared or Shared()
    values = dict(zip(COLUMNS, row, strict=True))
    if values["metadata_json"] is None:
        kept = {name: values[name] for name in MATCH_METADATA}
        kept["make"], kept["model"] = shared.value(kept["make"]), shared.value(kept["model"])
        meta = Metadata(**kept) if any(v is not None for v in kept.values()) else NO_METADATA
    else:
        meta_dict = json.loads(values["metadata_json"])
        for name in _REPEATED_METADATA:
            meta_dict[name] = shared.value(meta_dict.get(name))
        meta = Metadata(**{k: v for k, v in meta_dict.items() if k in _METADATA_FIELDS})
    decode_ok = values["decode_ok"]
    rec = FileRecord(
        path=os.fsdecode(values["path"]),
        root=shared.value(os.fsdecode(values["root"])),
        size=values["size"],
        mtime_ns=values["mtime_ns"],
        inode=values["inode"],
        device=shared.value(values["device"]),
        blake3=values["blake3"],
        kind=shared.value(values["kind"]),
        format=shared.value(values["format"]),
        width=values["width"],
        height=values["height"],
        duration=values["duration"],
        codec=shared.value(values["codec"]),
        phash=values["phash"],
        dhash=values["dhash"],
        phash_method=shared.value(values["phash_method"]),
        decode_ok=None if decode_ok is None else bool(decode_ok),
        decode_error=shared.value(values["decode_error"]),
        signature=values["signature"],
        frames=values["frames"],
        metadata=meta,
        error=values["error"],
    )
    return shared.share(rec)

"""Plain records that cross module borders. No I/O here.

Paths are `str` as the OS gives them (`os.fsdecode`, so bytes that are not valid UTF-8 are
carried as surrogate escapes and survive a round trip to disk and to JSON).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

KINDS = ("image", "video", "sidecar", "other")


class Candidate(NamedTuple):
    """A file the walker found, with the stat it was found with. A named tuple: one per file
    walked (a million in a scan's work list), built in a third of a frozen dataclass's time."""

    path: str
    root: str
    size: int
    mtime_ns: int
    inode: int
    device: int


@dataclass(frozen=True, slots=True)  # slots: a million records in memory (dupes)
class Metadata:
    """Normalized metadata of one file, as read through exiftool."""

    captured_at: str | None = None  # ISO 8601, with sub-seconds and offset when known
    captured_source: str | None = None  # which tag gave captured_at (e.g. "APP12:DateTimeOriginal")
    captured_refused: str | None = None  # better-ranked capture times refused, with the reasons
    gps_lat: float | None = None
    gps_lon: float | None = None
    gps_source: str | None = None  # which tag gave the position (e.g. "XMP:GPSLatitude")
    title: str | None = None  # XMP dc:title, else IPTC ObjectName
    keywords: str | None = None  # XMP dc:subject, else IPTC Keywords, joined by "; "
    rating: int | None = None  # XMP xmp:Rating, else EXIF Rating: 1-5, -1 rejected (0: none)
    make: str | None = None
    model: str | None = None
    software: str | None = None
    content_id: str | None = None  # Apple ContentIdentifier (MakerNote MediaGroupUUID / QuickTime)
    burst_id: str | None = None
    image_unique_id: str | None = None
    orientation: int | None = None
    file_type: str | None = None  # exiftool's FileType, sniffed from the bytes
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    error: str | None = None  # what exiftool said it could not read
    warning: str | None = None  # exiftool's warning (e.g. "Truncated 'mdat' data")

    @property
    def gps(self) -> dict[str, float] | None:
        if self.gps_lat is None or self.gps_lon is None:
            return None
        return {"lat": self.gps_lat, "lon": self.gps_lon}


# The metadata of a file without any: one shared instance (Metadata is frozen), so that a record
# made without metadata costs no Metadata of its own (2 µs of a FileRecord's 2.4 µs).
NO_METADATA = Metadata()

# FileRecord fields that follow from a file's bytes alone (what decoding it found), and so can be
# taken over from an identical copy instead of decoding that again.
DECODED_FIELDS = (
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
    "frames",
)


@dataclass(slots=True)  # a million of them in memory (dupes): no __dict__ each
class FileRecord:
    """Everything the catalog knows about one file."""

    path: str
    root: str
    size: int
    mtime_ns: int
    inode: int
    device: int
    blake3: str | None = None
    kind: str = "other"
    format: str | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    codec: str | None = None
    phash: str | None = None  # 16 hex characters
    dhash: str | None = None
    phash_method: str | None = None  # how the pixels for the hash were obtained
    decode_ok: bool | None = None
    decode_error: str | None = None
    signature: bytes | None = None  # dedupe.signature: a 711-byte picture signature (images)
    frames: int | None = None  # pictures in a decoded image (multi-frame: hashes of the primary)
    metadata: Metadata = NO_METADATA
    error: str | None = None  # the file could not be fingerprinted at all (vanished, unreadable)

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape (`photoverify show --json`)."""
        m = self.metadata
        return {
            "path": self.path,
            "root": self.root,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "blake3": self.blake3,
            "kind": self.kind,
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "duration": self.duration,
            "codec": self.codec,
            "phash": self.phash,
            "dhash": self.dhash,
            "decode_ok": self.decode_ok,
            "decode_error": self.decode_error,
            "frames": self.frames,
            "captured_at": m.captured_at,
            "captured_source": m.captured_source,
            "captured_refused": m.captured_refused,
            "gps": m.gps,
            "gps_source": m.gps_source,
            "make": m.make,
            "model": m.model,
            "software": m.software,
            "content_id": m.content_id,
            "burst_id": m.burst_id,
            "image_unique_id": m.image_unique_id,
            "orientation": m.orientation,
            "error": self.error,
        }


RELATION_KINDS = ("identical", "same-photo", "derived", "similar", "companion")


@dataclass(frozen=True, slots=True)  # hundreds of thousands in a library of look-alikes
class Relation:
    """A typed edge between two files, with the evidence for it."""

    a: str
    b: str
    kind: str  # one of RELATION_KINDS
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "kind": self.kind, "evidence": self.evidence}


@dataclass(frozen=True, slots=True)
class Asset:
    """One photo or video as the user thinks of it: a primary file and what travels with it
    (Live Photo MOV, XMP/AAE/JSON sidecars, the JPEG of a RAW+JPEG pair)."""

    primary: str
    companions: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"primary": self.primary, "companions": list(self.companions)}


@dataclass(frozen=True, slots=True)
class ClusterMember:
    path: str  # the asset's primary file
    relation: str  # "keeper", "identical" or "same-photo" (its tie to the keeper)
    distance: int | None = None  # pHash Hamming distance to the keeper
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Cluster:
    """Assets that are one photo; exactly one is the keeper, the rest are its duplicates."""

    id: str
    kind: str  # "identical" when every member has the keeper's bytes, else "same-photo"
    keeper: str
    reason: str  # why the keeper won, in words a person can check
    members: tuple[ClusterMember, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "keeper": self.keeper,
            "reason": self.reason,
            "members": [asdict(m) for m in self.members],
        }


@dataclass(frozen=True)
class DupesResult:
    clusters: tuple[Cluster, ...]
    related: tuple[Relation, ...]  # derived and similar: reported, never merged by default
    assets: Sequence[Asset]  # a tuple, or (dupes) an AssetList making each Asset when asked

    def to_json(self) -> dict[str, Any]:
        return {
            "clusters": [c.to_json() for c in self.clusters],
            "related": [r.to_json() for r in self.related],
            "assets": [a.to_json() for a in self.assets],
        }

    def json_chunks(self) -> Iterator[str]:
        """The text of `json.dumps(self.to_json(), indent=2, ensure_ascii=True)`, one cluster,
        relation or asset at a time: a million files' JSON is never one object tree or one
        string in memory. (ASCII-escaped JSON holds no raw line break, so indenting an item's
        text is indenting its lines.)"""
        encoder = json.JSONEncoder(indent=2, ensure_ascii=True)
        parts = (("clusters", self.clusters), ("related", self.related), ("assets", self.assets))
        yield "{"
        for n, (name, items) in enumerate(parts):
            yield f'{"," if n else ""}\n  "{name}": ' + ("[" if items else "[]")
            for i, item in enumerate(items):
                text = encoder.encode(item.to_json()).replace("\n", "\n    ")
                yield f"{',' if i else ''}\n    {text}"
            if items:
                yield "\n  ]"
        yield "\n}"

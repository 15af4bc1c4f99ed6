"""What the sample library holds: captures, the files made from them, and the relations between
those files. Pure functions of (photos, seed, size): nothing here touches the disk."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np

FILES_PER_PHOTO = 6
ARCHETYPES = (
    "live",
    "orphan",
    "jpeg-edit",
    "live",
    "rotated",
    "burst",
    "live",
    "screenshot",
    "orphan",
    "video",
    "exported-edits",
    "p3",
)
# Edits exported under the original's name and capture time (Photos' "Export" of an edited
# photo): folder, the render's make, and the edit `dupes` must name. Each exported-edits photo
# takes the next five in turn (`_exported_edits`): the first holds the first five.
EXPORTED_EDITS = (
    ("Exports/Black & White", "edit-grey", "colour removed"),
    ("Exports/Vivid", "edit", "tone/colour adjusted"),
    ("Exports/Cropped", "crop", "cropped"),
    ("Exports/Rotated", "edit-rotate", "rotated 90°"),
    ("Exports/Captioned", "edit-text", "overlay/local change"),
    ("Exports/Soft Focus", "edit-blur", "blurred"),
    ("Exports/Sharpened", "edit-sharpen", "sharpened"),
    ("Exports/Squeezed", "edit-stretch", "aspect changed"),
    ("Exports/Upside Down", "edit-rot180", "rotated 180°"),
    ("Exports/Turned Left", "edit-rot270", "rotated 270°"),
    ("Exports/Mirrored", "edit-mirror", "mirrored"),
)
SIZES = {"12mp": (4032, 3024), "small": (1024, 768)}
SCREENSHOT_SIZES = {"12mp": (1170, 2532), "small": (390, 844)}
VIDEO_SIZES = {"12mp": (640, 480), "small": (320, 240)}
# Seconds of (Live Photo MOV, video clip): short, as encoding dominates the small mode.
VIDEO_SECONDS = {"12mp": (1.5, 3.0), "small": (1.0, 1.5)}
DOWNSCALE_EDGES = {"12mp": (2048, 1024), "small": (512, 256)}
MODELS = (
    ("iPhone 11 Pro", "15.4.1"),
    ("iPhone 12", "16.1"),
    ("iPhone 13 Pro Max", "16.5"),
    ("iPhone 14", "17.2.1"),
    ("iPhone XR", "14.8"),
)
OFFSETS = ("+02:00", "+01:00", "-07:00", "+09:00", "+00:00", "+05:30", "-03:00")
PLACES = (  # (lat, lon) centres; each photo lands within a few km
    (48.8584, 2.2945),
    (37.7749, -122.4194),
    (35.6586, 139.7454),
    (-33.8568, 151.2153),
    (51.5007, -0.1246),
    (19.4326, -99.1332),
    (64.1466, -21.9426),
)
ICLOUD_PARTS = ("iCloud Photos Part 1 of 2", "iCloud Photos Part 2 of 2")

# Roles that keep the capture's pixels (any encoding or size): the near-duplicate ground truth.
SAME_PHOTO_ROLES = {
    "original",
    "copy",
    "conversion",
    "downscale",
    "recompressed",
    "oriented",
    "stripped",
    "burst",
}
DERIVED_ROLES = {"edit", "crop"}


@dataclass(frozen=True)
class Capture:
    """One press of the shutter: what the camera wrote about it."""

    photo_id: str
    stem: int
    local: datetime  # wall-clock time at the place, with its offset
    subsec: str  # milliseconds as the camera writes them ("123")
    gps: tuple[float, float] | None
    model: str
    software: str
    content_id: str | None = None
    burst_id: str | None = None
    is_screenshot: bool = False

    @property
    def offset(self) -> str:
        return self.local.strftime("%z")[:3] + ":" + self.local.strftime("%z")[3:]

    def iso(self, subsec: bool = True) -> str:
        base = self.local.strftime("%Y-%m-%dT%H:%M:%S")
        return f"{base}.{self.subsec}{self.offset}" if subsec else f"{base}{self.offset}"

    def exif_date(self) -> str:
        return self.local.strftime("%Y:%m:%d %H:%M:%S")

    @property
    def utc(self) -> datetime:
        return self.local.astimezone(UTC)


@dataclass
class FileSpec:
    """One file of the library and how it is made.

    `op` is how the generator produces it: "pixels" (encoded by a worker), "copy", "truncate",
    "empty", "xmp", "aae", "csv". `source` is the library path it is made from.
    """

    path: str
    role: str
    kind: str
    format: str
    photo_id: str | None
    op: str
    source: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    capture: Capture | None = None  # the capture whose metadata the file carries; None: stripped
    orientation: int | None = None
    companion_of: str | None = None


@dataclass
class PhotoPlan:
    index: int
    archetype: str
    captures: list[Capture]
    files: list[FileSpec]


def _uuid(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4)).upper()


def plan_library(photos: int, seed: int, size: str = "12mp") -> list[PhotoPlan]:
    """Every photo's archetype, captures and files. Exactly FILES_PER_PHOTO files each."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    rng = np.random.default_rng([seed, 0x11B])
    when = datetime(2019, 3, 1, 9, 0, 0, tzinfo=UTC)
    plans = []
    for index in range(photos):
        when += timedelta(hours=float(rng.uniform(2, 70)), seconds=int(rng.integers(0, 60)))
        archetype = ARCHETYPES[index % len(ARCHETYPES)]
        plans.append(_plan_photo(index, archetype, when, rng, size))
    return plans


def _capture(index: int, when: datetime, rng: np.random.Generator, **extra: Any) -> Capture:
    offset = OFFSETS[int(rng.integers(len(OFFSETS)))]
    sign = 1 if offset[0] == "+" else -1
    tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    lat, lon = PLACES[int(rng.integers(len(PLACES)))]
    gps = (round(lat + rng.uniform(-0.05, 0.05), 6), round(lon + rng.uniform(-0.05, 0.05), 6))
    model, software = MODELS[int(rng.integers(len(MODELS)))]
    local = when.astimezone(tz).replace(microsecond=0)
    subsec = f"{int(rng.integers(0, 1000)):03d}"
    return Capture(
        photo_id=f"P{index:05d}",
        stem=1000 + 5 * index,
        local=local,
        subsec=subsec,
        gps=gps,
        model=model,
        software=software,
        **extra,
    )


def _exported_edits(index: int) -> list[tuple[str, str, str]]:
    """The edits exported beside photo `index` (an exported-edits archetype): the next
    FILES_PER_PHOTO - 1 of EXPORTED_EDITS in turn, so three such photos hold every kind."""
    cycle = len(ARCHETYPES)
    earlier = ARCHETYPES.count("exported-edits") * (index // cycle) + ARCHETYPES[
        : index % cycle
    ].count("exported-edits")
    slots = FILES_PER_PHOTO - 1
    return [EXPORTED_EDITS[(earlier * slots + i) % len(EXPORTED_EDITS)] for i in range(slots)]


def _plan_photo(
    index: int, archetype: str, when: datetime, rng: np.random.Generator, size: str
) -> PhotoPlan:
    content_id = _uuid(rng) if archetype in ("live", "orphan") else None
    cap = _capture(index, when, rng, content_id=content_id)
    if archetype == "screenshot":
        cap = replace(cap, gps=None, is_screenshot=True)
    if archetype not in _ARCHETYPES:  # pragma: no cover - ARCHETYPES is closed
        raise ValueError(f"unknown archetype {archetype!r}")
    fmt, files_of = _ARCHETYPES[archetype]
    suffix = int(rng.integers(1000, 10000))
    quality = int(rng.integers(60, 96))
    if archetype == "burst":
        cap = replace(cap, burst_id=_uuid(rng))
    shot = _Shot(index, cap, fmt, suffix, quality, DOWNSCALE_EDGES[size])
    files = files_of(shot)
    assert len(files) == FILES_PER_PHOTO, archetype
    return PhotoPlan(index=index, archetype=archetype, captures=shot.captures, files=files)


_KINDS = {"MOV": "video", "MP4": "video", "XMP": "sidecar", "AAE": "sidecar"}  # else "image"
_EXTENSIONS = {"HEIC": "HEIC", "JPEG": "JPG", "PNG": "PNG", "MOV": "MOV"}


@dataclass
class _Shot:
    """One photo being planned: its capture, its original (`folder/IMG_n.EXT` in format `fmt`),
    and one maker for each kind of file made from that original."""

    index: int
    cap: Capture
    fmt: str
    suffix: int  # of the `IMG_n-1234` copies
    quality: int  # of the recompressed share
    edges: tuple[int, int]  # of the two downscales
    captures: list[Capture] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.captures = self.captures or [self.cap]

    @property
    def n(self) -> int:
        return self.cap.stem

    @property
    def folder(self) -> str:
        return f"Camera Roll/{self.cap.local:%Y}/{self.cap.local:%m}"

    @property
    def orig(self) -> str:
        return f"{self.folder}/IMG_{self.n}.{_EXTENSIONS[self.fmt]}"

    def spec(self, path: str, role: str, fmt: str, op: str, **kw: Any) -> FileSpec:
        kw.setdefault("photo_id", self.cap.photo_id)
        return FileSpec(
            path=path, role=role, kind=_KINDS.get(fmt, "image"), format=fmt, op=op, **kw
        )

    def original(
        self, make: str = "original", orientation: int | None = None, **params: Any
    ) -> FileSpec:
        params = {"make": make, **params}
        return self.spec(
            self.orig, "original", self.fmt, "pixels", params=params, capture=self.cap,
            orientation=orientation,
        )  # fmt: skip

    def copy(self, path: str, orientation: int | None = None, **params: Any) -> FileSpec:
        """A byte copy of the original."""
        return self.spec(
            path, "copy", self.fmt, "copy", source=self.orig, capture=self.cap,
            orientation=orientation, params=params,
        )  # fmt: skip

    def pixels(
        self, path: str, role: str, fmt: str = "JPEG", *, tagged: bool = True,
        orientation: int | None = None, **params: Any,
    ) -> FileSpec:  # fmt: skip
        """A file encoded from the original's pixels; `tagged=False`: without its metadata."""
        return self.spec(
            path, role, fmt, "pixels", source=self.orig, params=params,
            capture=self.cap if tagged else None, orientation=orientation,
        )  # fmt: skip

    def sidecar(self, path: str, fmt: str, **params: Any) -> FileSpec:
        """An XMP or AAE file beside the original."""
        return self.spec(
            path, "sidecar", fmt, fmt.lower(), source=self.orig, params=params,
            companion_of=self.orig,
        )  # fmt: skip

    def truncated(self, path: str, keep: float) -> FileSpec:
        """The original cut short: its first `keep` of the bytes."""
        return self.spec(path, "truncated", self.fmt, "truncate", source=self.orig,
                         params={"keep": keep})  # fmt: skip


def _live(p: _Shot) -> list[FileSpec]:
    f, n = p.folder, p.n
    return [
        p.original(),
        p.spec(
            f"{f}/IMG_{n}.MOV",
            "live-mov",
            "MOV",
            "pixels",
            params={"make": "live-mov"},
            capture=p.cap,
            companion_of=p.orig,
        ),
        p.copy(f"{f}/IMG_{n} (1).HEIC"),
        p.pixels(f"Converted/IMG_{n}.JPG", "conversion", make="jpeg", quality=90),
        p.sidecar(f"{f}/IMG_{n}.XMP", "XMP"),
        p.copy(f"{ICLOUD_PARTS[0]}/Photos/IMG_{n}.HEIC", icloud=0),
    ]


def _orphan(p: _Shot) -> list[FileSpec]:
    f, n, (big, small) = p.folder, p.n, p.edges
    return [
        p.original(),
        p.copy(f"{f}/IMG_{n}-{p.suffix}.HEIC"),
        p.pixels(f"Downscaled {big}/IMG_{n}.JPG", "downscale", make="jpeg", quality=85, edge=big),
        p.pixels(
            f"Downscaled {small}/IMG_{n}.JPG", "downscale", make="jpeg", quality=80, edge=small
        ),
        p.pixels(f"Stripped/IMG_{n}.jpg", "stripped", tagged=False, make="jpeg", quality=88),
        p.copy(f"{ICLOUD_PARTS[1]}/Photos/IMG_{n}.HEIC", icloud=1),
    ]


def _jpeg_edit(p: _Shot) -> list[FileSpec]:
    f, n = p.folder, p.n
    return [
        p.original(),
        p.pixels(f"{f}/IMG_E{n}.JPG", "edit", make="edit", quality=92),
        p.sidecar(f"{f}/IMG_{n}.AAE", "AAE", aae="photo"),
        p.sidecar(f"{f}/IMG_O{n}.AAE", "AAE", aae="original"),
        p.sidecar(f"{f}/IMG_{n}.JPG.xmp", "XMP"),
        p.copy(f"Export 2/IMG_{n}.JPG"),
    ]


def _rotated(p: _Shot) -> list[FileSpec]:
    f, n = p.folder, p.n
    return [
        p.original(orientation=6, stored_rotation=6),
        p.pixels(f"Oriented/IMG_{n}.JPG", "oriented", orientation=1, make="jpeg", quality=92),
        p.pixels(
            f"Shared/IMG_{n}.JPG",
            "recompressed",
            orientation=6,
            make="jpeg",
            quality=p.quality,
            stored_rotation=6,
        ),
        p.pixels(f"Edited/IMG_{n}_crop.JPG", "crop", orientation=1, make="crop", quality=90),
        p.copy(f"{f}/IMG_{n}-{p.suffix}.JPG", orientation=6),
        p.truncated(f"{f}/IMG_{n} (2).JPG", keep=0.6),
    ]


def _burst(p: _Shot) -> list[FileSpec]:
    """The first frame as the original, three more frames 85 ms apart (captures of their own), a
    copy of the second frame, and an empty file where a fifth frame would be."""
    f, n = p.folder, p.n
    for k in range(1, 4):
        ms = int(p.cap.subsec) + 85 * k
        p.captures.append(
            replace(p.cap, photo_id=f"{p.cap.photo_id}.b{k}", stem=n + k,
                    local=p.cap.local + timedelta(seconds=ms // 1000), subsec=f"{ms % 1000:03d}")
        )  # fmt: skip
    frames = [
        p.spec(f"{f}/IMG_{n + k}.HEIC", "burst", "HEIC", "pixels", photo_id=p.captures[k].photo_id,
               params={"make": "burst", "frame": k}, capture=p.captures[k], source=p.orig)
        for k in range(1, 4)
    ]  # fmt: skip
    second = p.captures[1]
    return [
        p.original(),
        *frames,
        p.spec(
            f"Export 2/IMG_{n + 1}.HEIC",
            "copy",
            "HEIC",
            "copy",
            photo_id=second.photo_id,
            source=frames[0].path,
            capture=second,
        ),
        p.spec(f"{f}/IMG_{n + 4}.HEIC", "empty", "HEIC", "empty", photo_id=None),
    ]


def _screenshot(p: _Shot) -> list[FileSpec]:
    f, n = p.folder, p.n
    return [
        p.original(),
        p.copy(f"{f}/IMG_{n} (1).PNG"),
        p.copy(f"Export 2/IMG_{n}.PNG"),
        p.pixels(f"Converted/IMG_{n}.JPG", "conversion", make="jpeg", quality=90),
        p.pixels(f"Stripped/IMG_{n}.jpg", "stripped", tagged=False, make="jpeg", quality=80),
        p.sidecar(f"{f}/IMG_{n}.XMP", "XMP"),
    ]


def _video(p: _Shot) -> list[FileSpec]:
    f, n = p.folder, p.n
    return [
        p.original(make="video"),
        p.pixels(f"Converted/IMG_{n}.MP4", "conversion", "MP4", make="mp4"),
        p.copy(f"{f}/IMG_{n} (1).MOV"),
        p.sidecar(f"{f}/IMG_{n}.AAE", "AAE", aae="slomo"),
        p.copy(f"Export 2/IMG_{n}.MOV"),
        p.truncated(f"{f}/IMG_{n} (2).MOV", keep=0.5),
    ]


def _exported_edits_files(p: _Shot) -> list[FileSpec]:
    edits = [
        p.pixels(f"{sub}/IMG_{p.n}.jpeg", "crop" if make == "crop" else "edit", orientation=1,
                 make=make, quality=90, edit=edit)
        for sub, make, edit in _exported_edits(p.index)
    ]  # fmt: skip
    return [p.original(), *edits]


def _p3(p: _Shot) -> list[FileSpec]:
    """A Display P3 original, its sRGB conversions, and a stereo-like neighbour: another capture
    a few centimetres to the side, stripped of metadata, with a stripped copy."""
    n, other = p.n, f"{p.cap.photo_id}.n"
    right = f"Stereo/IMG_{n}_R.jpg"
    return [
        p.original(make="original-p3"),
        p.pixels(f"Converted/IMG_{n}.JPG", "conversion", make="p3-srgb", quality=90),
        p.pixels(f"Stripped/IMG_{n}.jpg", "stripped", tagged=False, make="p3-srgb", quality=85),
        p.copy(f"{p.folder}/IMG_{n} (1).HEIC"),
        p.spec(
            right,
            "original",
            "JPEG",
            "pixels",
            photo_id=other,
            params={"make": "neighbour", "quality": 92},
        ),
        p.spec(
            f"Stripped/IMG_{n}_R.jpg",
            "stripped",
            "JPEG",
            "pixels",
            photo_id=other,
            source=right,
            params={"make": "neighbour", "quality": 80},
        ),
    ]


# Each archetype: the format of its original, and the maker of its FILES_PER_PHOTO files.
_ARCHETYPES = {
    "live": ("HEIC", _live),
    "orphan": ("HEIC", _orphan),
    "jpeg-edit": ("JPEG", _jpeg_edit),
    "rotated": ("JPEG", _rotated),
    "burst": ("HEIC", _burst),
    "screenshot": ("PNG", _screenshot),
    "video": ("MOV", _video),
    "exported-edits": ("HEIC", _exported_edits_files),
    "p3": ("HEIC", _p3),
}


def relation_groups(files: list[dict[str, Any]]) -> dict[str, list[list[str]]]:
    """The expected relations, from truth file entries (which carry blake3, role, photo_id)."""
    by_hash: dict[str, list[str]] = {}
    for f in files:
        by_hash.setdefault(f["blake3"], []).append(f["path"])
    identical = sorted(sorted(g) for g in by_hash.values() if len(g) > 1)

    by_photo: dict[str, list[str]] = {}
    for f in files:
        if f["photo_id"] and f["role"] in SAME_PHOTO_ROLES:
            by_photo.setdefault(f["photo_id"], []).append(f["path"])
    same_photo = sorted(sorted(g) for g in by_photo.values() if len(g) > 1)

    derived = sorted([f["source"], f["path"]] for f in files if f["role"] in DERIVED_ROLES)

    bursts: dict[str, list[str]] = {}
    for f in files:
        if f.get("burst_id") and f["role"] in SAME_PHOTO_ROLES:
            bursts.setdefault(f["burst_id"], []).append(f["path"])
    similar = sorted(sorted(g) for g in bursts.values() if len(g) > 1)

    companions: dict[str, list[str]] = {}
    for f in files:
        if f.get("companion_of"):
            companions.setdefault(f["companion_of"], [f["companion_of"]]).append(f["path"])
    companion = sorted(sorted(g) for g in companions.values())

    live_ids = {f["content_id"] for f in files if f["role"] == "live-mov"}
    stills_without_mov = sorted(
        f["path"]
        for f in files
        if f["kind"] == "image" and f.get("content_id") and f["content_id"] not in live_ids
    )
    return {
        "identical": identical,
        "same-photo": same_photo,
        "derived": derived,
        "similar": similar,
        "companion": companion,
        "broken": sorted(f["path"] for f in files if f["role"] in ("truncated", "empty")),
        # Live Photo stills whose MOV is not in the library (lost in a migration).
        "live-still-without-mov": stills_without_mov,
    }

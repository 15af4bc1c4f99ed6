"""What the sample library holds: captures, the files made from them, and the relations between
those files. Pure functions of (photos, seed, size): nothing here touches the disk."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
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
        cap = Capture(**{**cap.__dict__, "gps": None, "is_screenshot": True})
    n = cap.stem
    folder = f"Camera Roll/{cap.local:%Y}/{cap.local:%m}"
    suffix = int(rng.integers(1000, 10000))
    quality = int(rng.integers(60, 96))
    pid = cap.photo_id
    edges = DOWNSCALE_EDGES[size]
    captures = [cap]

    def spec(path: str, role: str, fmt: str, op: str, **kw: Any) -> FileSpec:
        kind = {"MOV": "video", "MP4": "video", "XMP": "sidecar", "AAE": "sidecar"}.get(
            fmt, "image"
        )
        return FileSpec(path=path, role=role, kind=kind, format=fmt, photo_id=pid, op=op, **kw)

    files: list[FileSpec] = []
    if archetype == "live":
        orig = f"{folder}/IMG_{n}.HEIC"
        files = [
            spec(orig, "original", "HEIC", "pixels", params={"make": "original"}, capture=cap),
            spec(
                f"{folder}/IMG_{n}.MOV",
                "live-mov",
                "MOV",
                "pixels",
                params={"make": "live-mov"},
                capture=cap,
                companion_of=orig,
            ),
            spec(f"{folder}/IMG_{n} (1).HEIC", "copy", "HEIC", "copy", source=orig, capture=cap),
            spec(
                f"Converted/IMG_{n}.JPG",
                "conversion",
                "JPEG",
                "pixels",
                source=orig,
                params={"make": "jpeg", "quality": 90},
                capture=cap,
            ),
            spec(f"{folder}/IMG_{n}.XMP", "sidecar", "XMP", "xmp", source=orig, companion_of=orig),
            spec(
                f"{ICLOUD_PARTS[0]}/Photos/IMG_{n}.HEIC",
                "copy",
                "HEIC",
                "copy",
                source=orig,
                capture=cap,
                params={"icloud": 0},
            ),
        ]
    elif archetype == "orphan":
        orig = f"{folder}/IMG_{n}.HEIC"
        files = [
            spec(orig, "original", "HEIC", "pixels", params={"make": "original"}, capture=cap),
            spec(
                f"{folder}/IMG_{n}-{suffix}.HEIC", "copy", "HEIC", "copy", source=orig, capture=cap
            ),
            spec(
                f"Downscaled {edges[0]}/IMG_{n}.JPG",
                "downscale",
                "JPEG",
                "pixels",
                source=orig,
                params={"make": "jpeg", "quality": 85, "edge": edges[0]},
                capture=cap,
            ),
            spec(
                f"Downscaled {edges[1]}/IMG_{n}.JPG",
                "downscale",
                "JPEG",
                "pixels",
                source=orig,
                params={"make": "jpeg", "quality": 80, "edge": edges[1]},
                capture=cap,
            ),
            spec(
                f"Stripped/IMG_{n}.jpg",
                "stripped",
                "JPEG",
                "pixels",
                source=orig,
                params={"make": "jpeg", "quality": 88},
            ),
            spec(
                f"{ICLOUD_PARTS[1]}/Photos/IMG_{n}.HEIC",
                "copy",
                "HEIC",
                "copy",
                source=orig,
                capture=cap,
                params={"icloud": 1},
            ),
        ]
    elif archetype == "jpeg-edit":
        orig = f"{folder}/IMG_{n}.JPG"
        files = [
            spec(orig, "original", "JPEG", "pixels", params={"make": "original"}, capture=cap),
            spec(
                f"{folder}/IMG_E{n}.JPG",
                "edit",
                "JPEG",
                "pixels",
                source=orig,
                params={"make": "edit", "quality": 92},
                capture=cap,
            ),
            spec(
                f"{folder}/IMG_{n}.AAE",
                "sidecar",
                "AAE",
                "aae",
                source=orig,
                params={"aae": "photo"},
                companion_of=orig,
            ),
            spec(
                f"{folder}/IMG_O{n}.AAE",
                "sidecar",
                "AAE",
                "aae",
                source=orig,
                params={"aae": "original"},
                companion_of=orig,
            ),
            spec(
                f"{folder}/IMG_{n}.JPG.xmp", "sidecar", "XMP", "xmp", source=orig, companion_of=orig
            ),
            spec(f"Export 2/IMG_{n}.JPG", "copy", "JPEG", "copy", source=orig, capture=cap),
        ]
    elif archetype == "rotated":
        orig = f"{folder}/IMG_{n}.JPG"
        files = [
            spec(
                orig,
                "original",
                "JPEG",
                "pixels",
                params={"make": "original", "stored_rotation": 6},
                capture=cap,
                orientation=6,
            ),
            spec(
                f"Oriented/IMG_{n}.JPG",
                "oriented",
                "JPEG",
                "pixels",
                source=orig,
                params={"make": "jpeg", "quality": 92},
                capture=cap,
                orientation=1,
            ),
            spec(
                f"Shared/IMG_{n}.JPG",
                "recompressed",
                "JPEG",
                "pixels",
                source=orig,
                params={"make": "jpeg", "quality": quality, "stored_rotation": 6},
                capture=cap,
                orientation=6,
            ),
            spec(
                f"Edited/IMG_{n}_crop.JPG",
                "crop",
                "JPEG",
                "pixels",
                source=orig,
                params={"make": "crop", "quality": 90},
                capture=cap,
                orientation=1,
            ),
            spec(
                f"{folder}/IMG_{n}-{suffix}.JPG",
                "copy",
                "JPEG",
                "copy",
                source=orig,
                capture=cap,
                orientation=6,
            ),
            spec(
                f"{folder}/IMG_{n} (2).JPG",
                "truncated",
                "JPEG",
                "truncate",
                source=orig,
                params={"keep": 0.6},
            ),
        ]
    elif archetype == "burst":
        burst_id = _uuid(rng)
        cap = Capture(**{**cap.__dict__, "burst_id": burst_id})
        captures = [cap]
        for k in range(1, 4):
            ms = int(cap.subsec) + 85 * k
            local = cap.local + timedelta(seconds=ms // 1000)
            captures.append(
                Capture(
                    **{
                        **cap.__dict__,
                        "photo_id": f"{pid}.b{k}",
                        "stem": n + k,
                        "local": local,
                        "subsec": f"{ms % 1000:03d}",
                    }
                )
            )
        orig = f"{folder}/IMG_{n}.HEIC"
        files = [spec(orig, "original", "HEIC", "pixels", params={"make": "original"}, capture=cap)]
        for k in range(1, 4):
            files.append(
                FileSpec(
                    path=f"{folder}/IMG_{n + k}.HEIC",
                    role="burst",
                    kind="image",
                    format="HEIC",
                    photo_id=captures[k].photo_id,
                    op="pixels",
                    params={"make": "burst", "frame": k},
                    capture=captures[k],
                    source=orig,
                )
            )
        files.append(
            FileSpec(
                path=f"Export 2/IMG_{n + 1}.HEIC",
                role="copy",
                kind="image",
                format="HEIC",
                photo_id=captures[1].photo_id,
                op="copy",
                source=files[1].path,
                capture=captures[1],
            )
        )
        files.append(
            FileSpec(
                path=f"{folder}/IMG_{n + 4}.HEIC",
                role="empty",
                kind="image",
                format="HEIC",
                photo_id=None,
                op="empty",
            )
        )
    elif archetype == "screenshot":
        orig = f"{folder}/IMG_{n}.PNG"
        files = [
            spec(orig, "original", "PNG", "pixels", params={"make": "original"}, capture=cap),
            spec(f"{folder}/IMG_{n} (1).PNG", "copy", "PNG", "copy", source=orig, capture=cap),
            spec(f"Export 2/IMG_{n}.PNG", "copy", "PNG", "copy", source=orig, capture=cap),
            spec(
                f"Converted/IMG_{n}.JPG",
                "conversion",
                "JPEG",
                "pixels",
                source=orig,
                params={"make": "jpeg", "quality": 90},
                capture=cap,
            ),
            spec(
                f"Stripped/IMG_{n}.jpg",
                "stripped",
                "JPEG",
                "pixels",
                source=orig,
                params={"make": "jpeg", "quality": 80},
            ),
            spec(f"{folder}/IMG_{n}.XMP", "sidecar", "XMP", "xmp", source=orig, companion_of=orig),
        ]
    elif archetype == "video":
        orig = f"{folder}/IMG_{n}.MOV"
        files = [
            spec(orig, "original", "MOV", "pixels", params={"make": "video"}, capture=cap),
            spec(
                f"Converted/IMG_{n}.MP4",
                "conversion",
                "MP4",
                "pixels",
                source=orig,
                params={"make": "mp4"},
                capture=cap,
            ),
            spec(f"{folder}/IMG_{n} (1).MOV", "copy", "MOV", "copy", source=orig, capture=cap),
            spec(
                f"{folder}/IMG_{n}.AAE",
                "sidecar",
                "AAE",
                "aae",
                source=orig,
                params={"aae": "slomo"},
                companion_of=orig,
            ),
            spec(f"Export 2/IMG_{n}.MOV", "copy", "MOV", "copy", source=orig, capture=cap),
            spec(
                f"{folder}/IMG_{n} (2).MOV",
                "truncated",
                "MOV",
                "truncate",
                source=orig,
                params={"keep": 0.5},
            ),
        ]
    elif archetype == "exported-edits":
        orig = f"{folder}/IMG_{n}.HEIC"
        files = [spec(orig, "original", "HEIC", "pixels", params={"make": "original"}, capture=cap)]
        for sub, make, edit in _exported_edits(index):
            files.append(
                spec(
                    f"{sub}/IMG_{n}.jpeg",
                    "crop" if make == "crop" else "edit",
                    "JPEG",
                    "pixels",
                    source=orig,
                    params={"make": make, "quality": 90, "edit": edit},
                    capture=cap,
                    orientation=1,
                )
            )
    elif archetype == "p3":
        # A Display P3 original, its sRGB conversions, and a stereo-like neighbour: another
        # capture a few centimetres to the side, stripped of metadata, with a stripped copy.
        orig = f"{folder}/IMG_{n}.HEIC"
        other = f"{pid}.n"
        files = [
            spec(orig, "original", "HEIC", "pixels", params={"make": "original-p3"}, capture=cap),
            spec(
                f"Converted/IMG_{n}.JPG",
                "conversion",
                "JPEG",
                "pixels",
                source=orig,
                params={"make": "p3-srgb", "quality": 90},
                capture=cap,
            ),
            spec(
                f"Stripped/IMG_{n}.jpg",
                "stripped",
                "JPEG",
                "pixels",
                source=orig,
                params={"make": "p3-srgb", "quality": 85},
            ),
            spec(f"{folder}/IMG_{n} (1).HEIC", "copy", "HEIC", "copy", source=orig, capture=cap),
            FileSpec(
                path=f"Stereo/IMG_{n}_R.jpg",
                role="original",
                kind="image",
                format="JPEG",
                photo_id=other,
                op="pixels",
                params={"make": "neighbour", "quality": 92},
            ),
            FileSpec(
                path=f"Stripped/IMG_{n}_R.jpg",
                role="stripped",
                kind="image",
                format="JPEG",
                photo_id=other,
                op="pixels",
                source=f"Stereo/IMG_{n}_R.jpg",
                params={"make": "neighbour", "quality": 80},
            ),
        ]
    else:  # pragma: no cover - ARCHETYPES is closed
        raise ValueError(f"unknown archetype {archetype!r}")
    assert len(files) == FILES_PER_PHOTO, archetype
    return PhotoPlan(index=index, archetype=archetype, captures=captures, files=files)


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

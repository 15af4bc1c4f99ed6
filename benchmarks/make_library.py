"""A realistic sample photo library with its ground truth.

    python -m benchmarks.make_library OUT [--photos N] [--seed S] [--from DIR] [--size 12mp|small]

writes an iPhone-export-like library (HEIC/JPEG/PNG/MOV/MP4, Live Photo pairs, XMP and AAE
sidecars) messed up the way migrations mess libraries up (copies, conversions, downscales,
recompressions, orientation, edits, crops, bursts, truncated and empty files, an iCloud privacy
export), and OUT/truth.json: every file with its BLAKE3, role and origin, and the relation groups
a duplicate finder should report. The same seed gives byte-identical files.
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import os
import shutil
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import imagehash
import numpy as np

from benchmarks.library import render, scene, tagging
from benchmarks.library.layout import (
    FILES_PER_PHOTO,
    ICLOUD_PARTS,
    SIZES,
    FileSpec,
    PhotoPlan,
    plan_library,
    relation_groups,
)
from photoverify.dedupe.catalog.apple_csv import COLUMNS as PHOTO_DETAILS_COLUMNS
from photoverify.dedupe.core.errors import PhotoverifyError, UsageError
from photoverify.dedupe.core.hashing import hash_file

TRUTH_VERSION = 1
MAX_REDRAW_ROUNDS = 20
CSV_COLUMNS = list(PHOTO_DETAILS_COLUMNS)
# How long after the capture each kind of file was made: gives every file a fixed mtime.
ROLE_AGE_DAYS = {
    "original": 0,
    "live-mov": 0,
    "burst": 0,
    "edit": 2,
    "sidecar": 2,
    "crop": 3,
    "conversion": 30,
    "downscale": 31,
    "recompressed": 32,
    "oriented": 33,
    "stripped": 34,
    "copy": 60,
    "truncated": 61,
    "empty": 62,
}
NOTES = [
    "exiftool 12.57 edits Apple MakerNote tags (MediaGroupUUID = the Live Photo ContentIdentifier,"
    " BurstUUID) only where they already exist ('Writing Apple:MediaGroupUUID if tag exists'), so"
    " the generator encodes each still with an Apple iOS MakerNote carrying them and exiftool"
    " writes every other tag.",
    "exiftool 12.57 does not write Keys:ContentIdentifier; the MOV muxer (ffmpeg via PyAV,"
    " movflags=use_metadata_tags) writes com.apple.quicktime.content.identifier, exiftool the"
    " other Keys and QuickTime dates.",
    "captured_at is what the file carries: stills have sub-seconds and offset, videos"
    " (Keys:CreationDate) whole seconds and offset; sidecars, stripped, truncated and empty files"
    " are given none.",
    "Empty files are byte-identical to each other, so they form an identical group of their own.",
]


@dataclass
class Truth:
    """What the generator made, as truth.json holds it."""

    seed: int
    photos: int
    size: str
    source_dir: str | None
    files: list[dict[str, Any]]
    groups: dict[str, list[Any]]
    notes: list[str] = field(default_factory=lambda: list(NOTES))
    files_per_photo: int = FILES_PER_PHOTO
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase; not in truth.json

    def to_json(self) -> dict[str, Any]:
        return {
            "version": TRUTH_VERSION,
            "seed": self.seed,
            "photos": self.photos,
            "size": self.size,
            "source_dir": self.source_dir,
            "files_per_photo": self.files_per_photo,
            "notes": self.notes,
            "files": self.files,
            "groups": self.groups,
        }

    @classmethod
    def load(cls, path: Path) -> Truth:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(
            seed=data["seed"],
            photos=data["photos"],
            size=data["size"],
            source_dir=data["source_dir"],
            files=data["files"],
            groups=data["groups"],
            notes=data["notes"],
            files_per_photo=data["files_per_photo"],
        )

    def by_path(self) -> dict[str, dict[str, Any]]:
        return {f["path"]: f for f in self.files}


def make_library(
    out: Path,
    photos: int,
    seed: int = 0,
    source_dir: Path | None = None,
    size: str = "12mp",
    workers: int | None = None,
) -> Truth:
    """Write the library under `out` and `out/truth.json`; return the truth."""
    out = Path(out)
    if photos < 1:
        raise UsageError(f"--photos {photos}: need at least one photo")
    if size not in SIZES:
        raise UsageError(f"--size {size}: choose one of {', '.join(SIZES)}")
    _prepare_out(out)
    clock = _Clock()
    workers = workers or os.cpu_count() or 1
    plans = plan_library(photos, seed, size)
    specs = [spec for plan in plans for spec in plan.files]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        looks = _choose_looks(plans, seed, source_dir, pool)
        clock.lap("choose")
        dims = _render_distinct(plans, looks, out, seed, size, pool)
        clock.lap("pixels")
        with tempfile.TemporaryDirectory(prefix="make_library-") as tmp:
            work = Path(tmp)
            tagging.write_tags(out, [s for s in specs if s.op == "pixels"], work, workers)
            clock.lap("exiftool")
            _write_copies(out, specs)
            tagging.write_xmp_sidecars(out, [s for s in specs if s.op == "xmp"], work)
        _write_aae(out, [s for s in specs if s.op == "aae"])
        clock.lap("sidecars+copies")
        paths = [s.path for s in specs]
        hashed = pool.map(_hash, [out / p for p in paths], chunksize=16)
        digests = dict(zip(paths, hashed, strict=True))
    clock.lap("hash")
    csv_paths = _write_icloud_details(out, plans, digests)
    for p in csv_paths:
        digests[p] = _hash(out / p)
    files = [_truth_entry(spec, digests[spec.path], dims) for spec in specs]
    files += [_csv_entry(p, digests[p]) for p in csv_paths]
    _set_mtimes(out, specs, csv_paths, plans)
    truth = Truth(
        seed=seed,
        photos=photos,
        size=size,
        source_dir=str(source_dir) if source_dir else None,
        files=files,
        groups=relation_groups(files),
        timings=clock.laps,
    )
    (out / "truth.json").write_text(
        json.dumps(truth.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    os.utime(out / "truth.json", ns=(_EPOCH_NS, _EPOCH_NS))
    clock.lap("truth")
    return truth


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now


_EPOCH_NS = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * 10**9


def _prepare_out(out: Path) -> None:
    """An empty folder, or a library this tool made before (replaced); nothing else is touched."""
    if out.exists():
        if not out.is_dir():
            raise UsageError(f"{out}: exists and is not a folder")
        if any(out.iterdir()):
            if not (out / "truth.json").is_file():
                raise UsageError(f"{out}: not empty and not a generated library; refusing to write")
            for child in out.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _probe_source(path: str) -> tuple[str, Any]:
    img = scene.load_source(path, 1024)
    return path, scene.phash_of(img) if img is not None else None


def _probe_design(args: tuple[PhotoPlan, int, int, str | None]) -> list | None:
    plan, seed, attempt, source = args
    return render.candidate_hashes(plan, seed, attempt, source)


def _far_from(hashes: list, kept: list) -> bool:
    return all(h - other >= scene.SELECTION_DISTANCE for h in hashes for other in kept)


def _choose_looks(
    plans: list[PhotoPlan], seed: int, source_dir: Path | None, pool: ProcessPoolExecutor
) -> list[tuple[int, str | None]]:
    """For each photo: (attempt, real source or None), all captures' pHashes far apart.

    Real images that look alike (the corpus holds copies of one picture) are skipped; photos beyond
    the real images get generated scenes, redrawn with a new attempt when one lands too close.
    """
    kept: list = []
    looks: list[tuple[int, str | None]] = [(-1, None)] * len(plans)
    if source_dir is not None:
        if not Path(source_dir).is_dir():
            raise UsageError(f"--from {source_dir}: not a folder")
        candidates = scene.find_sources(Path(source_dir))
        probed: list[tuple[str, Any]] = []
        # Decode only as many candidates as the photos need (a few spare for look-alikes).
        while candidates and len(scene.pick_distinct(probed)) < len(plans):
            batch, candidates = candidates[: 2 * len(plans)], candidates[2 * len(plans) :]
            probed += pool.map(_probe_source, batch)
        chosen = scene.pick_distinct(probed, scene.SELECTION_DISTANCE)[: len(plans)]
        jobs = [(plan, seed, 0, path) for plan, path in zip(plans, chosen, strict=False)]
        for (plan, _, _, path), hashes in zip(jobs, pool.map(_probe_design, jobs), strict=True):
            if hashes and _far_from(hashes, kept):
                kept += hashes
                looks[plan.index] = (0, path)
    todo = [i for i, (attempt, _) in enumerate(looks) if attempt < 0]
    jobs = [(plans[i], seed, 0, None) for i in todo]
    for i, hashes in zip(todo, pool.map(_probe_design, jobs, chunksize=8), strict=True):
        attempt = 0
        while not _far_from(hashes, kept):
            attempt += 1
            hashes = _probe_design((plans[i], seed, attempt, None))
        kept += hashes
        looks[i] = (attempt, None)
    return looks


def _render_distinct(
    plans: list[PhotoPlan],
    looks: list[tuple[int, str | None]],
    out: Path,
    seed: int,
    size: str,
    pool: ProcessPoolExecutor,
) -> dict[str, tuple[int, int]]:
    """Render every photo, then redraw any whose written stills hash too close to another photo's.

    The choice made beforehand on small renders leaves a few such pairs (encoding and scale move a
    pHash by a few bits); checking the files themselves makes the guarantee exact.
    """
    dims: dict[str, tuple[int, int]] = {}
    hashes: dict[int, list[imagehash.ImageHash]] = {}
    todo = list(range(len(plans)))
    for _ in range(MAX_REDRAW_ROUNDS):
        jobs = {
            i: pool.submit(render.render_photo, plans[i], out, seed, size, *looks[i]) for i in todo
        }
        for i, job in jobs.items():
            photo_dims, photo_hashes = job.result()
            dims.update(photo_dims)
            hashes[i] = [imagehash.hex_to_hash(h) for h in photo_hashes.values()]
        todo = _too_close(hashes)
        if not todo:
            return dims
        for i in todo:  # a real image that clashes is replaced by a generated scene
            looks[i] = (looks[i][0] + 1 if looks[i][1] is None else 0, None)
    raise RuntimeError(f"{out}: photos still look alike after {MAX_REDRAW_ROUNDS} redraws")


def _too_close(hashes: dict[int, list[imagehash.ImageHash]]) -> list[int]:
    """The later photo of every pair whose stills are within 16 bits (burst frames of one photo
    may look alike: they are compared only with other photos)."""
    order = sorted(hashes)
    flat = [
        (i, np.frombuffer(np.packbits(h.hash.ravel()).tobytes(), ">u8")[0])
        for i in order
        for h in hashes[i]
    ]
    owners = np.array([i for i, _ in flat])
    values = np.array([v for _, v in flat], dtype=np.uint64)
    clash: set[int] = set()
    for k in range(len(values)):
        diff = np.bitwise_xor(values[k + 1 :], values[k])
        bits = np.unpackbits(diff.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
        close = (bits < scene.MIN_PHASH_DISTANCE) & (owners[k + 1 :] != owners[k])
        clash.update(int(o) for o in owners[k + 1 :][close])
    return sorted(clash)


def _write_copies(out: Path, specs: list[FileSpec]) -> None:
    for spec in specs:
        target = out / spec.path
        if spec.op == "copy":
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out / spec.source, target)
        elif spec.op == "truncate":
            data = (out / spec.source).read_bytes()
            target.write_bytes(data[: int(len(data) * spec.params["keep"])])
        elif spec.op == "empty":
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"")


def _write_aae(out: Path, specs: list[FileSpec]) -> None:
    import plistlib

    for spec in specs:
        kind = spec.params["aae"]
        if kind == "slomo":
            inner = {
                "slowMotion": {
                    "regions": [{"timeRange": {"start": 0.5, "duration": 2.0}}],
                    "rate": 0.25,
                }
            }
            ident, version, editor = "com.apple.video.slomo", "1.1", ""
        else:
            inner = {
                "adjustments": [
                    {"identifier": "SmartTone", "settings": {"inputLight": 0.18}},
                    {"identifier": "Vibrancy", "settings": {"inputVibrancy": 0.3}},
                ],
                "metadata": {"masterWidth": 4032, "masterHeight": 3024, "orientation": 1},
                "versionInfo": {"buildNumber": "19A346", "appVersion": "16.0"},
            }
            ident, version = "com.apple.photo", "1.5"
            editor = "com.apple.mobileslideshow" if kind == "photo" else "com.apple.camera"
        doc = {
            "adjustmentBaseVersion": 0,
            "adjustmentData": plistlib.dumps(inner, fmt=plistlib.FMT_BINARY, sort_keys=True),
            "adjustmentEditorBundleID": editor,
            "adjustmentFormatIdentifier": ident,
            "adjustmentFormatVersion": version,
            "adjustmentRenderTypes": 0,
        }
        (out / spec.path).write_bytes(plistlib.dumps(doc, fmt=plistlib.FMT_XML))


def _hash(path: Path) -> dict[str, Any]:
    digests = hash_file(path, ("blake3", "sha1"))
    return {**digests, "size": path.stat().st_size}


def _apple_date(moment: datetime) -> str:
    """`Saturday June 4,2022 12:11 PM GMT`, the way Photo Details.csv writes dates."""
    utc = moment.astimezone(UTC)
    hour = utc.hour % 12 or 12
    ampm = "AM" if utc.hour < 12 else "PM"
    return f"{utc:%A} {utc:%B} {utc.day},{utc.year} {hour}:{utc:%M} {ampm} GMT"


def _write_icloud_details(
    out: Path, plans: list[PhotoPlan], digests: dict[str, dict[str, Any]]
) -> list[str]:
    """`Photo Details.csv` of each privacy-export part, listing the photos in that part."""
    rows: dict[int, list[list[str]]] = {}
    for plan in plans:
        for spec in plan.files:
            part = spec.params.get("icloud")
            if part is None:
                continue
            cap = spec.capture
            checksum = base64.b64encode(bytes.fromhex(digests[spec.path]["sha1"])).decode()
            imported = cap.utc + timedelta(days=1, hours=3)
            rows.setdefault(part, []).append(
                [
                    Path(spec.path).name,
                    checksum,
                    "Yes" if plan.index % 7 == 0 else "No",
                    "No",
                    "No",
                    _apple_date(cap.utc),
                    str(plan.index % 13),
                    _apple_date(imported),
                ]
            )
    written = []
    for part, part_rows in sorted(rows.items()):
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows(part_rows)
        rel = f"{ICLOUD_PARTS[part]}/Photos/Photo Details.csv"
        (out / rel).write_text(buf.getvalue(), encoding="utf-8")
        written.append(rel)
    return written


def _truth_entry(
    spec: FileSpec, digest: dict[str, Any], dims: dict[str, tuple[int, int]]
) -> dict[str, Any]:
    cap = spec.capture
    carries = cap is not None and spec.kind in ("image", "video") and spec.role != "truncated"
    shown = dims.get(spec.path) or dims.get(spec.source or "")
    if spec.role in ("truncated", "empty", "sidecar"):
        shown = None
    camera = carries and not cap.is_screenshot
    return {
        "path": spec.path,
        "blake3": digest["blake3"],
        "size": digest["size"],
        "kind": spec.kind,
        "format": spec.format,
        "role": spec.role,
        "photo_id": spec.photo_id,
        "source": spec.source,
        "companion_of": spec.companion_of,
        "captured_at": (cap.iso(subsec=spec.kind == "image") if carries else None),
        "gps": ({"lat": cap.gps[0], "lon": cap.gps[1]} if carries and cap.gps else None),
        "make": "Apple" if camera else None,
        "model": cap.model if camera else None,
        "software": cap.software if carries else None,
        "content_id": cap.content_id if carries else None,
        "burst_id": cap.burst_id if carries else None,
        "orientation": (spec.orientation or 1) if camera and spec.kind == "image" else None,
        "width": shown[0] if shown else None,
        "height": shown[1] if shown else None,
        "edit": spec.params.get("edit"),  # the edit dupes must name (exported edits)
    }


def _csv_entry(path: str, digest: dict[str, Any]) -> dict[str, Any]:
    return {
        "path": path,
        "blake3": digest["blake3"],
        "size": digest["size"],
        "kind": "other",
        "format": "CSV",
        "role": "manifest",
        "photo_id": None,
        "source": None,
        "companion_of": None,
        "captured_at": None,
        "gps": None,
        "make": None,
        "model": None,
        "software": None,
        "content_id": None,
        "burst_id": None,
        "orientation": None,
        "width": None,
        "height": None,
    }


def _set_mtimes(
    out: Path, specs: list[FileSpec], csv_paths: list[str], plans: list[PhotoPlan]
) -> None:
    """Each file dated by its capture and role, each folder at a fixed date: no wall-clock time."""
    latest = _EPOCH_NS
    first_capture = {spec.path: plan.captures[0] for plan in plans for spec in plan.files}
    for spec in specs:
        cap = spec.capture or first_capture[spec.path]
        moment = cap.utc + timedelta(days=ROLE_AGE_DAYS.get(spec.role, 1))
        ns = int(moment.timestamp()) * 10**9 + int(cap.subsec) * 10**6
        os.utime(out / spec.path, ns=(ns, ns))
    for p in csv_paths:
        os.utime(out / p, ns=(latest, latest))
    for folder in sorted({d for d in out.rglob("*") if d.is_dir()}, reverse=True):
        os.utime(folder, ns=(latest, latest))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.make_library", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--photos", type=int, default=50, help="original captures (default 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--from",
        dest="source_dir",
        type=Path,
        default=None,
        help="take pixels from the JPEG/HEIC/PNG images in this folder",
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="12mp")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        truth = make_library(
            args.out, args.photos, args.seed, args.source_dir, args.size, args.workers
        )
    except PhotoverifyError as exc:
        print(f"make_library: {exc}", file=sys.stderr)
        return exc.exit_code
    elapsed = time.perf_counter() - started
    phases = ", ".join(f"{k} {v:.1f}" for k, v in truth.timings.items())
    seconds = textwrap.fill(  # a phase and its time stay on one line
        phases.replace(" ", "\xa0").replace(",\xa0", ", "), 78,
        initial_indent="  seconds: ", subsequent_indent="    ",
    ).replace("\xa0", " ")  # fmt: skip
    print(  # short lines: a terminal 80 columns wide wraps a long one in mid-word
        f"{len(truth.files)} files for {truth.photos} photos in {args.out} ({elapsed:.1f} s)\n"
        f"{seconds}\n  answer key: {args.out / 'truth.json'}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

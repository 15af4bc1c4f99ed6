"""Writing metadata with exiftool, in batch: a few exiftool processes for the whole library."""

from __future__ import annotations

import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.library.layout import Capture, FileSpec
from photoverify.dedupe.core.errors import EnvironmentProblem

VIDEO_FORMATS = {"MOV", "MP4"}


def exiftool_binary() -> str:
    found = shutil.which("exiftool")
    if not found:
        raise EnvironmentProblem("exiftool: not found on PATH; the sample library needs it")
    return found


def tags_for(spec: FileSpec) -> dict[str, Any] | None:
    """The tags exiftool writes into one file (numeric values: exiftool runs with -n)."""
    cap = spec.capture
    if cap is None:
        return None
    if spec.format in VIDEO_FORMATS:
        return _video_tags(cap)
    tags: dict[str, Any] = {
        "EXIF:DateTimeOriginal": cap.exif_date(),
        "EXIF:CreateDate": cap.exif_date(),
        "EXIF:OffsetTimeOriginal": cap.offset,
        "EXIF:OffsetTimeDigitized": cap.offset,
        "EXIF:SubSecTimeOriginal": cap.subsec,
        "EXIF:SubSecTimeDigitized": cap.subsec,
        "EXIF:Software": cap.software,
    }
    if cap.is_screenshot:
        tags["EXIF:UserComment"] = "Screenshot"
        tags["XMP-photoshop:DateCreated"] = cap.iso()
    else:
        tags.update(
            {
                "EXIF:Make": "Apple",
                "EXIF:Model": cap.model,
                "EXIF:LensMake": "Apple",
                "EXIF:ExifVersion": "0232",
                "EXIF:ColorSpace": 65535,
                "EXIF:Orientation": spec.orientation or 1,
            }
        )
    if cap.gps:
        lat, lon = cap.gps
        tags.update(
            {
                "EXIF:GPSLatitude": abs(lat),
                "EXIF:GPSLatitudeRef": "N" if lat >= 0 else "S",
                "EXIF:GPSLongitude": abs(lon),
                "EXIF:GPSLongitudeRef": "E" if lon >= 0 else "W",
            }
        )
    return tags


def _video_tags(cap: Capture) -> dict[str, Any]:
    utc = cap.utc.strftime("%Y:%m:%d %H:%M:%S")
    tags: dict[str, Any] = {
        "Keys:CreationDate": cap.local.strftime("%Y:%m:%d %H:%M:%S") + cap.offset,
        "Keys:Make": "Apple",
        "Keys:Model": cap.model,
        "Keys:Software": cap.software,
        "QuickTime:CreateDate": utc,
        "QuickTime:ModifyDate": utc,
        "QuickTime:TrackCreateDate": utc,
        "QuickTime:MediaCreateDate": utc,
    }
    if cap.gps:
        tags["Keys:GPSCoordinates"] = f"{cap.gps[0]} {cap.gps[1]} 0"
    return tags


def _run(argfile: Path) -> None:
    proc = subprocess.run(
        [exiftool_binary(), "-@", str(argfile)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise EnvironmentProblem(f"{argfile}: exiftool failed: {proc.stderr.strip()[:500]}")


def write_tags(out: Path, specs: list[FileSpec], work: Path, processes: int) -> None:
    """Import every file's tags with `-json=`, split across `processes` exiftool runs."""
    entries = [(s.path, t) for s in specs if (t := tags_for(s))]
    chunks = [entries[i::processes] for i in range(processes)]
    argfiles = []
    for i, chunk in enumerate(chunks):
        if not chunk:
            continue
        data = [{"SourceFile": str(out / path), **tags} for path, tags in chunk]
        json_path = work / f"tags-{i}.json"
        json_path.write_text(json.dumps(data), encoding="utf-8")
        args = [
            "-n",
            "-q",
            "-overwrite_original",
            "-charset",
            "filename=utf8",
            f"-json={json_path}",
        ]
        args += [str(out / path) for path, _ in chunk]
        argfile = work / f"tags-{i}.args"
        argfile.write_text("\n".join(args) + "\n", encoding="utf-8")
        argfiles.append(argfile)
    with ThreadPoolExecutor(max_workers=max(len(argfiles), 1)) as pool:
        list(pool.map(_run, argfiles))


def write_xmp_sidecars(out: Path, specs: list[FileSpec], work: Path) -> None:
    """Sidecars made the way people make them: `exiftool -o IMG.XMP IMG.HEIC`, one batch run."""
    args: list[str] = []
    for spec in specs:
        args += ["-q", "-o", str(out / spec.path), str(out / spec.source), "-execute"]
    if not args:
        return
    argfile = work / "xmp.args"
    argfile.write_text("\n".join(args) + "\n", encoding="utf-8")
    _run(argfile)

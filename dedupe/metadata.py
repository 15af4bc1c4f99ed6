"""exiftool in batch mode -> normalized `Metadata`.

One long-lived exiftool process (`-stay_open`, through pyexiftool) reads many files per call.
File names never reach exiftool as options: every path is absolute, and a path exiftool's
line-based argument protocol cannot carry (a newline, bytes that are not UTF-8) is passed through
a symlink with a plain name in a private temporary folder.
"""

from __future__ import annotations

import errno
import os
import re
import select
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from typing import Any

import exiftool

from .errors import EnvironmentProblem
from .records import Metadata

# Tags asked for by name: faster than reading everything, and the list documents what we use.
TAGS = (
    "EXIF:DateTimeOriginal",
    "EXIF:SubSecTimeOriginal",
    "EXIF:OffsetTimeOriginal",
    "EXIF:CreateDate",
    "EXIF:SubSecTimeDigitized",
    "EXIF:OffsetTimeDigitized",
    "EXIF:OffsetTime",
    "QuickTime:CreationDate",
    "QuickTime:CreateDate",
    "XMP:DateTimeOriginal",
    "XMP:CreateDate",
    "XMP:DateCreated",
    "Composite:GPSLatitude",
    "Composite:GPSLongitude",
    "Make",
    "Model",
    "Software",
    # Debian's exiftool 12.57 names Apple's MakerNote ContentIdentifier MediaGroupUUID.
    "MakerNotes:ContentIdentifier",
    "MakerNotes:MediaGroupUUID",
    "QuickTime:ContentIdentifier",
    "MakerNotes:BurstUUID",
    "ImageUniqueID",
    "Orientation",
    "File:FileType",
    "File:MIMEType",
    "ImageWidth",
    "ImageHeight",
    "Duration",
    "Error",
    "Warning",
)

_SAFE_ARG = re.compile(r"^/[^\n\r]*$")
_ZERO_DATE = re.compile(r"^[0: ]*$")
_DATE = re.compile(
    r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?"
)


def normalize_datetime(value: Any, subsec: Any = None, offset: Any = None) -> str | None:
    """exiftool date text (+ SubSecTime*, OffsetTime*) -> ISO 8601, or None if absent/invalid.

    `2021:04:11 15:47:53`, `054`, `-05:00` -> `2021-04-11T15:47:53.054-05:00`.
    An offset or sub-seconds inside the value win over the separate tags.
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text or _ZERO_DATE.match(text):
        return None
    m = _DATE.match(text)
    if not m:
        return None
    year, month, day, hh, mm, ss, frac, tz = m.groups()
    if not (
        1 <= int(month) <= 12
        and 1 <= int(day) <= 31
        and int(hh) < 24
        and int(mm) < 60
        and int(ss) < 61
    ):
        return None
    out = f"{year}-{month}-{day}T{hh}:{mm}:{ss}"
    if frac:
        out += frac
    elif subsec is not None and str(subsec).strip().isdigit():
        out += "." + str(subsec).strip()
    tz = tz or (str(offset).strip() if offset is not None else None)
    if tz:
        if tz == "Z":
            tz = "+00:00"
        m_tz = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", tz)
        if m_tz:
            out += f"{m_tz[1]}{m_tz[2]}:{m_tz[3]}"
    return out


def _first(tags: dict[str, Any], *names: str) -> Any:
    for name in names:
        value = tags.get(name)
        if value not in (None, ""):
            return value
    return None


def _by_suffix(tags: dict[str, Any], name: str) -> Any:
    """A tag asked for without a group comes back as `Group:Name`; take the first group's."""
    for key, value in tags.items():
        if key.rsplit(":", 1)[-1] == name and value not in (None, ""):
            return value
    return None


def capture_time(tags: dict[str, Any]) -> tuple[str | None, str | None]:
    """Pick the capture time: DateTimeOriginal, then QuickTime CreationDate (local, with offset),
    then CreateDate, then XMP, then QuickTime CreateDate (UTC by the QuickTime spec)."""
    candidates = (
        (
            "EXIF:DateTimeOriginal",
            "EXIF:SubSecTimeOriginal",
            ("EXIF:OffsetTimeOriginal", "EXIF:OffsetTime"),
        ),
        ("QuickTime:CreationDate", None, ()),
        (
            "EXIF:CreateDate",
            "EXIF:SubSecTimeDigitized",
            ("EXIF:OffsetTimeDigitized", "EXIF:OffsetTime"),
        ),
        ("XMP:DateTimeOriginal", None, ()),
        ("XMP:DateCreated", None, ()),
        ("XMP:CreateDate", None, ()),
    )
    for tag, subsec_tag, offset_tags in candidates:
        iso = normalize_datetime(
            tags.get(tag), tags.get(subsec_tag) if subsec_tag else None, _first(tags, *offset_tags)
        )
        if iso:
            return iso, tag
    qt = tags.get("QuickTime:CreateDate")
    iso = normalize_datetime(qt, None, "+00:00") if qt is not None else None
    return (iso, "QuickTime:CreateDate") if iso else (None, None)


def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if f == f else None  # NaN is no coordinate


def _int(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def normalize(tags: dict[str, Any], error: str | None = None) -> Metadata:
    """exiftool's `-G -n` JSON for one file -> Metadata. Pure."""
    captured_at, source = capture_time(tags)
    lat = _float(tags.get("Composite:GPSLatitude"))
    lon = _float(tags.get("Composite:GPSLongitude"))
    if lat is not None and lon is not None and (abs(lat) > 90 or abs(lon) > 180):
        lat = lon = None
    exif_error = _text(tags.get("ExifTool:Error"))
    return Metadata(
        captured_at=captured_at,
        captured_source=source,
        gps_lat=lat if lon is not None else None,
        gps_lon=lon if lat is not None else None,
        make=_text(_by_suffix(tags, "Make")),
        model=_text(_by_suffix(tags, "Model")),
        software=_text(_by_suffix(tags, "Software")),
        content_id=_text(
            _first(
                tags,
                "MakerNotes:ContentIdentifier",
                "MakerNotes:MediaGroupUUID",
                "QuickTime:ContentIdentifier",
            )
        ),
        burst_id=_text(tags.get("MakerNotes:BurstUUID")),
        image_unique_id=_text(_by_suffix(tags, "ImageUniqueID")),
        orientation=_int(_by_suffix(tags, "Orientation")),
        file_type=_text(tags.get("File:FileType")),
        mime_type=_text(tags.get("File:MIMEType")),
        width=_int(_by_suffix(tags, "ImageWidth")),
        height=_int(_by_suffix(tags, "ImageHeight")),
        duration=_float(_by_suffix(tags, "Duration")),
        error=error or exif_error,
        warning=_text(tags.get("ExifTool:Warning")),
    )


_STDERR_LINE = re.compile(r"^Error: (.*) - (/.*)$")


def _read_answer(fd: int, b_endswith: bytes, block_size: int) -> bytes:
    """pyexiftool's pipe reader, except that an exiftool which ends before it has answered is
    an error instead of an endless loop at 100% CPU (its reader never checks for end of file:
    sylikc/pyexiftool pull request #81, open). Same contract: read until the stripped output
    ends with `b_endswith`."""
    chunks: list[bytes] = []
    tail = b""
    keep = len(b_endswith) + 4
    while not tail.strip().endswith(b_endswith):
        select.select([fd], [], [])
        data = os.read(fd, block_size)
        if not data:
            raise OSError(errno.EPIPE, "exiftool ended before it answered")
        chunks.append(data)
        tail = (tail + data)[-keep:]
    return b"".join(chunks)


if hasattr(exiftool.exiftool, "_read_fd_endswith"):  # versions with the endless loop
    exiftool.exiftool._read_fd_endswith = _read_answer


class MetadataReader:
    """A long-lived exiftool process. Use as a context manager, or call close()."""

    def __init__(self, executable: str | None = None) -> None:
        exe = executable or shutil.which("exiftool")
        if not exe:
            raise EnvironmentProblem(
                "exiftool not found: install it (Debian: apt-get install libimage-exiftool-perl; "
                "macOS: brew install exiftool)"
            )
        self._et = exiftool.ExifToolHelper(
            executable=exe,
            common_args=["-G", "-n", "-charset", "filename=utf8"],
            check_execute=False,
            check_tag_names=False,
        )
        # symlinks for names exiftool cannot take, made for one read() and removed by it: a
        # pool worker ends without atexit handlers, so nothing may outlive the call
        self._links: str | None = None

    def __enter__(self) -> MetadataReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop()
        self._drop_links()

    def _drop_links(self) -> None:
        if self._links is not None:
            shutil.rmtree(self._links, ignore_errors=True)
            self._links = None

    def _stop(self) -> None:
        """End the exiftool process, whether it is alive or already gone."""
        with warnings.catch_warnings():  # pyexiftool warns when the process already ended
            warnings.simplefilter("ignore")
            try:
                if self._et.running:
                    self._et.terminate()
            except Exception:  # noqa: BLE001 - ending a dead process must not mask an error
                pass

    def _argument_for(self, path: str, index: int) -> str:
        path = os.path.abspath(path)
        try:
            path.encode("utf-8")
            if _SAFE_ARG.match(path):
                return path
        except UnicodeEncodeError:
            pass
        if self._links is None:
            self._links = tempfile.mkdtemp(prefix="photoverify-exiftool-")
        link = os.path.join(self._links, f"{index}{os.path.splitext(path)[1][:8]!s}")
        link = link.encode("ascii", "replace").decode().replace("?", "_")
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(os.fsencode(path), link)
        return link

    def read(self, paths: Sequence[str]) -> list[Metadata]:
        """Metadata of each path, in order. A file exiftool cannot read gets `error` set."""
        if not paths:
            return []
        try:
            return self._read(paths)
        finally:
            self._drop_links()

    def _read(self, paths: Sequence[str]) -> list[Metadata]:
        self._ensure_running()
        args = [self._argument_for(p, i) for i, p in enumerate(paths)]
        try:
            results = self._et.execute_json(*[f"-{t}" for t in TAGS], *args)
        except exiftool.exceptions.ExifToolOutputEmptyError:
            results = []
        except (exiftool.exceptions.ExifToolException, OSError, ValueError) as exc:
            # The process died or answered nonsense: start afresh and read one by one.
            self._restart()
            if len(paths) == 1:
                return [Metadata(error=f"exiftool failed: {exc}")]
            return [m for p in paths for m in self.read([p])]
        errors: dict[str, str] = {}
        for line in (self._et.last_stderr or "").splitlines():
            m = _STDERR_LINE.match(line.strip())
            if m:
                errors[m[2]] = m[1]
        by_source = {r.get("SourceFile"): r for r in results}
        out = []
        for arg in args:
            tags = by_source.get(arg)
            if tags is None:
                out.append(Metadata(error=errors.get(arg, "exiftool returned nothing")))
            else:
                out.append(normalize(tags, errors.get(arg)))
        return out

    @property
    def pid(self) -> int | None:
        """exiftool's process id while it runs."""
        process = getattr(self._et, "_process", None)
        return process.pid if process is not None and self.alive() else None

    def alive(self) -> bool:
        """Whether exiftool is still running. pyexiftool asks Linux to end it when the *thread*
        that started it ends (PR_SET_PDEATHSIG), so a reader kept past that thread finds it
        gone."""
        with warnings.catch_warnings():  # pyexiftool warns when it finds the process gone
            warnings.simplefilter("ignore")
            return bool(self._et.running)

    def _ensure_running(self) -> None:
        if not self.alive():
            self._restart()

    def _restart(self) -> None:
        self._stop()
        self._et.run()

    def version(self) -> str:
        return str(self._et.version)

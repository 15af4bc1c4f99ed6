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
from datetime import UTC, datetime
from typing import Any

import exiftool

from photoverify.dedupe.core.errors import EnvironmentProblem
from photoverify.dedupe.core.records import Metadata

# Tags asked for by name: faster than reading everything, and the list documents what we use.
# Asked for without a group and read with `-a -G` (every group's copy, named `Group:Tag`), so one
# exiftool call per batch sees a DateTimeOriginal wherever it lives (EXIF, XMP, MakerNotes, APP12).
TAGS = (
    "DateTimeOriginal",
    "SubSecTimeOriginal",
    "OffsetTimeOriginal",
    "OffsetTime",
    "CreateDate",
    "SubSecTimeDigitized",
    "OffsetTimeDigitized",
    "CreationDate",
    "DateCreated",
    "TimeCreated",
    "CreationTime",
    "GPSLatitude",
    "GPSLongitude",
    "GPSLatitudeRef",
    "GPSLongitudeRef",
    "GPSCoordinates",
    # Google Takeout's JSON sidecars, as exiftool flattens them
    "PhotoTakenTimeTimestamp",
    "GeoDataLatitude",
    "GeoDataLongitude",
    "GeoDataExifLatitude",
    "GeoDataExifLongitude",
    # what a person gave the photo: XMP dc:title/dc:subject, IPTC ObjectName/Keywords, xmp:Rating
    "Title",
    "ObjectName",
    "Subject",
    "Keywords",
    "Rating",
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
    "File:MIMEEncoding",
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
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")


def parse_datetime(value: Any, subsec: Any = None, offset: Any = None) -> tuple[str | None, str]:
    """exiftool date text (+ SubSecTime*, OffsetTime*) -> (ISO 8601, "") or (None, why not).

    `2021:04:11 15:47:53`, `054`, `-05:00` -> `2021-04-11T15:47:53.054-05:00`.
    An offset or sub-seconds inside the value win over the separate tags. A date that cannot
    exist (2021:02:31, 0000:00:00, an hour 25) is refused with the reason, never guessed at.
    """
    if value is None:
        return None, "absent"
    text = str(value).strip()
    if not text:
        return None, "absent"
    if _ZERO_DATE.match(text):
        return None, f"{text!r} is a zero date (the camera's clock was not set)"
    m = _DATE.match(text)
    if not m:
        return None, f"{text!r} is not a date and time"
    year, month, day, hh, mm, ss, frac, tz = m.groups()
    try:
        datetime(int(year), int(month), int(day))
    except ValueError:
        return None, f"{text!r} names a day that does not exist"
    if not (int(hh) < 24 and int(mm) < 60 and int(ss) < 61):
        return None, f"{text!r} names a time of day that does not exist"
    out = f"{year}-{month}-{day}T{hh}:{mm}:{ss}"
    if frac:
        out += frac
    elif subsec is not None and str(subsec).strip().isdigit():
        out += "." + str(subsec).strip()
    tz = tz or (str(offset).strip() if offset is not None else None)
    if tz:
        m_tz = _OFFSET.fullmatch("+00:00" if tz == "Z" else tz)
        if m_tz and int(m_tz[2]) <= 14 and int(m_tz[3]) < 60:
            out += f"{m_tz[1]}{m_tz[2]}:{m_tz[3]}"
    return out, ""


def normalize_datetime(value: Any, subsec: Any = None, offset: Any = None) -> str | None:
    """`parse_datetime` without the reason: ISO 8601, or None if absent/invalid."""
    return parse_datetime(value, subsec, offset)[0]


class _Tags:
    """exiftool's `-a -G0:1` JSON for one file, looked up by (family-0 group, tag name).

    Keys come as `Group0:Group1:Name` (or `Group:Name`, `Name`); with `-a` one name can occur in
    many groups, kept in exiftool's order (the order of the file)."""

    def __init__(self, tags: dict[str, Any]) -> None:
        self.by_name: dict[str, list[tuple[str, str, Any]]] = {}
        for key, value in tags.items():
            if value in (None, ""):
                continue
            parts = key.split(":")
            g0 = parts[0] if len(parts) > 1 else ""
            g1 = parts[1] if len(parts) > 2 else g0
            if g0 == "XML" and g1.startswith("XML-"):  # XMP in a JPEG 2000 box, as exiftool
                g0 = "XMP"  # groups it (XML:XML-xmp:CreateDate)
            self.by_name.setdefault(parts[-1], []).append((g0, g1, value))

    def get(self, group: str | None, name: str, skip_g1: tuple[str, ...] = ()) -> Any:
        for g0, g1, value in self.by_name.get(name, ()):
            if (group is None or g0 == group) and g1 not in skip_g1:
                return value
        return None


# Where a capture time is taken from, best first: (label, group, tag, sub-second tag, offset tags,
# offset assumed when none is written). Every place that holds the *original* capture time comes
# before any that holds a digitized/created time. QuickTime's CreationDate (Apple's
# com.apple.quicktime.creationdate key) is local time with its offset; QuickTime's CreateDate
# (the movie header) is UTC by the QuickTime specification, and Takeout's timestamp is Unix time.
_CAPTURE = (
    ("EXIF:DateTimeOriginal", "EXIF", "DateTimeOriginal", "SubSecTimeOriginal",
     ("OffsetTimeOriginal", "OffsetTime"), None),
    ("QuickTime:CreationDate", "QuickTime", "CreationDate", None, (), None),
    ("XMP:DateTimeOriginal", "XMP", "DateTimeOriginal", "SubSecTimeOriginal", (), None),
    ("XMP:DateCreated", "XMP", "DateCreated", None, (), None),
    ("IPTC:DateCreated+TimeCreated", "IPTC", "DateCreated", None, (), None),
    ("MakerNotes:DateTimeOriginal", "MakerNotes", "DateTimeOriginal", None, (), None),
    ("APP12:DateTimeOriginal", "APP12", "DateTimeOriginal", None, (), None),
    ("PNG:CreationTime", "PNG", "CreationTime", None, (), None),
    ("JSON:PhotoTakenTimeTimestamp", "JSON", "PhotoTakenTimeTimestamp", None, (), "+00:00"),
    ("EXIF:CreateDate", "EXIF", "CreateDate", "SubSecTimeDigitized",
     ("OffsetTimeDigitized", "OffsetTime"), None),
    ("XMP:CreateDate", "XMP", "CreateDate", None, (), None),
    ("QuickTime:CreateDate", "QuickTime", "CreateDate", None, (), "+00:00"),
)  # fmt: skip


def _capture_value(t: _Tags, label: str, group: str, name: str) -> Any:
    value = t.get(group, name)
    if value is None:
        return None
    if label.startswith("IPTC:"):  # a date and a time in two datasets
        time_of_day = t.get("IPTC", "TimeCreated")
        return f"{value} {time_of_day}" if time_of_day is not None else f"{value} (no time)"
    if group == "JSON":  # seconds since 1970, UTC
        try:
            stamp = datetime.fromtimestamp(int(float(value)), UTC)
        except (TypeError, ValueError, OverflowError, OSError):  # TypeError: a list, an object
            return f"{value} (not a timestamp)"
        return stamp.strftime("%Y:%m:%d %H:%M:%S") if stamp.year > 1970 else "0000:00:00 00:00:00"
    return value


def capture_times(tags: dict[str, Any]) -> tuple[str | None, str | None, list[str]]:
    """(captured_at, the tag it came from, [why each better-ranked value present was refused]).

    Precedence is `_CAPTURE`'s order; an impossible value is skipped with its reason."""
    t = tags if isinstance(tags, _Tags) else _Tags(tags)
    refused: list[str] = []
    found: list[tuple[str, str, bool]] = []  # (ISO time, label, its offset was written)
    for label, group, name, subsec_tag, offset_tags, assumed in _CAPTURE:
        value = _capture_value(t, label, group, name)
        if value is None:
            continue
        offset = next((o for o in (t.get(group, n) for n in offset_tags) if o is not None), None)
        subsec = t.get(group, subsec_tag) if subsec_tag else None
        iso, why = parse_datetime(value, subsec, offset if offset is not None else assumed)
        if iso:
            found.append((iso, label, assumed is None))
        elif not found:
            refused.append(f"{label}: {why}")
    if not found:
        return None, None, refused
    iso, label, _ = found[0]
    return _completed(iso, [other for other, _, written in found[1:] if written]), label, refused


_ISO_PARTS = re.compile(r"^(.{19})(\.\d+)?([+-]\d{2}:\d{2})?$")


def _completed(iso: str, others: list[str]) -> str:
    """The chosen time with the sub-seconds and offset it lacks taken from another place that
    holds the same moment to the second (XMP photoshop:DateCreated `15:15:44.31` and IPTC
    `15:15:44-04:00` -> `15:15:44.31-04:00`, as exiftool's composite DateTimeOriginal keeps the
    offset). Never from an offset that was assumed (QuickTime UTC, Takeout)."""
    mine = _ISO_PARTS.match(iso)
    if mine is None:
        return iso
    base, frac, zone = mine.groups()
    for other in others:
        m = _ISO_PARTS.match(other)
        if m is None or m[1] != base:
            continue
        frac, zone = frac or m[2], zone or m[3]
    return base + (frac or "") + (zone or "")


def capture_time(tags: dict[str, Any]) -> tuple[str | None, str | None]:
    """(captured_at, the tag it came from): see `capture_times`."""
    iso, source, _ = capture_times(tags)
    return iso, source


def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int past 1e308
        return None
    return f if f == f else None  # NaN is no coordinate


def _signed(value: Any, ref: Any, negative: str) -> float | None:
    f = _float(value)
    if f is None or ref is None:
        return None  # an EXIF coordinate without its hemisphere is no position (as exiftool's)
    return -abs(f) if str(ref).strip().upper().startswith(negative) else f


def gps_position(tags: dict[str, Any]) -> tuple[float | None, float | None, str | None]:
    """(lat, lon, the tag they came from), best first: EXIF GPS (signed by its Ref tags), XMP
    (exif namespace, signed already), QuickTime GPSCoordinates (Apple's ISO 6709 location key),
    any other position exiftool composes, Google Takeout's geoData then geoDataExif. Out of range
    is no position; so is Takeout's 0, 0 (what it writes when it has none)."""
    t = tags if isinstance(tags, _Tags) else _Tags(tags)
    candidates: list[tuple[float | None, float | None, str]] = [
        (
            _signed(t.get("EXIF", "GPSLatitude"), t.get("EXIF", "GPSLatitudeRef"), "S"),
            _signed(t.get("EXIF", "GPSLongitude"), t.get("EXIF", "GPSLongitudeRef"), "W"),
            "EXIF:GPSLatitude",
        ),
        (_float(t.get("XMP", "GPSLatitude")), _float(t.get("XMP", "GPSLongitude")),
         "XMP:GPSLatitude"),
    ]  # fmt: skip
    coords = str(t.get("QuickTime", "GPSCoordinates") or "").replace(",", " ").split()
    if len(coords) >= 2:
        candidates.append((_float(coords[0]), _float(coords[1]), "QuickTime:GPSCoordinates"))
    candidates.append(
        (
            _float(t.get("Composite", "GPSLatitude")),
            _float(t.get("Composite", "GPSLongitude")),
            "Composite:GPSLatitude",
        )
    )
    for prefix in ("GeoData", "GeoDataExif"):
        lat, lon = (_float(t.get("JSON", f"{prefix}{axis}")) for axis in ("Latitude", "Longitude"))
        if lat == 0 and lon == 0:
            continue
        candidates.append((lat, lon, f"JSON:{prefix}Latitude"))
    for lat, lon, source in candidates:
        if lat is not None and lon is not None and abs(lat) <= 90 and abs(lon) <= 180:
            return lat, lon, source
    return None, None, None


def _int(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):  # "1e400" is infinity
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _main(t: _Tags, name: str, convert=_text) -> Any:
    """A tag of the image itself: the first group's value that converts, never a thumbnail's
    (IFD1) or a preview's."""
    for _g0, g1, value in t.by_name.get(name, ()):
        if g1 in ("IFD1", "SubIFD1", "PreviewIFD"):
            continue
        out = convert(value)
        if out is not None:
            return out
    return None


def _keywords(value: Any) -> str | None:
    """A keyword list (exiftool gives a list, or one string) as one text, `; `-joined."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    words = [w for w in (str(i).strip() for i in items) if w]
    return "; ".join(words) or None


def _rating(*values: Any) -> int | None:
    """The first rating given: 1-5 stars, or -1 (rejected). 0 is XMP's "unrated"."""
    for value in values:
        stars = _int(value)
        if stars is not None and stars != 0 and -1 <= stars <= 5:
            return stars
    return None


def normalize(tags: dict[str, Any], error: str | None = None) -> Metadata:
    """exiftool's `-a -G0:1 -n` JSON for one file (or `-G`: `Group:Tag` keys) -> Metadata. Pure."""
    t = _Tags(tags)
    captured_at, source, refused = capture_times(t)
    lat, lon, gps_source = gps_position(t)
    return Metadata(
        captured_at=captured_at,
        captured_source=source,
        captured_refused="; ".join(refused) or None,
        gps_lat=lat,
        gps_lon=lon,
        gps_source=gps_source,
        title=_text(t.get("XMP", "Title") or t.get("IPTC", "ObjectName")),
        keywords=_keywords(t.get("XMP", "Subject") or t.get("IPTC", "Keywords")),
        rating=_rating(t.get("XMP", "Rating"), t.get("EXIF", "Rating")),
        make=_main(t, "Make"),
        model=_main(t, "Model"),
        software=_main(t, "Software"),
        content_id=_text(
            t.get("MakerNotes", "ContentIdentifier")
            or t.get("MakerNotes", "MediaGroupUUID")
            or t.get("QuickTime", "ContentIdentifier")
        ),
        burst_id=_text(t.get("MakerNotes", "BurstUUID")),
        image_unique_id=_main(t, "ImageUniqueID"),
        orientation=_main(t, "Orientation", _int),
        file_type=_text(t.get("File", "FileType")),
        mime_type=_text(t.get("File", "MIMEType")),
        width=_main(t, "ImageWidth", _int),
        height=_main(t, "ImageHeight", _int),
        duration=_main(t, "Duration", _float),
        error=error or _text(t.get("ExifTool", "Error")),
        warning=_text(t.get("ExifTool", "Warning")),
    )


_STDERR_LINE = re.compile(r"^Error: (.*) - (/.*)$")
_MAX_SIDECAR = 16 * 1024 * 1024


def _utf16_xmp(tags: dict[str, Any]) -> bool:
    encoding = str(tags.get("File:MIMEEncoding") or tags.get("File:File:MIMEEncoding") or "")
    file_type = tags.get("File:FileType") or tags.get("File:File:FileType")
    return file_type == "XMP" and encoding.lower().startswith("utf-16")


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
            common_args=["-a", "-G0:1", "-n", "-charset", "filename=utf8"],
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
        for index, arg in enumerate(args):
            tags = by_source.get(arg)
            if tags is None:
                out.append(Metadata(error=errors.get(arg, "exiftool returned nothing")))
                continue
            if _utf16_xmp(tags):
                tags = {**tags, **self._read_utf16_xmp(paths[index], index)}
            out.append(normalize(tags, errors.get(arg)))
        return out

    def _read_utf16_xmp(self, path: str, index: int) -> dict[str, Any]:
        """The tags of an XMP sidecar written in UTF-16, which exiftool 12.57 reads none of
        ("Superfluous BOM at start of XMP": immich's metadata/xmp/dates/*.xmp), read from a
        UTF-8 copy in the private temporary folder. Its File and System facts stay the
        original's."""
        try:
            with open(path, "rb") as fh:
                data = fh.read(_MAX_SIDECAR + 1)
            if len(data) > _MAX_SIDECAR:
                return {}
            text = data.decode("utf-16")
        except (OSError, UnicodeDecodeError):
            return {}
        if self._links is None:
            self._links = tempfile.mkdtemp(prefix="photoverify-exiftool-")
        copy = os.path.join(self._links, f"{index}-utf8.xmp")
        with open(copy, "w", encoding="utf-8") as fh:
            fh.write(text)
        try:
            results = self._et.execute_json(*[f"-{t}" for t in TAGS], copy)
        except (exiftool.exceptions.ExifToolException, OSError, ValueError):
            return {}
        tags = results[0] if results else {}
        keep = ("SourceFile", "File:", "ExifTool:")
        return {k: v for k, v in tags.items() if not k.startswith(keep)}

    def embedded_pictures(self, path: str, tags: Sequence[str]) -> dict[str, Any]:
        """exiftool's `-b -validate -Warning` answer for `tags` (e.g. `-PreviewImage`) of one
        file: binary values as `base64:...`, keyed `Group0:Group1:Tag`. {} when it fails."""
        try:
            self._ensure_running()
            arg = self._argument_for(path, 0)
            results = self._et.execute_json("-b", "-validate", "-Warning", *tags, arg)
        except (exiftool.exceptions.ExifToolException, OSError, ValueError):
            self._restart()
            return {}
        finally:
            self._drop_links()
        return results[0] if results else {}

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

"""What photoverify needs from the machine, and how to install what is missing."""

from __future__ import annotations

import platform
import shutil
import subprocess
from dataclasses import dataclass

from photoverify.dedupe.catalog import default_path


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    version: str | None
    fix: str | None


def _apt_or_brew(debian: str, brew: str) -> str:
    if platform.system() == "Darwin":
        return f"brew install {brew}"
    return f"sudo apt-get install {debian}"


def checks() -> list[Check]:
    out = []
    exe = shutil.which("exiftool")
    version = None
    if exe:
        try:
            version = (
                subprocess.run(
                    [exe, "-ver"], capture_output=True, text=True, timeout=30
                ).stdout.strip()
                or None
            )
        except (OSError, subprocess.SubprocessError):
            version = None
    out.append(
        Check(
            "exiftool",
            version is not None,
            version,
            None if version else _apt_or_brew("libimage-exiftool-perl", "exiftool"),
        )
    )
    try:
        import pillow_heif

        out.append(
            Check(
                "libheif (pillow-heif)",
                True,
                f"libheif {pillow_heif.libheif_version()}, pillow-heif {pillow_heif.__version__}",
                None,
            )
        )
    except ImportError:
        out.append(Check("libheif (pillow-heif)", False, None, "pip install pillow-heif"))
    try:
        import importlib.metadata

        import pillow_jxl  # noqa: F401

        jxl = importlib.metadata.version("pillow-jxl-plugin")
        out.append(Check("JPEG XL (pillow-jxl-plugin)", True, f"pillow-jxl-plugin {jxl}", None))
    except ImportError:
        out.append(
            Check("JPEG XL (pillow-jxl-plugin)", False, None, "pip install pillow-jxl-plugin")
        )
    try:
        import av

        ffmpeg = ".".join(str(x) for x in av.library_versions.get("libavformat", ()))
        out.append(
            Check("FFmpeg (PyAV)", True, f"PyAV {av.__version__}, libavformat {ffmpeg}", None)
        )
    except ImportError:
        out.append(Check("FFmpeg (PyAV)", False, None, "pip install av"))
    ffmpeg_exe = shutil.which("ffmpeg")
    out.append(
        Check(
            "ffmpeg program (optional: tests and benchmarks)",
            ffmpeg_exe is not None,
            ffmpeg_exe,
            None if ffmpeg_exe else _apt_or_brew("ffmpeg", "ffmpeg"),
        )
    )
    return out


def catalog_location() -> str:
    return str(default_path())


def formats() -> list[dict[str, str]]:
    """Every format the scan knows (sniff.py), with what decodes it here and its version:
    {format, decoder, version}; decoder "none" for the ones reported `unsupported-format`
    (HEIF sequences; a RAW file without a preview LibRaw cannot read is one, file
    by file)."""
    import importlib.metadata

    import av
    import PIL
    import pillow_heif

    from photoverify.dedupe.catalog.sniff import (
        HEIF_IMAGES,
        HEIF_SEQUENCES,
        PILLOW_IMAGES,
        RAW_FORMATS,
        VIDEO_FORMATS,
    )

    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    ffmpeg = ".".join(str(x) for x in av.library_versions.get("libavcodec", ()))
    by = {
        "JXL": ("pillow-jxl-plugin (libjxl)", version("pillow-jxl-plugin")),
        "AVIF": ("Pillow (libavif)", PIL.__version__),
        # what Pillow does not decode (a codec it lacks, float samples, over the budget):
        # tifffile with imagecodecs, a strip at a time (dedupe.catalog.tiffsegments)
        "TIFF": (
            "Pillow; tifffile (imagecodecs) for the rest",
            f"{PIL.__version__}; {version('tifffile')} ({version('imagecodecs')})",
        ),
    }
    rows = []
    for fmt in sorted(PILLOW_IMAGES):
        decoder, ver = by.get(fmt, ("Pillow", PIL.__version__))
        rows.append({"format": fmt, "decoder": decoder, "version": ver})
    for fmt in sorted(HEIF_IMAGES):
        rows.append(
            {"format": fmt, "decoder": "pillow-heif (libheif)", "version":
             f"{pillow_heif.__version__} (libheif {pillow_heif.libheif_version()})"}
        )  # fmt: skip
    for fmt in sorted(VIDEO_FORMATS):
        rows.append(
            {"format": fmt, "decoder": "PyAV (FFmpeg)", "version": f"{av.__version__} ({ffmpeg})"}
        )
    # scan hashes a RAW file's embedded preview (exiftool extracts it); verify --decode also
    # has LibRaw unpack the sensor data where rawpy is installed
    try:
        import rawpy

        libraw = ".".join(str(x) for x in rawpy.libraw_version)
        raw_decoder, raw_version = (
            "embedded preview (exiftool) + rawpy (LibRaw)",
            (f"{rawpy.__version__} (LibRaw {libraw})"),
        )
    except ImportError:
        raw_decoder, raw_version = "embedded preview (exiftool)", "rawpy not installed"
    rows += [
        {"format": f, "decoder": raw_decoder, "version": raw_version} for f in sorted(RAW_FORMATS)
    ]
    rows.append(
        {"format": "AVCI", "decoder": "PyAV (FFmpeg H.264), items read here",
         "version": f"{av.__version__} ({ffmpeg})"}
    )  # fmt: skip
    rows += [
        {"format": f, "decoder": "pillow-heif (libheif) items, PyAV (FFmpeg) track",
         "version": f"{pillow_heif.__version__}; {av.__version__} ({ffmpeg})"}
        for f in sorted(HEIF_SEQUENCES)
    ]  # fmt: skip
    return rows

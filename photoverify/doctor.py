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

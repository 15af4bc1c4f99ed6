"""What a file is, from its bytes (exiftool's FileType, which reads magic numbers), not its name.

The extension is consulted only for sidecar formats whose bytes say nothing specific
(a Takeout `.json` is plain JSON; an `.aae` is a property list).
"""

from __future__ import annotations

import os

# exiftool FileType -> our short format name, for the names that need it.
_FORMAT_ALIASES = {
    "Extended WEBP": "WEBP",
    "JXL Codestream": "JXL",
    "HEIF": "HEIF",
    "MP4": "MP4",
    "M4V": "MP4",
    "3GP": "3GP",
}
RAW_FORMATS = frozenset(
    {
        "DNG",
        "CR2",
        "CR3",
        "CRW",
        "NEF",
        "NRW",
        "ARW",
        "SR2",
        "SRF",
        "ORF",
        "RW2",
        "RAF",
        "PEF",
        "SRW",
        "ERF",
        "KDC",
        "DCR",
        "MRW",
        "3FR",
        "IIQ",
        "X3F",
        "RWL",
    }
)
SIDECAR_FORMATS = frozenset({"XMP", "AAE", "JSON", "PLIST"})
SIDECAR_EXTENSIONS = frozenset({".xmp", ".aae", ".json"})
VIDEO_FORMATS = frozenset({"MOV", "MP4", "3GP", "AVI", "MKV", "M2TS", "MTS", "WEBM", "MPEG"})
# Formats Pillow (with pillow-heif) decodes, so that perceptual hashes and decode checks apply;
# JXL through pillow-jxl-plugin; APNG and MPO are exiftool's names for Pillow's animated PNG
# and multi-picture JPEG.
HEIF_IMAGES = frozenset({"HEIC", "HEIF"})
# The second line: exiftool's names of other formats Pillow reads (a TGA is "CUR" to exiftool
# 12.57); the third: Pillow's names of formats exiftool does not know, which the scan learns
# from Pillow itself (fingerprint.py).
PILLOW_IMAGES = frozenset(
    {"JPEG", "PNG", "APNG", "MPO", "TIFF", "WEBP", "GIF", "BMP", "AVIF", "JXL"}
    | {"JP2", "J2C", "JPX", "ICO", "CUR", "PCX", "PPM", "PGM", "PBM", "PFM", "DCX", "FITS"}
    | {"JPEG2000", "SGI", "QOI", "DDS", "TGA", "FLI", "IM", "MSP", "XBM"}
)
DECODABLE_IMAGES = PILLOW_IMAGES | HEIF_IMAGES


# ISO-BMFF brands of HEIF pictures and picture sequences (ISO/IEC 23008-12) whatever their
# codec. exiftool calls an ftyp whose major brand it does not know (AVC's 'avci') an MP4 video.
HEIF_BRANDS = frozenset(
    {"mif1", "mif2", "msf1", "miaf", "heic", "heix", "heim", "heis", "hevc", "hevx", "avci"}
    | {"avcs", "jpeg", "j2ki", "j2is", "vvic", "vvis"}
)
# Brands that make a file a movie even when it also claims HEIF's 'mif1' among its brands
VIDEO_BRANDS = frozenset({"isom", "iso2", "mp41", "mp42", "avc1", "M4V ", "qt  ", "3gp4", "3gp5"})


def read_ftyp_brands(path: str) -> list[str]:
    """The major and compatible brands of the ftyp box that opens an ISO-BMFF file; [] when
    the file does not open with one or cannot be read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            size = int.from_bytes(head[:4], "big") if len(head) == 8 else 0
            if head[4:8] != b"ftyp" or not 16 <= size <= 4096:
                return []
            body = fh.read(size - 8)
    except OSError:
        return []
    offsets = [0, *range(8, len(body) - 3, 4)]  # major, minor version (skipped), compatible
    return [body[i : i + 4].decode("latin-1") for i in offsets if len(body) >= i + 4]


def is_heif_picture(brands: list[str]) -> bool:
    """An ISO-BMFF file whose brands make it a HEIF picture rather than a movie."""
    if not brands:
        return False
    return brands[0] in HEIF_BRANDS or (
        bool({"mif1", "msf1"} & set(brands[1:])) and not VIDEO_BRANDS & set(brands)
    )


def classify(
    file_type: str | None, mime_type: str | None, path: str, brands: list[str] | None = None
) -> tuple[str, str | None]:
    """(kind, format) of a file. Kind is one of `image`, `video`, `sidecar`, `other`.
    `brands`: the file's ISO-BMFF brands (read_ftyp_brands), read when exiftool says MP4."""
    fmt = _FORMAT_ALIASES.get(file_type or "", file_type) if file_type else None
    if fmt == "MP4" and brands and is_heif_picture(brands):
        return "image", "HEIF"
    ext = os.path.splitext(path)[1].lower()
    mime = (mime_type or "").lower()
    if fmt in SIDECAR_FORMATS or (fmt in (None, "TXT", "XML") and ext in SIDECAR_EXTENSIONS):
        return "sidecar", fmt or ext[1:].upper()
    if fmt in VIDEO_FORMATS or mime.startswith("video/"):
        return "video", fmt
    if fmt in RAW_FORMATS or fmt in DECODABLE_IMAGES or mime.startswith("image/"):
        return "image", fmt
    return "other", fmt

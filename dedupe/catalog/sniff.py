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
    # Photoshop's PSD (its composite picture; exiftool's MIME type for it is not image/*), and
    # more of Pillow's names for pictures exiftool does not know
    | {"PSD", "BLP", "DIB", "ICNS", "SUN", "SPIDER", "PCD", "XVThumb", "FTEX", "GBR", "IMT"}
    | {"MCIDAS", "PIXAR", "BTF"}  # BTF: exiftool's name for BigTIFF, which Pillow reads
)
# AVC-in-HEIF: libheif here has no AVC decoder; dedupe.avcheif reads the item, FFmpeg decodes it
AVC_HEIF_IMAGES = frozenset({"AVCI"})
# HEIF image sequences as exiftool names them: pictures in a track, often with image items too
# (a burst): libheif decodes the items, FFmpeg the track (verify --decode plays it through)
HEIF_SEQUENCES = frozenset({"HEICS", "HEIFS"})
DECODABLE_IMAGES = PILLOW_IMAGES | HEIF_IMAGES | AVC_HEIF_IMAGES | HEIF_SEQUENCES
# The phash_method of a picture tried and found to have no decoder here for its layout
# (decoding.no_decoder_reason): its decode_ok stays NULL, and the catalog does not take it for a
# picture never tried.
NO_DECODER_METHOD = "no-decoder"
# The phash_method of a TIFF Pillow does not decode, decoded by tifffile a strip or tile at a
# time and hashed from a reduced copy (tiffsegments)
TIFF_SEGMENTS_METHOD = "tiff-segments"


def classify(file_type: str | None, mime_type: str | None, path: str) -> tuple[str, str | None]:
    """(kind, format) of a file. Kind is one of `image`, `video`, `sidecar`, `other`."""
    fmt = _FORMAT_ALIASES.get(file_type or "", file_type) if file_type else None
    ext = os.path.splitext(path)[1].lower()
    mime = (mime_type or "").lower()
    if fmt in SIDECAR_FORMATS or (fmt in (None, "TXT", "XML") and ext in SIDECAR_EXTENSIONS):
        return "sidecar", fmt or ext[1:].upper()
    if fmt in VIDEO_FORMATS or mime.startswith("video/"):
        return "video", fmt
    if fmt in RAW_FORMATS or fmt in DECODABLE_IMAGES or mime.startswith("image/"):
        return "image", fmt
    return "other", fmt


# ISO-BMFF brands of pictures (HEIF, ISO/IEC 23008-12; AVIF): a file exiftool names MP4 because
# it does not know the brand (12.57: an AVIF sequence `avis`, AVC-in-HEIF `avci`) is a picture.
_IMAGE_BRANDS = {
    "avif": "AVIF",
    "avis": "AVIF",
    "heic": "HEIC",
    "heix": "HEIC",
    "hevc": "HEIC",
    "heim": "HEIC",
    "heis": "HEIC",
    "hevm": "HEIC",
    "hevs": "HEIC",
    "avci": "AVCI",
    "avcs": "AVCI",
}
_HEIF_BRANDS = ("mif1", "msf1", "mif2")


def image_brand(head: bytes) -> str | None:
    """The picture format an ISO-BMFF file's `ftyp` box names (AVIF, HEIC, AVCI: AVC-in-HEIF,
    HEIF), from the file's first bytes; None for a movie or anything else. Pure."""
    if len(head) < 16 or head[4:8] != b"ftyp":
        return None
    size = int.from_bytes(head[:4], "big")
    end = min(size, len(head)) if size >= 16 else 16
    major = head[8:12].decode("latin-1")
    compatible = [head[i : i + 4].decode("latin-1") for i in range(16, end - 3, 4)]
    if major in _IMAGE_BRANDS:
        return _IMAGE_BRANDS[major]
    if major in _HEIF_BRANDS:
        return next((_IMAGE_BRANDS[b] for b in compatible if b in _IMAGE_BRANDS), "HEIF")
    return None

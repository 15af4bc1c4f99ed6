"""What a file is from its bytes: the ISO-BMFF brands of pictures exiftool 12.57 calls movies."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from photoverify.dedupe.catalog.sniff import image_brand


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\0\0\0\0" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\0\0\0\x08free"


def test_picture_brands_are_pictures_and_movie_brands_are_not():
    assert image_brand(_ftyp(b"avis", b"avif", b"avis", b"msf1", b"mif1")) == "AVIF"
    assert image_brand(_ftyp(b"avci", b"mif1", b"avci")) == "AVCI"  # AVC-in-HEIF
    assert image_brand(_ftyp(b"mif1", b"mif1", b"avci")) == "AVCI"
    assert image_brand(_ftyp(b"msf1", b"msf1", b"hevc")) == "HEIC"  # a HEIC sequence
    assert image_brand(_ftyp(b"mif1", b"mif1", b"miaf")) == "HEIF"
    assert image_brand(_ftyp(b"heic", b"mif1", b"heic")) == "HEIC"
    for movie in (_ftyp(b"qt  ", b"qt  "), _ftyp(b"isom", b"isom", b"mp42"), _ftyp(b"mp42")):
        assert image_brand(movie) is None
    assert image_brand(b"\0\0\0\x18ftypqt  ") is None and image_brand(b"") is None


@given(st.binary(max_size=300))
def test_any_bytes_give_a_brand_or_none_without_raising(head):
    assert image_brand(head) in (None, "AVIF", "HEIC", "AVCI", "HEIF")
    assert image_brand(b"\0\0\0\x10ftyp" + head) in (None, "AVIF", "HEIC", "AVCI", "HEIF")

"""AVC-in-HEIF (ISO/IEC 23008-12, brand `avci`): the primary picture, decoded through FFmpeg's
H.264 decoder (PyAV), because libheif as pillow-heif ships it has no AVC decoder and FFmpeg's
demuxer does not read `avc1` image items.

`primary_item` is pure: the bytes of a HEIF file in, the primary item's avcC record, coded
picture and display transforms out. `decode_primary` is the edge that reads the file and runs
the decoder.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image


class HeifError(ValueError):
    """The file is not an AVC-in-HEIF picture this module can read, with the reason."""


@dataclass(frozen=True)
class AvcItem:
    avcc: bytes  # AVCDecoderConfigurationRecord: the decoder's extradata
    picture: bytes  # the coded picture: length-prefixed NAL units
    width: int | None  # from `ispe`, before the transforms
    height: int | None
    rotation: int  # `irot`: quarter turns anti-clockwise
    mirror: int | None  # `imir` axis: 0 mirrors left-right, 1 top-bottom


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[str, int, int]]:
    """(type, payload start, box end) of the boxes in data[start:end]."""
    i = start
    while i + 8 <= end:
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        head = 8
        if size == 1:
            if i + 16 > end:
                raise HeifError("box header cut short")
            size, head = struct.unpack(">Q", data[i + 8 : i + 16])[0], 16
        elif size == 0:
            size = end - i
        name = kind.decode("latin-1")
        if size < head or i + size > end:
            shown = name if name.isprintable() else f"0x{kind.hex()}"
            raise HeifError(f"'{shown}' box runs past its container")
        yield name, i + head, i + size
        i += size


def _uint(data: bytes, at: int, size: int) -> int:
    if size == 0:
        return 0
    if at + size > len(data):
        raise HeifError("a box is cut short")
    return int.from_bytes(data[at : at + size], "big")


def _children(data: bytes, start: int, end: int) -> dict[str, tuple[int, int]]:
    found: dict[str, tuple[int, int]] = {}
    for kind, p, e in _boxes(data, start, end):
        found.setdefault(kind, (p, e))
    return found


def _item_locations(data: bytes, p: int) -> dict[int, tuple[int, list[tuple[int, int]]]]:
    """iloc: item id -> (construction method, [(offset, length)])."""
    version = data[p]
    sizes = _uint(data, p + 4, 2)
    offset_size, length_size = sizes >> 12, (sizes >> 8) & 15
    base_size, index_size = (sizes >> 4) & 15, (sizes & 15) if version in (1, 2) else 0
    at = p + 6
    count_size = 2 if version < 2 else 4
    count = _uint(data, at, count_size)
    at += count_size
    out: dict[int, tuple[int, list[tuple[int, int]]]] = {}
    for _ in range(count):
        item = _uint(data, at, count_size)
        at += count_size
        method = 0
        if version in (1, 2):
            method = _uint(data, at, 2) & 15
            at += 2
        at += 2  # data_reference_index
        base = _uint(data, at, base_size)
        at += base_size
        extents = []
        extent_count = _uint(data, at, 2)
        at += 2
        for _ in range(extent_count):
            at += index_size
            offset = _uint(data, at, offset_size)
            length = _uint(data, at + offset_size, length_size)
            at += offset_size + length_size
            extents.append((base + offset, length))
        out[item] = (method, extents)
    return out


def _item_types(data: bytes, p: int, end: int) -> dict[int, str]:
    version = data[p]
    at = p + 4 + (2 if version == 0 else 4)
    types: dict[int, str] = {}
    for kind, q, _e in _boxes(data, at, end):
        if kind != "infe" or data[q] < 2:
            continue
        id_size = 2 if data[q] == 2 else 4
        item = _uint(data, q + 4, id_size)
        types[item] = data[q + 4 + id_size + 2 : q + 4 + id_size + 6].decode("latin-1")
    return types


def _properties(data: bytes, p: int, end: int, item: int) -> list[tuple[str, int, int]]:
    """The boxes `ipma` associates with `item`, from `ipco`."""
    kids = _children(data, p, end)
    if "ipco" not in kids or "ipma" not in kids:
        raise HeifError("no item properties")
    props = list(_boxes(data, *kids["ipco"]))
    q, _ = kids["ipma"]
    version, flags = data[q], _uint(data, q + 1, 3)
    at = q + 8
    for _ in range(_uint(data, q + 4, 4)):
        id_size = 2 if version < 1 else 4
        this = _uint(data, at, id_size)
        at += id_size
        count = _uint(data, at, 1)
        at += 1
        wide = flags & 1
        indices = []
        for _ in range(count):
            value = _uint(data, at, 2 if wide else 1)
            at += 2 if wide else 1
            indices.append(value & (0x7FFF if wide else 0x7F))
        if this == item:
            return [props[i - 1] for i in indices if 0 < i <= len(props)]
    return []


def primary_item(data: bytes) -> AvcItem:
    """The primary item of an AVC-in-HEIF file's bytes. Pure; HeifError with the reason."""
    try:
        return _primary_item(data)
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise HeifError(f"damaged item boxes ({type(exc).__name__})") from exc


def _primary_item(data: bytes) -> AvcItem:
    top = _children(data, 0, len(data))
    if "meta" not in top:
        raise HeifError("no 'meta' box")
    p, end = top["meta"]
    meta = _children(data, p + 4, end)
    for needed in ("pitm", "iinf", "iloc", "iprp"):
        if needed not in meta:
            raise HeifError(f"no '{needed}' box")
    pitm = meta["pitm"][0]
    item = _uint(data, pitm + 4, 2 if data[pitm] == 0 else 4)
    kind = _item_types(data, *meta["iinf"]).get(item)
    if kind != "avc1":
        raise HeifError(f"the primary item is {kind!r}, not an AVC picture ('avc1')")
    method, extents = _item_locations(data, meta["iloc"][0]).get(item, (0, []))
    if not extents:
        raise HeifError("the primary item has no data")
    if method == 1:
        if "idat" not in meta:
            raise HeifError("no 'idat' box")
        base = meta["idat"][0]
    elif method == 0:
        base = 0
    else:
        raise HeifError(f"item construction method {method} is not supported")
    picture = b""
    for offset, length in extents:
        start = base + offset
        stop = start + length if length else len(data)
        if stop > len(data):
            raise HeifError(f"the picture runs past the end of the file ({stop} > {len(data)})")
        picture += data[start:stop]
    avcc, size, rotation, mirror = None, (None, None), 0, None
    for prop, q, e in _properties(data, *meta["iprp"], item):
        if prop == "avcC":
            avcc = data[q:e]
        elif prop == "ispe":
            size = (_uint(data, q + 4, 4), _uint(data, q + 8, 4))
        elif prop == "irot":
            rotation = data[q] & 3
        elif prop == "imir":
            mirror = data[q] & 1
    if avcc is None:
        raise HeifError("the primary item has no 'avcC' decoder configuration")
    return AvcItem(avcc, picture, size[0], size[1], rotation, mirror)


def decode_primary(path: str) -> Image.Image:
    """The primary picture of an AVC-in-HEIF file as shown (irot/imir applied), decoded in
    full by FFmpeg's H.264 decoder. HeifError or PyAV's error when it does not decode."""
    import av

    from photoverify.dedupe.catalog.decoding import frame_picture, one_thread

    with open(path, "rb") as fh:
        item = primary_item(fh.read())
    codec = one_thread(av.CodecContext.create("h264", "r"))
    codec.extradata = item.avcc
    frames = [*codec.decode(av.Packet(item.picture)), *codec.decode(None)]
    if not frames:
        raise HeifError("the H.264 decoder gave no picture")
    im = frame_picture(frames[0])
    if item.rotation:
        im = im.rotate(90 * item.rotation, expand=True)
    if item.mirror is not None:
        flip = Image.Transpose.FLIP_TOP_BOTTOM if item.mirror else Image.Transpose.FLIP_LEFT_RIGHT
        im = im.transpose(flip)
    return im

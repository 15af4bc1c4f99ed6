"""A PNG's compressed picture checked without decoding it, for a picture over the decode budget
(decoding.check_budget), which is never decoded: its chunks walked with their CRCs, its IDAT data
inflated a megabyte at a time and counted against what its header promises, and every row's
filter type read. What a decoder would fail on is found (a few-hundred-KB PNG claiming 900 MP
whose data stops after a kilobyte is cut short, not merely unchecked); the pixels themselves are
not made, so the picture stays not checked when nothing is found. Only the default picture: an
APNG's other frames (fdAT) are not inflated.

zlib inflates; this module only walks the chunks (Pillow's verify() walks them too, but reads
each chunk whole: one IDAT can be the whole picture) and does the arithmetic of the format
(PNG specification, third edition: 11.2.2 IHDR, 7.3 filter types, 8.2 Adam7)."""

from __future__ import annotations

import struct
import zlib
from collections import deque
from collections.abc import Iterator

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples a pixel
# Adam7 passes: first column, first row, column step, row step
ADAM7 = (
    (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
    (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2),
)  # fmt: skip
PIECE = 1 << 20  # bytes read, and bytes inflated, at a time
# inflated bytes past which the check gives up (~11 s of CPU here): deflate makes up to ~1,000
# bytes of one, so a 100 MB file of zeros claiming a vast picture would otherwise take minutes
INFLATE_LIMIT = 4 << 30


def row_runs(width: int, height: int, bits: int, interlaced: bool) -> list[tuple[int, int]]:
    """The inflated picture as runs of (row length with its filter byte, rows): one run, or
    one a non-empty Adam7 pass. Pure."""
    passes = ADAM7 if interlaced else ((0, 0, 1, 1),)
    runs = []
    for x0, y0, dx, dy in passes:
        cols, rows = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if cols > 0 and rows > 0:
            runs.append((1 + -(-cols * bits // 8), rows))
    return runs


class _Rows:
    """Follows the inflated bytes through the row runs: counts them and reads each row's filter
    type (0-4), a piece at a time."""

    def __init__(self, runs: list[tuple[int, int]]) -> None:
        self.runs = runs
        self.run = 0  # the run being filled
        self.at = 0  # bytes of it seen
        self.seen = 0
        self.expected = sum(stride * rows for stride, rows in runs)

    def feed(self, data: bytes) -> str | None:
        """The damage in this piece (a filter type past 4), else None."""
        view = memoryview(data)
        while view and self.run < len(self.runs):
            stride, rows = self.runs[self.run]
            take = min(len(view), stride * rows - self.at)
            first = -self.at % stride  # where the next row starts in this piece
            bad = max(view[first:take:stride].tobytes(), default=0)
            if bad > 4:
                return f"a row has filter type {bad} (PNG defines 0-4)"
            self.at += take
            self.seen += take
            view = view[take:]
            if self.at == stride * rows:
                self.run, self.at = self.run + 1, 0
        return None


def _chunks(fh) -> Iterator[tuple[bytes, int, Iterator[bytes]]]:
    """(type, offset, its data a piece at a time) of each chunk; raises ValueError at a chunk
    cut short or failing its CRC. The data must be consumed before the next chunk is asked
    for."""
    offset = len(SIGNATURE)
    while True:
        head = fh.read(8)
        if not head:
            return
        if len(head) < 8:
            raise ValueError(f"truncated: a chunk header at offset {offset} is cut short")
        length, kind = struct.unpack(">I4s", head)
        crc = zlib.crc32(kind)

        def pieces(length=length, kind=kind, at=offset) -> Iterator[bytes]:
            nonlocal crc
            left = length
            while left:
                piece = fh.read(min(left, PIECE))
                if not piece:
                    raise ValueError(
                        f"truncated: chunk {kind.decode('latin-1')!r} at offset {at} declares "
                        f"{length} bytes, {length - left} are there"
                    )
                crc = zlib.crc32(piece, crc)
                left -= len(piece)
                yield piece
            stored = fh.read(4)
            if len(stored) < 4:
                raise ValueError(f"truncated: chunk {kind.decode('latin-1')!r} lacks its CRC")
            if struct.unpack(">I", stored)[0] != crc:
                raise ValueError(f"chunk {kind.decode('latin-1')!r} at offset {at} fails its CRC")

        yield kind, offset, pieces()
        offset += 12 + length


def png_damage(path: str) -> str | None:
    """What is wrong with the PNG picture at `path`, found without decoding it, in memory
    bounded by PIECE whatever its size; None when its chunks and its compressed picture are
    whole, or when telling would take inflating more than INFLATE_LIMIT bytes (the picture
    stays not checked either way). Inflating stops once the picture's bytes are all there.
    Raises OSError when the file cannot be read."""
    with open(path, "rb") as fh:
        if fh.read(len(SIGNATURE)) != SIGNATURE:
            return "not a PNG: its signature is wrong"
        rows: _Rows | None = None
        inflater = zlib.decompressobj()
        try:
            for kind, _offset, pieces in _chunks(fh):
                if kind == b"IHDR":
                    data = b"".join(pieces)
                    if len(data) != 13:
                        return f"its IHDR chunk is {len(data)} bytes long, not 13"
                    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data)
                    if colour not in CHANNELS:
                        return f"its IHDR chunk has colour type {colour}, which PNG does not define"
                    rows = _Rows(row_runs(width, height, depth * CHANNELS[colour], interlace == 1))
                elif kind == b"IDAT" and rows is not None:
                    for piece in pieces:
                        if rows.seen >= rows.expected:
                            continue  # every byte of the picture is there: only CRCs are left
                        data = inflater.decompress(piece, PIECE)
                        while True:
                            if damage := rows.feed(data):
                                return damage
                            if rows.seen > INFLATE_LIMIT:
                                return None
                            if not inflater.unconsumed_tail or rows.seen >= rows.expected:
                                break
                            data = inflater.decompress(inflater.unconsumed_tail, PIECE)
                else:
                    deque(pieces, maxlen=0)  # read through, for its CRC
                if kind == b"IEND":
                    break
            else:
                return "truncated: the file ends before its IEND chunk"
        except ValueError as exc:
            return str(exc)
        except zlib.error as exc:
            return f"its compressed picture is damaged: zlib: {exc}"
    if rows is None:
        return "no IHDR chunk before its picture data"
    if rows.seen < rows.expected:
        return (
            f"truncated: its compressed picture inflates to {rows.seen:,} of the "
            f"{rows.expected:,} bytes its size needs"
        )
    return None

"""The structure check of an ISO-BMFF file (HEIC, HEIF, AVIF, MOV, MP4, 3GP) made before it is
decoded: its top-level boxes must fit in the file. libheif fills a missing tile silently, so a
HEIC whose `mdat` was cut short still "decodes"; its box sizes say it was cut."""

from __future__ import annotations

import os
import struct


def isobmff_overrun(path: str) -> str | None:
    """A description of the first top-level ISO-BMFF box that runs past the end of the file."""
    size = os.path.getsize(path)
    pos = 0
    with open(path, "rb") as fh:
        while pos < size:
            fh.seek(pos)
            head = fh.read(16)
            if len(head) < 8:
                return f"{size - pos} stray bytes at the end where a box header should be"
            length, kind = struct.unpack(">I4s", head[:8])
            if length == 1:
                if len(head) < 16:
                    return "box header cut short"
                length = struct.unpack(">Q", head[8:16])[0]
            elif length == 0:  # the box runs to the end of the file
                return None
            name = kind.decode("latin-1")
            if length < 8:
                return f"box {name!r} at offset {pos} has an impossible size {length}"
            if pos + length > size:
                return (
                    f"box {name!r} at offset {pos} declares {length} bytes, "
                    f"file ends after {size - pos}"
                )
            pos += length
    return None

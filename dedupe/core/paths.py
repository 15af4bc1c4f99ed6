"""Where a path stands relative to folders: one home for "is this file under that root", which
plan (DEST inside a source, closed folders, symlinked DEST folders), the keeper policy (--prefer)
and the audit (sources, closed folders) each asked."""

from __future__ import annotations

import os
from collections.abc import Iterable


def under_any(path: str, folders: Iterable[str]) -> bool:
    """Whether `path` is one of `folders` or lies below one (`/a/bc` is not under `/a/b`)."""
    path = os.path.normpath(path)
    for folder in folders:
        folder = os.path.normpath(folder)
        if path == folder or path.startswith(folder.rstrip(os.sep) + os.sep):
            return True
    return False

"""Which files exist under the roots. Errors (unreadable folders, symlink loops) are records."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from photoverify.dedupe.core.records import Candidate


@dataclass(frozen=True)
class WalkError:
    path: str
    error: str


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def walk(
    roots: Iterable[str], *, follow_symlinks: bool = False, exclude: frozenset[str] = frozenset()
) -> Iterator[Candidate | WalkError]:
    """Regular files under each root, in sorted order, as Candidates with their stat.

    Symlinks are not followed unless asked; when they are, a folder reached twice (a loop) is
    reported once and not entered again. Paths in `exclude` (the catalog itself) are skipped.
    """
    for root in roots:
        root = os.path.abspath(root)
        try:
            st = os.stat(root)
        except OSError as exc:
            yield WalkError(root, f"cannot read root: {_reason(exc)}")
            continue
        if not stat.S_ISDIR(st.st_mode):
            if stat.S_ISREG(st.st_mode):
                yield Candidate(
                    root, os.path.dirname(root), st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev
                )
            continue
        seen_dirs = {(st.st_dev, st.st_ino)}
        stack = [root]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: os.fsencode(e.name))
            except OSError as exc:
                yield WalkError(folder, f"unreadable folder: {_reason(exc)}")
                continue
            subdirs = []
            for entry in entries:
                if entry.path in exclude:
                    continue
                try:
                    is_link = entry.is_symlink()
                    if is_link and not follow_symlinks:
                        continue
                    est = entry.stat(follow_symlinks=follow_symlinks)
                except OSError as exc:
                    if isinstance(exc, FileNotFoundError) and not entry.is_symlink():
                        continue  # vanished between listing and stat
                    yield WalkError(entry.path, f"cannot stat: {_reason(exc)}")
                    continue
                if stat.S_ISDIR(est.st_mode):
                    key = (est.st_dev, est.st_ino)
                    if key in seen_dirs:
                        yield WalkError(entry.path, "symlink loop: folder already visited")
                        continue
                    seen_dirs.add(key)
                    subdirs.append(entry.path)
                elif stat.S_ISREG(est.st_mode):
                    yield Candidate(
                        entry.path, root, est.st_size, est.st_mtime_ns, est.st_ino, est.st_dev
                    )
            stack.extend(reversed(subdirs))

"""apply --mode move: one file at a time, each copy durable and re-read from the disk before its
source is removed, and the source read again first: a source that differs from its copy stays.
"""

from __future__ import annotations

import os

from photoverify.dedupe.core.hashing import hash_file
from photoverify.dedupe.core.outfile import fsync_dir, unlink_quiet
from photoverify.dedupe.move.fileops import copy_mode_and_times, no_space, place, stream_copy
from photoverify.dedupe.move.metawrite import MergeStep
from photoverify.dedupe.move.plan import PlanEntry
from photoverify.dedupe.move.results import Tally


class Mover:
    def __init__(self, tally: Tally) -> None:
        self.tally, self.journal = tally, tally.journal
        self.merges: MergeStep | None = None  # writes a move's merge before its source goes

    def move_one(self, i: int, e: PlanEntry, target: str, tmp: str) -> None:
        tally = self.tally
        try:
            self.journal.makedirs(os.path.dirname(target))
            unlink_quiet(tmp)
            self.journal.write(
                "intent",
                i=i,
                source=e.source,
                target=target,
                tmp=tmp,
                blake3=e.blake3,
                size=e.size,
                mode=tally.mode,
            )
            digest = self.copy_and_reread(e, tmp)
        except OSError as exc:
            unlink_quiet(tmp)
            if tally.write_failed(i, e, target, exc):
                raise no_space(target, e.source) from None
            return
        if digest != e.blake3:
            unlink_quiet(tmp)
            tally.mismatch(i, e, digest)
            return
        self.journal.write("written", i=i, sync=False)
        try:
            # the source is unlinked next: the new name must be durable first
            place(tmp, target, linked=self.journal.step)
            tally.dirty_dirs.add(os.path.dirname(target))
            self.journal.step()
        except FileExistsError:
            unlink_quiet(tmp)
            tally.occupied(i, e, target)
            return
        self.journal.write("placed", i=i, target=target, created=True, fate="moved", sync=False)
        tally.outcome[i] = "moved"
        self.finish_move(i, e, target)

    def copy_and_reread(self, e: PlanEntry, tmp: str) -> str:
        st = os.stat(e.source)
        digest = stream_copy(e.source, tmp, self.tally.buffer())
        self.tally.bytes_written += e.size
        copy_mode_and_times(tmp, st)
        # the source will be deleted: read the copy back from the disk rather than trust the
        # write path (the page cache is dropped first)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        if hash_file(tmp)["blake3"] != digest:
            return "copy-mismatch"
        return digest

    def finish_move(self, i: int, e: PlanEntry, target: str) -> None:
        """Remove the source of a placed copy, once both are read again and agree."""
        tally = self.tally
        merged = self.merges.before_unlink(i, e, tally.outcome.get(i)) if self.merges else None
        self.journal.write("unlink", i=i, source=e.source)
        try:
            s, t = os.stat(e.source), os.stat(target)
        except FileNotFoundError:
            if os.path.exists(target):  # the source went in an earlier, killed run
                self.journal.write("moved", i=i, source=e.source)
            return
        if hash_file(target)["blake3"] not in (e.blake3, merged):
            why = f"{target} no longer has the planned BLAKE3; source kept"
            tally.fail(i, e, "target-changed", why)
            return
        # The source is read again: a size and mtime kept by an in-place edit (or bit rot) say
        # nothing about its bytes, and removing a source that differs from its copy loses data.
        try:
            differs = not os.path.samestat(s, t) and hash_file(e.source)["blake3"] != e.blake3
        except OSError as exc:
            why = f"cannot read source again: {exc}; source kept"
            tally.fail(i, e, "source-unreadable", why)
            return
        if (
            s.st_size != e.size
            or (s.st_mtime_ns != t.st_mtime_ns and tally.outcome[i] == "moved")
            or differs
        ):
            why = "source changed after it was copied; source kept"
            tally.fail(i, e, "source-changed", why)
            return
        os.unlink(e.source)
        fsync_dir(os.path.dirname(e.source))
        self.journal.write("moved", i=i, source=e.source)

"""apply's metadata step: write each planned merge into the copy in DEST, journaled.

Sources are never written. A DEST copy apply created is copied to a tmp beside it, exiftool
writes the merged fields into the tmp (`-json=` import, so each value goes in as exiftool reads
it back), the tmp's decoded picture must hash the same as the copy's, the tmp is made durable
and renamed over the copy. A format exiftool does not rewrite safely (`metamerge.WRITABLE`)
keeps its bytes and gets an XMP sidecar `NAME.EXT.xmp` beside it instead (never over a file).

Journal records (docs/plan-format.md): `merge` {i, target, tmp} (synced) before the tmp is
made, `merge-ready` {i, blake3, size, sidecar_blake3} (synced) once it is durable and checked,
`merged` {i, ...} after the rename. A resume removes a `merge` tmp and redoes the entry unless
the target (or sidecar) already holds the `merge-ready` bytes; undo removes the merged copy (its
BLAKE3 is the `merge-ready` one) and the sidecar as it removes any target apply created.

Move: the merge of a moved entry is written when its copy is placed and verified, before its
source is removed (`before_unlink`). The copy then no longer holds the source's bytes, so the
span exiftool replaced is kept beside the journal (`PLAN.journal.premerge-I`, named in
`merge-ready`), and undo rebuilds the source from the merged copy and that span.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
from typing import Any

from photoverify.dedupe.core.findings import Finding
from photoverify.dedupe.core.hashing import hash_file, new_hasher
from photoverify.dedupe.core.outfile import fsync_dir, fsync_file, unlink_quiet
from photoverify.dedupe.move.metamerge import VIDEO, WRITABLE
from photoverify.dedupe.move.plan import Plan, PlanEntry

MERGE_TMP = ".photoverify-merge"  # in a tmp's name; a sidecar's tmp ends in .xmp too
# fates of a target this apply wrote as its own file: only those are rewritten. A hardlink is
# the source's own inode, a moved source is put back from the copy by undo, and a target that
# was already present is not ours.
WRITTEN_FATES = ("copied", "reflinked", "moved")
# why a target of another fate is left unwritten, in one plain line
NOT_OURS = {
    "hardlinked": "the target is a hardlink of the source (one file), so writing it would "
    "change the source",
    "already-present": "the target was in DEST before this apply, not a copy apply made",
}


def tmp_for(path: str, sidecar: bool) -> str:
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}{MERGE_TMP}" + (".xmp" if sidecar else ""))


# ---- what exiftool is told (pure) -------------------------------------------------------------


def _exif_time(iso: str) -> tuple[str, str | None, str | None]:
    """ISO 8601 -> (EXIF 'YYYY:MM:DD HH:MM:SS', sub-seconds digits, offset '+HH:MM')."""
    main, offset = iso[:19], iso[19:]
    subsec = None
    if offset.startswith("."):
        digits = offset[1:].split("+")[0].split("-")[0].split("Z")[0]
        subsec, offset = digits, offset[1 + len(digits) :]
    if offset == "Z":
        offset = "+00:00"
    return main.replace("-", ":", 2).replace("T", " "), subsec, offset or None


def exiftool_tags(fields: list[dict[str, Any]], fmt: str | None, sidecar: bool) -> dict[str, Any]:
    """The `-json=` object (values as with `-n`) that writes `fields` into a file of format
    `fmt`, or into an XMP sidecar. Pure."""
    tags: dict[str, Any] = {"SourceFile": "*"}
    video = (fmt or "").upper() in VIDEO and not sidecar
    for f in fields:
        name, value = f["field"], f["value"]
        if name == "captured_at":
            when, subsec, offset = _exif_time(value)
            if sidecar or video:
                full = when + (f".{subsec}" if subsec else "") + (offset or "")
                tags["Keys:CreationDate" if video else "XMP-exif:DateTimeOriginal"] = full
            else:
                tags["EXIF:DateTimeOriginal"] = when
                if subsec:
                    tags["EXIF:SubSecTimeOriginal"] = subsec
                if offset:
                    tags["EXIF:OffsetTimeOriginal"] = offset
        elif name == "gps":
            lat, lon = value["lat"], value["lon"]
            if video:
                tags["Keys:GPSCoordinates"] = f"{lat} {lon}"
            elif sidecar:
                tags["XMP-exif:GPSLatitude"], tags["XMP-exif:GPSLongitude"] = lat, lon
            else:
                tags["EXIF:GPSLatitude"], tags["EXIF:GPSLongitude"] = abs(lat), abs(lon)
                tags["EXIF:GPSLatitudeRef"] = "N" if lat >= 0 else "S"
                tags["EXIF:GPSLongitudeRef"] = "E" if lon >= 0 else "W"
        elif name == "title":
            tags["XMP-dc:Title"] = value
        elif name == "description":
            tags["XMP-dc:Description"] = value
        elif name == "keywords":
            tags["XMP-dc:Subject"] = list(value)
        elif name == "rating":
            tags["XMP-xmp:Rating"] = value
        elif name == "regions":
            tags["XMP-mwg-rs:RegionInfo"] = value
    return tags


# ---- disk, exiftool, decoders -----------------------------------------------------------------


def picture_hash(path: str, fmt: str | None) -> str:
    """BLAKE3 of the decoded picture (mode, size, pixels of every frame), or SHA-256 of a
    video's decoded frames (FFmpeg's hash muxer). Raises ValueError when it does not decode."""
    if (fmt or "").upper() in VIDEO:
        proc = subprocess.run(
            ["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-map", "0:v:0", "-f", "hash",
             "-hash", "sha256", "-"], capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode or not proc.stdout.startswith("SHA256="):
            raise ValueError(f"FFmpeg cannot decode it: {proc.stderr.strip()[:200]}")
        return proc.stdout.strip().removeprefix("SHA256=")
    from PIL import Image

    import photoverify.dedupe.catalog.decoding  # noqa: F401 - registers every decoder with Pillow

    digest = new_hasher("blake3")
    try:
        with Image.open(path) as im:
            for n in range(getattr(im, "n_frames", 1)):
                im.seek(n)
                im.load()
                digest.update(f"{im.mode} {im.size}\n".encode())
                digest.update(im.tobytes())
    except Exception as exc:  # any decoder failure is a reason not to rewrite the file
        raise ValueError(f"does not decode: {type(exc).__name__}: {exc}") from None
    return digest.hexdigest()


class Writer:
    """One exiftool kept open (`-stay_open`) for a run's writes: starting perl per file would
    cost more than the write. Each write's tags go in through a `-json=` file."""

    def __init__(self) -> None:
        self.tool: Any = None

    def write(self, tags: dict[str, Any], args: list[str]) -> str | None:
        """exiftool's error text, or None when it wrote the file."""
        from exiftool import ExifTool

        if self.tool is None:
            self.tool = ExifTool(common_args=["-n"])
            self.tool.run()
        with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8") as fh:
            json.dump([tags], fh, ensure_ascii=False)
            fh.flush()
            out = self.tool.execute(f"-json={fh.name}", *args)
        err = (self.tool.last_stderr or "").strip()
        said = out + err
        if "Error" in said or not re.search(r"\b1 image files (updated|created)", said):
            return (err or out.strip() or "exiftool wrote nothing").splitlines()[0]
        return None

    def close(self) -> None:
        if self.tool is not None:
            self.tool.terminate()
            self.tool = None


def _unlink_tmps(tmp: str | None) -> None:
    """A merge tmp, and the file exiftool writes beside it while it rewrites it."""
    if isinstance(tmp, str):
        unlink_quiet(tmp)
        unlink_quiet(tmp + "_exiftool_tmp")


# ---- a moved source's bytes, kept for undo -----------------------------------------------------

CHUNK = 1 << 16  # compared a chunk at a time, then byte by byte within the chunk that differs


def _common_prefix(a: Any, b: Any) -> int:
    n, limit = 0, min(len(a), len(b))
    while n + CHUNK <= limit and a[n : n + CHUNK] == b[n : n + CHUNK]:
        n += CHUNK
    while n < limit and a[n] == b[n]:
        n += 1
    return n


def _common_suffix(a: Any, b: Any, limit: int) -> int:
    la, lb, n = len(a), len(b), 0
    while n + CHUNK <= limit and a[la - n - CHUNK : la - n] == b[lb - n - CHUNK : lb - n]:
        n += CHUNK
    while n < limit and a[la - n - 1] == b[lb - n - 1]:
        n += 1
    return n


def original_delta(original: str, merged: str) -> tuple[int, int, bytes]:
    """(prefix, suffix, middle): the original is merged[:prefix] + middle + merged's last
    `suffix` bytes. exiftool rewrites a file's metadata and keeps its picture data, so the
    middle is the old metadata: kilobytes, not the file."""
    import mmap

    with open(original, "rb") as fa, open(merged, "rb") as fb:
        if not os.fstat(fa.fileno()).st_size or not os.fstat(fb.fileno()).st_size:
            return 0, 0, fa.read()
        with mmap.mmap(fa.fileno(), 0, access=mmap.ACCESS_READ) as a, \
                mmap.mmap(fb.fileno(), 0, access=mmap.ACCESS_READ) as b:  # fmt: skip
            prefix = _common_prefix(a, b)
            suffix = _common_suffix(a, b, min(len(a), len(b)) - prefix)
            return prefix, suffix, bytes(a[prefix : len(a) - suffix])


def keep_original(target: str, tmp: str, path: str) -> dict[str, Any]:
    """Write (durably) what undo needs to rebuild the moved source from its merged copy; the
    `merge-ready` record's fields that name it."""
    prefix, suffix, middle = original_delta(target, tmp)
    with open(path, "wb") as fh:
        fh.write(middle)
        fh.flush()
        os.fsync(fh.fileno())
    fsync_dir(os.path.dirname(os.path.abspath(path)))
    return {"premerge": path, "prefix": prefix, "suffix": suffix}


def rebuild_original(ready: dict[str, Any], merged: str, out: str) -> str | None:
    """Write the moved source's bytes to `out` from its merged copy and the `merge-ready`
    record's premerge file; their BLAKE3, or None when the premerge file is gone."""
    try:
        with open(ready["premerge"], "rb") as fh:
            middle = fh.read()
    except (OSError, KeyError, TypeError):
        return None
    digest = new_hasher("blake3")
    with open(merged, "rb") as src, open(out, "wb") as dst:
        size = os.fstat(src.fileno()).st_size
        head = src.read(ready["prefix"])
        src.seek(size - ready["suffix"])
        tail = src.read(ready["suffix"])
        for part in (head, middle, tail):
            dst.write(part)
            digest.update(part)
        dst.flush()
        os.fsync(dst.fileno())
    return digest.hexdigest()


def premerges(history: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Entry index -> the `merge-ready` record of a moved entry whose source undo rebuilds."""
    return {
        i: s["merge-ready"]
        for i, s in merge_states(history).items()
        if s.get("merge-ready", {}).get("premerge")
    }


def forget_original(ready: dict[str, Any] | None) -> None:
    """The premerge file, once its source is back."""
    if ready:
        unlink_quiet(ready.get("premerge"))


# ---- the journaled step -----------------------------------------------------------------------


def merge_states(history: list[dict[str, Any]]) -> dict[int, dict[str, dict[str, Any]]]:
    """Entry index -> its latest `merge`, `merge-ready` and `merged` records (reset by undo)."""
    states: dict[int, dict[str, dict[str, Any]]] = {}
    for rec in history:
        op, i = rec.get("op"), rec.get("i")
        if not isinstance(i, int):
            continue
        if op == "undone":
            states.pop(i, None)
        elif op in ("merge", "merge-ready", "merged"):
            states.setdefault(i, {})[op] = rec
    return states


def _has(path: str, digest: str | None) -> bool:
    try:
        return bool(digest) and os.path.isfile(path) and hash_file(path)["blake3"] == digest
    except OSError:
        return False


class MergeStep:
    """Writes the plan's merges after every file is placed, one entry at a time."""

    def __init__(self, plan: Plan, dest: str, journal: Any, history: list[dict[str, Any]]):
        self.plan, self.dest, self.journal = plan, dest, journal
        self.states = merge_states(history)
        self.done: dict[int, dict[str, Any]] = {}  # i -> the ledger's `merge` object
        self.findings: list[Finding] = []
        self.writer = Writer()
        self.tried: set[int] = set()  # moves whose merge was written before the unlink

    def premerge_path(self, i: int) -> str:
        return f"{self.journal.path}.premerge-{i}"

    def counts(self) -> dict[str, int] | None:
        """apply's JSON `merge`: copies rewritten, XMP sidecars written, fields they received,
        conflicts left out, entries the plan refused, skipped (not a copy of ours) or failed;
        None when the plan has no merge."""
        planned = [e.merge for e in self.plan.entries if e.merge]
        if not planned:
            return None
        done = self.done.values()
        outcomes = [f.outcome for f in self.findings]
        return {
            "written": sum(1 for d in done if not d["sidecar"]),
            "sidecars": sum(1 for d in done if d["sidecar"]),
            "fields": sum(len(d["fields"]) for d in done),
            "conflicts": sum(len(m.get("conflicts") or ()) for m in planned),
            "refused": sum(1 for m in planned if m.get("refused") and m.get("fields")),
            "skipped": outcomes.count("merge-skipped"),
            "failed": outcomes.count("merge-failed"),
        }

    def abs(self, rel: str) -> str:
        return os.path.join(self.dest, *rel.split("/"))

    def skip(self, e: PlanEntry, outcome: str, message: str) -> None:
        self.findings.append(Finding(e.source, "apply", "warning", outcome, message, {}))

    def run(self, outcome: dict[int, str]) -> None:
        try:
            self._run(outcome)
        finally:
            self.writer.close()

    def _run(self, outcome: dict[int, str]) -> None:
        for i, e in enumerate(self.plan.entries):
            merge = e.merge or {}
            if not merge.get("fields") or merge.get("refused") or i not in outcome:
                continue
            fate = outcome[i]
            if i in self.tried:
                continue  # a move's merge, written before its source went (before_unlink)
            if fate not in WRITTEN_FATES:
                if not fate.startswith("failed"):
                    why = NOT_OURS.get(fate, f"the target is {fate}, not a copy apply made")
                    self.skip(e, "merge-skipped", f"{e.target}: metadata merge not written: {why}")
                continue
            self.entry(i, e, merge.get("format"), moved=fate == "moved")

    def before_unlink(self, i: int, e: PlanEntry, fate: str | None) -> str | None:
        """A move's merge, written into the verified copy before its source is removed; the
        BLAKE3 the copy then has, or None when it was not merged."""
        merge = e.merge or {}
        if fate != "moved" or not merge.get("fields") or merge.get("refused"):
            return None
        if i not in self.tried:
            self.tried.add(i)
            self.entry(i, e, merge.get("format"), moved=True)
        done = self.done.get(i)
        return done["blake3"] if done else None

    def entry(self, i: int, e: PlanEntry, fmt: str | None, moved: bool = False) -> None:
        merge = e.merge or {}
        target = self.abs(e.target or "")
        sidecar = self.abs(merge["sidecar"]) if merge.get("write") == "sidecar" else None
        st = self.states.get(i, {})
        ready = st.get("merge-ready")
        if ready and (_has(sidecar, ready.get("sidecar_blake3")) if sidecar
                      else _has(target, ready["blake3"])):  # fmt: skip
            self.record(i, e, ready, sidecar, announce="merged" not in st)
            return
        if "merge" in st:
            _unlink_tmps(st["merge"].get("tmp"))  # left by a killed run
        if not _has(target, e.blake3):
            self.skip(e, "merge-skipped", f"{target}: changed since it was copied; not merged")
            return
        tmp = tmp_for(sidecar or target, sidecar is not None)
        unlink_quiet(tmp)
        premerge = self.premerge_path(i) if moved and not sidecar else None
        self.journal.write("merge", i=i, target=target, tmp=tmp, sidecar=sidecar, premerge=premerge)
        try:
            ready_fields = self.write_sidecar(e, sidecar, tmp) if sidecar else \
                self.write_file(e, target, tmp, fmt)  # fmt: skip
            if moved and isinstance(ready_fields, dict) and not sidecar:
                # the source goes next: undo rebuilds it from the merged copy and these bytes
                ready_fields.update(keep_original(target, tmp, premerge))
        except OSError as exc:
            ready_fields = f"cannot write: {exc.strerror or exc}"
        if isinstance(ready_fields, str):
            unlink_quiet(tmp)
            self.skip(e, "merge-failed", f"{target}: {ready_fields}; the copy is left as it was")
            return
        self.journal.write("merge-ready", i=i, **ready_fields)
        self.journal.step()
        if sidecar:
            try:
                os.link(tmp, sidecar)  # fails instead of replacing a file that is there
            except FileExistsError:
                unlink_quiet(tmp)
                self.skip(e, "merge-failed", f"{sidecar}: exists; the XMP sidecar is not written")
                return
            os.unlink(tmp)
        else:
            os.replace(tmp, target)  # our own copy, verified above, is replaced
        fsync_dir(os.path.dirname(target))
        self.record(i, e, {"i": i, **ready_fields}, sidecar, announce=True)

    def write_file(self, e: PlanEntry, target: str, tmp: str, fmt: str | None):
        try:
            before = picture_hash(target, fmt)
        except ValueError as exc:
            return f"the copy {exc}"
        shutil.copyfile(target, tmp)
        tags = exiftool_tags(e.merge["fields"], fmt, False)
        error = self.writer.write(tags, ["-overwrite_original", tmp])
        if error:
            return f"exiftool: {error}"
        try:
            after = picture_hash(tmp, fmt)
        except ValueError as exc:
            return f"the merged copy {exc}"
        if after != before:
            return f"the merged copy's picture differs (decode hash {after[:16]} != {before[:16]})"
        t = os.stat(target)
        os.chmod(tmp, stat.S_IMODE(t.st_mode))
        os.utime(tmp, ns=(t.st_atime_ns, t.st_mtime_ns))
        fsync_file(tmp)
        return {"blake3": hash_file(tmp)["blake3"], "size": os.path.getsize(tmp),
                "picture": before, "sidecar_blake3": None}  # fmt: skip

    def write_sidecar(self, e: PlanEntry, sidecar: str, tmp: str):
        if os.path.lexists(sidecar):
            return f"{sidecar} exists"
        error = self.writer.write(exiftool_tags(e.merge["fields"], None, True), ["-o", tmp])
        if error:
            return f"exiftool: {error}"
        fsync_file(tmp)
        return {"blake3": e.blake3, "size": e.size, "picture": None,
                "sidecar_blake3": hash_file(tmp)["blake3"]}  # fmt: skip

    def record(self, i: int, e: PlanEntry, ready: dict, sidecar: str | None, announce: bool):
        info = {
            "fields": e.merge["fields"],
            "conflicts": len(e.merge.get("conflicts") or ()),
            "source_blake3": e.blake3,
            "blake3": ready["blake3"],
            "size": ready["size"],
            "sidecar": e.merge.get("sidecar") if sidecar else None,
            "sidecar_blake3": ready.get("sidecar_blake3"),
        }
        if announce:
            self.journal.write("merged", sync=False, i=i, blake3=info["blake3"],
                               size=info["size"], sidecar=sidecar)  # fmt: skip
        self.done[i] = info


def merged_blake3(history: list[dict[str, Any]]) -> dict[int, str]:
    """Entry index -> the BLAKE3 its target has once merged, for undo (a `merge-ready` whose
    rename a kill prevented leaves the planned bytes, which undo knows already)."""
    return {
        i: s["merge-ready"]["blake3"]
        for i, s in merge_states(history).items()
        if "merge-ready" in s and s["merge-ready"].get("blake3")
    }


def undo_merges(history: list[dict[str, Any]]) -> int:
    """Remove merge tmps and the XMP sidecars the merge wrote (if unchanged); how many removed."""
    removed = 0
    for s in merge_states(history).values():
        rec = s.get("merge") or {}
        _unlink_tmps(rec.get("tmp"))
        side, ready = rec.get("sidecar"), s.get("merge-ready") or {}
        if rec.get("premerge") and not ready.get("premerge"):
            unlink_quiet(rec["premerge"])  # a kill came before its merge-ready: unused
        if side and _has(side, ready.get("sidecar_blake3")):
            os.unlink(side)
            removed += 1
    return removed


def is_writable(fmt: str | None) -> bool:
    return (fmt or "").upper() in WRITABLE


__all__ = [
    "MergeStep",
    "forget_original",
    "original_delta",
    "premerges",
    "rebuild_original",
    "exiftool_tags",
    "merge_states",
    "merged_blake3",
    "picture_hash",
    "tmp_for",
    "undo_merges",
]

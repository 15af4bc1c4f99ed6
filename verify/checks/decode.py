"""Decode checks: every image decodes fully, every video plays through.

What "decodes" means, per kind:

* JPEG, PNG, APNG, MPO, TIFF, WebP, GIF, BMP, AVIF: Pillow's full ``load()`` with
  ``LOAD_TRUNCATED_IMAGES`` off (a truncated file raises), every frame of a multi-frame file;
  PNG and APNG are first ``verify()``-ed, which checks every chunk's CRC. A TIFF Pillow does
  not decode (a compression its wheels lack, samples it has no mode for, over the budget) is
  decoded by tifffile with imagecodecs, every page a strip or tile at a time (tiffsegments).
* HEIC/HEIF: libheif silently fills missing tiles, so a truncated HEIC "decodes". Two structural
  checks come first: the top-level ISO-BMFF boxes must fit in the file (a truncated ``mdat`` does
  not), and exiftool's warning from the scan ("Truncated 'mdat' data") must be absent. Then a full
  decode of the primary image. A HEIF image sequence (HEICS/HEIFS): every image item through
  libheif, then every packet of every stream through FFmpeg, as a video's.
* MOV/MP4 (and other videos): the same box check for ISO-BMFF containers, then PyAV demuxes and
  decodes EVERY packet of every video and audio stream, flushing the decoders; any decoder error
  fails, and so does a stream that yields fewer packets than its index promises.

Every picture and frame is decoded within a budget of `MAX_DECODE_PIXELS` (120 MP, a few
hundred MB decoded): a bigger one is never decoded (a 658 KB PNG can claim 13000x13000 RGBA),
and is ``unsupported-format`` "WxH = N MP is over the decode budget of 120 MP: not decoded":
not checked, neither broken nor fine (a PNG's chunk checksums are still checked, and a JPEG is
decoded at the DCT scale that brings it within the budget). A RAW file's sensor data over it
is not unpacked; its embedded preview is still decoded. A picture
that decodes to 128 MiB or more waits for the machine's one big-decode slot (an flock in the
user cache folder, shared with scan's workers), so workers never hold two of them at once.

JPEG XL decodes through pillow-jxl-plugin (libjxl). RAW/DNG: LibRaw (rawpy) unpacks the whole
sensor data and the embedded preview exiftool extracts decodes fully; a RAW file with neither
(no preview, LibRaw does not read it), and any format with no decoder here, is an
``unsupported-format`` finding (warning: not checked, so never shown as fine).

Results are cached by content: (BLAKE3, `DECODER_VERSION`) -> outcome, in a SQLite file beside the
catalog (decode_cache). Identical bytes decode identically, so a second run over unchanged files,
or over a copy of them, decodes nothing. A new Pillow/libheif/FFmpeg changes the version string
and so invalidates the cache.
"""

from __future__ import annotations

import importlib.metadata
import io
import math
import os
import time
import warnings
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import av
import PIL
import pillow_heif
from PIL import Image, ImageFile

from photoverify.dedupe.catalog.decoding import (
    NO_HEIF_IMAGE,
    draft_within_budget,
    heif_over_budget,
    no_decoder_reason,
    open_picture,
    over_budget,
)
from photoverify.dedupe.catalog.executors import default_workers, local_executor
from photoverify.dedupe.catalog.fingerprint import (
    BIG_DECODE_BYTES,
    TRUNCATION_WARNINGS,
    big_decode_slot,
    check_budget,
    decode_slot,
    decoded_bytes,
    decoder_messages,
    describe,
    one_thread,
    open_heif,
    raw_preview,
    with_messages,
)
from photoverify.dedupe.catalog.sniff import (
    AVC_HEIF_IMAGES,
    HEIF_IMAGES,
    HEIF_SEQUENCES,
    PILLOW_IMAGES,
    RAW_FORMATS,
)
from photoverify.dedupe.core.findings import Finding
from photoverify.dedupe.core.records import FileRecord
from photoverify.verify.checks.isobmff import isobmff_overrun

if TYPE_CHECKING:
    from photoverify.verify.checks.decode_cache import DecodeCache


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


DECODER_VERSION = (
    f"photoverify-decode/5 pillow/{PIL.__version__} pillow-heif/{pillow_heif.__version__} "
    f"libheif/{pillow_heif.libheif_version()} pillow-jxl/{_version('pillow-jxl-plugin')} "
    f"av/{av.__version__} rawpy/{_version('rawpy')} tifffile/{_version('tifffile')} "
    f"imagecodecs/{_version('imagecodecs')} "
    f"ffmpeg/{getattr(av, 'ffmpeg_version_info', '?')}"
)
OUTCOMES = ("decoded", "truncated", "decode-failed", "decode-skipped", "unsupported-format")
SEVERITY = {
    "decoded": "info",
    "truncated": "error",
    "decode-failed": "error",
    "decode-skipped": "info",
    # nothing here can decode it: not checked, so never shown as fine
    "unsupported-format": "warning",
}
ISOBMFF = frozenset({"HEIC", "HEIF", "HEICS", "HEIFS", "AVIF", "MOV", "MP4", "3GP"})
BATCH_FILES = 16
MAX_FRAMES = 10_000  # frames of one animated image decoded; a bound against pathological files

Progress = Callable[[int, int, int, int], None]  # files done, to decode; bytes done, to decode


# ---------------------------------------------------------------------------- per file (workers)


@dataclass(frozen=True)
class DecodeJob:
    path: str
    kind: str
    format: str | None
    warning: str | None  # exiftool's warning from the scan
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class DecodeOutcome:
    outcome: str  # one of OUTCOMES
    error: str | None = None
    detail: dict = field(default_factory=dict)  # frames and packets seen, for the evidence
    cacheable: bool = True  # False when the file changed or vanished while it was read
    no_decoder: bool = False  # the format has no decoder here; nothing was read


def _decode_pillow(path: str, fmt: str | None) -> DecodeOutcome:
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a process-wide switch; another module may flip it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        if fmt in ("PNG", "APNG"):
            with open_picture(path, fmt) as im:
                im.verify()  # chunk CRCs, whatever its size; load() alone does not look at them
        with open_picture(path, fmt) as im, ExitStack() as slot:
            frames, held = getattr(im, "n_frames", 1), False
            detail: dict = {}

            def load() -> None:
                nonlocal held
                if (k := draft_within_budget(im)) > 1:
                    detail["scale"] = f"1/{k}"  # a JPEG over the budget, every scan still read
                check_budget(im.size, path if im.format == "PNG" else None)
                if not held and decoded_bytes(im.size, im.mode) >= BIG_DECODE_BYTES:
                    slot.enter_context(decode_slot())  # held to the last frame
                    held = True
                im.load()

            size = im.size  # as the file has it (a JPEG over the budget loads smaller)
            load()  # the picture as opened: a PSD's merged picture, a GIF's first frame
            # then every frame, numbered as the format numbers them (a PSD's layers from 1);
            # a one-picture file is not sought at all (SPIDER refuses any seek)
            first = getattr(im, "_min_frame", 0)
            for i in range(first, first + min(frames, MAX_FRAMES)) if frames > 1 else ():
                im.seek(i)
                load()
    detail.update(frames=min(frames, MAX_FRAMES), size=size)
    return DecodeOutcome("decoded", detail=detail)


def _rawpy():
    """rawpy (LibRaw), or None where it is not installed: RAW files are then checked through
    their embedded preview only."""
    try:
        import rawpy
    except ImportError:
        return None
    return rawpy


def _decode_raw(path: str, fmt: str) -> DecodeOutcome:
    """A RAW/DNG file: LibRaw (rawpy) unpacks every sensor sample, and the embedded preview
    (exiftool extracts it) decodes fully. Neither possible: unsupported-format, not fine."""
    detail: dict = {}
    rawpy = _rawpy()
    if rawpy is not None:
        try:
            with rawpy.imread(path) as raw:
                sizes = raw.sizes
                if over := over_budget((sizes.raw_width, sizes.raw_height)):
                    detail["raw"] = f"sensor data {over}: not unpacked"  # the preview still is
                else:
                    _ = raw.raw_image_visible  # unpacks (decompresses) the whole sensor data
                    detail["raw"] = [sizes.width, sizes.height]
        except rawpy.LibRawFileUnsupportedError:
            detail["raw"] = "LibRaw does not read this file"
        except (rawpy.LibRawIOError, rawpy.LibRawDataError) as exc:
            return DecodeOutcome("truncated", f"sensor data: {describe(exc)}", detail)
    preview, cut = raw_preview(path)
    if cut:
        return DecodeOutcome("truncated", f"exiftool: {cut}", detail)
    if preview is not None:
        name, data = preview
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(data)) as im:
                    check_budget(im.size)
                    im.load()
                    detail[name] = list(im.size)
        except Exception as exc:  # noqa: BLE001 - a broken preview is a finding about the file
            return DecodeOutcome("decode-failed", f"{name}: {describe(exc)}", detail)
    if not isinstance(detail.get("raw"), list) and preview is None:
        why = "no embedded preview, " + (detail["raw"] if rawpy else "rawpy is not installed")
        return DecodeOutcome("unsupported-format", f"no decoder for {fmt}: {why}", detail,
                             no_decoder=True)  # fmt: skip
    return DecodeOutcome("decoded", detail=detail)


def _decode_avci(path: str) -> DecodeOutcome:
    from photoverify.dedupe.catalog.avcheif import HeifError, decode_primary

    try:
        im = decode_primary(path)
    except HeifError as exc:
        cut = "past the end of the file" in str(exc) or "runs past" in str(exc)
        return DecodeOutcome("truncated" if cut else "decode-failed", f"AVC-in-HEIF: {exc}")
    return DecodeOutcome("decoded", detail={"frames": 1, "size": list(im.size)})


def _decode_heif(path: str) -> DecodeOutcome:
    heif = open_heif(path)
    primary = heif[heif.primary_index]
    if over := _decode_heif_items([primary]):
        return over
    return DecodeOutcome("decoded", detail={"frames": 1, "size": list(primary.size)})


def _decode_heif_items(items) -> DecodeOutcome | None:
    """Decode each libheif image fully (every tile); the not-checked outcome of the first one
    over the budget (libheif decodes whole or not at all), else None."""
    for item in items:
        if over := heif_over_budget(item.size):
            return DecodeOutcome("unsupported-format", over, no_decoder=True)
        with big_decode_slot(item.size, item.mode):
            _ = item.data
    return None


def _decode_heif_sequence(path: str) -> DecodeOutcome:
    """A HEIF image sequence: every image item through libheif (a burst's pictures), then every
    packet of every stream through FFmpeg (the track, and the items as FFmpeg sees them)."""
    try:
        heif = open_heif(path)
    except ValueError as exc:
        if not str(exc).startswith(NO_HEIF_IMAGE):
            raise
        items = 0  # a track only
    else:
        if over := _decode_heif_items(heif):
            return over
        items = len(heif)
    played = play_video(path)
    if played.outcome != "decoded":
        return played
    return replace(played, detail={**played.detail, "items": items})


def _decode_tiff_segments(path: str, no_decoder: str) -> DecodeOutcome:
    """A TIFF Pillow does not decode (`no_decoder` says why): tifffile decodes every page a
    strip or tile at a time (tiffsegments); not checked when even that cannot."""
    from photoverify.dedupe.catalog.tiffsegments import NotDecoded, decode_in_segments

    try:
        got = decode_in_segments(path)
    except NotDecoded as why:
        return DecodeOutcome("unsupported-format", f"{no_decoder}; {why}", no_decoder=True)
    except Exception as exc:  # noqa: BLE001 - a decoder failure is a finding about the file
        return DecodeOutcome("decode-failed", f"tifffile: {describe(exc)}")
    detail = {"frames": got.decoded, "size": list(got.size), "decoder": "tifffile"}
    return DecodeOutcome("decoded", detail=detail)


def play_video(path: str) -> DecodeOutcome:
    """Demux and decode every packet of every video and audio stream, then flush the decoders."""
    with av.open(path) as container:
        streams = [s for s in container.streams if s.type in ("video", "audio")]
        if not any(s.type == "video" for s in streams):
            return DecodeOutcome("decode-failed", "no video stream")
        for s in streams:  # the pool decodes files side by side (see decoding.one_thread)
            one_thread(s.codec_context)
        promised = {s.index: s.frames for s in streams}
        packets = dict.fromkeys(promised, 0)
        frames = dict.fromkeys(promised, 0)
        for packet in container.demux(streams):
            if packet.size:
                packets[packet.stream.index] += 1
            # An empty packet at the end flushes the decoder; its frames count too.
            frames[packet.stream.index] += len(packet.decode())
        # Read stream facts while the container is open: PyAV crashes on them after close.
        kinds = {s.index: s.type for s in streams}
        detail = {
            "streams": {
                str(s.index): {
                    "type": s.type,
                    "codec": s.codec_context.name,
                    "packets": packets[s.index],
                    "promised": promised[s.index],
                    "frames": frames[s.index],
                }
                for s in streams
            }
        }
    for index, kind in kinds.items():
        if promised[index] and packets[index] < promised[index]:
            return DecodeOutcome(
                "truncated",
                f"{kind} stream {index}: {packets[index]} of {promised[index]} packets present",
                detail,
            )
    if not any(frames[i] for i, kind in kinds.items() if kind == "video"):
        return DecodeOutcome("decode-failed", "no video frame decodes", detail)
    return DecodeOutcome("decoded", detail=detail)


def decode_file(job: DecodeJob) -> DecodeOutcome:
    """Decode one file fully. Never raises: every failure is an outcome. What the decoders
    say goes into a failure's reason, not to stderr."""
    with decoder_messages() as said:
        outcome = _decode_file(job)
    if outcome.error and outcome.outcome in ("truncated", "decode-failed"):
        return replace(outcome, error=with_messages(outcome.error, said))
    return outcome


def _decode_file(job: DecodeJob) -> DecodeOutcome:
    fmt = (job.format or "").upper()
    # An image of unknown format (exiftool could not tell) is given to Pillow, which sniffs.
    decodable = PILLOW_IMAGES | HEIF_IMAGES | HEIF_SEQUENCES | AVC_HEIF_IMAGES | RAW_FORMATS
    if job.kind == "image" and fmt and fmt not in decodable and job.size:
        what = job.format or "this format"
        return DecodeOutcome("unsupported-format", f"no decoder for {what}", no_decoder=True)
    try:
        st = os.stat(job.path)
        if (st.st_size, st.st_mtime_ns) != (job.size, job.mtime_ns):
            return DecodeOutcome(
                "decode-skipped", "changed since it was scanned; scan again", cacheable=False
            )
        if job.size == 0:
            return DecodeOutcome("truncated", "empty file (0 bytes)")
        if fmt in ISOBMFF:
            overrun = isobmff_overrun(job.path)
            if overrun:
                return DecodeOutcome("truncated", overrun)
        if job.kind == "image" and job.warning and job.warning.startswith(TRUNCATION_WARNINGS):
            return DecodeOutcome("truncated", f"exiftool: {job.warning}")
        if job.kind == "video":
            outcome = play_video(job.path)
        elif fmt in HEIF_IMAGES:
            outcome = _decode_heif(job.path)
        elif fmt in HEIF_SEQUENCES:
            outcome = _decode_heif_sequence(job.path)
        elif fmt in RAW_FORMATS:
            outcome = _decode_raw(job.path, fmt)
        elif fmt in AVC_HEIF_IMAGES:
            outcome = _decode_avci(job.path)
        else:
            outcome = _decode_pillow(job.path, fmt)
    except FileNotFoundError:
        return DecodeOutcome("decode-skipped", "vanished since it was scanned", cacheable=False)
    except PermissionError as exc:
        return DecodeOutcome("decode-failed", describe(exc), cacheable=False)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a finding about the file
        no_decoder = no_decoder_reason(job.path, fmt, exc)
        if no_decoder is None:
            text = describe(exc)
            truncated = "truncated" in text.lower() or "end of file" in text.lower()
            return DecodeOutcome("truncated" if truncated else "decode-failed", text)
        if fmt != "TIFF":  # a layout Pillow does not read, or over the budget: not checked
            return DecodeOutcome("unsupported-format", no_decoder, no_decoder=True)
        outcome = _decode_tiff_segments(job.path, no_decoder)
    try:
        after = os.stat(job.path)
    except OSError:
        return DecodeOutcome("decode-skipped", "vanished while it was decoded", cacheable=False)
    if (after.st_size, after.st_mtime_ns) != (job.size, job.mtime_ns):
        return DecodeOutcome("decode-skipped", "changed while it was decoded", cacheable=False)
    return outcome


def decode_batch(jobs: list[DecodeJob]) -> list[DecodeOutcome]:
    return [decode_file(j) for j in jobs]


# ---------------------------------------------------------------------------- the check


@dataclass
class DecodeStats:
    files: int = 0  # image and video records considered
    decoded: int = 0  # handed to a decoder in this run (cache misses that have a decoder)
    from_cache: int = 0
    failed: int = 0  # truncated or decode-failed, whether decoded now or from the cache
    skipped: int = 0  # no decoder, or changed since the scan
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {
            "files": self.files,
            "decoded": self.decoded,
            "from_cache": self.from_cache,
            "failed": self.failed,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
            "decoder": DECODER_VERSION,
        }


@dataclass
class DecodeResult:
    findings: list[Finding]
    stats: DecodeStats


def _shown(path: str, root: str | None) -> str:
    """The path as findings name it: relative to root ("/"-separated) when one is given."""
    if root is None:
        return path
    return os.path.relpath(path, root).replace(os.sep, "/")


def _finding(rec: FileRecord, o: DecodeOutcome, cached: bool, root: str | None) -> Finding:
    path = _shown(rec.path, root)
    evidence = {"format": rec.format, "kind": rec.kind, "cached": cached, **o.detail}
    if o.error:
        evidence["error"] = o.error
    what = "plays through" if rec.kind == "video" else "decodes fully"
    if "scale" in o.detail:  # a JPEG over the decode budget: every scan read, a smaller IDCT
        what = (
            f"decodes whole (every scan read; pixels at {o.detail['scale']} scale, over the budget)"
        )
    message = {
        "decoded": f"{path}: {what}",
        "truncated": f"{path}: truncated: {o.error}",
        "decode-failed": f"{path}: does not decode: {o.error}",
        "decode-skipped": f"{path}: not decoded: {o.error}",
        "unsupported-format": f"{path}: unsupported format, not checked: {o.error}",
    }[o.outcome]
    return Finding(path, "decode", SEVERITY[o.outcome], o.outcome, message, evidence)


def _batches(jobs: list[DecodeJob], workers: int) -> list[list[DecodeJob]]:
    # Small batches when there are few files, so that every worker gets some.
    size = max(1, min(BATCH_FILES, math.ceil(len(jobs) / (4 * workers))))
    return [jobs[i : i + size] for i in range(0, len(jobs), size)]


def _run_jobs(
    jobs: list[DecodeJob],
    workers: int | None,
    executor: Executor | None,
    progress: Progress | None,
) -> dict[str, DecodeOutcome]:
    """Outcomes of the jobs, by path. A decoder that kills its process (a native crash) is an
    outcome of the file that did it: the files of broken batches are retried one per process."""
    n_workers = workers if workers is not None else default_workers()
    out: dict[str, DecodeOutcome] = {}
    total_bytes, done_bytes = sum(j.size or 0 for j in jobs), [0]

    def report(batch: list[DecodeJob]) -> None:
        done_bytes[0] += sum(j.size or 0 for j in batch)
        if progress is not None:
            progress(len(out), len(jobs), done_bytes[0], total_bytes)

    orphans: list[DecodeJob] = []
    own = executor is None
    pool = executor or local_executor(workers)
    try:
        futures = {}
        for batch in _batches(jobs, max(1, n_workers)):
            try:
                futures[pool.submit(decode_batch, batch)] = batch
            except BrokenExecutor:
                orphans.extend(batch)
        for fut in as_completed(futures):
            batch = futures[fut]
            try:
                results = fut.result()
            except BrokenExecutor:
                orphans.extend(batch)
                continue
            for job, o in zip(batch, results, strict=True):
                out[job.path] = o
            report(batch)
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)
    for job in orphans:
        with ProcessPoolExecutor(max_workers=1) as alone:
            try:
                out[job.path] = alone.submit(decode_file, job).result()
            except BrokenExecutor:
                out[job.path] = DecodeOutcome(
                    "decode-failed", "the decoder crashed on this file (its process died)"
                )
        report([job])
    return out


def _decode_records(
    records: list[FileRecord],
    workers: int | None,
    executor: Executor | None,
    progress: Progress | None,
) -> dict[str, tuple[DecodeOutcome, bool]]:
    if not records:
        return {}
    jobs = [
        DecodeJob(r.path, r.kind, r.format, r.metadata.warning, r.size, r.mtime_ns) for r in records
    ]
    return {p: (o, False) for p, o in _run_jobs(jobs, workers, executor, progress).items()}


def check_decode(
    records: list[FileRecord],
    *,
    cache: DecodeCache | None,
    workers: int | None = None,
    executor: Executor | None = None,
    progress: Progress | None = None,
    root: str | None = None,
) -> DecodeResult:
    """Decode every image and play every video in `records`; one Finding per file.

    Findings name files relative to `root` when given (as fixity names them), else absolutely.

    Files whose content (BLAKE3) the cache already knows are not read, and files with the same
    content are decoded once. Work runs on `executor`
    or on a process pool of `workers` processes (0: one thread, in this process).
    """
    started = time.perf_counter()
    stats = DecodeStats()
    media = [r for r in records if r.kind in ("image", "video") and r.error is None]
    stats.files = len(media)
    known = cache.get_many(r.blake3 for r in media if r.blake3) if cache is not None else {}
    outcomes: dict[str, tuple[DecodeOutcome, bool]] = {}
    todo: list[FileRecord] = []
    for r in media:
        hit = known.get(r.blake3 or "")
        if hit is not None:
            outcomes[r.path] = (hit, True)
            stats.from_cache += 1
        else:
            todo.append(r)

    if todo:
        # One decode per content: a copy shares its original's outcome (unless that outcome is
        # about the file rather than its bytes, e.g. it changed since the scan).
        first: dict[str, FileRecord] = {}
        twins: list[FileRecord] = []
        for r in todo:
            if r.blake3 and r.blake3 in first:
                twins.append(r)
            else:
                first[r.blake3 or r.path] = r
        outcomes.update(_decode_records(list(first.values()), workers, executor, progress))
        again = []
        for r in twins:
            o = outcomes[first[r.blake3].path][0]
            if o.cacheable:
                outcomes[r.path] = (o, False)
            else:
                again.append(r)
        outcomes.update(_decode_records(again, workers, executor, None))
        sent = [*first.values(), *again]
        stats.decoded = sum(1 for r in sent if not outcomes[r.path][0].no_decoder)
        if cache is not None:
            cache.put_many((r.blake3, outcomes[r.path][0]) for r in todo if r.blake3)

    findings = []
    for r in media:
        o, cached = outcomes[r.path]
        if o.outcome in ("truncated", "decode-failed"):
            stats.failed += 1
        elif o.outcome in ("decode-skipped", "unsupported-format"):
            stats.skipped += 1
        findings.append(_finding(r, o, cached, root))
    stats.seconds = time.perf_counter() - started
    return DecodeResult(findings, stats)

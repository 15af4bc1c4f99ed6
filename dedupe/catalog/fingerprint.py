"""Per-file work: content hash, kind and format, perceptual hashes, decode check, video facts.

No catalog access here: a function of a file (and its exiftool metadata) to a `FileRecord`.

Perceptual hashes are taken on the picture as shown (EXIF orientation applied). The fast path
decodes JPEG at 1/8 scale (libjpeg DCT scaling through `Image.draft`) and HEIC through its
embedded thumbnail when that is at least `HEIC_THUMBNAIL_MIN` pixels on its long side; both were
measured against full decodes on the real corpus (benchmarks/bench_phash.py, RESULTS.md).
"""

from __future__ import annotations

import base64
import io
import json
import mimetypes
import os
import shutil
import subprocess
import warnings
from contextlib import suppress
from dataclasses import dataclass, replace

import imagehash
import pillow_heif
from PIL import Image, ImageStat

from photoverify.dedupe.catalog.decoding import (  # verify imports the rest from here too
    BIG_DECODE_BYTES,  # noqa: F401
    MAX_DECODE_PIXELS,  # noqa: F401
    NO_HEIF_IMAGE,
    big_decode_slot,
    check_budget,
    decode_slot,  # noqa: F401
    decoded_bytes,  # noqa: F401
    decoder_messages,
    describe,
    draft_within_budget,
    frame_picture,
    heif_over_budget,
    no_decoder_reason,
    one_thread,
    open_picture,
    with_messages,
)
from photoverify.dedupe.catalog.signature import picture_signature, to_srgb
from photoverify.dedupe.catalog.sniff import (
    DECODABLE_IMAGES,
    HEIF_IMAGES,
    HEIF_SEQUENCES,
    NO_DECODER_METHOD,
    RAW_FORMATS,
    TIFF_SEGMENTS_METHOD,
    classify,
    image_brand,
)
from photoverify.dedupe.core.hashing import hash_fd
from photoverify.dedupe.core.records import DECODED_FIELDS, Candidate, FileRecord, Metadata

HEIC_THUMBNAIL_MIN = 320
DRAFT_BOX = (256, 256)  # JPEG draft: the smallest DCT scale that keeps at least this size
ORIENTATION_TAG = 0x0112
QUARTER_TURNS = (5, 6, 7, 8)
TRUNCATION_WARNINGS = ("Truncated", "JPEG format error", "Missing", "Corrupted")


@dataclass(frozen=True)
class ImageFacts:
    width: int | None
    height: int | None
    phash: str | None
    dhash: str | None
    method: str | None
    decode_ok: bool | None  # None: no decoder here for this file's layout (NO_DECODER_METHOD)
    decode_error: str | None
    signature: bytes | None = None  # dedupe.signature, of the same decode as the hashes
    frames: int | None = None  # pictures in the file; the hashes are of the primary one


REDUCE_TO = 256
FLAT_STDDEV = 2.0  # below this a picture has no detail to hash (blank, or stripped test files)
# Pillow modes that Image.reduce() refuses or gets wrong (on PA it averages palette indices, a
# picture of nonsense), and what each is widened to first
_NOT_REDUCIBLE = {"1": "L", "P": "RGBA", "PA": "RGBA", "La": "LA"}
STRIP_BYTES = 16 << 20  # rows converted and reduced at a time by the fast path (_reduce_in_strips)
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _to_8bit(im: Image.Image) -> Image.Image:
    """An "I"/"F"/"I;16" picture as "L", its value range stretched to 0..255: converting
    clips at 255, which turns a 16-bit picture white."""
    import numpy as np

    a = np.asarray(im, dtype=np.float64)
    finite = a[np.isfinite(a)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    scaled = np.nan_to_num((a - lo) * (255.0 / (hi - lo)) if hi > lo else a * 0.0)
    return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), "L")


def shown_rgb(im: Image.Image, *, fast: bool = True, orientation: int | None = None) -> Image.Image:
    """The picture as shown, in RGB, from a decoded picture of any Pillow mode: EXIF orientation
    applied, and on the fast path box-reduced to about REDUCE_TO pixels on its short side
    (imagehash's Lanczos resize of 12 MP costs ~0.3 s). Every hasher takes its pixels from here.
    """
    if orientation in _TRANSPOSE:
        im = im.transpose(_TRANSPOSE[orientation])
    widened = "I" if im.mode.startswith("I;16") else _NOT_REDUCIBLE.get(im.mode)
    if fast and (factor := reduce_factor(im.size)) > 1:
        im = _reduce_in_strips(im, widened, factor)
    elif widened:
        im = im.convert(widened)
    if im.mode in ("I", "F"):
        im = _to_8bit(im)
    return im if im.mode == "RGB" else im.convert("RGB")


def reduce_factor(size: tuple[int, int]) -> int:
    """The box the fast path reduces a picture by: to ~REDUCE_TO px on its short side, or 1."""
    short = min(size)
    return short // REDUCE_TO if short >= 2 * REDUCE_TO else 1


def _reduce_in_strips(
    im: Image.Image, mode: str | None, factor: int, strip_bytes: int = STRIP_BYTES
) -> Image.Image:
    """im converted to `mode` (None: kept) and box-reduced by `factor`, a strip of rows at a
    time. The same pixels as converting and reducing the whole picture (a box never crosses a
    strip: strips are a whole number of boxes high), without a second full-size copy: Pillow's
    reduce() of RGBA/LA premultiplies into one, and widening P to RGBA is one, so a 120 MP
    picture within the decode budget took twice its 480 MB in a worker."""
    w, h = im.size
    rows = max(1, strip_bytes // (4 * w * factor)) * factor
    out: Image.Image | None = None
    for top in range(0, h, rows):
        strip = im.crop((0, top, w, min(h, top + rows)))
        if mode:
            strip = strip.convert(mode)
        part = strip.reduce(factor)
        if out is None:
            out = Image.new(part.mode, (-(-w // factor), -(-h // factor)))
        out.paste(part, (0, top // factor))
    assert out is not None  # a loaded picture has at least one row
    return out


def _hashes(im: Image.Image, icc: bytes | None = None) -> tuple[str | None, str | None]:
    """pHash and dHash of a picture from shown_rgb, its colours as shown (converted to sRGB
    through its embedded profile: a Display P3 original's numbers read raw stood up to 10 bits
    from its sRGB conversion, colour-managed 0-4); None for a flat picture, whose hash would
    match every other flat picture."""
    gray = to_srgb(im, icc).convert("L")
    if ImageStat.Stat(gray.resize((32, 32), Image.Resampling.BOX)).stddev[0] < FLAT_STDDEV:
        return None, None
    return str(imagehash.phash(gray)), str(imagehash.dhash(gray))


def _signature(im: Image.Image, icc: bytes | None) -> bytes | None:
    """The picture signature, or None when this picture's mode defeats it: a signature is an aid
    to judging pairs, never a reason to call a file that decoded broken."""
    try:
        return picture_signature(im, icc)
    except (ValueError, OSError, TypeError):
        return None


def open_heif(path: str) -> pillow_heif.HeifFile:
    """The HEIF file with at least one image, else ValueError with a reason. pillow-heif drops
    the images libheif cannot get a handle on (an unsupported codec, damaged properties) and
    with them libheif's reason; with none left, its next step was `IndexError: list index out
    of range`."""
    heif = pillow_heif.open_heif(path, convert_hdr_to_8bit=True)
    if len(heif) == 0:
        raise ValueError(
            f"{NO_HEIF_IMAGE} (an unsupported codec, or damaged image properties such as a "
            "missing hvcC/av1C decoder configuration)"
        )
    return heif


def _heic_facts(path: str, fast: bool) -> ImageFacts:
    heif = open_heif(path)
    width, height = heif.size  # libheif applies the irot/imir transforms: this is the shown size
    primary = heif[heif.primary_index]
    thumbs = heif.info.get("thumbnails") or []
    if fast and thumbs and max(thumbs) >= HEIC_THUMBNAIL_MIN:
        best = max(range(len(thumbs)), key=lambda i: thumbs[i])
        # A thumbnail that does not decode says nothing of the picture: Canon's HIF files
        # signal thumbnail sizes their data do not have (libheif: "Decoded image does not have
        # the size signaled in the file"), and the picture itself decodes whole, below.
        thumb = None
        with suppress(ValueError, RuntimeError):
            thumb = primary.get_thumbnail(best).to_pillow()
        if thumb is not None:
            return _heic_facts_of(heif, thumb, "heic-thumbnail", fast)
    if over := heif_over_budget((width, height)):  # no thumbnail to hash, nothing decoded
        return ImageFacts(width, height, None, None, NO_DECODER_METHOD, None, over)
    with big_decode_slot((width, height), primary.mode):
        return _heic_facts_of(heif, heif.to_pillow(), "full", fast)


def _heic_facts_of(
    heif: pillow_heif.HeifFile, im: Image.Image, method: str, fast: bool
) -> ImageFacts:
    width, height = heif.size
    shown = shown_rgb(im, fast=fast)
    ph, dh = _hashes(shown, heif.info.get("icc_profile"))
    sig = _signature(shown, heif.info.get("icc_profile"))
    return ImageFacts(width, height, ph, dh, method, True, None, sig, len(heif))


def _pillow_facts(path: str, fmt: str | None, fast: bool) -> ImageFacts:
    with warnings.catch_warnings():
        # our own budget (check_budget) decides; Pillow's warning would only reach stderr
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with open_picture(path, fmt) as im:
            w, h = im.size
            method = "full"
            if fast and im.format == "JPEG" and im.draft("RGB", DRAFT_BOX) is not None:
                method = "jpeg-draft"
            elif draft_within_budget(im) > 1:  # a full decode of a JPEG over the budget
                method = "jpeg-draft"
            # after the draft (a drafted JPEG decodes 1/64 of its pixels) and before getexif(),
            # which for a PNG decodes the whole picture to look for an eXIf chunk after it
            check_budget(im.size, path if im.format == "PNG" else None)
            with big_decode_slot(im.size, im.mode):
                orientation = im.getexif().get(ORIENTATION_TAG)
                if orientation in QUARTER_TURNS:
                    w, h = h, w  # the size as shown
                im.load()  # decodes every scan: a truncated file raises here
                shown = shown_rgb(im, fast=fast, orientation=orientation)
                icc, frames = im.info.get("icc_profile"), getattr(im, "n_frames", 1)
                if not fast and shown is not im and not (im.format == "MPO" and frames > 1):
                    # a full-size `shown` is a second copy: let the decoded one go before
                    # hashing (a 120 MP RGBA PNG took 1.07 GiB with both held)
                    im.close()
                ph, dh = _hashes(shown, icc)
                sig = _signature(shown, icc)
                if im.format == "MPO" and frames > 1:
                    # a cut MPO loses its last pictures, each a JPEG reached directly by
                    # offset: decode the last one too (verify --decode decodes every frame)
                    im.seek(im.n_frames - 1)
                    if fast:
                        im.draft("RGB", DRAFT_BOX)
                    else:
                        draft_within_budget(im)
                    check_budget(im.size)
                    im.load()
    return ImageFacts(w, h, ph, dh, method, True, None, sig, frames)


def _avci_facts(path: str, fast: bool) -> ImageFacts:
    from photoverify.dedupe.catalog.avcheif import decode_primary

    im = decode_primary(path)
    check_budget(im.size)
    shown = shown_rgb(im, fast=fast)
    ph, dh = _hashes(shown)
    return ImageFacts(im.width, im.height, ph, dh, "full", True, None, _signature(shown, None), 1)


def image_facts(path: str, fmt: str | None, *, fast: bool = True) -> ImageFacts:
    """Decode an image (fast path where it agrees with a full decode) and hash what it shows."""
    with decoder_messages() as said:
        try:
            if fmt in HEIF_IMAGES | HEIF_SEQUENCES:  # a sequence: its primary item, if any
                return _heic_facts(path, fast)
            if fmt == "AVCI":
                return _avci_facts(path, fast)
            return _pillow_facts(path, fmt, fast)
        except Exception as exc:  # noqa: BLE001 - any decoder failure is a finding about the file
            failed, no_decoder = describe(exc), no_decoder_reason(path, fmt, exc)
    if no_decoder is not None and fmt == "TIFF":  # tifffile decodes it a segment at a time
        return _tiff_segment_facts(path, no_decoder)
    if no_decoder is not None:  # not checked, not broken: decode_ok stays None
        return ImageFacts(None, None, None, None, NO_DECODER_METHOD, None, no_decoder)
    return ImageFacts(None, None, None, None, None, False, with_messages(failed, said))


def _tiff_segment_facts(path: str, no_decoder: str) -> ImageFacts:
    """A TIFF Pillow does not decode (`no_decoder`: why), decoded by tifffile a segment at a
    time and hashed from its reduced copy (tiffsegments); not checked when even that cannot."""
    from photoverify.dedupe.catalog.tiffsegments import NotDecoded, decode_in_segments

    with decoder_messages() as said:
        try:
            got = decode_in_segments(path, every_page=False)
        except NotDecoded as why:
            return ImageFacts(
                None, None, None, None, NO_DECODER_METHOD, None, f"{no_decoder}; {why}"
            )
        except Exception as exc:  # noqa: BLE001 - a decoder failure is a finding about the file
            failed = with_messages(f"tifffile: {describe(exc)}", said)
            return ImageFacts(None, None, None, None, None, False, failed)
    w, h = got.size
    if got.orientation in QUARTER_TURNS:
        w, h = h, w
    ph = dh = sig = None
    if got.reduced is not None:
        shown = shown_rgb(got.reduced, orientation=got.orientation)
        ph, dh = _hashes(shown, got.icc)
        sig = _signature(shown, got.icc)
    return ImageFacts(w, h, ph, dh, TIFF_SEGMENTS_METHOD, True, None, sig, got.pages)


# A RAW file's pictures exiftool can extract, as it names them: the largest is hashed.
RAW_PREVIEWS = ("JpgFromRaw", "PreviewImage", "OtherImage")
RAW_PREVIEW_METHOD = "raw-preview"
RAW_NO_PREVIEW = "raw-no-preview"  # tried: no embedded picture (decode_ok stays None)


def raw_preview(path: str, reader=None) -> tuple[tuple[str, bytes] | None, str | None]:
    """((exiftool's name for it, bytes) of the largest picture embedded in a RAW/DNG file, or
    None; a warning that the file is cut short, or None). A camera's JpgFromRaw, a DNG's
    PreviewImage (iPhone ProRAW keeps a full-size one): exiftool knows every maker's layout,
    and its `-validate` sees strips that run past the end of the file. Through `reader` (the
    worker's long-lived exiftool, `MetadataReader.embedded_pictures`), else one exiftool run."""
    names = [f"-{name}" for name in RAW_PREVIEWS]
    if reader is not None:
        tags = reader.embedded_pictures(path, names)
    else:
        exe = shutil.which("exiftool")
        if exe is None:
            return None, None
        args = [exe, "-j", "-b", "-validate", "-Warning", *names, "--", os.path.abspath(path)]
        done = subprocess.run(args, capture_output=True, timeout=120, check=False)
        try:
            tags = json.loads(done.stdout)[0]
        except (ValueError, IndexError, KeyError):
            return None, None
    warnings_ = [str(v) for k, v in tags.items() if k.split(":")[-1] == "Warning"]
    cut = next((w for w in warnings_ if "past end of file" in w), None)
    found = []
    for key, value in tags.items():
        name = key.split(":")[-1]
        if name in RAW_PREVIEWS and isinstance(value, str) and value.startswith("base64:"):
            try:
                found.append((name, base64.b64decode(value[7:], validate=True)))
            except ValueError:
                continue
    return (max(found, key=lambda item: len(item[1])) if found else None), cut


def raw_preview_facts(
    path: str, orientation: int | None, *, fast: bool = True, reader=None
) -> ImageFacts:
    """A RAW file's perceptual hashes and decode check, of its embedded preview. Method
    `raw-no-preview` when it has none: nothing here decodes the sensor data, so the file is
    left undecoded (decode_ok None, an unsupported format). Cut short: not decoded."""
    name = "preview"
    with decoder_messages() as said:
        try:
            preview, cut = raw_preview(path, reader)
            if cut:
                return ImageFacts(None, None, None, None, RAW_PREVIEW_METHOD, False,
                                  f"truncated: {cut}")  # fmt: skip
            if preview is None:
                return ImageFacts(None, None, None, None, RAW_NO_PREVIEW, False, None)
            name, data = preview
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(data)) as im:
                    if fast and im.format == "JPEG":
                        im.draft("RGB", DRAFT_BOX)
                    check_budget(im.size)
                    im.load()
                    shown = shown_rgb(im, fast=fast, orientation=orientation)
                    ph, dh = _hashes(shown)
                    sig = _signature(shown, im.info.get("icc_profile"))
            return ImageFacts(None, None, ph, dh, RAW_PREVIEW_METHOD, True, None, sig, 1)
        except Exception as exc:  # noqa: BLE001 - a broken preview is a finding about the file
            failed = f"embedded {name} does not decode: {describe(exc)}"
    failed = with_messages(failed, said)
    return ImageFacts(None, None, None, None, RAW_PREVIEW_METHOD, False, failed)


@dataclass(frozen=True)
class VideoFacts:
    width: int | None
    height: int | None
    duration: float | None
    codec: str | None
    decode_ok: bool
    decode_error: str | None
    phash: str | None = None  # of the first frame, as stored (rotation metadata not applied)
    dhash: str | None = None


VIDEO_HASH_METHOD = "video-first-frame"


def video_facts(path: str) -> VideoFacts:
    """Container and first-frame check through PyAV (full play-through is verify's job), and
    perceptual hashes of that first frame: a re-encoded copy starts on the same picture."""
    with decoder_messages() as said:
        facts = _video_facts(path)
    if facts.decode_error:
        return replace(facts, decode_error=with_messages(facts.decode_error, said))
    return facts


def _video_facts(path: str) -> VideoFacts:
    import av

    try:
        with av.open(path) as container:
            streams = container.streams.video
            if not streams:
                return VideoFacts(None, None, None, None, False, "no video stream")
            stream = streams[0]
            one_thread(stream.codec_context)
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            codec = stream.codec_context.name
            width, height = stream.codec_context.width, stream.codec_context.height
            frame = next(iter(container.decode(stream)), None)
            if frame is None:
                return VideoFacts(width, height, duration, codec, False, "no frame decodes")
            ph, dh = _hashes(shown_rgb(frame_picture(frame)))
            return VideoFacts(width, height, duration, codec, True, None, ph, dh)
    except Exception as exc:  # noqa: BLE001
        return VideoFacts(None, None, None, None, False, describe(exc))


def _sniff_unknown(path: str) -> tuple[str, str | None]:
    """(kind, format) of a file exiftool does not know: Pillow's sniffers, which know formats
    exiftool does not (SGI, QOI, FLI, ...), then the name. A `.fli` is an image to Pillow and
    a video to the name, and FFmpeg decodes no frame of it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                return "image", im.format
    except Image.DecompressionBombError:
        return "image", None  # Pillow knows it; the decode says why it is refused
    except Exception:  # noqa: BLE001 - not a picture Pillow knows
        return _guess_kind_from_name(path), None


def _picture_in_a_movie_box(path: str, kind: str, fmt: str | None) -> tuple[str, str | None]:
    """(kind, format) of an ISO-BMFF file exiftool calls a movie: a picture when its brand says
    so (sniff.image_brand), e.g. an AVIF sequence or AVC-in-HEIF."""
    try:
        with open(path, "rb") as fh:
            brand = image_brand(fh.read(256))
    except OSError:
        return kind, fmt
    return ("image", brand) if brand else (kind, fmt)


def _guess_kind_from_name(path: str) -> str:
    mime = mimetypes.guess_type(path)[0] or ""
    if mime.startswith("image/") or path.lower().endswith((".heic", ".heif")):
        return "image"
    if mime.startswith("video/"):
        return "video"
    return "other"


DecodedFacts = dict[str, dict]  # BLAKE3 -> {field in DECODED_FIELDS: value}


def fingerprint(
    cand: Candidate,
    meta: Metadata,
    *,
    fast: bool = True,
    known: DecodedFacts | None = None,
    reader=None,
) -> FileRecord:
    """Everything about one file, as a FileRecord. Never raises for a bad file.

    `known` maps BLAKE3 digests to the decoded facts of files with those bytes: an identical
    copy takes them over instead of being decoded again, and what is decoded here is added."""
    rec = identify(cand, meta)
    if wants_decode(rec):
        decode_into(rec, meta, fast=fast, known=known, reader=reader)
    return rec


def identify(cand: Candidate, meta: Metadata) -> FileRecord:
    """A file's record without its decoded facts: BLAKE3, kind and format (and the verdict on an
    empty picture). Never raises for a bad file."""
    rec = FileRecord(
        path=cand.path,
        root=cand.root,
        size=cand.size,
        mtime_ns=cand.mtime_ns,
        inode=cand.inode,
        device=cand.device,
        metadata=meta,
    )
    try:
        # the change check is on the file that was read (its fd), which is what the walk
        # stat-ed: a followed symlink's target, not the link itself
        fd = os.open(cand.path, os.O_RDONLY)
        try:
            rec.blake3 = hash_fd(fd)["blake3"]
            after = os.fstat(fd)
        finally:
            os.close(fd)
    except FileNotFoundError:
        rec.error = "vanished during the scan"
        return rec
    except OSError as exc:
        rec.error = f"unreadable: {exc.strerror or exc}"
        return rec
    if (after.st_size, after.st_mtime_ns) != (cand.size, cand.mtime_ns):
        rec.error = "changed while being scanned; it will be read again by the next scan"
        rec.blake3 = None
        return rec

    kind, fmt = classify(meta.file_type, meta.mime_type, cand.path)
    if kind == "video" and fmt in ("MP4", "MOV", None):
        kind, fmt = _picture_in_a_movie_box(cand.path, kind, fmt)
    if meta.file_type is None and kind == "other" and cand.size:
        kind, fmt = _sniff_unknown(cand.path)  # exiftool does not know these bytes
    elif meta.file_type is None and kind == "other":
        kind = _guess_kind_from_name(cand.path)  # empty: only the name says what it was
    rec.kind, rec.format = kind, fmt
    if cand.size == 0 and kind in ("image", "video"):
        rec.decode_ok, rec.decode_error = False, "empty file (0 bytes)"
    return rec


def wants_decode(rec: FileRecord) -> bool:
    """Whether decoding would add facts to an identified record: a non-empty image or video
    that was read."""
    return rec.error is None and rec.size > 0 and rec.kind in ("image", "video")


def decode_into(
    rec: FileRecord,
    meta: Metadata,
    *,
    fast: bool = True,
    known: DecodedFacts | None = None,
    reader=None,
) -> None:
    """An identified record's decoded facts: taken over from `known` (BLAKE3 -> facts) when
    it holds these bytes, else decoded from the file (`reader`: the worker's exiftool, which
    extracts a RAW file's embedded preview) and added to `known`."""
    if known is not None and rec.blake3 in known:
        for name, value in known[rec.blake3].items():
            setattr(rec, name, value)
        return
    _decode(rec, rec.path, meta, fast, reader)
    if known is not None:
        known[rec.blake3] = {name: getattr(rec, name) for name in DECODED_FIELDS}


def _decode(rec: FileRecord, path: str, meta: Metadata, fast: bool, reader=None) -> None:
    """Decode facts of an image or a video, into the record."""
    kind, fmt = rec.kind, rec.format
    warning = meta.warning or ""
    # a TIFF-based file (DNG, TIFF) cut short: exiftool says a strip runs past the end
    cut = warning.startswith(TRUNCATION_WARNINGS) or "runs past end of file" in warning
    truncated = warning if cut else None
    if kind == "image":
        if fmt in DECODABLE_IMAGES or fmt is None:
            facts = image_facts(path, fmt, fast=fast)
            rec.width, rec.height = facts.width or meta.width, facts.height or meta.height
            rec.phash, rec.dhash, rec.phash_method = facts.phash, facts.dhash, facts.method
            rec.decode_ok, rec.decode_error = facts.decode_ok, facts.decode_error
            rec.signature, rec.frames = facts.signature, facts.frames
        elif fmt in RAW_FORMATS:  # through the picture embedded in it; sizes from metadata
            facts = raw_preview_facts(path, meta.orientation, fast=fast, reader=reader)
            rec.width, rec.height = meta.width, meta.height
            rec.phash, rec.dhash, rec.phash_method = facts.phash, facts.dhash, facts.method
            rec.signature, rec.frames = facts.signature, facts.frames
            if facts.method == RAW_PREVIEW_METHOD:
                rec.decode_ok, rec.decode_error = facts.decode_ok, facts.decode_error
        else:  # no decoder here; dimensions from the metadata
            rec.width, rec.height = meta.width, meta.height
        if truncated and rec.decode_ok is not False:
            # libheif fills missing HEIC tiles silently; exiftool's structure check does not.
            rec.decode_ok, rec.decode_error = False, f"truncated: {truncated}"
    elif kind == "video":
        facts = video_facts(path)
        rec.width, rec.height = facts.width or meta.width, facts.height or meta.height
        rec.duration = facts.duration if facts.duration is not None else meta.duration
        rec.codec = facts.codec
        rec.decode_ok, rec.decode_error = facts.decode_ok, facts.decode_error
        rec.phash, rec.dhash = facts.phash, facts.dhash
        rec.phash_method = VIDEO_HASH_METHOD if facts.decode_ok else None
        if truncated and rec.decode_ok:
            # the first frame decodes, and the container states the whole length: only
            # exiftool's structure check sees that the media data stops short
            rec.decode_ok, rec.decode_error = False, f"truncated: {truncated}"

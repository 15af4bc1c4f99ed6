"""What every decode runs under, here and in verify: a pixel budget, one machine-wide slot for
the biggest decodes, what decoders say kept off stderr, and a failure told in one line."""

from __future__ import annotations

import fcntl
import functools
import multiprocessing
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress

import platformdirs
from PIL import Image, UnidentifiedImageError

# The most pixels one picture (or one frame) may have to be decoded, here and in verify: a
# 120 MP RGBA picture is 480 MB decoded and is hashed without a second full-size copy
# (_reduce_in_strips): a worker peaks near 530 MiB with one, measured. It is above every
# camera's JPEG (102 MP medium format; those are drafted at 1/8 anyway) and below the 169 MP of
# the 13000x13000 PNG bombs a few hundred KB long. A bigger picture is not decoded: not
# checked, with the reason (no_decoder_reason), never called broken or fine.
MAX_DECODE_PIXELS = 120_000_000
# A decoded picture bigger than this waits for the machine's one big-decode slot (decode_slot):
# two workers each holding a picture near the budget passed 1 GiB together (1,137 MiB, two
# 120 MP RGBA PNGs). Below it, pictures decode side by side: a drafted JPEG or a HEIC
# thumbnail never comes near it; a full decode of a 32 MP photo does.
BIG_DECODE_BYTES = 128 << 20


def prepare_pillow() -> None:
    """Every decoder photoverify gives Pillow, registered in one order whatever was opened
    before: HEIF (pillow-heif) and JPEG XL (pillow-jxl) first, then all of Pillow's own plugins
    in Pillow's order. Called on import of this module: once a process that decodes (~50 ms).

    Left to itself, Pillow (12 and later) loads a plugin when it first meets the plugin's file
    extension and tries the loaded ones in the order they came, so what a file opens as
    depended on what the process had opened before: once a TGA was open, a valid ICO whose
    header TGA's loose check also passes opened as a 32x19140 TGA and "did not decode", in
    scan and in verify --decode (Pillow's own Tests/images/pillow.ico after a .tga)."""
    import pillow_heif
    import pillow_jxl  # noqa: F401 - registers JPEG XL with Pillow (a maintained plugin, libjxl)

    pillow_heif.register_heif_opener()
    Image.init()


prepare_pillow()


# TIFF compressions registered with Adobe or libtiff that Pillow's TIFF plugin may lack (by
# code, as the file's Compression tag holds it): a TIFF in one of them is valid, unread here.
TIFF_CODECS = {
    9: "JBIG (T.85)",
    10: "JBIG2 (T.43)",
    33003: "JPEG 2000 (Aperio)",
    33005: "JPEG 2000 (Aperio)",
    34661: "JBIG",
    34712: "JPEG 2000",
    34887: "LERC",
    34892: "lossy JPEG (DNG)",
    34925: "LZMA",
    34926: "Zstandard (old code)",
    34927: "WebP (old code)",
    34933: "PNG",
    34934: "JPEG XR",
    50000: "Zstandard",
    50001: "WebP",
    50002: "JPEG XL",
    52546: "JPEG XL",
}


# The codecs a libtiff may be built without, as Pillow names them, that it can write 8-bit RGB
# in (so a one-pixel write tells whether the codec is there): LZW, PackBits and CCITT are always
# built in, and old-style JPEG (6) is read-only.
LIBTIFF_OPTIONAL = ("jpeg", "tiff_adobe_deflate", "tiff_deflate", "lzma", "zstd", "webp")


NO_HEIF_IMAGE = "libheif reads no image in this file"  # fingerprint.open_heif's refusal


def no_decoder_reason(path: str, fmt: str | None, exc: BaseException) -> str | None:
    """Why a file that failed to open has no decoder here, when the failure says it is a layout
    Pillow does not read, or a picture over the decode budget, rather than damage; else None
    (the failure is a finding about the file). A picture over the budget (check_budget, or
    Pillow's own limit at open) is not decoded, so not checked: a stitched panorama, a
    high-resolution scan or a 150 MP medium-format picture is not damaged for being large,
    and a few-hundred-KB PNG claiming 169 MP is not shown to be either (over_budget_reason).
    A HEIF sequence whose pictures are only a track has no image item for libheif.
    Such layouts so far: a BMP in a layout the format defines that Pillow refuses as
    "Unsupported" (_bmp_no_decoder), and TIFFs:
    - samples Pillow has no mode for (64-bit float RGB, say: scikit-image's
      data/multipage_rgb.tif, which tifffile reads and exiftool finds whole): Image.open says
      only "cannot identify image file"; its TIFF plugin, asked directly, "unknown pixel mode";
    - a registered compression the plugin does not know (TIFF_CODECS: JPEG 2000, JPEG XL, LERC,
      PNG, JPEG XR, as tifffile writes them): the same "cannot identify", the plugin failing
      on the Compression tag;
    - a compression the plugin knows and Pillow's libtiff was built without (WebP in Pillow
      13's wheels: Pillow's own Tests/images/hopper_webp.tif): "decoder error -2", and libtiff
      refuses to write even one pixel in it (_libtiff_lacks)."""
    if isinstance(exc, Image.DecompressionBombError):
        return over_budget_reason(exc)
    if fmt in ("HEICS", "HEIFS") and str(exc).startswith(NO_HEIF_IMAGE):  # open_heif's
        return "a HEIF sequence with no image item: its track is played by verify --decode"
    if fmt == "BMP":
        return _bmp_no_decoder(str(exc)) if isinstance(exc, OSError) else None
    if fmt != "TIFF" or not isinstance(exc, OSError):
        return None
    from PIL import TiffImagePlugin

    try:
        with open(path, "rb") as fh:
            tiff = TiffImagePlugin.TiffImageFile(fh)
            code = tiff.tag_v2.get(259, 1)
            tiff.close()
    except SyntaxError as why:
        if str(why) == "unknown pixel mode":
            return "no decoder for this TIFF's sample layout (Pillow: unknown pixel mode)"
        code = int(str(why)) if isinstance(why.__context__, KeyError) and str(why).isdigit() else 0
        if code in TIFF_CODECS:
            return f"no decoder for this TIFF's compression: {TIFF_CODECS[code]} ({code})"
        return None
    except Exception:  # noqa: BLE001 - any other failure leaves the first one standing
        return None
    name = TiffImagePlugin.COMPRESSION_INFO.get(code)
    if isinstance(exc, UnidentifiedImageError) or name not in LIBTIFF_OPTIONAL:
        return None
    if not _libtiff_lacks(name):
        return None  # the codec is there: the failure is the file's
    what = TIFF_CODECS.get(code, name)
    return f"no decoder for this TIFF's compression: {what} ({code}; Pillow's libtiff lacks it)"


# What the BMP format defines (Microsoft's and IBM's headers) beyond what Pillow reads: header
# sizes (16 and 64: OS/2 2.x), bit depths (0: a JPEG or PNG inside; 2: Windows CE; 64: HDR) and
# compressions (4 JPEG, 5 PNG, 6 alpha bitfields, 11-13 CMYK).
_BMP_DEFINED = {
    "header type": {12, 16, 40, 52, 56, 64, 108, 124},
    "pixel depth": {0, 1, 2, 4, 8, 16, 24, 32, 64},
    "compression": {0, 1, 2, 3, 4, 5, 6, 11, 12, 13},
}
_BMP_UNSUPPORTED = re.compile(r"Unsupported BMP (header type|pixel depth|compression) \((\d+)\)")


def _bmp_no_decoder(message: str) -> str | None:
    """A BMP Pillow refuses as "Unsupported" in a layout the format defines (the BMP test
    suite's valid files: bitfield masks Pillow has no mode for, 2-bit palettes, OS/2 2.x
    headers, a JPEG or PNG inside) has no decoder here; a value no BMP defines (a depth of
    30000, a palette of 305 million colours) is damage."""
    if message == "Unsupported BMP bitfields layout":
        return "no decoder for this BMP's bitfield masks (Pillow: unsupported layout)"
    found = _BMP_UNSUPPORTED.fullmatch(message)
    if found and int(found.group(2)) in _BMP_DEFINED[found.group(1)]:
        return f"no decoder for this BMP's {found.group(1)} {found.group(2)} (Pillow: unsupported)"
    return None


@functools.cache
def _libtiff_lacks(compression: str) -> bool:
    """Whether Pillow's libtiff was built without a codec Pillow names: it cannot write a
    one-pixel TIFF in it (what libtiff says meanwhile on fd 2 is silenced)."""
    import io

    with open(os.devnull, "wb") as null, _fd2_to(null.fileno()):
        try:
            Image.new("RGB", (1, 1)).save(io.BytesIO(), "TIFF", compression=compression)
        except Exception:  # noqa: BLE001 - a codec that cannot write one pixel is one it lacks
            return True
    return False


@contextmanager
def _fd2_to(fileno: int | None) -> Iterator[None]:
    """fd 2 (what C libraries write to) pointed at `fileno` while the block runs; None leaves
    it alone."""
    if fileno is None:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(fileno, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextmanager
def decoder_messages() -> Iterator[list[str]]:
    """Collect what decoders say while a file is decoded instead of letting it reach stderr:
    Python warnings (Pillow's "Corrupt EXIF data") and what C libraries write to fd 2 (libtiff's
    "WEBP compression support is not configured"). The list is filled, de-duplicated, when the
    block ends; a failure's reason carries the first message (describe_failure)."""
    lines: list[str] = []
    # fd 2 is taken over only in a pool worker: in the CLI's own process (--workers 0) a
    # progress bar drawn by another thread writes there too
    own_fd = multiprocessing.parent_process() is not None
    caught: list[warnings.WarningMessage] = []
    with tempfile.TemporaryFile() as tmp:
        try:
            with (
                _fd2_to(tmp.fileno() if own_fd else None),
                warnings.catch_warnings(record=True) as caught,
            ):
                warnings.simplefilter("always")
                yield lines
        finally:
            tmp.seek(0)
            said = tmp.read(64 * 1024).decode("utf-8", "replace").splitlines()
            said += [str(w.message) for w in caught]
            lines.extend(dict.fromkeys(t.strip() for t in said if t.strip()))


def with_messages(reason: str, messages: list[str]) -> str:
    """A failure's one-line reason, with the decoder's first message when it adds to it."""
    if not messages or messages[0] in reason:
        return reason
    return f"{reason} ({messages[0][:200]})"


def over_budget(size: tuple[int, int]) -> str | None:
    """How a picture of this size is over the decode budget (None: it is within it)."""
    w, h = size
    if w * h <= MAX_DECODE_PIXELS:
        return None
    budget = MAX_DECODE_PIXELS / 1e6
    return f"{w}x{h} = {w * h / 1e6:.0f} MP is over the decode budget of {budget:.0f} MP"


# Pillow's refusal to open a picture over its own limit (twice Image.MAX_IMAGE_PIXELS)
_PILLOWS_REFUSAL = re.compile(r"Image size \((\d+) pixels\) exceeds limit")


def over_budget_reason(exc: Image.DecompressionBombError) -> str:
    """Why a picture refused as over the budget is not checked, from the refusal: ours
    (check_budget: "WxH = N MP is over the decode budget of 120 MP"), or Pillow's at open."""
    text = " ".join(str(exc).split())
    if m := _PILLOWS_REFUSAL.match(text):
        budget = MAX_DECODE_PIXELS / 1e6
        text = (
            f"{int(m[1]) / 1e6:.0f} MP is over the decode budget of {budget:.0f} MP "
            "(Pillow refuses to open it)"
        )
    return f"{text}: not decoded"


def check_budget(size: tuple[int, int], png: str | None = None) -> None:
    """Raise DecompressionBombError when a picture of this size is over the decode budget.
    `png`: the path of a PNG picture, whose compressed data is then first checked without
    decoding it (pngstream): damage found there is raised instead, as a ValueError."""
    if over := over_budget(size):
        if png is not None:
            from photoverify.dedupe.catalog.pngstream import png_damage

            if damage := png_damage(png):
                raise ValueError(f"{damage} (over the decode budget, checked without decoding)")
        raise Image.DecompressionBombError(over)


# Formats whose Pillow plugins open a picture of any size without decoding it, as exiftool
# names them -> the plugins tried
_OPENED_WHATEVER_SIZE = {"JPEG": ["JPEG", "MPO"], "MPO": ["JPEG", "MPO"], "PNG": ["PNG"],
                         "APNG": ["PNG"]}  # fmt: skip


def open_picture(path: str, fmt: str | None) -> Image.Image:
    """Image.open, where a JPEG (or MPO) or a PNG opens whatever its size: Pillow's own limit
    (~179 MP) refuses to open a 200 MP phone photo at all, before draft_within_budget can bring
    it within this module's budget (check_budget decides after the draft), and a PNG that large
    before its chunk checksums can be checked and its size named. Only those formats' plugins
    are tried while the limit is lifted: some others decode as they open (ICO's does). Any
    other picture opens under Pillow's limit. Process-wide while it lasts."""
    if plugins := _OPENED_WHATEVER_SIZE.get(fmt or ""):
        # not of that format after all: opened below as any picture, under Pillow's limit
        with _pillows_limit_lifted(), suppress(UnidentifiedImageError):
            return Image.open(path, formats=plugins)
    return Image.open(path)


@contextmanager
def _pillows_limit_lifted() -> Iterator[None]:
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def heif_over_budget(size: tuple[int, int]) -> str | None:
    """Why a HEIF picture over the decode budget is not checked (None: it is within it).
    libheif decodes a picture whole or not at all, at full size: a 200 MP phone photo would
    take ~1 GB. Like any picture over the budget, it is not decoded: not checked, never called
    fine (no_decoder_reason)."""
    over = over_budget(size)
    return f"{over}: not decoded (libheif decodes at full size only)" if over else None


def draft_within_budget(im: Image.Image) -> int:
    """For a JPEG picture over the decode budget (a 200 MP phone photo), have libjpeg decode it
    at the largest DCT scale within the budget (1/2, 1/4 or 1/8): every coefficient of every
    scan is still read, so truncation and damage are still found. Returns the scale's
    denominator (1: the picture is within the budget, or not a JPEG; nothing changed)."""
    w, h = im.size
    if w * h <= MAX_DECODE_PIXELS or im.format not in ("JPEG", "MPO"):
        return 1
    for k in (2, 4, 8):
        if (w // k) * (h // k) <= MAX_DECODE_PIXELS:
            im.draft(im.mode, (w // k, h // k))
            return k
    return 1  # over the budget even at 1/8: check_budget refuses it


def decoded_bytes(size: tuple[int, int], mode: str) -> int:
    """What Pillow holds for a decoded picture: 1, 2 or 4 bytes a pixel (RGB and LA take 4)."""
    per_pixel = 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4
    return size[0] * size[1] * per_pixel


@contextmanager
def decode_slot() -> Iterator[None]:
    """Hold the machine's one big-decode slot (an flock in the user cache folder, released when
    its holder ends or dies). Never nested in one thread: a second flock there would wait on the
    first. Where no lock file can be made, decodes go on unguarded."""
    try:
        folder = platformdirs.user_cache_dir("photoverify")
        os.makedirs(folder, exist_ok=True)
        fd = os.open(os.path.join(folder, "big-decode.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def big_decode_slot(size: tuple[int, int], mode: str) -> AbstractContextManager[None]:
    """decode_slot() for a picture that decodes to BIG_DECODE_BYTES or more, else nothing."""
    return decode_slot() if decoded_bytes(size, mode) >= BIG_DECODE_BYTES else nullcontext()


def describe(exc: BaseException) -> str:
    """A decoder failure as one line (libjxl's messages span several)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, Image.DecompressionBombError):
        return f"decompression bomb refused: {text}"
    return f"{type(exc).__name__}: {text}"


# One video frame is decoded, and turned into a picture, by one thread, and verify plays a
# video through with one decoder thread a stream (its pool already decodes files side by side).
# By default FFmpeg starts slice threads for both (four thread starts for a first frame,
# counted with strace), and for a single frame they save next to nothing.
def one_thread(codec_context):
    """`codec_context` (a stream's, or one made alone) set to decode in its caller's thread;
    before its first decode. Returns it."""
    codec_context.thread_count = 1
    return codec_context


def frame_picture(frame) -> Image.Image:
    """A PyAV video frame as an RGB picture, converted in the caller's thread by a converter
    of its own.

    Not `frame.to_image()`: PyAV 18.1.1 keeps one converter a thread (`av.video.frame`'s
    thread-local reformatter), with the slice threads it started, and a worker forked from a
    process that converted a frame that way inherits it without those threads; converting with
    it there waits for ever in FFmpeg's avpriv_slicethread_free (CI on 2026-12-07; reproduced:
    a default `frame.reformat` in the parent, then any conversion in a forked child). A
    converter made here, single-threaded, is never shared; the final `to_image` of an RGB frame
    converts nothing, so the inherited converter is never touched."""
    from av.video.reformatter import VideoReformatter

    return VideoReformatter().reformat(frame, format="rgb24", threads=1).to_image()

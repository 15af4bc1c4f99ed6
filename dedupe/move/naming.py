"""Target names: templates over metadata, and file names that are valid on every common filesystem.

Pure functions, no I/O. A sanitized name is valid on ext4, APFS, NTFS, exFAT and FAT32 (long
names): no Windows-reserved characters or control characters, no reserved device names, no
trailing dots or spaces, at most 255 bytes of UTF-8, NFC-normalized. Names are compared the way a
case-insensitive filesystem compares them (`name_key`).
"""

from __future__ import annotations

import string
import unicodedata

from photoverify.dedupe.core.errors import UsageError

MAX_BYTES = 255
MAX_EXT_BYTES = 16  # a longer "extension" is really part of the name
REPLACEMENT = "_"
RESERVED_CHARS = set('<>:"/\\|?*')
# Windows reserves these device names with any extension ("CON.txt"), in any case; the superscript
# digits are reserved too on current Windows.
RESERVED_NAMES = {"CON", "PRN", "AUX", "NUL"} | {
    f"{dev}{n}" for dev in ("COM", "LPT") for n in (*"123456789", "¹", "²", "³")
}
TEMPLATE_FIELDS = ("year", "month", "day", "name", "stem", "ext", "make", "model")
DATE_FIELDS = {"year", "month", "day"}
DEFAULT_TEMPLATE = "{year}/{month}/{name}"
UNDATED = "undated"


def _clean_chars(name: str) -> str:
    out = []
    for ch in name:
        code = ord(ch)
        if ch in RESERVED_CHARS or code < 32 or code == 127 or 0xD800 <= code <= 0xDFFF:
            # surrogates are undecodable bytes of the source name: no filesystem takes them back
            out.append(REPLACEMENT)
        else:
            out.append(ch)
    return "".join(out)


def split_ext(name: str) -> tuple[str, str]:
    """(stem, ".ext"); a leading dot, or an overlong extension, is part of the stem."""
    dot = name.rfind(".")
    if dot <= 0 or dot == len(name) - 1:
        return name, ""
    ext = name[dot:]
    if len(ext.encode("utf-8", "surrogatepass")) > MAX_EXT_BYTES or " " in ext:
        return name, ""
    return name[:dot], ext


def _truncate_utf8(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


def _fit(stem: str, ext: str, limit: int = MAX_BYTES) -> str:
    """stem + ext within `limit` bytes, shortening the stem, never the extension."""
    room = limit - len(ext.encode("utf-8"))
    return _truncate_utf8(stem, max(room, 1)) + ext


def _is_reserved(name: str) -> bool:
    base = name.split(".", 1)[0].rstrip(" ").upper()
    return base in RESERVED_NAMES


def _sanitize_once(name: str) -> str:
    name = unicodedata.normalize("NFC", _clean_chars(name))
    name = name.rstrip(". ")
    if name in ("", ".", ".."):
        name = REPLACEMENT
    if _is_reserved(name):
        name = REPLACEMENT + name
    stem, ext = split_ext(name)
    name = _fit(stem, ext).rstrip(". ")
    return name or REPLACEMENT


def sanitize_component(name: str) -> str:
    """One path component, valid on every common filesystem. Idempotent."""
    # each pass can only shorten or prefix once; repeat to the fixed point so that
    # sanitize(sanitize(x)) == sanitize(x) holds for every input
    for _ in range(8):
        cleaned = _sanitize_once(name)
        if cleaned == name:
            return cleaned
        name = cleaned
    return name


def name_key(relpath: str) -> str:
    """How a case-insensitive, normalizing filesystem tells names apart."""
    return unicodedata.normalize("NFC", relpath).casefold()


def numbered(name: str, n: int) -> str:
    """`IMG_0001.HEIC` -> `IMG_0001 (n).HEIC`, still within the byte limit."""
    stem, ext = split_ext(name)
    return _fit_with_suffix(stem, f" ({n})", ext)


def _fit_with_suffix(stem: str, suffix: str, ext: str) -> str:
    room = MAX_BYTES - len((suffix + ext).encode("utf-8"))
    base = _truncate_utf8(stem, max(room, 1)).rstrip(". ") or REPLACEMENT
    return base + suffix + ext


def unique_path(
    folder: str, name: str, taken: set[str], extra_suffixes: tuple[str, ...] = (), start: int = 1
) -> str:
    """The first of `folder/name`, `folder/name (2)`… whose key is not in `taken`.

    `extra_suffixes` are the endings of companions that must find their own names free too
    (`.MOV`, `.HEIC.xmp`): an asset keeps one stem for all its files. Does not add to `taken`.
    `start`: the number to try first (see `unique_number`).
    """
    return numbered_path(folder, name, unique_number(folder, name, taken, extra_suffixes, start))


def numbered_path(folder: str, name: str, n: int) -> str:
    """`folder/name` for n == 1, else `folder/name (n)`: the path of unique_number's answer."""
    return join(folder, name if n == 1 else numbered(name, n))


def unique_number(
    folder: str, name: str, taken: set[str], extra_suffixes: tuple[str, ...] = (), start: int = 1
) -> int:
    """The number of `unique_path`'s answer: 1 for `name` itself, n for `name (n)`, the first
    from `start` that is free. A caller placing many files under one name passes the number it
    last got for the same arguments, since what was taken stays taken: 5,000 undated
    `IMG_0001.JPG` cost 5,000 tries instead of 12.5 million."""
    n = max(start, 1)
    while True:
        candidate = name if n == 1 else numbered(name, n)
        cstem = split_ext(candidate)[0]
        paths = [join(folder, candidate)] + [
            join(folder, companion_name(cstem, s)) for s in extra_suffixes
        ]
        keys = [name_key(p) for p in paths]
        if len(set(keys)) == len(keys) and not any(k in taken for k in keys):
            return n
        n += 1


def companion_name(stem: str, suffix: str) -> str:
    return sanitize_component(_fit(stem, suffix))


def companion_suffix(primary_name: str, companion: str) -> str:
    """What a companion keeps of its own name when it follows its primary.

    `IMG_1.HEIC` + `IMG_1.HEIC.xmp` -> `.HEIC.xmp`; + `IMG_1.MOV` -> `.MOV`; a companion whose
    name does not start with the primary's stem (`IMG_O0001.AAE`) keeps only its extension.
    What is kept is cleaned as a target name is (an undecodable byte becomes `_`).
    """
    pstem = split_ext(primary_name)[0]
    if name_key(companion).startswith(name_key(pstem)) and len(companion) > len(pstem):
        rest = companion[len(pstem) :]
        if rest.startswith("."):
            return _clean_chars(rest)
    return _clean_chars(split_ext(companion)[1])  # (`IMG_1.MO\udce9`: no surrogate in a target)


def join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def check_template(template: str) -> list[str]:
    """The fields a template uses; raises UsageError for unknown fields or bad syntax."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise UsageError(f"template {template!r}: {exc}") from None
    fields = []
    for _, field, spec, conv in parsed:
        if field is None:
            continue
        if field not in TEMPLATE_FIELDS or spec or conv:
            raise UsageError(
                f"template {template!r}: unknown field {{{field}}}; "
                f"use {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}"
            )
        fields.append(field)
    if template.startswith("/") or not template.strip("/"):
        raise UsageError(f"template {template!r}: must be a relative path")
    return fields


def _field_value(value: str | None) -> str:
    if not value:
        return "unknown"
    return value.strip().replace("/", REPLACEMENT).replace("\\", REPLACEMENT) or "unknown"


def render_target(
    template: str,
    source_name: str,
    captured_at: str | None,
    make: str | None = None,
    model: str | None = None,
) -> tuple[str, str]:
    """(folder, file name) for one file, both sanitized; folder is `/`-separated, maybe empty.

    The date is the wall-clock date the camera recorded (the first ten characters of the ISO
    8601 capture time), not converted to UTC: a photo taken at 23:30 on New Year's Eve belongs
    to that year. Files without a capture time go to `undated/{name}` when the template uses a
    date field. The last component always ends in the source's extension.
    """
    fields = check_template(template)
    stem, ext = split_ext(source_name)
    ext = _clean_chars(ext)  # an undecodable byte in it (`x.jp\udce9g`) is no target's either
    if captured_at is None and DATE_FIELDS & set(fields):
        template = f"{UNDATED}/{{name}}"
    date = (captured_at or "")[:10]
    values = {
        "year": date[0:4] or "unknown",
        "month": date[5:7] or "unknown",
        "day": date[8:10] or "unknown",
        "name": source_name,
        "stem": stem,
        "ext": ext[1:],
        "make": _field_value(make),
        "model": _field_value(model),
    }
    rendered = template.format(**values)
    parts = [sanitize_component(p) for p in rendered.split("/") if p.strip()]
    if not parts:
        parts = [sanitize_component(source_name)]
    name = parts[-1]
    if ext and not name_key(name).endswith(name_key(ext)):
        name = sanitize_component(_fit(split_ext(name)[0] if name else stem, ext))
    return "/".join(parts[:-1]), name

"""Text a person can be shown safely: a name's undecodable bytes and control characters made
visible, so that a file name never rewrites the screen or passes for two lines. Every human-facing
line goes through `display_text` (photoverify's consoles, the report's page and terminal)."""

from __future__ import annotations

import re

# What a terminal acts on instead of showing: C0 and C1 controls and DEL (ESC starts a sequence
# that can clear the screen or move the cursor; 0x9B is an 8-bit CSI), the line and paragraph
# separators, and the bidirectional overrides and isolates (U+202E turns "gpj.exe" around).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀…␟: ESC is ␛, a newline ␊
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"<U+{code:04X}>"


def display_text(text: str) -> str:
    """Text a person can be shown safely, as one line: undecodable name bytes (carried as
    surrogate escapes) become U+FFFD, control characters a visible symbol (␛ for ESC, ␊ for a
    newline: a name must not look like two lines, or rewrite the screen). Every human-facing
    line goes through it: photoverify's consoles apply it to every string they print."""
    if text.isprintable():  # no surrogates, no controls: the common case, fast
        return text
    try:
        clean = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        clean = text.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub(lambda m: _visible(m.group()), clean)


def wrap_path(path: str, width: int) -> str:
    """A path (shown safely) as lines of at most `width` characters, broken only after a `/`,
    never inside a name (a single name longer than `width` is left whole, for a table to
    fold)."""
    lines, line = [], ""
    for part in re.split(r"(?<=/)", display_text(path)):
        if line and len(line) + len(part) > width:
            lines.append(line)
            line = ""
        line += part
    lines.append(line)
    return "\n".join(lines)


_PYTHON_ERROR = re.compile(r"\b[A-Z][A-Za-z]*(?:Error|Exception): ")


def plain_error(reason: str) -> str:
    """A reason shown safely and without Python's exception names (`does not decode: OSError:
    image file is truncated` reads `does not decode: image file is truncated`)."""
    return _PYTHON_ERROR.sub("", display_text(reason))

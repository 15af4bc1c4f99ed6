"""The two consoles photoverify prints to for people (rich): standard output, and standard error
for problems and progress. Loaded on first use (photoverify.render.stdout / .stderr), so that
`--help` and a run that prints only JSON do not load rich."""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console
from rich.text import Text

from photoverify.dedupe.core.display import display_text


class SafeConsole(Console):
    """A rich Console that shows every string it prints (lines, table cells, titles) through
    display_text, and reads no markup and no emoji codes in them: a file name is text, never
    instructions to the terminal or to rich (`:smile:.jpg` is shown as spelled)."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(display_text(text), **kwargs)


def _console(**kwargs: Any) -> SafeConsole:
    no_color = "NO_COLOR" in os.environ
    return SafeConsole(
        highlight=False, soft_wrap=True, markup=False, emoji=False, no_color=no_color, **kwargs
    )


stdout = _console()
stderr = _console(stderr=True)

"""The size limits of the code (issue 14): no module over 600 lines, no function over 80, unless
the line before its `def` (or before its first decorator) is a comment `# long: <why>`. Read with
`ast` from the files in dedupe/, verify/ and photoverify/; each offender is named."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("dedupe", "verify", "photoverify")
MODULE_LINES = 600
FUNCTION_LINES = 80
WAIVER = "# long:"


def _waived(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A `# long: why` comment (with a why) on the line before the def or its decorators."""
    starts = {node.lineno, *(d.lineno for d in node.decorator_list)}
    for start in (min(starts), node.lineno):
        before = lines[start - 2].strip() if start >= 2 else ""
        if before.startswith(WAIVER) and before[len(WAIVER) :].strip():
            return True
    return False


def offenders(source: str, name: str) -> list[str]:
    """What in one module's source is over the limits, as `name:line what`."""
    lines = source.splitlines()
    found = []
    if len(lines) > MODULE_LINES:
        found.append(f"{name}: module of {len(lines)} lines (limit {MODULE_LINES})")
    for node in ast.walk(ast.parse(source, name)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        length = node.end_lineno - node.lineno + 1
        if length > FUNCTION_LINES and not _waived(lines, node):
            found.append(
                f"{name}:{node.lineno}: {node.name} has {length} lines (limit {FUNCTION_LINES};"
                f" or a '{WAIVER} why' comment before it)"
            )
    return found


def _modules() -> list[Path]:
    return sorted(
        p
        for package in PACKAGES
        for p in (REPO / package).rglob("*.py")
        if "__pycache__" not in p.parts
    )


def test_the_packages_are_found():
    names = {p.relative_to(REPO).as_posix() for p in _modules()}
    assert {"dedupe/move/plan.py", "verify/checks/expect.py", "photoverify/cli.py"} <= names


def test_no_module_or_function_over_the_limits():
    found = [
        line
        for path in _modules()
        for line in offenders(path.read_text(encoding="utf-8"), path.relative_to(REPO).as_posix())
    ]
    assert not found, "over the size limits:\n" + "\n".join(found)


def _function(lines: int, before: str = "", decorator: bool = False) -> str:
    head = [before] if before else []
    if decorator:
        head.append("@staticmethod")
    body = ["    x = 1"] * (lines - 2)
    return "\n".join([*head, "def f():", *body, "    return x", ""])


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        (_function(FUNCTION_LINES), False),
        (_function(FUNCTION_LINES + 1), True),
        (_function(FUNCTION_LINES + 1, "# long: one table, read top to bottom"), False),
        (_function(FUNCTION_LINES + 1, "# long: the steps of one migration", True), False),
        (_function(FUNCTION_LINES + 1, "# long:"), True),  # a waiver says why
        (_function(FUNCTION_LINES + 1, "# too long, sorry"), True),
        (_function(FUNCTION_LINES + 1, "x = 1  # long: not a comment line"), True),
    ],
)
def test_a_long_function_is_flagged_unless_a_comment_says_why(source, flagged):
    assert bool(offenders(source, "m.py")) == flagged


def test_a_long_module_is_flagged():
    assert offenders("x = 1\n" * MODULE_LINES, "m.py") == []
    assert offenders("x = 1\n" * (MODULE_LINES + 1), "m.py") == [
        f"m.py: module of {MODULE_LINES + 1} lines (limit {MODULE_LINES})"
    ]

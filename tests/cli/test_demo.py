"""`make demo` (scripts/demo.sh) end to end into a temporary folder: it runs, says what it
planted, shows a keeper decision, keeps the generator's answer key out of the new library, and
ends with the audit and the report."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # about a minute: the generator alone takes 25 s on a loaded machine
def test_demo_runs_and_says_what_it_planted_and_what_the_audit_found(tmp_path):
    out = tmp_path / "demo"
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "80"}
    proc = subprocess.run(["bash", "scripts/demo.sh", str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text
    assert "\x1b" not in text  # piped and NO_COLOR: no escape sequences
    lines = proc.stdout.splitlines()
    # at 80 columns no line is wider, but for those naming the (long) temporary folder
    assert max(len(line) for line in lines if str(out) not in line) <= 80, text
    # the planted problems are said to be planted, and the audit says they were broken before
    assert "the generator planted truncated and empty files" in text
    assert "already broken in the original" in text
    assert "Nothing lost in the move;" in text, text
    # a keeper decision, and why
    at = next(i for i, line in enumerate(lines) if line.endswith(" kept"))
    assert lines[at + 1].startswith("  over "), text
    # the answer key is beside the library, not inside what was moved
    assert (out / "truth.json").is_file()
    assert not list((out / "new-library").rglob("truth.json"))
    assert not (out / "library" / "truth.json").exists()
    # the audit and the report ran and wrote their pages
    assert "== photoverify audit" in text and "== photoverify report" in text
    assert (out / "audit.html").is_file() and (out / "report.html").is_file()
    assert f"report written to {out / 'report.html'}" in text

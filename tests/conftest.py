"""Shared fixtures: the real corpus, a scanned catalog of it, and a way to run the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# $PHOTOVERIFY_TEST_CORPUS: the corpus from a worktree that has no ../shared beside it
CORPUS = Path(os.environ.get("PHOTOVERIFY_TEST_CORPUS") or REPO.parent / "shared" / "corpus")
REAL = CORPUS / "real"


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not REAL.is_dir():
        pytest.skip("../shared/corpus is not present")
    return REAL


@pytest.fixture(scope="session", autouse=True)
def _need_exiftool() -> None:
    if shutil.which("exiftool") is None:
        pytest.fail("exiftool is required for the tests (apt-get install libimage-exiftool-perl)")


def run_cli(
    *args: str, check: bool = True, env: dict | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    """Run `python -m photoverify ARGS` as a real subprocess."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "photoverify", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=REPO,
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"photoverify {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def run_json(*args: str, **kw):
    return json.loads(run_cli(*args, "--json", **kw).stdout)


@pytest.fixture(scope="session")
def corpus_catalog(corpus, tmp_path_factory) -> tuple[Path, dict]:
    """The whole corpus scanned once through the CLI: (catalog path, scan JSON)."""
    db = tmp_path_factory.mktemp("corpus-catalog") / "catalog.sqlite"
    result = run_json("scan", str(corpus), "--catalog", str(db))
    return db, result

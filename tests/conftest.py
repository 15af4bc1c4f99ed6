"""Shared fixtures: the real corpus, a scanned catalog of it, and a way to run the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs every property test on the same examples (a red run must be reproducible from its log,
# and a landing must not hang on a new random draw); elsewhere each run draws new examples, and
# what they find is kept as an explicit @example.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parents[1]
# PHOTOVERIFY_CORPUS: where ../shared/corpus is when the checkout lives elsewhere (a worktree)
CORPUS = Path(os.environ.get("PHOTOVERIFY_CORPUS") or REPO.parent / "shared" / "corpus")
# the full corpus when it is beside the checkout, else the licensed subset the repository ships
# (same paths; tests/data/real/SOURCES.md): a bare clone still tests every real format
FULL_CORPUS = (CORPUS / "real").is_dir()
REAL = CORPUS / "real" if FULL_CORPUS else REPO / "tests" / "data" / "real"
# nine different photos from nine cameras under exif-samples/jpg (every checkout ships them)
CAMERA_JPEGS = (
    "Konica_Minolta_DiMAGE_Z3.jpg",
    "Kodak_CX7530.jpg",
    "Nikon_D70.jpg",
    "Pentax_K10D.jpg",
    "Nikon_COOLPIX_P1.jpg",
    "Fujifilm_FinePix_E500.jpg",
    "Panasonic_DMC-FZ30.jpg",
    "Ricoh_Caplio_RR330.jpg",
    "Olympus_C8080WZ.jpg",
)
# what tests that need the corpus's GPS photos give @pytest.mark.full_corpus
UNSHIPPED_GPS = (
    "exif-samples/jpg/gps (DSCN*.jpg: no licence stated, so not shipped in tests/data/real)"
)


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers",
        "full_corpus(reason): needs files of ../shared/corpus that tests/data/real does not ship",
    )


def pytest_runtest_setup(item) -> None:
    mark = item.get_closest_marker("full_corpus")
    if mark and not FULL_CORPUS:
        pytest.skip(f"needs ../shared/corpus (set PHOTOVERIFY_CORPUS): {mark.args[0]}")


@pytest.fixture(scope="session")
def corpus() -> Path:
    return REAL


@pytest.fixture(scope="session", autouse=True)
def _own_default_catalog(tmp_path_factory) -> None:
    """A command run without --catalog uses the default catalog under XDG_DATA_HOME: the tests
    get their own, never the user's (which another photoverify may have migrated to a schema
    this one refuses: four tests failed so while another checkout ran on the same machine)."""
    os.environ.pop("PHOTOVERIFY_CATALOG", None)
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data-home"))


@pytest.fixture(scope="session", autouse=True)
def _need_exiftool() -> None:
    if shutil.which("exiftool") is None:
        pytest.fail("exiftool is required for the tests (apt-get install libimage-exiftool-perl)")


def apply_plan(plan_path, **kw):
    """photoverify.dedupe.move.apply_plan as the CLI calls it: DEST's manifest written by
    verify's b3sum writer (dedupe does not import verify)."""
    from photoverify.dedupe.move.apply import apply_plan as apply
    from photoverify.verify.manifest import render_b3sum

    return apply(plan_path, render_manifest=render_b3sum, **kw)


def undo(journal_path, **kw):
    """photoverify.dedupe.move.undo as the CLI calls it (see apply_plan)."""
    from photoverify.dedupe.move.apply import undo as undo_apply
    from photoverify.verify.manifest import render_b3sum

    return undo_apply(journal_path, render_manifest=render_b3sum, **kw)


def run_cli(
    *args: str,
    check: bool | tuple[int, ...] = True,
    env: dict | None = None,
    prefix: tuple[str, ...] = (),
) -> subprocess.CompletedProcess:
    """Run `python -m photoverify ARGS` as a real subprocess. `check`: True requires exit 0, a
    tuple of codes requires one of them (a scan of files that do not decode exits 1)."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "photoverify", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=REPO,
        timeout=600,
    )
    accepted = (0,) if check is True else check or ()
    if check and proc.returncode not in accepted:
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
    # the corpus holds files that do not decode (a truncated MOV, a broken HEIC): scan exits 1
    result = run_json("scan", str(corpus), "--catalog", str(db), check=(1,))
    return db, result

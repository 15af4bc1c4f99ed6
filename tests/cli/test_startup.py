"""Issue 16: start-up is part of a fixity run's cost. `--help` of every command, and the runs
that only read bytes (manifest --no-catalog, verify's fixity check), load none of the decoders,
the near-duplicate index, the HTML templates or the scanner's workers (exiftool's wrapper); help
and JSON output load no rich either."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import run_cli

# what only a decode, a pixel comparison, a duplicate search, an HTML page or a scan needs
HEAVY = ("PIL", "pillow_heif", "numba", "numpy", "rawpy", "av", "networkx", "jinja2", "exiftool")
SCANNER = (
    "photoverify.dedupe.catalog.executors",
    "photoverify.dedupe.catalog.metadata",
    "photoverify.dedupe.catalog.fingerprint",
    "photoverify.verify.checks.decode",
    "photoverify.dedupe.move.apply",
)
COMMANDS = ("scan", "show", "doctor", "dupes", "manifest", "report", "verify", "plan", "apply",
            "undo", "audit")  # fmt: skip


def _loaded(*args: str) -> set[str]:
    proc = run_cli(*args, prefix=("env", "PYTHONPROFILEIMPORTTIME=1"))
    names = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
    assert "photoverify.cli" in names, proc.stderr[-500:]
    return names


def _heavy(names: set[str]) -> set[str]:
    return {n for n in names if n.split(".")[0] in HEAVY or n in SCANNER}


def test_help_loads_no_decoder_index_template_or_scanner():
    for command in ("", *COMMANDS):
        names = _loaded(*([command] if command else []), "--help")
        assert not _heavy(names), command
        assert not {n for n in names if n.split(".")[0] == "rich"}, command  # click prints it


def test_a_fixity_run_loads_no_decoder_index_template_or_scanner(corpus: Path, tmp_path: Path):
    root = tmp_path / "lib"
    shutil.copytree(corpus / "exif-samples/jpg/orientation", root)
    m = str(tmp_path / "m.b3")
    assert not _heavy(_loaded("manifest", str(root), "--no-catalog", "-o", m, "-q"))
    db = str(tmp_path / "c.sqlite")
    assert not _heavy(_loaded("verify", str(root), "--manifest", m, "--catalog", db, "-q"))
    as_json = _loaded("verify", str(root), "--manifest", m, "--catalog", db, "--json")
    assert not {n for n in as_json if n.split(".")[0] == "rich"} and not _heavy(as_json)

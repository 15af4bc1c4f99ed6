"""Exit codes agree with the README: 1 = the run worked and found problems."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli
from PIL import Image


def test_scan_exits_1_when_a_file_does_not_decode_and_0_when_all_is_well(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    Image.effect_noise((320, 240), 50).convert("RGB").save(lib / "good.jpg", quality=90)
    db = str(tmp_path / "c.sqlite")
    clean = run_cli("scan", str(lib), "--catalog", db, "--json", check=False)
    assert clean.returncode == 0 and json.loads(clean.stdout)["errors"] == []
    data = (lib / "good.jpg").read_bytes()
    (lib / "truncated.jpg").write_bytes(data[: len(data) // 2])
    for n, args in enumerate((("--json",), ())):
        fresh = str(tmp_path / f"fresh{n}.sqlite")
        bad = run_cli("scan", str(lib), "--catalog", fresh, *args, check=False)
        assert bad.returncode == 1, (args, bad.stdout, bad.stderr)
        assert "truncated.jpg" in bad.stdout  # the run worked: the problem is reported
    # the catalog's scan of the changed tree reports the new bad file too
    again = run_cli("scan", str(lib), "--catalog", db, "--json", check=False)
    assert again.returncode == 1
    assert json.loads(again.stdout)["errors"][0]["path"].endswith("truncated.jpg")


@pytest.mark.parametrize(
    "args, names",
    [
        (("scan",), "ROOTS"),
        (("frobnicate",), "frobnicate"),
        (("--nope",), "--nope"),
        (("dupes", "--threshold", "99"), "--threshold"),
        (("scan", "/no/such/folder"), "/no/such/folder"),
        (("verify", "/"), "--manifest"),
        (("apply", "--mode", "teleport", "x.json"), "--mode"),
        (("scan", "--scheduler", "tcp://h:1", "/"), "--scheduler"),
    ],
)
def test_a_usage_error_is_one_line_on_stderr_naming_the_problem(args, names):
    proc = run_cli(*args, check=(2,))
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("photoverify: error: ") and names in lines[0], lines[0]
    assert proc.stdout == ""


def test_help_is_still_click_help():
    assert run_cli("scan", "--help").stdout.startswith("Usage: photoverify scan [OPTIONS] ROOTS")

"""Exit codes agree with the README: 1 = the run worked and found problems."""

from __future__ import annotations

import json

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

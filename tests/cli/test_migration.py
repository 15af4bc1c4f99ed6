"""The whole move, end to end through the CLI, on a generated library: plan, apply, audit."""

from __future__ import annotations

import json
import posixpath

from conftest import run_cli, run_json

from benchmarks.make_library import make_library


def test_plan_apply_audit_on_a_generated_library(tmp_path):
    lib = tmp_path / "lib"
    make_library(lib, photos=8, seed=3, source_dir=None, size="small")
    db = str(tmp_path / "c.sqlite")
    dest = tmp_path / "new"
    run_json(
        "plan", str(lib), "--dest", str(dest), "-o", str(tmp_path / "plan.json"), "--catalog", db
    )
    plan = json.loads((tmp_path / "plan.json").read_text())
    by_source = {e["source"]: e for e in plan["entries"]}
    # every companion lands in its primary's folder (Live Photo MOVs, XMP and AAE sidecars)
    for e in plan["entries"]:
        if e["action"] == "companion":
            primary = e["reason"].split("companion of ", 1)[1].split(" (beside")[0]
            primary = primary.split(", follows keeper")[0].removeprefix("duplicate ")
            assert posixpath.dirname(e["target"]) == posixpath.dirname(
                by_source[primary]["target"]
            ), e
    originals = [e for e in plan["entries"] if posixpath.basename(e["source"]).startswith("IMG_O")]
    assert originals and all(e["action"] == "companion" for e in originals)  # IMG_O1234.AAE
    assert run_cli("plan", "--check", str(tmp_path / "plan.json"), "--catalog", db).returncode == 0
    applied = run_json("apply", str(tmp_path / "plan.json"), "--threads", "1")
    assert applied["ok"] is True
    audit = run_json("audit", str(lib), "--against", str(dest), "--catalog", db)
    errors = [f for f in audit["findings"] if f["severity"] == "error"]
    assert errors == [] and audit["counts"]["missing"] == 0
    assert audit["counts"].get("extra", 0) == 0

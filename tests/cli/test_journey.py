"""The README's newcomer journey on one catalog: scan -> dupes -> plan -> apply -> audit ->
report, each step answering about the library asked about, never about its copies."""

from __future__ import annotations

import json
import shutil
import sqlite3

from conftest import CAMERA_JPEGS as CAMERAS
from conftest import run_cli, run_json

from photoverify.dedupe.catalog.store import SCHEMA_VERSION, Catalog


def _library(corpus, tmp_path):
    """Nine camera JPEGs and an iPhone HEIC from the corpus, a README (not a photo), and a
    backup folder holding two of the JPEGs again: 13 files, 2 of them duplicates."""
    lib = tmp_path / "Pictures"
    (lib / "phone").mkdir(parents=True)
    for name in CAMERAS:
        shutil.copy(corpus / "exif-samples/jpg" / name, lib / "phone")
    shutil.copy(corpus / "exif-samples/README.rst", lib / "phone")
    shutil.copy(corpus / "exif-samples/heic/IMG_5195.HEIC", lib / "phone")
    (lib / "backup").mkdir()
    for name in CAMERAS[:2]:
        shutil.copy(lib / "phone" / name, lib / "backup" / name)
    return lib


def test_newcomer_journey_counts_at_every_step(corpus, tmp_path):
    lib = _library(corpus, tmp_path)
    new = tmp_path / "NewLibrary"
    db = str(tmp_path / "catalog.sqlite")

    scanned = run_json("scan", str(lib), "--catalog", db)
    assert scanned["files"] == 13 and scanned["errors"] == []

    def dupes_counts():
        found = run_json("dupes", "--catalog", db)
        return len(found["clusters"]), sum(len(c["members"]) - 1 for c in found["clusters"])

    assert dupes_counts() == (2, 2)

    plan_path = str(tmp_path / "plan.json")
    planned = run_json("plan", "--dest", str(new), "-o", plan_path, "--catalog", db)
    # the skip: the corpus folder's README, not a photo
    assert planned["counts"] == {"keep": 10, "duplicate": 2, "companion": 0, "skip": 1}
    assert json.loads(open(plan_path).read())["roots"] == [str(lib)]

    applied = run_json("apply", plan_path)
    assert applied["ok"] is True

    audited = run_json("audit", str(lib), "--against", str(new), "--catalog", db)
    assert audited["ok"] is True
    assert audited["counts"]["present"] == 10 and audited["counts"]["merged"] == 2
    assert audited["counts"]["missing"] == 0

    # After the audit scanned NewLibrary into the same catalog, the commands without ROOTs
    # still answer about the library: not 12 clusters made of the migration itself.
    assert dupes_counts() == (2, 2)
    again = run_json("plan", "--dest", str(tmp_path / "other"), "-o", plan_path, "--catalog", db)
    assert again["counts"] == {"keep": 10, "duplicate": 2, "companion": 0, "skip": 1}
    assert json.loads(open(plan_path).read())["roots"] == [str(lib)]
    reported = run_json("report", "--dupes", "--catalog", db, "-o", str(tmp_path / "r.html"))
    assert len(reported["duplicates"]["clusters"]) == 2
    assert reported["duplicates"]["redundant_files"] == 2 and reported["files"] == 13
    page = (tmp_path / "r.html").read_text()  # duplicates alone: no verdict about losses
    assert "Nothing lost" not in page and "nothing was verified" in page

    # report takes ROOTs like the others: NewLibrary alone has no duplicates
    html = str(tmp_path / "n.html")
    of_new = run_json("report", str(new), "--dupes", "--catalog", db, "-o", html)
    assert of_new["duplicates"]["clusters"] == [] and of_new["files"] == 13

    with Catalog(db) as cat:
        assert cat.roots() == {str(lib): "library", str(new): "copy"}


def test_verify_of_a_library_leaves_it_a_library(corpus, tmp_path):
    lib = _library(corpus, tmp_path)
    db = str(tmp_path / "catalog.sqlite")
    run_json("scan", str(lib), "--catalog", db)
    manifest = str(tmp_path / "lib.b3")
    run_cli("manifest", str(lib), "-o", manifest, "--catalog", db)
    run_json("verify", str(lib), "--manifest", manifest, "--decode", "--catalog", db)
    with Catalog(db) as cat:
        assert cat.roots() == {str(lib): "library"}
    assert len(run_json("dupes", "--catalog", db)["clusters"]) == 2


def test_catalog_from_before_roles_is_migrated_and_reads_as_library(corpus, tmp_path):
    lib = _library(corpus, tmp_path)
    db = tmp_path / "old.sqlite"
    run_json("scan", str(lib), "--catalog", str(db))
    with sqlite3.connect(db) as old:  # what photoverify wrote before roles (schema version 5)
        old.execute("DROP TABLE roots")
        old.execute("PRAGMA user_version = 5")
    assert len(run_json("dupes", "--catalog", str(db))["clusters"]) == 2
    with Catalog(db) as cat:
        assert cat.schema_version == SCHEMA_VERSION and cat.roots() == {}
        assert len(list(cat.library_records())) == 13


def test_verify_of_a_new_library_apply_wrote_records_it_as_a_copy(corpus, tmp_path):
    lib = _library(corpus, tmp_path)
    new, db = tmp_path / "NewLibrary", str(tmp_path / "catalog.sqlite")
    run_json("scan", str(lib), "--catalog", db)
    plan = str(tmp_path / "plan.json")
    run_json("plan", "--dest", str(new), "-o", plan, "--catalog", db)
    run_json("apply", plan)
    plain = tmp_path / "plain"  # a folder no apply wrote: verify leaves it unmarked (library)
    shutil.copytree(lib / "backup", plain)
    for tree in (new, plain):
        manifest = str(tmp_path / f"{tree.name}.json")
        run_cli("manifest", str(tree), "--format", "json", "-o", manifest, "--catalog", db)
        run_json("verify", str(tree), "--manifest", manifest, "--catalog", db)
    with Catalog(db) as cat:
        assert cat.roots() == {str(lib): "library", str(new): "copy"}
    found = run_json("dupes", "--catalog", db)
    assert len(found["clusters"]) == 2  # plain/ joins the two clusters as a third copy
    assert sorted(len(c["members"]) for c in found["clusters"]) == [3, 3]

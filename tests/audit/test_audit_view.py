"""The audit as a person reads it (verify/audit_view.py, verify/outcome_text.py): one loss
counted once, non-media listed not alarming, a metadata strip named for what happened, merged
duplicates and never-checked files listed, every outcome with a plain sentence."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

from conftest import CAMERA_JPEGS as CAMERAS
from conftest import run_cli, run_json

from photoverify.verify.report.model import SECTIONS
from photoverify.verify.report.outcome_text import PLAIN, plain


def _migrated(corpus, tmp_path):
    """Nine camera JPEGs and a README, plus a backup copy of one JPEG, moved with plan and
    apply: (library, new library, catalog)."""
    lib = tmp_path / "lib"
    (lib / "cams").mkdir(parents=True)
    for name in CAMERAS:
        shutil.copy(corpus / "exif-samples/jpg" / name, lib / "cams")
    shutil.copy(corpus / "exif-samples/README.rst", lib / "cams")
    (lib / "backup").mkdir()
    shutil.copy(lib / "cams" / CAMERAS[3], lib / "backup" / CAMERAS[3])
    new, db = tmp_path / "new", str(tmp_path / "c.sqlite")
    run_json("scan", str(lib), "--catalog", db)
    run_json("plan", "--dest", str(new), "-o", str(tmp_path / "plan.json"), "--catalog", db)
    run_json("apply", str(tmp_path / "plan.json"))
    return lib, new, db


def _verdict(html: str) -> str:
    return re.search(r'<div class="verdict[^"]*">(.*?)</div>', html, re.S).group(1)


def test_clean_audit_lists_readme_and_merged_duplicate_without_alarm(corpus, tmp_path):
    lib, new, db = _migrated(corpus, tmp_path)
    report = tmp_path / "clean.html"
    proc = run_cli("audit", str(lib), "--against", str(new), "--catalog", db,
                   "--report", str(report))  # fmt: skip
    html = report.read_text()
    assert "Nothing lost" in _verdict(html) and "need a look" not in html
    # the README is listed as not a photo, not a skipped-entry warning or a chart bar "other"
    assert "ledger-entry-skipped" not in html and ">not-media<" in html
    assert "Problems by kind of file" in html and ">other<" not in html
    # the backup copy that was merged into its keeper is listed by name
    backup = f"backup/{CAMERAS[3]}"
    assert backup in html.replace("/backup</div>", "/" + backup)
    assert re.search(r"merged</span><b>1 file</b>", html)
    terminal = proc.stdout
    assert "not-media" in terminal and "A duplicate: not copied" in terminal


def test_deleted_photo_is_one_loss_and_a_metadata_strip_is_named(corpus, tmp_path):
    lib, new, db = _migrated(corpus, tmp_path)
    copies = {p.name: p for p in new.rglob("*.jpg")}
    copies[CAMERAS[0]].unlink()
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-all=",
                    str(copies[CAMERAS[1]])], check=True)  # fmt: skip
    report = tmp_path / "lossy.html"
    proc = run_cli("audit", str(lib), "--against", str(new), "--catalog", db,
                   "--report", str(report), check=(1,))  # fmt: skip
    html = report.read_text()
    assert "1 missing asset," in _verdict(html)  # not 2: the ledger's evidence joins the loss
    assert "ledger-target-missing" not in html and "ledger_target" in html
    # the stripped JPEG: same pixels, metadata changed; red, as its capture time was lost
    tile = re.search(r'<a class="tile-count tone-(\w+)[^>]*data-outcome="metadata-changed"', html)
    assert tile and tile.group(1) == "bad"
    assert 'data-outcome="converted"' in html  # still counted, now zero
    assert "metadata-changed" in proc.stdout
    # the audit's own JSON is unchanged: still one asset converted, one missing
    data = run_json("audit", str(lib), "--against", str(new), "--catalog", db, check=(1,))
    assert data["counts"]["converted"] == 1 and data["counts"]["missing"] == 1


def test_a_format_with_no_decoder_is_listed_unchecked_not_green(corpus, tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    tif = next((corpus / "exif-samples/tiff").glob("*.tif*"))
    shutil.copy(tif, lib / "scan.dng")
    # a TIFF with DNG tags and no preview: exiftool calls it DNG, which has no decoder here
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-DNGVersion=1.4.0.0",
                    str(lib / "scan.dng")], check=True)  # fmt: skip
    new = tmp_path / "new"
    new.mkdir()
    shutil.copy(lib / "scan.dng", new / "scan.dng")
    db, report = str(tmp_path / "c.sqlite"), tmp_path / "a.html"
    scanned = run_json("scan", str(lib), "--catalog", db)
    assert scanned["unsupported_formats"] == {"DNG": 1}
    run_cli("audit", str(lib), "--against", str(new), "--catalog", db, "--report", str(report))
    html = report.read_text()
    assert re.search(r'tone-neutral[^>]*data-outcome="unchecked">\s*<span class="n">1<', html)
    assert "scan.dng" in html and plain("unchecked") in html


def test_verify_counts_problems_not_matched_files(corpus, tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in CAMERAS:
        shutil.copy(corpus / "exif-samples/jpg" / name, lib)
    db, manifest, report = str(tmp_path / "c.sqlite"), str(tmp_path / "m.b3"), tmp_path / "v.html"
    run_cli("manifest", str(lib), "-o", manifest, "--catalog", db, "--no-catalog")
    (lib / CAMERAS[2]).unlink()
    run_cli("verify", str(lib), "--manifest", manifest, "--catalog", db, "--report",
            str(report), check=(1,))  # fmt: skip
    meta = re.search(r'<div class="meta">(.*?)</div>', report.read_text()).group(1)
    assert re.search(r"· 1 problem\b", meta) and "findings" not in meta


def test_every_outcome_a_check_makes_has_a_plain_sentence():
    from photoverify.verify.audit.outcomes import ASSET_OUTCOMES, OUTCOMES
    from photoverify.verify.checks.decode import SEVERITY as DECODE
    from photoverify.verify.manifest.fixity import SEVERITY as FIXITY

    made = {*OUTCOMES, *ASSET_OUTCOMES, *DECODE, *FIXITY, "not-media", "unchecked"}
    assert made - set(PLAIN) == set()
    assert all("-" not in PLAIN[o].split()[0] for o in made)  # words, not identifiers
    assert [s[0] for s in SECTIONS][-1] == "listed"
    json.dumps(PLAIN)

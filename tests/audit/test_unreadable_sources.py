"""Issue 11.1: every source the audit could not read is counted, named, and makes it not ok."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from conftest import run_cli

PHOTOS = (
    "Canon_40D.jpg",
    "Nikon_D70.jpg",
    "Konica_Minolta_DiMAGE_Z3.jpg",
    "Fujifilm_FinePix_E500.jpg",
)


def _without_root_powers() -> tuple[str, ...]:
    """Root reads mode-000 files anyway: drop the capabilities that let it."""
    if os.geteuid() != 0:
        return ()
    caps = "-dac_override,-dac_read_search"
    return ("setpriv", "--bounding-set", caps, "--inh-caps", caps)


def _libraries(corpus: Path, tmp_path: Path) -> tuple[Path, Path]:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    jpg = corpus / "exif-samples/jpg"
    for name in PHOTOS:  # DEST holds only the photos that stay readable
        shutil.copy(jpg / name, src / name)
        shutil.copy(jpg / name, dst / name)
    shutil.copy(jpg / "Pentax_K10D.jpg", src / "locked.jpg")
    (src / "closed").mkdir()
    shutil.copy(jpg / "Kodak_CX7530.jpg", src / "closed" / "x.jpg")
    return src, dst


def _audit(src: Path, dst: Path, db: Path) -> tuple[int, dict]:
    proc = run_cli("audit", str(src), "--against", str(dst), "--catalog", str(db), "--json",
                   check=False, prefix=_without_root_powers())  # fmt: skip
    return proc.returncode, json.loads(proc.stdout)


def _lock(src: Path) -> None:
    (src / "locked.jpg").chmod(0)
    (src / "closed").chmod(0)


def _unlock(src: Path) -> None:
    (src / "closed").chmod(0o755)
    (src / "locked.jpg").chmod(0o644)


def test_unreadable_sources_are_counted_named_and_not_ok(corpus, tmp_path):
    src, dst = _libraries(corpus, tmp_path)
    _lock(src)
    try:
        code, doc = _audit(src, dst, tmp_path / "c.sqlite")
    finally:
        _unlock(src)
    assert code == 1 and doc["ok"] is False
    assert doc["counts"]["present"] == len(PHOTOS) and doc["counts"]["missing"] == 0
    assert doc["counts"]["unreadable"] == 2
    named = {f["path"]: f["message"] for f in doc["findings"] if f["outcome"] == "unreadable"}
    assert set(named) == {str(src / "locked.jpg"), str(src / "closed")}
    assert all("Permission denied" in m for m in named.values())


def test_a_folder_closed_since_the_last_scan_is_not_taken_from_the_catalog(corpus, tmp_path):
    src, dst = _libraries(corpus, tmp_path)
    db = tmp_path / "c.sqlite"
    shutil.copy(src / "closed" / "x.jpg", dst / "x.jpg")  # once copied, so once "present"
    code, doc = _audit(src, dst, db)
    assert code in (0, 1) and doc["counts"]["unreadable"] == 0
    (src / "closed").chmod(0)
    try:
        code, doc = _audit(src, dst, db)
    finally:
        _unlock(src)
    assert code == 1 and doc["ok"] is False
    rows = {a["source"]: a["outcome"] for a in doc["assets"]}
    assert rows[str(src / "closed" / "x.jpg")] == "unreadable"
    assert rows[str(src / "closed")] == "unreadable"


def test_plan_names_what_it_could_not_read(corpus, tmp_path):
    src, _ = _libraries(corpus, tmp_path)
    db, plan = tmp_path / "c.sqlite", tmp_path / "plan.json"
    run_cli("scan", str(src), "--catalog", str(db))  # the catalog remembers closed/x.jpg
    _lock(src)
    try:
        proc = run_cli("plan", str(src), "--dest", str(tmp_path / "new"), "-o", str(plan),
                       "--catalog", str(db), "--json", prefix=_without_root_powers())  # fmt: skip
    finally:
        _unlock(src)
    summary = json.loads(proc.stdout)
    named = {u["path"]: u["reason"] for u in summary["unreadable"]}
    assert set(named) == {str(src / "closed"), str(src / "closed" / "x.jpg")}
    assert "Permission denied" in named[str(src / "closed")]
    entries = {e["source"]: e for e in json.loads(plan.read_text())["entries"]}
    assert entries[str(src / "closed")]["action"] == "skip"
    assert entries[str(src / "closed" / "x.jpg")]["action"] == "skip"
    run_cli("plan", "--check", str(plan))  # the plan stays valid


def test_audit_reads_the_bytes_not_the_stat(corpus, tmp_path):
    """A source locked or changed in place since the last scan (stat unchanged) is not present."""
    src, dst = _libraries(corpus, tmp_path)
    shutil.copy(src / "locked.jpg", dst / "locked.jpg")
    db = tmp_path / "c.sqlite"
    code, doc = _audit(src, dst, db)
    rows = {a["source"]: a for a in doc["assets"]}
    assert rows[str(src / "locked.jpg")]["outcome"] == "present"
    flipped = src / PHOTOS[0]
    st = flipped.stat()
    with open(flipped, "r+b") as fh:  # one byte flipped in place, mtime restored: bit rot
        fh.seek(st.st_size // 2)
        b = fh.read(1)
        fh.seek(st.st_size // 2)
        fh.write(bytes([b[0] ^ 0xFF]))
    os.utime(flipped, ns=(st.st_atime_ns, st.st_mtime_ns))
    (src / "locked.jpg").chmod(0)  # chmod changes no mtime
    try:
        code, doc = _audit(src, dst, db)
    finally:
        _unlock(src)
    rows = {a["source"]: a for a in doc["assets"]}
    assert code == 1 and doc["ok"] is False
    assert rows[str(src / "locked.jpg")]["outcome"] == "unreadable"
    assert rows[str(flipped)]["match"] != "identical"


def test_verify_calls_what_it_could_not_read_unreadable_not_missing(corpus, tmp_path):
    src, _ = _libraries(corpus, tmp_path)
    m = tmp_path / "m.b3"
    run_cli("manifest", str(src), "-o", str(m), "--no-catalog")
    _lock(src)
    try:
        proc = run_cli("verify", str(src), "--manifest", str(m), "--catalog",
                       str(tmp_path / "c.sqlite"), "--json", check=False,
                       prefix=_without_root_powers())  # fmt: skip
    finally:
        _unlock(src)
    doc = json.loads(proc.stdout)
    assert proc.returncode == 1 and doc["ok"] is False
    outcomes = {f["path"]: f["outcome"] for f in doc["findings"]}
    assert outcomes["locked.jpg"] == "unreadable"
    assert outcomes["closed/"] == "unreadable"
    assert outcomes["closed/x.jpg"] == "unreadable"  # not known to be missing
    assert "missing" not in doc["counts"]
    messages = {f["path"]: f["message"] for f in doc["findings"]}
    assert messages["locked.jpg"] == "locked.jpg: cannot read: Permission denied"


def test_manifest_names_what_it_could_not_read_once(corpus, tmp_path):
    """Issue 11's `lockdir/: lockdir/:`: a finding's message already starts with its path."""
    src, _ = _libraries(corpus, tmp_path)
    _lock(src)
    try:
        proc = run_cli("manifest", str(src), "-o", str(tmp_path / "m.b3"), "--no-catalog",
                       check=False, prefix=_without_root_powers())  # fmt: skip
    finally:
        _unlock(src)
    assert proc.returncode == 1
    assert sorted(proc.stderr.splitlines()) == [
        "photoverify: closed/: cannot list: Permission denied",
        "photoverify: locked.jpg: cannot read: Permission denied",
    ]

"""dupes --exact (dedupe/exact.py): the sets of the real jdupes -r, on the real corpus and on
hostile names, without a scan or a catalog; and what it reads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from photoverify.dedupe.core.records import FileRecord
from photoverify.dedupe.match.exact import BLOCK, exact_clusters, find_exact

pytestmark = pytest.mark.skipif(shutil.which("jdupes") is None, reason="jdupes not installed")


def jdupes_sets(root: Path) -> set[frozenset[bytes]]:
    out = subprocess.run(["jdupes", "-r", "-q", "-0", str(root)], capture_output=True).stdout
    groups = out.split(b"\0\0")
    return {frozenset(g.split(b"\0")) for g in groups if g.strip(b"\0")}


def without_root_powers() -> list[str]:
    """Root reads mode-000 files anyway: drop the capabilities that let it."""
    if os.geteuid() != 0:
        return []
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", "--bounding-set", caps, "--inh-caps", caps]


def ours(root: Path, *extra: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "photoverify", "dupes", "--exact", *extra, str(root)],
        capture_output=True,
        cwd=REPO,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=300,
    )


def our_sets(root: Path) -> set[frozenset[bytes]]:
    proc = ours(root, "--format", "fdupes0")
    assert proc.returncode == 0, proc.stderr
    groups = proc.stdout.split(b"\0\0")
    return {frozenset(g.split(b"\0")) for g in groups if g.strip(b"\0")}


@pytest.fixture
def corpus_copy(corpus, tmp_path) -> Path:
    """The real corpus, with copies of some of its files under other names and folders, and a
    same-size impostor that differs only in its last byte (a head block cannot tell it)."""
    tree = tmp_path / "tree"
    shutil.copytree(corpus, tree / "orig", symlinks=True)
    files = sorted(p for p in (tree / "orig").rglob("*") if p.is_file() and not p.is_symlink())
    (tree / "copies" / "deeper").mkdir(parents=True)
    for n, p in enumerate(files[::9]):
        shutil.copy2(p, tree / "copies" / f"{n} {p.name}")
    for p in files[::23]:
        shutil.copy2(p, tree / "copies" / "deeper" / p.name)
    big = max(files, key=lambda p: p.stat().st_size)
    data = bytearray(big.read_bytes())
    data[-1] ^= 1
    (tree / "copies" / "impostor.bin").write_bytes(bytes(data))
    return tree


def test_exact_equals_jdupes_on_the_corpus(corpus_copy):
    theirs = jdupes_sets(corpus_copy)
    assert len(theirs) >= 5  # 8 sets on the shipped subset, more on the full corpus
    assert our_sets(corpus_copy) == theirs


def test_exact_equals_jdupes_on_hostile_names(tmp_path):
    tree = tmp_path / "hostile"
    tree.mkdir()
    payload = os.urandom(3 * BLOCK + 17)
    names = [
        b"plain.jpg",
        b"new\nline.jpg",
        b"-dash.jpg",
        b"sp ace .jpg",
        b"latin1-\xe9t\xe9.jpg",  # not UTF-8
        "nfc-\u00e9.jpg".encode(),
        "nfd-e\u0301.jpg".encode(),
        b"tab\there.jpg",
        b"back\\slash.jpg",
    ]
    for n in names:
        with open(os.path.join(os.fsencode(tree), n), "wb") as fh:
            fh.write(payload)
    (tree / "other.jpg").write_bytes(payload[:-1] + b"x")  # same size, different tail
    (tree / "empty1").write_bytes(b"")
    (tree / "empty2").write_bytes(b"")  # empty files are no duplicates, as in jdupes
    os.symlink("plain.jpg", tree / "link.jpg")  # a link is not a copy
    theirs = jdupes_sets(tree)
    assert our_sets(tree) == theirs
    assert len(theirs) == 1 and len(next(iter(theirs))) == len(names)


def test_hard_links_are_one_file(tmp_path):
    """jdupes keeps one name of a hard-linked file; so do we (which name is ours: the first in
    byte order), so the sets agree once each name is taken as its inode."""
    (tmp_path / "a").write_bytes(b"same bytes" * 1000)
    os.link(tmp_path / "a", tmp_path / "b")
    (tmp_path / "c").write_bytes(b"same bytes" * 1000)

    def inodes(sets):
        return {frozenset(os.stat(p).st_ino for p in g) for g in sets}

    ino = inodes(our_sets(tmp_path))
    assert ino == inodes(jdupes_sets(tmp_path))
    assert len(ino) == 1 and len(next(iter(ino))) == 2


def test_only_same_size_files_are_read(tmp_path):
    big = os.urandom(10 * BLOCK)
    (tmp_path / "a.bin").write_bytes(big)
    (tmp_path / "b.bin").write_bytes(big)
    (tmp_path / "c.bin").write_bytes(b"x" + big[1:])  # told apart by its head block
    (tmp_path / "lonely.bin").write_bytes(os.urandom(11 * BLOCK))  # no other file of its size
    (tmp_path / "small1").write_bytes(b"tiny")
    (tmp_path / "small2").write_bytes(b"tiny")
    result = find_exact([str(tmp_path)])
    assert result.stats == {
        "files": 6,
        "same_size": 5,
        "block_read": 3,
        "fully_read": 4,  # a, b and the two small files; c and lonely never read whole
        "digests_reused": 0,
        "clusters": 2,
        "duplicates": 2,
    }


def test_trust_stat_takes_the_catalogs_digest_for_unchanged_files_and_reads_the_others(
    corpus, tmp_path
):
    """--exact --trust-stat on a scanned tree finds what reading finds, reading none of the
    unchanged files; a file rewritten after the scan (same size, new bytes, new mtime) is read,
    so its stale digest never makes it a duplicate; without --exact the flag is refused."""
    lib, db = tmp_path / "lib", str(tmp_path / "c.sqlite")
    shutil.copytree(corpus / "exif-samples/jpg", lib)
    shutil.copy(lib / "Canon_40D.jpg", lib / "copy of Canon_40D.jpg")
    shutil.copy(lib / "Canon_40D.jpg", lib / "rewritten.jpg")
    run_pv = [sys.executable, "-m", "photoverify"]
    subprocess.run([*run_pv, "scan", str(lib), "--catalog", db, "-q"], cwd=REPO, check=False)

    def exact(*flags):
        proc = subprocess.run([*run_pv, "dupes", "--exact", str(lib), "--catalog", db, "--json",
                               *flags], cwd=REPO, capture_output=True, text=True)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        return {frozenset(m["path"] for m in c["members"]) for c in doc["clusters"]}, doc["exact"]

    read_sets, read_stats = exact()
    trusted_sets, trusted_stats = exact("--trust-stat")
    assert trusted_sets == read_sets and len(read_sets) >= 1
    assert trusted_stats["fully_read"] == 0
    assert trusted_stats["digests_reused"] == read_stats["same_size"] > 0

    data = bytearray((lib / "rewritten.jpg").read_bytes())
    data[-3] ^= 0xFF
    (lib / "rewritten.jpg").write_bytes(bytes(data))
    os.utime(lib / "rewritten.jpg", ns=(1, 10**18))  # a new mtime: the catalog's is stale
    trusted_sets, trusted_stats = exact("--trust-stat")
    assert trusted_sets == exact()[0]
    assert not any(str(lib / "rewritten.jpg") in s for s in trusted_sets)
    assert trusted_stats["fully_read"] >= 1  # the rewritten file (and its size's others)

    refused = subprocess.run([*run_pv, "dupes", str(lib), "--catalog", db, "--trust-stat"],
                             cwd=REPO, capture_output=True, text=True)  # fmt: skip
    assert refused.returncode == 2 and "--trust-stat goes with --exact" in refused.stderr


def test_unreadable_file_is_named_and_the_run_goes_on(tmp_path):
    data = os.urandom(5 * BLOCK)
    for n in ("a", "b", "locked"):
        (tmp_path / n).write_bytes(data)
    (tmp_path / "locked").chmod(0)
    proc = ours(tmp_path, "--format", "json", prefix=tuple(without_root_powers()))
    assert proc.returncode == 1
    assert proc.stderr.decode().count("\n") == 1 and "locked: cannot read" in proc.stderr.decode()
    doc = json.loads(proc.stdout)
    assert [len(c["members"]) for c in doc["clusters"]] == [2]
    assert doc["errors"][0]["path"].endswith("locked")


def test_keeper_follows_the_dupes_policy():
    """For identical bytes the content criteria tie: the preferred root wins, then the name."""

    def rec(path: str) -> FileRecord:
        return FileRecord(path, "/", 10, 0, hash(path), 1, "ab" * 32)

    files = [rec("/x/IMG_1 (1).jpg"), rec("/x/IMG_1.jpg"), rec("/ref/IMG_1 copy.jpg")]
    assert exact_clusters(files).clusters[0].keeper == "/x/IMG_1.jpg"
    assert exact_clusters(files, prefer=["/ref"]).clusters[0].keeper == "/ref/IMG_1 copy.jpg"


def test_plan_exact_merges_identical_bytes_only_and_apply_carries_it_out(corpus, tmp_path):
    """plan --exact takes dupes --exact's clusters: the byte copy is a duplicate, the re-encoded
    copy (other bytes, the same photo) is kept; without --exact both are merged. apply runs it."""
    from PIL import Image

    src = tmp_path / "src"
    src.mkdir()
    photo = corpus / "exif-samples" / "jpg" / "Canon_40D.jpg"
    shutil.copy2(photo, src / "a.jpg")
    shutil.copy2(photo, src / "a copy.jpg")
    with Image.open(photo) as im:
        im.save(src / "a-reencoded.jpg", quality=80, exif=im.info.get("exif", b""))
    db = str(tmp_path / "c.sqlite")
    actions = {}
    for extra in ((), ("--exact",)):
        out = tmp_path / f"plan{len(extra)}.json"
        run = subprocess.run(
            [sys.executable, "-m", "photoverify", "plan", str(src), "--dest",
             str(tmp_path / f"dest{len(extra)}"), "-o", str(out), "--catalog", db, *extra],
            capture_output=True, text=True, cwd=REPO, timeout=300,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        doc = json.loads(out.read_text())
        actions[extra] = {os.path.basename(e["source"]): e["action"] for e in doc["entries"]}
        assert doc["options"]["exact"] is bool(extra)
    assert actions[()] == {
        "a.jpg": "keep",
        "a copy.jpg": "duplicate",
        "a-reencoded.jpg": "duplicate",
    }
    assert actions[("--exact",)] == {
        "a.jpg": "keep", "a copy.jpg": "duplicate", "a-reencoded.jpg": "keep",
    }  # fmt: skip
    applied = subprocess.run(
        [sys.executable, "-m", "photoverify", "apply", str(tmp_path / "plan1.json"), "--json"],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    copied = sorted(p.name for p in (tmp_path / "dest1").rglob("*.jpg"))
    assert len(copied) == 2

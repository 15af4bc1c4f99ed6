"""Issue 11.0 / 16.1: a verdict about contents rests on reading the bytes.

A byte flipped in place under a restored mtime must be found by `verify` (fast path and
--decode) and by `manifest`; only the explicit --trust-stat reuses the catalog's digests, and
then says that contents were not read."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli, run_json
from hypothesis import given, settings
from hypothesis import strategies as st

from photoverify.dedupe.core.hashing import (
    CHUNK,
    MMAP_MIN,
    MMAP_THREADED,
    PROCESSES_FROM,
    SMALL_BUF,
    hash_fd,
    hash_file,
    hash_files,
    hash_whole_file,
)

PHOTO = "exif-samples/jpg/Canon_40D.jpg"
OTHER = "immich-test-assets/formats/jpg/el_torcal_rocks.jpg"


def _flip_in_place(path: Path) -> None:
    """One byte in the middle flipped, the file's inode and mtime kept (like bit rot would)."""
    st = path.stat()
    with open(path, "r+b") as fh:
        fh.seek(st.st_size // 2)
        b = fh.read(1)
        fh.seek(st.st_size // 2)
        fh.write(bytes([b[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_ino == st.st_ino and path.stat().st_mtime_ns == st.st_mtime_ns


def _tree(corpus: Path, tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    for rel in (PHOTO, OTHER, "exiftool-samples/Apple.jpg"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(corpus / rel, root / rel)
    return root


def test_flipped_byte_under_unchanged_mtime_is_found(corpus: Path, tmp_path: Path) -> None:
    root = _tree(corpus, tmp_path)
    db, m = str(tmp_path / "c.sqlite"), str(tmp_path / "m.b3")
    run_cli("scan", str(root), "--catalog", db)  # the catalog holds every file's BLAKE3
    run_cli("manifest", str(root), "-o", m, "--catalog", db)
    _flip_in_place(root / PHOTO)
    b3 = subprocess.run(["b3sum", "--check", m], cwd=root, capture_output=True, text=True)
    assert f"{PHOTO}: FAILED" in b3.stdout

    for extra in ((), ("--decode", "--no-decode-cache")):
        proc = run_cli("verify", str(root), "--manifest", m, "--catalog", db, "--json", *extra,
                       check=False)  # fmt: skip
        assert proc.returncode == 1, (extra, proc.stdout[-2000:])

        doc = json.loads(proc.stdout)
        assert doc["by_check"]["fixity"] == {"matched": 2, "changed": 1}, extra
        assert doc["digests_reused"] == 0 and doc["files_read"] == 3
        changed = [f for f in doc["findings"] if f["outcome"] == "changed"]
        assert [f["path"] for f in changed] == [PHOTO]

    # The --decode run fingerprinted the file again: the catalog now describes its bytes.
    shown = run_json("show", str(root / PHOTO), "--catalog", db)
    shown = shown[0] if isinstance(shown, list) else shown
    assert shown["blake3"] == hash_file(root / PHOTO)["blake3"]

    # The opt-in stat-only mode is blind to a second flip, and says it did not read contents.
    _flip_in_place(root / OTHER)
    proc = run_cli("verify", str(root), "--manifest", m, "--catalog", db, "--trust-stat",
                   check=False)  # fmt: skip
    assert proc.returncode == 1  # the first flip: the catalog was refreshed by the reads above
    assert "contents of 3 files were NOT read" in proc.stdout
    proc = run_cli("verify", str(root), "--manifest", m, "--catalog", db, "--trust-stat",
                   "--json", check=False)  # fmt: skip
    doc = json.loads(proc.stdout)
    assert doc["trust_stat"] is True and doc["digests_reused"] == 3 and doc["files_read"] == 0
    assert doc["by_check"]["fixity"] == {"matched": 2, "changed": 1}  # OTHER passes unread


def test_manifest_reads_every_byte_unless_trust_stat(corpus: Path, tmp_path: Path) -> None:
    root = _tree(corpus, tmp_path)
    db = str(tmp_path / "c.sqlite")
    run_cli("scan", str(root), "--catalog", db)
    _flip_in_place(root / PHOTO)
    m = tmp_path / "m.b3"
    out = run_json("manifest", str(root), "-o", str(m), "--catalog", db)
    assert out["digests_reused"] == 0
    b3 = subprocess.run(["b3sum", "--check", str(m)], cwd=root, capture_output=True, text=True)
    assert b3.returncode == 0, b3.stdout  # the manifest holds the bytes as they are now
    stale = run_cli("manifest", str(root), "-o", str(tmp_path / "s.b3"), "--catalog", db,
                    "--trust-stat")  # fmt: skip
    assert "contents of 3 files were NOT read" in stale.stdout
    refused = run_cli("manifest", str(root), "--no-catalog", "--trust-stat", check=False)
    assert refused.returncode == 2


@settings(max_examples=40, deadline=None)
@given(
    data=st.binary(max_size=70_000),
    algorithms=st.sampled_from([("blake3",), ("sha256",), ("md5",), ("blake3", "sha256")]),
)
def test_the_fast_whole_file_path_agrees_with_hash_file(tmp_path_factory, data, algorithms):
    path = tmp_path_factory.mktemp("h") / "f"
    path.write_bytes(data)
    assert hash_whole_file(path, algorithms) == hash_file(path, algorithms)
    assert dict(hash_files([str(path)] * 3, algorithms, 2)) == {
        str(path): hash_file(path, algorithms)
    }


def test_hash_files_yields_the_error_of_an_unreadable_file_and_goes_on(tmp_path):
    ok = tmp_path / "ok"
    ok.write_bytes(b"photo")
    got = list(hash_files([str(tmp_path / "gone"), str(ok)], ("blake3",), 2))
    assert isinstance(got[0][1], FileNotFoundError)
    assert got[1] == (str(ok), hash_file(ok))


def test_hash_files_in_batches_keeps_order_and_every_path_of_each_read(tmp_path):
    """Small files read through a buffer (in one read or several), larger ones mapped, all
    cores' map for the largest: each digest equals a plain read's, in the order given, with
    sizes from a walk or without."""
    sizes = [0, 1, SMALL_BUF - 1, SMALL_BUF, SMALL_BUF + 1, 3 * SMALL_BUF + 5]
    sizes += [MMAP_MIN - 1, MMAP_MIN, MMAP_MIN + 1, MMAP_THREADED + 3]
    sizes += [(n * 7919) % 300_000 for n in range(150)]  # more than one batch
    paths = []
    for n, size in enumerate(sizes):
        p = tmp_path / f"f{n}"
        p.write_bytes(os.urandom(size))
        paths.append(str(p))
    paths.insert(70, str(tmp_path / "vanished"))
    walked = [os.stat(p).st_size if os.path.exists(p) else 0 for p in paths]
    for kw in ({}, {"sizes": walked}):
        got = list(hash_files(paths, ("blake3",), 3, **kw))
        assert [p for p, _ in got] == paths
        assert isinstance(got[70][1], FileNotFoundError)
        for p, d in got[:70] + got[71:]:
            assert d == hash_file(p), p


def _many_small_and_one_big(
    tmp_path: Path, n: int, small_max: int, big_size: int, big_at: int, vanished_at: int
) -> list[str]:
    """n distinct small files (0 to small_max bytes) in folders of 500, a big one inserted at
    big_at, then the path of a file that does not exist at vanished_at."""
    paths = []
    for i in range(n):
        p = tmp_path / f"d{i // 500}" / f"f{i}.jpg"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(os.urandom(i % small_max) + i.to_bytes(4, "big"))
        paths.append(str(p))
    big = tmp_path / "big"
    big.write_bytes(os.urandom(big_size))
    paths.insert(big_at, str(big))
    paths.insert(vanished_at, str(tmp_path / "vanished"))
    return paths


def test_many_small_files_are_hashed_by_processes_in_order_with_errors_in_place(tmp_path):
    """From PROCESSES_FROM small files a pool of processes hashes them: the same digests, in the
    order given, an unreadable file's own error (kind and name) in its place, large files too."""
    import stat

    paths = _many_small_and_one_big(tmp_path, PROCESSES_FROM + 300, 5000, MMAP_MIN * 3, 1000, 5)
    locked = Path(paths[2000])
    locked.chmod(0)
    try:
        sizes = [os.stat(p).st_size if os.path.exists(p) else 0 for p in paths]
        got = list(hash_files(paths, ("blake3", "sha256"), 2, sizes=sizes))
        readable = os.access(locked, os.R_OK)  # root reads a file whatever its mode
    finally:
        locked.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert [p for p, _ in got] == paths
    assert isinstance(got[5][1], FileNotFoundError) and got[5][1].filename == paths[5]
    if not readable:
        assert isinstance(got[2000][1], PermissionError)
    for p, d in got:
        if not isinstance(d, OSError):
            assert d == hash_file(p, ("blake3", "sha256")), p


def test_files_of_sizes_not_given_are_hashed_with_their_sizes_by_the_pool_a_sample_picks(
    tmp_path, monkeypatch
):
    """A walk without stats passes sizes as None: each file comes back with its size as read
    (None when it could not be opened), the digests those of hash_file, and a sample of the
    files chooses the pool: processes for many small files, threads for large ones."""
    import photoverify.dedupe.core.hashing as hashing

    paths = _many_small_and_one_big(tmp_path, PROCESSES_FROM + 100, 3000, MMAP_MIN * 2 + 5, 700, 3)
    big = tmp_path / "big"
    pools = []
    real_pool = hashing._pool
    monkeypatch.setattr(
        hashing, "_pool", lambda w, small: pools.append(small) or real_pool(w, small)
    )
    sizes = [None] * len(paths)
    sizes[10] = os.stat(paths[10]).st_size  # a size the caller knows is kept
    got = list(hashing.hash_files_sized(paths, ("blake3",), sizes, 2))
    assert [p for p, _, _ in got] == paths
    assert got[3][1] is None and isinstance(got[3][2], FileNotFoundError)
    for p, size, d in got[:3] + got[4:]:
        assert size == os.stat(p).st_size and d == hash_file(p), p
    assert pools and pools[-1] >= PROCESSES_FROM  # processes: the sample saw small files

    large = [str(big)] * 40
    got = list(hashing.hash_files_sized(large, ("blake3",), [None] * 40, 2))
    assert {(s, d["blake3"]) for _, s, d in got} == {(big.stat().st_size, hash_file(big)["blake3"])}
    assert pools[-1] == 0  # threads


def test_a_walk_without_stats_finds_what_a_walk_with_stats_finds(tmp_path):
    """The kinds read from the folder listings: the same files, symlinks and special files
    skipped alike, in the same order; only the stats are left out."""
    from photoverify.verify.manifest.tree import walk_tree

    root = tmp_path / "t"
    (root / "sub" / "deeper").mkdir(parents=True)
    for rel in ("a.jpg", "sub/b.jpg", "sub/deeper/c.jpg", "sub.jpg", "sub/-x"):
        (root / rel).write_bytes(rel.encode())
    (root / "link.jpg").symlink_to(root / "a.jpg")
    (root / "dirlink").symlink_to(root / "sub")
    os.mkfifo(root / "sub" / "pipe")
    with_stat, problems = walk_tree(root)
    without, problems_too = walk_tree(root, stat=False)
    assert [(f.rel, f.abs) for f in without] == [(f.rel, f.abs) for f in with_stat]
    assert [f.rel for f in with_stat] == [
        "a.jpg",
        "sub.jpg",
        "sub/-x",
        "sub/b.jpg",
        "sub/deeper/c.jpg",
    ]
    assert all(f.stat is None for f in without) and all(f.stat for f in with_stat)
    assert problems_too == problems and len(problems) == 3


def test_verify_with_a_sum_manifest_reports_the_sizes_it_read(tmp_path):
    """A b3sum manifest has no sizes, so verify walks without stats: the sizes it reports
    (actual_size) are the files' own, a changed file's and a new file's too."""
    root = tmp_path / "t"
    root.mkdir()
    for n in range(5):
        (root / f"f{n}.jpg").write_bytes(os.urandom(1000 * n + 3))
    (root / "big.bin").write_bytes(os.urandom(MMAP_MIN + 1))
    m = tmp_path / "m.b3"
    run_cli("manifest", str(root), "--format", "b3sum", "-o", str(m), "--no-catalog")
    (root / "f2.jpg").write_bytes(b"changed")
    (root / "new.jpg").write_bytes(b"n" * 12)
    doc = run_json(
        "verify", str(root), "--manifest", str(m), "--catalog", str(tmp_path / "c"), check=(1,)
    )
    sizes = {f["path"]: f["evidence"].get("actual_size") for f in doc["findings"]}
    assert sizes == {p.name: p.stat().st_size for p in root.iterdir()}
    outcomes = {f["path"]: f["outcome"] for f in doc["findings"]}
    assert outcomes["f2.jpg"] == "changed" and outcomes["new.jpg"] == "new"


# Runs the command line in a Python that lists, on its way out, every module it loaded.
_LISTING_RUN = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write('\\nLOADED ' + ' '.join(sys.modules) + '\\n'))\n"
    "sys.argv[0] = 'photoverify'\n"
    "from photoverify.cli import main\n"
    "main()\n"
)


def _loaded_by(*args: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", _LISTING_RUN, *args], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return set(proc.stderr.rsplit("LOADED ", 1)[1].split())


def test_a_fixity_run_loads_no_decoder(corpus: Path, tmp_path: Path) -> None:
    """verify --manifest, manifest --no-catalog and dupes --exact read bytes only: no Pillow,
    numpy, exiftool, PyAV, dask or networkx is imported; nor the scan, the plan, Apple's CSV
    reader or the other commands' modules (start-up is paid on every run)."""
    root = _tree(corpus, tmp_path)
    m = str(tmp_path / "m.b3")
    runs = [
        ("manifest", str(root), "--no-catalog", "-o", m),
        ("verify", str(root), "--manifest", m, "--catalog", str(tmp_path / "c.sqlite")),
        ("dupes", "--exact", str(root)),
    ]
    heavy = ("PIL", "numpy", "exiftool", "av", "dask", "distributed", "networkx", "scipy")
    ours = {
        "photoverify.dedupe.catalog.scan",
        "photoverify.dedupe.catalog.metadata",
        "photoverify.dedupe.catalog.apple_csv",
        "photoverify.dedupe.move.plan",
        "photoverify.dedupe.match.graph",
        "photoverify.commands.apply",
        "photoverify.commands.plan",
        "photoverify.commands.catalog",
    }
    for args in runs:
        loaded = _loaded_by(*args)
        assert "photoverify.cli" in loaded and "blake3" in loaded, loaded
        assert not {n for n in loaded if n.split(".")[0] in heavy}, args
        assert not loaded & ours, (args, loaded & ours)
        if args[0] != "dupes":  # a fixity run opens no catalog: no SQLite, no catalog records
            assert not loaded & {"sqlite3", "photoverify.dedupe.core.records"}, args
    assert not (tmp_path / "c.sqlite").exists()  # verify's fixity alone never opened it


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 5])
def test_hash_file_agrees_with_b3sum_and_hashlib_at_every_buffer_edge(tmp_path, size):
    """hash_file sizes its buffer by the file (up to CHUNK): every size around the edges of
    that buffer gives the digests b3sum and hashlib give."""
    path = tmp_path / "f"
    path.write_bytes(os.urandom(size))
    got = hash_file(path, ("blake3", "sha256"))
    b3 = subprocess.run(["b3sum", "--no-names", str(path)], capture_output=True, text=True)
    assert got == {
        "blake3": b3.stdout.strip(),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


def test_a_file_that_grows_after_its_size_was_taken_is_hashed_whole(tmp_path):
    """hash_fd reads to the end, whatever the size was when its buffer was made."""
    path = tmp_path / "f"
    path.write_bytes(b"a" * 1000)
    fd = os.open(path, os.O_RDONLY)
    try:
        buf = bytearray(os.fstat(fd).st_size + 1)  # as hash_fd makes it
        with open(path, "ab") as fh:
            fh.write(b"b" * 5000)
        assert hash_fd(fd, ("sha256",), buf) == hash_fd(fd, ("sha256",))
        assert hash_fd(fd, ("sha256",))["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    finally:
        os.close(fd)

"""Where scan work runs: a real dask.distributed LocalCluster (worker processes, loopback only)
against the local process pool, on real corpus files, through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import REPO, run_cli, run_json

from photoverify.dedupe.catalog.scan import scan
from photoverify.dedupe.catalog.store import Catalog

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

TREE = "exif-samples/jpg"  # real JPEGs: 94 in ../shared/corpus (two batches), 21 shipped
SUBTREE = "exif-samples/jpg/orientation"  # 17 of them (4 shipped), one batch


def _count(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        processes=True,
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def local_catalog(corpus, tmp_path_factory):
    db = tmp_path_factory.mktemp("local") / "c.sqlite"
    run_json("scan", str(corpus / TREE), "--catalog", str(db), "--workers", "2", check=(0, 1))
    return db


def _rows(db, under: Path | None = None) -> list[dict]:
    """Every catalog row, every column but the time it was written; or the rows under a folder,
    without their scan root too."""
    con = sqlite3.connect(db)
    try:
        cur = con.execute("SELECT * FROM files ORDER BY path")
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur]
    finally:
        con.close()
    prefix = os.fsencode(under) + b"/" if under else b""
    return [
        {k: v for k, v in row.items() if k != "scanned_at" and not (under and k == "root")}
        for row in rows
        if row["path"].startswith(prefix)
    ]


def _exiftools(nanny) -> int:
    worker = psutil.Process(nanny.process.process.pid)
    return sum("exiftool" in " ".join(p.cmdline()) for p in worker.children(recursive=True))


@pytest.mark.slow
def test_dask_scan_equals_the_local_scan_field_by_field(corpus, cluster, local_catalog, tmp_path):
    db = tmp_path / "dask.sqlite"
    out = run_json(
        "scan", str(corpus / TREE), "--catalog", str(db),
        "--executor", "dask", "--scheduler", cluster.scheduler_address, check=(0, 1),
    )  # fmt: skip
    local, remote = _rows(local_catalog), _rows(db)
    assert len(remote) == out["files"] == out["new"] == _count(corpus / TREE)
    for mine, theirs in zip(remote, local, strict=True):
        assert mine == theirs
    # one exiftool per worker process (one thread each), started by the work itself
    counts = [_exiftools(n) for n in cluster.workers.values()]
    assert max(counts) == 1 and sum(counts) >= 1, counts


def _scan_and_kill_a_worker(cluster, *roots) -> tuple[subprocess.CompletedProcess, str]:
    """Run the dask scan of `roots` (the catalog last) through the CLI and SIGKILL the first
    worker seen holding a batch: (the finished scan, the key of the batch it held)."""
    *roots, db = roots
    env = {**os.environ, "NO_COLOR": "1", "PHOTOVERIFY_SCHEDULER": cluster.scheduler_address}
    proc = subprocess.Popen(
        [sys.executable, "-m", "photoverify", "scan", *map(str, roots), "--catalog", str(db),
         "--executor", "dask", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )  # fmt: skip
    killed_key = None
    with distributed.Client(cluster.scheduler_address) as client:
        deadline = time.monotonic() + 60
        while killed_key is None and time.monotonic() < deadline and proc.poll() is None:
            for address, keys in client.processing().items():
                batches = [k for k in keys if str(k).startswith("fingerprint_batch")]
                if batches:
                    nanny = next(n for n in cluster.workers.values() if n.worker_address == address)
                    os.kill(nanny.process.process.pid, signal.SIGKILL)
                    killed_key = batches[0]
                    break
            time.sleep(0.01)
    stdout, stderr = proc.communicate(timeout=120)
    assert killed_key is not None, "the scan ended before a worker could be killed"
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), killed_key


def test_a_worker_killed_mid_scan_costs_only_its_batch(corpus, cluster, local_catalog, tmp_path):
    """The TREE with a 24 MP noise PNG beside it, whose full decode keeps its batch on a
    worker long enough to be killed: without ../shared the tree is 21 small JPEGs, which warm
    workers finished before the poll could kill one (CI, 2026-12-08)."""
    from PIL import Image

    slow = tmp_path / "slow"
    slow.mkdir()
    Image.frombytes("RGB", (6000, 4000), os.urandom(6000 * 4000 * 3)).save(slow / "noise.png")
    db = tmp_path / "dask.sqlite"
    proc, killed_key = _scan_and_kill_a_worker(cluster, corpus / TREE, slow, db)
    assert proc.returncode in (0, 1), proc.stderr
    assert json.loads(proc.stdout)["files"] == _count(corpus / TREE) + 1
    # the batch the dead worker held ran again elsewhere, and the catalog is whole and equal
    story = [t[2] for t in cluster.scheduler.transition_log if t[0] == killed_key]
    assert story.count("processing") >= 2 and story[-1] in ("memory", "released", "forgotten")
    assert _rows(db, corpus / TREE) == _rows(local_catalog, corpus / TREE)


@pytest.mark.slow
def test_a_batch_that_keeps_killing_workers_ends_the_scan_in_one_line(corpus, tmp_path):
    """dask gives up on a batch after `allowed-failures` lost workers (here none allowed): the
    scan ends with exit 3 and one line, keeping what was written."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with distributed.LocalCluster(
            processes=True, n_workers=2, threads_per_worker=1, host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as strict:  # fmt: skip
            proc, _ = _scan_and_kill_a_worker(strict, corpus / SUBTREE, tmp_path / "c.sqlite")
    assert proc.returncode == 3, proc.stderr
    assert "took down worker after worker" in proc.stderr and "Traceback" not in proc.stderr
    assert _rows(tmp_path / "c.sqlite") == []  # its one batch was lost


def test_a_dask_client_is_an_executor_for_the_library(corpus, cluster, tmp_path):
    """scan() waited with concurrent.futures.wait, which a dask future breaks
    (AttributeError: 'Future' object has no attribute '_condition')."""
    sub = corpus / "immich-test-assets/metadata/dates"
    with distributed.Client(cluster.scheduler_address) as client:
        with Catalog(tmp_path / "d.sqlite") as cat:
            result = scan([str(sub)], cat, executor=client)
            mine = [(r.path, r.blake3, r.phash) for r in cat.all_records()]
    with Catalog(tmp_path / "l.sqlite") as cat:
        scan([str(sub)], cat, workers=0)
        theirs = [(r.path, r.blake3, r.phash) for r in cat.all_records()]
    assert result.files == _count(sub) and mine == theirs


def test_the_dask_executor_needs_a_scheduler_and_never_starts_one(tmp_path):
    env = {"PHOTOVERIFY_SCHEDULER": "", "DASK_SCHEDULER_ADDRESS": ""}
    proc = run_cli("scan", str(tmp_path), "--executor", "dask", check=(2,), env=env)
    assert "needs a scheduler" in proc.stderr
    env = {"DASK_SCHEDULER_ADDRESS": "tcp://127.0.0.1:9"}  # dask's own setting is heard
    env["DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT"] = "1s"
    proc = run_cli(
        "scan", str(tmp_path), "--executor", "dask", "--catalog", str(tmp_path / "c.sqlite"),
        check=(3,), env=env,
    )  # fmt: skip
    assert "cannot reach the dask scheduler" in proc.stderr
    proc = run_cli("scan", str(tmp_path), "--scheduler", "tcp://127.0.0.1:9", check=(2,))
    assert "--executor dask" in proc.stderr


def test_a_workers_recent_decoded_facts_stay_bounded_and_keep_the_newest():
    from photoverify.dedupe.catalog.executors import RecentFacts

    facts = RecentFacts(3)
    for i in range(10):
        facts[f"digest{i}"] = {"decode_ok": True, "width": i}
    assert list(facts) == ["digest7", "digest8", "digest9"]
    assert facts["digest9"]["width"] == 9
    facts["digest8"] = {"decode_ok": False}  # a key set again stays, and nothing else goes
    assert len(facts) == 3 and "digest7" in facts

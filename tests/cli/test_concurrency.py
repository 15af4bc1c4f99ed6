"""Runs that overlap: real processes started at once on one catalog, one plan, one DEST."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, run_cli, run_json
from PIL import Image

from photoverify.dedupe.catalog.store import MIGRATIONS, SCHEMA_VERSION, Catalog
from photoverify.dedupe.core.hashing import hash_file
from photoverify.dedupe.move.journal import read_journal

# a real CLI run that waits at a gate (a file appearing) after its imports (the commands import
# the library inside themselves: the catalog's is imported here), so that several processes
# reach the catalog within a millisecond of each other
GATED_CLI = (
    "import os, runpy, sys, time\n"
    "import photoverify.cli, photoverify.dedupe.catalog\n"
    "gate = sys.argv.pop(1)\n"
    "while not os.path.exists(gate):\n"
    "    time.sleep(0.0005)\n"
    "sys.argv[0] = 'photoverify'\n"
    "runpy.run_module('photoverify', run_name='__main__')\n"
)
# `photoverify apply` that stops itself (SIGSTOP) once its first batch is announced: by then it
# holds its locks and has files in flight
STOPPING_APPLY = (
    "import os, runpy, signal, sys\n"
    "import photoverify.dedupe.move.apply as a\n"
    "write = a.Journal.write\n"
    "def stop_at_batch(self, op, **kw):\n"
    "    write(self, op, **kw)\n"
    "    if op == 'batch':\n"
    "        os.kill(os.getpid(), signal.SIGSTOP)\n"
    "a.Journal.write = stop_at_batch\n"
    "sys.argv[0] = 'photoverify'\n"
    "runpy.run_module('photoverify', run_name='__main__')\n"
)


def _env() -> dict:
    return {**os.environ, "NO_COLOR": "1"}


def _photos(folder: Path, n: int, seed: int) -> None:
    rnd = random.Random(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        im = Image.effect_noise((320, 240), 40 + rnd.random() * 60).convert("RGB")
        im.save(folder / f"IMG_{seed:02d}{i:03d}.jpg", quality=90)


def test_scans_started_at_once_on_a_new_catalog_all_succeed(tmp_path):
    """Issue 11, 10: three scans at once on a new catalog; one failed with `table files already
    exists` (exit 3). The schema is created under SQLite's write lock (BEGIN IMMEDIATE)."""
    lib = tmp_path / "lib"
    _photos(lib, 2, 1)
    for trial in range(3):  # the old code failed 10 trials in 10 at this gate
        db = tmp_path / f"c{trial}.sqlite"
        gate = tmp_path / f"gate{trial}"
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    GATED_CLI,
                    str(gate),
                    "scan",
                    str(lib),
                    "--catalog",
                    str(db),
                    "--workers",
                    "0",
                    "--json",
                ],
                cwd=REPO,
                env=_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for _ in range(3)
        ]
        time.sleep(1.0)  # every process imported and waiting
        gate.touch()
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, (trial, p.returncode, err)
            assert json.loads(out)["files"] == 2
        with Catalog(db) as cat:
            assert cat.schema_version == SCHEMA_VERSION and cat.count() == 2


def test_migration_of_an_old_catalog_by_processes_at_once(tmp_path):
    """A version-1 catalog opened by several processes at once is migrated once, by one."""
    for trial in range(3):
        db = tmp_path / f"old{trial}.sqlite"
        with sqlite3.connect(db) as old:  # a version-1 file, as photoverify 1 made it
            old.executescript(MIGRATIONS[1])
            old.execute("PRAGMA user_version = 1")
        gate = tmp_path / f"gate{trial}"
        code = (
            "import os, sys, time\n"
            "from photoverify.dedupe.catalog.store import Catalog\n"
            "while not os.path.exists(sys.argv[2]):\n"
            "    time.sleep(0.0005)\n"
            "Catalog(sys.argv[1]).close()\n"
        )
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(db), str(gate)],
                cwd=REPO,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for _ in range(4)
        ]
        time.sleep(1.0)
        gate.touch()
        for p in procs:
            _, err = p.communicate(timeout=60)
            assert p.returncode == 0, (trial, err)
        with Catalog(db) as cat:
            assert cat.schema_version == SCHEMA_VERSION
            names = {r[0] for r in cat.db.execute("SELECT name FROM sqlite_master")}
            assert "files_size" in names


# ---- apply: one plan, one DEST -----------------------------------------------------------------


@pytest.fixture()
def two_plans(tmp_path):
    """Two libraries scanned for real and a plan for each, both into one DEST."""
    db = str(tmp_path / "c.sqlite")
    dest = tmp_path / "dest"
    plans = []
    for n in (1, 2):
        lib = tmp_path / f"lib{n}"
        _photos(lib / "a", 6, n * 10)
        _photos(lib / "b", 6, n * 10 + 1)
        plan = tmp_path / f"plan{n}.json"
        run_cli("plan", str(lib), "--dest", str(dest), "-o", str(plan), "--catalog", db, "-q",
                "--template", f"lib{n}/{{name}}")  # fmt: skip
        plans.append(plan)
    return plans, dest


def _start_stopping_apply(plan: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", STOPPING_APPLY, "apply", str(plan), "--json"],
        cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while _state(proc.pid) != "T":
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "apply never reached its first batch"
        time.sleep(0.01)
    return proc


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0]


def _assert_dest_holds_plan(plan: Path) -> None:
    data = json.loads(plan.read_text("utf-8"))
    placed = [e for e in data["entries"] if e["action"] in ("keep", "companion")]
    assert placed
    for e in placed:
        target = Path(data["dest"]) / e["target"]
        assert hash_file(str(target))["blake3"] == e["blake3"], target
    assert not list(Path(data["dest"]).rglob("*.photoverify-tmp"))


def _one_refusal_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 3 and len(lines) == 1, (proc.returncode, proc.stderr)
    return lines[0]


def test_second_apply_of_one_plan_refuses_while_the_first_runs(two_plans):
    (plan, _), dest = two_plans
    first = _start_stopping_apply(plan)
    try:
        ops_before = [r["op"] for r in read_journal(str(plan) + ".journal")]
        second = run_cli("apply", str(plan), check=False)
        line = _one_refusal_line(second)
        assert str(plan) in line and f"pid {first.pid}" in line, line
        # the refused run wrote nothing: not a journal record, not a file
        assert [r["op"] for r in read_journal(str(plan) + ".journal")] == ops_before
    finally:
        first.send_signal(signal.SIGCONT)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert json.loads(out)["ok"]
    _assert_dest_holds_plan(plan)


def test_apply_of_another_plan_into_the_same_dest_refuses(two_plans):
    (plan1, plan2), dest = two_plans
    first = _start_stopping_apply(plan1)
    try:
        second = run_cli("apply", str(plan2), check=False)
        line = _one_refusal_line(second)
        assert str(dest) in line and f"pid {first.pid}" in line, line
        assert not os.path.exists(str(plan2) + ".journal")
        assert not (dest / "lib2").exists()
        undo = run_cli("undo", str(plan1) + ".journal", check=False)
        assert str(plan1) in _one_refusal_line(undo)  # nor is the running one undone under it
    finally:
        first.send_signal(signal.SIGCONT)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    _assert_dest_holds_plan(plan1)
    run_cli("apply", str(plan2))  # now free
    _assert_dest_holds_plan(plan2)
    _assert_dest_holds_plan(plan1)


def test_a_killed_holder_leaves_no_lock_behind(two_plans):
    """flock dies with its process: after SIGKILL the same plan resumes and another plan into
    the same DEST runs, neither blocked."""
    (plan1, plan2), dest = two_plans
    first = _start_stopping_apply(plan1)
    first.kill()
    first.communicate(timeout=60)
    assert first.returncode == -signal.SIGKILL
    data = run_json("apply", str(plan2))
    assert data["ok"]
    resumed = run_json("apply", str(plan1))
    assert resumed["ok"]
    _assert_dest_holds_plan(plan1)
    _assert_dest_holds_plan(plan2)
    ops = [r["op"] for r in read_journal(str(plan1) + ".journal")]
    assert ops[0] == "begin" and "resume" in ops and ops[-1] == "finish"

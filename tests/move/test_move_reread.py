"""Issue 11.0 for apply: before `move` removes a source, the source's bytes are read and compared
with its verified copy; an unchanged size and mtime are no evidence that the bytes are the same."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
from test_apply import make_plan, real, run_apply, template_tree  # noqa: F401 (fixtures)


def _journal_ops(plan: Path) -> list[dict]:
    lines = Path(str(plan) + ".journal").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _fresh(base: Path, work: Path, dest: Path) -> Path:
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(dest, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copytree(base / "src", work / "src", copy_function=shutil.copy2)
    make_plan(work / "src", dest, work / "plan.json", work / "c.db")
    return work / "plan.json"


def test_move_keeps_a_source_changed_in_place_after_it_was_copied(template_tree, tmp_path):  # noqa: F811
    if not os.path.isdir("/dev/shm"):
        pytest.skip("needs a second filesystem (/dev/shm) for a copy-then-unlink move")
    base, _ = template_tree
    shm = Path(tempfile.mkdtemp(dir="/dev/shm", prefix="pv-move-"))
    try:
        # DEST on another filesystem: move copies, verifies, then unlinks the source
        probe = _fresh(base, tmp_path / "probe", shm / "probe")
        assert run_apply(probe, mode="move").returncode == 0
        ops = _journal_ops(probe)
        first = next(n for n, op in enumerate(ops) if op["op"] == "unlink") + 1
        for n in range(max(1, first - 4), first + 8):  # threads may order the writes otherwise
            plan = _fresh(base, tmp_path / "run", shm / "dest")
            killed = run_apply(plan, mode="move", crash_after=n)
            assert killed.returncode == -signal.SIGKILL, killed.stderr
            last = _journal_ops(plan)[-1]
            if last["op"] == "unlink":  # killed after announcing it, before unlinking
                break
        else:
            pytest.fail("no crash point just before an unlink")
        source = Path(last["source"])
        st = source.stat()
        with open(source, "r+b") as fh:  # changed in place, size and mtime kept
            fh.seek(st.st_size // 2)
            b = fh.read(1)
            fh.seek(st.st_size // 2)
            fh.write(bytes([b[0] ^ 0xFF]))
        os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))
        resumed = run_apply(plan, mode="move")
        assert source.exists(), "a source whose bytes differ from its copy was removed"
        doc = json.loads(resumed.stdout)
        assert any(
            f["outcome"] == "source-changed" and f["path"] == str(source) for f in doc["findings"]
        ), doc["findings"]
    finally:
        shutil.rmtree(shm, ignore_errors=True)

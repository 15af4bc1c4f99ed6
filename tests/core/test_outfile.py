"""An output the user names is written into when it is not a regular file (a FIFO, /dev/null),
never replaced: the rename of an atomic write had turned /dev/null into a regular file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from photoverify.dedupe.core.outfile import write_output


def _drain(fifo: Path, into: list[bytes]) -> threading.Thread:
    def read() -> None:
        with open(fifo, "rb") as fh:
            into.append(fh.read())

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return t


def test_a_regular_file_is_replaced_whole_and_no_temporary_is_left(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    out.write_bytes(b"old")
    write_output(out, b"new")
    assert out.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]


def test_pieces_are_written_whole_or_not_at_all(tmp_path: Path) -> None:
    """Pieces made as they are written (a plan, a manifest): all of them make the file; a piece
    that fails half-way leaves the old file as it was and no temporary behind."""
    out = tmp_path / "plan.json"
    write_output(out, (bytes([65 + n]) * 3 for n in range(4)))
    assert out.read_bytes() == b"AAABBBCCCDDD"

    def failing():
        yield b"half"
        raise RuntimeError("encoding failed")

    with pytest.raises(RuntimeError, match="encoding failed"):
        write_output(out, failing())
    assert out.read_bytes() == b"AAABBBCCCDDD"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]


def test_a_fifo_is_written_into_and_stays_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "out"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = _drain(fifo, got)
    write_output(fifo, b"hello\n")
    reader.join(10)
    assert got == [b"hello\n"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_manifest_to_a_fifo_through_the_cli(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    (root / "a.jpg").write_bytes(b"a" * 100)
    fifo = tmp_path / "manifest.b3"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = _drain(fifo, got)
    proc = subprocess.run(
        [sys.executable, "-m", "photoverify", "manifest", str(root), "-o", str(fifo)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    reader.join(10)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert got and got[0].rstrip().endswith(b"a.jpg")

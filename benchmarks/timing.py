"""Shared timing helpers for the benchmarks: medians of repeated runs of real commands, peak
RSS of a child process, and the machine description for RESULTS.md."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from datetime import date


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}; {date.today()}"
    )


def header(module: str, args: str, tools: str) -> str:
    """The lines every benchmark section starts with: machine, tool versions, exact command."""
    return (
        f"Machine: {machine()}  \nTools: {tools}  \n"
        f"Command: `python -m benchmarks.{module} {args}`\n"
    )


def version(cmd: Sequence[str]) -> str:
    if not shutil.which(cmd[0]):
        return "not installed"
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def run_timed(
    cmd: Sequence[str] | str,
    *,
    shell: bool = False,
    before: Callable | None = None,
    repeat: int = 3,
    env: dict | None = None,
    ok_codes: tuple[int, ...] = (0,),
) -> tuple[float, int]:
    """(median wall seconds, largest peak RSS in KiB) over `repeat` runs; `before` runs untimed
    before each run (e.g. deleting a catalog). The peak is the run's own (os.wait4), which
    covers the command and the children it waited for (worker processes). An exit code outside
    `ok_codes` raises."""
    argv = ["/bin/sh", "-c", cmd] if shell else list(cmd)
    full_env = {**os.environ, **(env or {})}
    devnull = os.open(os.devnull, os.O_WRONLY)
    # posix_spawn, not fork: a forked child counts its parent's pages in its peak RSS until it
    # execs, and a benchmark parent that decoded 12 MP images is large
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
    times, peaks = [], []
    try:
        for _ in range(repeat):
            if before:
                before()
            t0 = time.perf_counter()
            pid = os.posix_spawnp(argv[0], argv, full_env, file_actions=actions)
            _, status, usage = os.wait4(pid, 0)
            times.append(time.perf_counter() - t0)
            code = os.waitstatus_to_exitcode(status)
            if code not in ok_codes:
                raise subprocess.CalledProcessError(code, cmd)
            peaks.append(usage.ru_maxrss)
    finally:
        os.close(devnull)
    return statistics.median(times), max(peaks)


def tree_stats(root: str) -> tuple[int, int]:
    files = size = 0
    for folder, _, names in os.walk(root):
        for n in names:
            p = os.path.join(folder, n)
            if os.path.isfile(p) and not os.path.islink(p):
                files += 1
                size += os.path.getsize(p)
    return files, size

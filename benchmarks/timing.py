"""Shared timing helpers for the benchmarks: medians of repeated runs of real commands, peak
RSS of a child process, and the machine description for RESULTS.md."""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import resource
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


def remove_catalog(db: str) -> None:
    """Delete a catalog and its WAL files, so that the next scan starts from none."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)


def tree_parser(doc: str) -> argparse.ArgumentParser:
    """The arguments of a benchmark measured on each of some trees: DIR... [--repeat 3]."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("dirs", nargs="+")
    parser.add_argument("--repeat", type=int, default=3)
    return parser


def per_tree(
    module: str,
    args: argparse.Namespace,
    tools: str,
    section: Callable[[str], list[str]],
    more_args: str = "",
) -> None:
    """Print the header of `python -m benchmarks.MODULE DIR... --repeat N` (+ `more_args`), then
    `section(root)` of each DIR, by its absolute path."""
    print(header(module, f"{' '.join(args.dirs)} --repeat {args.repeat}{more_args}", tools))
    for d in args.dirs:
        print("\n".join(section(os.path.abspath(d))))


def tree_heading(root: str, files: int, size: int) -> str:
    return f"#### `{root}`: {files} files, {size / 1e6:.0f} MB"


# (name, command, keywords for run_timed)
Row = tuple[str, Sequence[str] | str, dict]


def command_table(
    root: str, rows: Sequence[Row], repeat: int, rate: str
) -> tuple[list[str], dict[str, float]]:
    """Each row's command timed in turn (run_timed, `repeat` runs): the tree's heading and a table
    of median seconds, `rate` ("MB/s" or "files/s") and peak RSS; and the medians by name."""
    files, size = tree_stats(root)
    amount = {"MB/s": size / 1e6, "files/s": files}[rate]
    lines = [
        tree_heading(root, files, size),
        "",
        f"| command | median s | {rate} | peak RSS MiB |",
        "|---|---|---|---|",
    ]
    times = {}
    for name, cmd, options in rows:
        t, rss = run_timed(cmd, repeat=repeat, **options)
        times[name] = t
        lines.append(f"| {name} | {t:.2f} | {amount / t:.0f} | {rss / 1024:.0f} |")
    return lines, times


def run_sampled(
    cmd: Sequence[str], *, every: float = 1.0, progress: Callable[[], int] | None = None
) -> dict:
    """Run `cmd` once, sampling every `every` seconds the RSS of the command and of each process
    under it (workers, their exiftools): {"code", "seconds", "peak_process_mib" (the largest
    single process, as ru_maxrss reports it), "peak_tree_mib" (the largest sum over the whole
    tree at one sample), "peak_tree_pss_mib" (the same of their proportional set sizes: a page a
    fork shares counted once), "peak_main_mib", "samples": [(seconds, main MiB, tree MiB,
    progress())]}. `progress`, when given, is called at each sample (e.g. catalog rows so far)."""
    import psutil

    devnull = os.open(os.devnull, os.O_WRONLY)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
    t0 = time.perf_counter()
    pid = os.posix_spawnp(cmd[0], list(cmd), os.environ, file_actions=actions)
    os.close(devnull)
    main = psutil.Process(pid)
    samples: list[tuple] = []
    peak_tree = peak_main = peak_pss = 0.0
    while True:
        done_pid, status, usage = os.wait4(pid, os.WNOHANG)
        if done_pid:
            break
        rss, cpu, pss = [], 0.0, 0.0
        for p in [main, *main.children(recursive=True)]:
            try:
                with p.oneshot():
                    rss.append(p.memory_info().rss / 2**20)
                    t = p.cpu_times()
                    cpu += t.user + t.system + t.children_user + t.children_system
                # the proportional set size: each page a fork shares divided among its sharers,
                # so a sum over the tree counts it once (0 where the system does not tell)
                pss += getattr(p.memory_full_info(), "pss", 0)
            except psutil.Error:
                rss.append(0.0)
        peak_tree, peak_main = max(peak_tree, sum(rss)), max(peak_main, rss[0])
        peak_pss = max(peak_pss, pss / 2**20)
        done = progress() if progress else None
        now = round(time.perf_counter() - t0, 1)
        samples.append((now, round(rss[0]), round(sum(rss)), round(cpu, 1), done))
        time.sleep(every)
    return {
        "code": os.waitstatus_to_exitcode(status),
        "seconds": time.perf_counter() - t0,
        "peak_process_mib": usage.ru_maxrss / 1024,
        "peak_tree_mib": peak_tree,
        "peak_tree_pss_mib": peak_pss,
        "peak_main_mib": peak_main,
        "samples": samples,
    }


def adopt_orphans() -> None:
    """Make this process the subreaper of what it starts (Linux): a pool worker's exiftool,
    which no one waits for when its worker ends, becomes this process's child, and its CPU
    seconds count in RUSAGE_CHILDREN once `children_cpu` has waited for it."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return  # not Linux: an orphaned exiftool's CPU goes uncounted (its worker's still counts)


def _reap(seconds: float = 3.0) -> None:
    """Wait for adopted orphans to end (they are told to when their worker ends)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.02)


def children_cpu() -> float:
    """CPU seconds (user + system) of every child this process has waited for, orphans
    adopted by `adopt_orphans` included (waited for here first)."""
    _reap()
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime

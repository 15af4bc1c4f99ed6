"""Hostile input: Pillow's own Tests/images (odd, corrupt and fuzzer-found files) through
scan -> dupes -> manifest -> verify --decode -> audit, as real subprocesses.

    python -m benchmarks.bench_hostile [IMAGES_DIR] [--cache DIR] [--timeout 900]

Without IMAGES_DIR the Pillow source distribution of the installed Pillow version is fetched
(`pip download --no-deps --no-binary :all: pillow==X`) into the cache folder and unpacked.
The folder is copied to a temporary one first. For each command: wall time, peak RSS of the
command and of its largest worker (os.wait4's rusage covers the children it waited for), exit
code, tracebacks in stderr (must be 0), and the failures it reported, one line each, naming
the file. Prints a markdown section (also written to benchmarks/results/hostile.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import PIL

from benchmarks.timing import machine

HERE = Path(__file__).resolve().parent
PV = [sys.executable, "-m", "photoverify"]
RSS_LIMIT_KIB = 1024 * 1024  # 1 GiB


@dataclass
class Step:
    name: str
    argv: list[str]
    seconds: float = 0.0
    peak_kib: int = 0
    code: int | None = None
    tracebacks: int = 0
    stderr_lines: int = 0
    timed_out: bool = False
    stdout: str = ""
    failures: list[str] = field(default_factory=list)  # "path: reason", one line each


def fetch_images(cache: Path) -> Path:
    """Tests/images of the installed Pillow's sdist, downloaded and unpacked once into cache."""
    version = PIL.__version__
    unpacked = cache / f"pillow-{version}" / "Tests" / "images"
    if unpacked.is_dir():
        return unpacked
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
         f"pillow=={version}", "-d", str(cache)],
        check=True,
    )  # fmt: skip
    sdist = next(cache.glob(f"pillow-{version}.tar.gz"))
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if "/Tests/images/" in m.name and m.isreg()]
        tar.extractall(cache, members=members, filter="data")
    return unpacked


def run_step(step: Step, workdir: Path, timeout: float, env: dict) -> Step:
    """Run one command with stdout/stderr to files; wall time, peak RSS, exit code."""
    out, err = workdir / f"{step.name}.out", workdir / f"{step.name}.err"
    actions = [
        (os.POSIX_SPAWN_OPEN, 1, str(out), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, str(err), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]
    t0 = time.perf_counter()
    pid = os.posix_spawnp(step.argv[0], step.argv, env, file_actions=actions)
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.perf_counter() - t0 > timeout:
            step.timed_out = True
            os.kill(pid, 9)
            _, status, usage = os.wait4(pid, 0)
            break
        time.sleep(0.05)
    step.seconds = time.perf_counter() - t0
    step.peak_kib = usage.ru_maxrss
    step.code = os.waitstatus_to_exitcode(status)
    text = err.read_text(errors="replace")
    step.tracebacks = text.count("Traceback (most recent call last)")
    step.stderr_lines = len(text.splitlines())
    step.stdout = out.read_text(errors="replace")
    return step


def _failures(step: Step, root: Path) -> list[str]:
    """The failures a command reported in its JSON, as 'path: reason' lines, paths relative
    to root (the copied folder)."""
    try:
        data = json.loads(step.stdout)
    except json.JSONDecodeError:
        return [f"(no JSON on stdout: {step.stdout[:200]!r})"] if step.stdout else []
    lines = []
    if step.name == "scan":
        lines = [f"{e['path']}: {e['error']}" for e in data.get("errors", [])]
    elif step.name in ("verify", "audit"):
        for f in data.get("findings", []):
            if f.get("severity") == "error":
                message = f["message"].removeprefix(f"{f['path']}: ")
                lines.append(f"{f['path']}: {f['outcome']}: {message}")
    prefix = f"{root}/"
    return [line.replace(prefix, "") for line in lines]


def reason_kind(line: str) -> str:
    """The kind of a failure line (its file and the file's own details dropped), for counting:
    'does not decode: OSError' from 'a.tif: does not decode: OSError: decoder error -2'."""
    parts = [p for p in line.split(": ")[1:] if p != "does not decode"]
    outcome = parts[:1] if parts and parts[0] in ("decode-failed", "truncated") else []
    return ": ".join(parts[: len(outcome) + 1])


def run(images: Path, timeout: float, workers: int | None = None) -> tuple[list[Step], int]:
    """The five commands over a copy of `images`: (their Steps, files in the folder)."""
    base = Path(tempfile.mkdtemp(prefix="pv-hostile-"))
    try:
        lib = base / "images"
        shutil.copytree(images, lib, symlinks=True)
        copy = base / "copy"  # audit's DEST: a separate tree with the same files
        shutil.copytree(lib, copy, symlinks=True)
        files = sum(1 for p in lib.rglob("*") if p.is_file() or p.is_symlink())
        db, manifest = base / "catalog.sqlite", base / "images.b3sum"
        env = {
            **os.environ,
            "NO_COLOR": "1",
            "PHOTOVERIFY_CATALOG": str(db),
            "XDG_CACHE_HOME": str(base / "cache"),  # the decode cache is beside db: new too
        }
        w = [] if workers is None else ["--workers", str(workers)]
        steps = [
            Step("scan", [*PV, "scan", str(lib), "-q", "--json", *w]),
            Step("dupes", [*PV, "dupes", "--json"]),
            Step("manifest", [*PV, "manifest", str(lib), "-o", str(manifest), "--json"]),
            Step(
                "verify",
                [*PV, "verify", str(lib), "--manifest", str(manifest), "--decode", "--json", *w],
            ),  # fmt: skip
            Step("audit", [*PV, "audit", str(lib), "--against", str(copy), "-q", "--json"]),
        ]
        for step in steps:
            run_step(step, base, timeout, env)
            step.failures = _failures(step, lib)
            step.stdout = ""
        return steps, files
    finally:
        shutil.rmtree(base, ignore_errors=True)


def markdown(steps: list[Step], files: int, source: str) -> str:
    lines = [
        "## Hostile input: Pillow's Tests/images\n",
        f"Machine: {machine()} (shared with other jobs while measured: times are indicative)  ",
        f"Input: {files} files of {source}, copied to a temporary folder  ",
        "Command: `python -m benchmarks.bench_hostile` (fetches the sdist when not given a folder)"
        "\n",
        "| command | wall s | peak RSS MiB | exit | tracebacks | stderr lines | failures |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in steps:
        code = "killed (timeout)" if s.timed_out else str(s.code)
        lines.append(
            f"| {s.name} | {s.seconds:.1f} | {s.peak_kib / 1024:.0f} | {code} | {s.tracebacks} "
            f"| {s.stderr_lines} | {len(s.failures)} |"
        )
    ok = all(
        not s.timed_out and s.tracebacks == 0 and s.peak_kib < RSS_LIMIT_KIB and s.code in (0, 1)
        for s in steps
    )
    multi = [f for s in steps for f in s.failures if "\n" in f]
    lines += [
        "",
        f"Acceptance (no traceback, no hang, peak RSS < 1 GiB, exit 0 or 1, every failure one "
        f"line naming its file): **{'met' if ok and not multi else 'NOT met'}**.",
        "",
    ]
    for s in steps:
        if not s.failures:
            continue
        kinds = Counter(reason_kind(f) for f in s.failures)
        lines.append(f"`{s.name}` failure reasons ({len(s.failures)} files):\n")
        lines += [f"- {n} x {k}" for k, n in kinds.most_common(25)]
        lines += ["", "<details><summary>every line</summary>", "", "```"]
        lines += sorted(s.failures)
        lines += ["```", "", "</details>", ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("images", nargs="?", help="a Tests/images folder (default: fetch)")
    parser.add_argument("--cache", default=str(HERE / "out" / "pillow-sdist"))
    parser.add_argument("--timeout", type=float, default=900.0, help="per command, seconds")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", default=str(HERE / "results" / "hostile.md"))
    parser.add_argument("--list", help="also write every failure line to this file")
    args = parser.parse_args(argv)
    images = Path(args.images) if args.images else fetch_images(Path(args.cache))
    steps, files = run(images, args.timeout, args.workers)
    text = markdown(steps, files, f"Pillow {PIL.__version__} `Tests/images`")
    Path(args.out).write_text(text)
    if args.list:
        Path(args.list).write_text("".join(f"{s.name}\t{f}\n" for s in steps for f in s.failures))
    sys.stdout.write(text)


if __name__ == "__main__":
    main()

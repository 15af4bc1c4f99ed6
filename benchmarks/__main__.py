"""Run every benchmark and write benchmarks/RESULTS.md (`make bench` or `python -m benchmarks`).

Each benchmark is a module that can also run on its own; its markdown goes to
benchmarks/results/<name>.md. RESULTS.md is the summary followed by those sections, and more: the
readings written beside a section, and runs made by hand (a million files, extra trees), live
only there. So a benchmark run again replaces, in RESULTS.md, the text its previous run left there
and nothing else (a section not found there is added at the end); `--assemble-only` builds
RESULTS.md from results/ alone, dropping what was written by hand. A quick pass for a smaller
machine: `python -m benchmarks --quick`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.timing import machine

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
SECTIONS = HERE / "results"
CORPUS = HERE.parents[1] / "shared" / "corpus" / "real"
LIB12 = HERE / "out" / "lib12mp"
ORDER = (
    "library",
    "scan",
    "phash",
    "hash",
    "fixity",
    "exact",
    "metadata",
    "dupes",
    "index",
    "apply",
    "metamerge",
    "scale",
    "dask",
    "manifest",
    "hostile",
)
# Pillow's Tests/images, when unpacked here already; otherwise bench_hostile fetches the sdist
PILLOW_IMAGES = os.environ.get("PILLOW_TEST_IMAGES", "")


def _capture(module: str, argv: list[str]) -> str:
    """Run `python -m benchmarks.MODULE ARGV` in a process of its own and return its markdown:
    a small parent keeps the peak-RSS figures of what it launches clean (see timing.py)."""
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *argv],
        stdout=subprocess.PIPE,
        check=True,
        text=True,
    )
    return proc.stdout


def run(name: str, quick: bool) -> str:
    """One benchmark's markdown section."""
    repeat = "1" if quick else "3"
    if name == "scan":
        out = "## Scan throughput\n\n" + _capture("bench_scan", [str(CORPUS), "--repeat", repeat])
        if not quick:
            if not (LIB12 / "truth.json").exists():
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "benchmarks.make_library",
                        str(LIB12),
                        "--photos",
                        "340",
                        "--seed",
                        "12",
                        "--size",
                        "12mp",
                    ],
                    check=True,
                )
            # a full-decode scan of 2,000 12 MP files takes minutes: measured once
            out += "\n" + _capture(
                "bench_scan", [str(LIB12), "--repeat", repeat, "--full-repeat", "1"]
            )
        return out
    if name == "library":
        import shutil
        import tempfile

        from benchmarks.timing import run_timed

        out_dir = Path(tempfile.mkdtemp(prefix="pv-lib-")) / "lib"
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.make_library",
            str(out_dir),
            "--photos",
            "334",
            "--seed",
            "5",
            "--size",
            "small",
        ]
        seconds, rss = run_timed(
            cmd, before=lambda: shutil.rmtree(out_dir, ignore_errors=True), repeat=int(repeat)
        )
        files = sum(1 for p in out_dir.rglob("*") if p.is_file()) - 1  # truth.json
        shutil.rmtree(out_dir.parent, ignore_errors=True)
        return (
            "## Sample library generator\n\n"
            f"Command: `{' '.join(['python', *cmd[1:]])}` (median of {repeat})\n\n"
            f"{files} files in {seconds:.1f} s ({files / seconds:.0f} files/s), peak RSS "
            f"{rss / 1024:.0f} MiB. The 12 MP library of the scan benchmark "
            f"(`--photos 340 --seed 12 --size 12mp`) is made once and reused.\n"
        )
    if name == "phash":
        out = "## Fast-path perceptual hashes beside full decodes (real corpus)\n\n"
        out += _capture("bench_phash", [str(CORPUS)])
        if LIB12.exists():
            out += "\nGenerated 12 MP library:\n\n" + _capture("bench_phash", [str(LIB12)])
        return out
    if name == "hash":
        dirs = [str(CORPUS)] + ([str(LIB12)] if LIB12.exists() else [])
        return "## Content hashing\n\n" + _capture("bench_hash", [*dirs, "--repeat", repeat])
    if name in ("fixity", "exact"):
        # the 12 MP library (the real corpus x7 without it) and a tree of small files
        trees = [str(CORPUS)] if quick else []
        out = SECTIONS / f"{name}.md"
        argv = [*trees, "--small", "2000" if quick else "20000", "--repeat", repeat]
        subprocess.run(
            [sys.executable, "-m", f"benchmarks.bench_{name}", *argv, "--out", str(out)],
            check=True,
        )
        return out.read_text()
    if name == "metadata":
        dirs = [str(CORPUS)] + ([str(LIB12)] if LIB12.exists() else [])
        return "## Metadata\n\n" + _capture("bench_metadata", [*dirs, "--repeat", repeat])
    if name == "dupes":
        out = _capture("bench_dupes", ["--from", str(CORPUS), "--repeat", repeat])
        if not quick:
            out += "\n" + _capture("bench_dupes", ["--photos", "150", "--repeat", repeat])
        return out
    if name == "index":
        subprocess.run([sys.executable, "-m", "benchmarks.bench_index"], check=True)
        return (SECTIONS / "index.md").read_text()
    if name == "metamerge":
        files = ["--files", "50"] if quick else []
        return _capture("bench_metamerge", [*files, "--repeat", repeat])
    if name == "apply":
        # a small tree (noisy: well under a second) with more runs, and a larger one
        sizes = [("100", "1")] if quick else [("500", "5"), ("2000", "3")]
        parts = []
        for mb, runs in sizes:
            out = SECTIONS / f"apply-{mb}.md"
            subprocess.run(
                [sys.executable, "-m", "benchmarks.bench_apply", "--mb", mb, "--runs", runs,
                 "--out", str(out)],
                check=True,
            )  # fmt: skip
            parts.append(out.read_text())
            out.unlink()
        return "\n".join(parts)
    if name == "scale":
        files = "5000" if quick else "100000"
        out = "## Scale\n\n" + _capture("bench_scale", ["--files", files])
        counts = ["2000", "6000"] if quick else ["10000", "30000"]
        per_file = _capture("bench_scale", ["--per-file-cpu", *counts])
        return out + "\n### Fresh-scan CPU per file as the catalog grows\n\n" + per_file
    if name == "dask":
        root = str(CORPUS / "exif-samples")
        return "## dask cluster vs process pool\n\n" + _capture(
            "bench_dask", ["--root", root, "--repeat", repeat]
        )
    if name == "manifest":
        sizes = ["100000"] if quick else ["100000", "1000000"]
        subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_manifest", "--sizes", *sizes, "--repeat",
             repeat],
            check=True,
        )  # fmt: skip
        return (SECTIONS / "manifest.md").read_text()
    if name == "hostile":
        args = [PILLOW_IMAGES] if PILLOW_IMAGES and Path(PILLOW_IMAGES).is_dir() else []
        subprocess.run([sys.executable, "-m", "benchmarks.bench_hostile", *args], check=True)
        return (SECTIONS / "hostile.md").read_text()
    raise SystemExit(f"unknown benchmark {name!r}; choose from {', '.join(ORDER)}")


def merge_section(previous: str, section: str) -> None:
    """Put a benchmark's new `section` into RESULTS.md in place of the `previous` text its last run
    wrote there, keeping everything around it; at the end when that text is not there (never run,
    or edited by hand since). RESULTS.md is assembled from results/ when it does not exist."""
    if not RESULTS.exists():
        assemble()
        return
    text = RESULTS.read_text()
    previous = previous.strip()
    if previous and previous in text:
        text = text.replace(previous, section.strip(), 1)
    else:
        text = text.rstrip("\n") + "\n\n" + section.strip() + "\n"
    RESULTS.write_text(text)


def assemble() -> None:
    """RESULTS.md = the hand-written summary (results/summary.md) + every section present."""
    parts = [f"# photoverify benchmarks\n\nMachine: {machine()}\n"]
    summary = SECTIONS / "summary.md"
    if summary.exists():
        parts.append(summary.read_text())
    parts += [(SECTIONS / f"{n}.md").read_text() for n in ORDER if (SECTIONS / f"{n}.md").exists()]
    RESULTS.write_text("\n\n".join(p.strip() for p in parts) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", default=list(ORDER), help=", ".join(ORDER))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--assemble-only", action="store_true")
    args = parser.parse_args(argv)
    SECTIONS.mkdir(exist_ok=True)
    if not args.assemble_only:
        failed = []
        for name in args.names:
            print(f"benchmark: {name}", file=sys.stderr)
            path = SECTIONS / f"{name}.md"
            previous = path.read_text() if path.exists() else ""  # some benchmarks write it
            try:
                section = run(name, args.quick)
            except (subprocess.CalledProcessError, OSError) as exc:
                print(f"benchmark {name} failed: {exc}", file=sys.stderr)
                failed.append(name)
                continue
            path.write_text(section)
            merge_section(previous, section)
        if failed:
            print(
                f"failed: {', '.join(failed)} (their old sections, if any, are kept)",
                file=sys.stderr,
            )
    else:
        assemble()
    print(f"wrote {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()

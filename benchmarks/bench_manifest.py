"""Reading big manifests: `python -m benchmarks.bench_manifest [--sizes 100000 1000000]`.

For each format photoverify reads (the four line formats, hashdeep, a BagIt bag, photoverify's
JSON) a manifest of n entries is written in that format's own layout (`render_manifest`, and a
bag's tag files by hand), then `read_manifest` loads it in a fresh subprocess whose wall time
and peak RSS (VmHWM of that child alone) are recorded. Medians of `--repeat` runs are
written as markdown to benchmarks/results/manifest.md. Names look like a photo library's:
`2019/07/IMG_0012345.JPG`. The interpreter alone (imports done, nothing read) is measured too,
so the cost of an entry can be read off.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.timing import machine

RESULTS = Path(__file__).resolve().parent / "results" / "manifest.md"
FORMATS = ("b3sum", "sha256sum", "sha1sum", "md5sum", "hashdeep", "bagit", "json")
HEX = {"b3sum": 64, "sha256sum": 64, "sha1sum": 40, "md5sum": 32}


def entry_names(n: int) -> list[str]:
    return [f"{2000 + i % 25}/{1 + i % 12:02d}/IMG_{i:07d}.JPG" for i in range(n)]


def write(fmt: str, n: int, out: Path) -> Path:
    """A manifest of n entries in `fmt` under `out`; returns what read_manifest is given."""
    from photoverify.verify.manifest import Manifest, ManifestEntry, render_manifest
    from photoverify.verify.manifest.entries import DEFAULT_ALGORITHM, HEX_LENGTH

    alg = DEFAULT_ALGORITHM[fmt]
    digits = HEX_LENGTH[alg]
    entries = [
        ManifestEntry(name, {alg: f"{i:0{digits}x}"}, size=1_000_000 + i)
        for i, name in enumerate(entry_names(n))
    ]
    if fmt == "bagit":
        bag = out / "bag"
        bag.mkdir()
        (bag / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
        with open(bag / f"manifest-{alg}.txt", "w", encoding="utf-8") as fh:
            fh.writelines(f"{e.digests[alg]}  data/{e.path}\n" for e in entries)
        return bag
    path = out / f"manifest.{fmt}"
    path.write_bytes(render_manifest(Manifest(alg, fmt, entries, str(path), "/library")))
    return path


def load_child(target: str) -> None:
    """In the child: import, read the manifest (unless `-`), print seconds, peak KiB, count."""
    from photoverify.verify.manifest import read_manifest

    t = time.perf_counter()
    count = 0 if target == "-" else len(read_manifest(target).entries)
    seconds = time.perf_counter() - t
    print(json.dumps({"seconds": seconds, "rss_kib": peak_rss_kib(), "entries": count}))


def peak_rss_kib() -> int:
    """This process's peak RSS since exec (VmHWM). Not getrusage's ru_maxrss: that keeps the
    high-water mark from before exec, i.e. of the parent that forked us (here, the parent has
    just built a million entries to write the manifest)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(target: str, repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_manifest", "--child", target],
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(proc.stdout))
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "rss_mib": max(r["rss_kib"] for r in runs) / 1024,
        "entries": runs[0]["entries"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--formats", nargs="+", default=list(FORMATS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--note", default="", help="a paragraph added to the section")
    args = parser.parse_args(argv)
    if args.child:
        load_child(args.child)
        return
    base = measure("-", args.repeat)
    rows = []
    for n in args.sizes:
        for fmt in args.formats:
            with tempfile.TemporaryDirectory(prefix="pv-bench-manifest-") as tmp:
                target = write(fmt, n, Path(tmp))
                size = sum(
                    p.stat().st_size for p in ([target] if target.is_file() else target.iterdir())
                )
                m = measure(str(target), args.repeat)
            assert m["entries"] == n, (fmt, n, m)
            rows.append((fmt, n, size, m))
            print(f"{fmt} {n}: {m['seconds']:.2f} s, {m['rss_mib']:.0f} MiB", file=sys.stderr)
    lines = [
        "## Reading manifests",
        "",
        f"Machine: {machine()}  ",
        f"Command: `python -m benchmarks.bench_manifest --sizes {' '.join(map(str, args.sizes))}"
        f" --repeat {args.repeat}`",
        "",
        "`read_manifest` in a fresh process per run: median wall seconds of the read alone, and",
        "the child's peak RSS (the largest of the runs). The interpreter with photoverify",
        f"imported and nothing read peaks at {base['rss_mib']:.0f} MiB.",
        "",
        "| format | entries | file MB | load s | entries/s | peak RSS MiB | B/entry over idle |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for fmt, n, size, m in rows:
        per = (m["rss_mib"] - base["rss_mib"]) * 2**20 / n
        lines.append(
            f"| {fmt} | {n:,} | {size / 1e6:.0f} | {m['seconds']:.2f} | "
            f"{n / m['seconds']:,.0f} | {m['rss_mib']:.0f} | {per:.0f} |"
        )
    if args.note:
        lines += ["", args.note]
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()

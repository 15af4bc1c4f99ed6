"""The cost of the metadata merge (plan --merge-metadata, apply's metadata step) per 1,000 files.

    python -m benchmarks.bench_metamerge [--files 200] [--pixels 1600x1200] [--repeat 3]

A library of N distinct JPEGs with no metadata, each with a Google Takeout JSON sidecar that
holds its capture time and position (so every keeper receives two fields), is scanned once.
Timed, alternating in the same minute: building the plan with and without the merge decision
(`plan_with_merges`, as `plan --merge-metadata`: one exiftool read of the files involved, and
the plan built again for keepers whose capture time arrives), and `apply --mode copy` of each plan
into a fresh DEST (the merge step: copy, exiftool write, two decodes, BLAKE3, fsync, rename).
The difference of medians is the merge's cost; it is given per 1,000 files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.timing import header, version
from photoverify.dedupe.catalog.scan import scan
from photoverify.dedupe.catalog.store import Catalog
from photoverify.dedupe.match.graph import DupesOptions, find_duplicates
from photoverify.dedupe.move.apply import apply_plan
from photoverify.dedupe.move.metasources import plan_with_merges
from photoverify.dedupe.move.plan import build_plan
from photoverify.dedupe.move.planfile import write_plan
from photoverify.verify.manifest import render_b3sum


def make_library(root: Path, files: int, size: tuple[int, int]) -> None:
    root.mkdir(parents=True)
    rng = np.random.default_rng(17)
    for n in range(files):
        blocks = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        photo = root / f"IMG_{n:05d}.JPG"
        Image.fromarray(blocks).resize(size, Image.Resampling.BILINEAR).save(photo, quality=90)
        side = photo.with_name(photo.name + ".supplemental-metadata.json")
        side.write_text(
            json.dumps(
                {
                    "title": photo.name,
                    "photoTakenTime": {"timestamp": str(1500000000 + 3600 * n)},
                    "geoData": {
                        "latitude": 40 + n / 1000,
                        "longitude": -3 - n / 1000,
                        "altitude": 0,
                    },
                }
            )
        )


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def bench(files: int, size: tuple[int, int], repeat: int) -> str:
    load = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="bench-metamerge-"))
    try:
        src = work / "src"
        make_library(src, files, size)
        with Catalog(work / "c.sqlite") as cat:
            scan([str(src)], cat)
            records = list(cat.all_records())
        dupes = find_duplicates(records, DupesOptions())
        dest = str(work / "dest")

        def plain(recs=records):
            return build_plan(recs, dupes, dest, roots=[str(src)], catalog="c", options={})

        times: dict[str, list[float]] = {
            k: [] for k in ("plan", "plan+merge", "apply", "apply+merge")
        }
        merged = 0
        for _ in range(repeat):
            t = time.perf_counter()
            p0 = plain()
            times["plan"].append(time.perf_counter() - t)
            t = time.perf_counter()
            p1 = plan_with_merges(records, dupes, plain)  # as `plan --merge-metadata` does
            times["plan+merge"].append(time.perf_counter() - t)
            merged = sum(1 for e in p1.entries if e.merge and e.merge["fields"])
            for name, plan in (("apply", p0), ("apply+merge", p1)):
                shutil.rmtree(dest, ignore_errors=True)
                path = work / f"{name}.json"
                for leftover in (path, Path(f"{path}.journal")):
                    leftover.unlink(missing_ok=True)
                write_plan(plan, path)
                t = time.perf_counter()
                result = apply_plan(path, render_manifest=render_b3sum)
                times[name].append(time.perf_counter() - t)
                assert result.ok and not result.findings, [f.line() for f in result.findings]
        med = {k: _median(v) for k, v in times.items()}
        per = 1000 / max(merged, 1)
        lines = [
            "## Metadata merge: cost per 1,000 files",
            "",
            header(
                "bench_metamerge",
                f"--files {files} --pixels {size[0]}x{size[1]} --repeat {repeat}",
                version(["exiftool", "-ver"]) + " (exiftool)",
            ),
            f"Load average at the start: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} (a machine "
            "shared with other jobs: figures are upper bounds). "
            f"{files} JPEGs of {size[0]}x{size[1]}, each with a Takeout JSON sidecar; "
            f"{merged} keepers receive capture time and GPS. Medians of {repeat} runs, the two "
            "contenders alternating.",
            "",
            "| step | without merge (s) | with merge (s) | merge cost (s) | per 1,000 files (s) |",
            "|---|---|---|---|---|",
        ]
        for step in ("plan", "apply"):
            a, b = med[step], med[f"{step}+merge"]
            lines.append(f"| {step} | {a:.2f} | {b:.2f} | {b - a:.2f} | {(b - a) * per:.1f} |")
        return "\n".join(lines) + "\n"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--pixels", default="1600x1200")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", help="write the markdown here too")
    args = ap.parse_args()
    w, h = (int(x) for x in args.pixels.split("x"))
    text = bench(args.files, (w, h), args.repeat)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()

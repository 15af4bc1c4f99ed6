"""Fast-path perceptual hashes (JPEG draft decode, HEIC thumbnail) beside full decodes.

    python -m benchmarks.bench_phash [DIR]      (default: ../shared/corpus/real)

For every image that decodes, prints the Hamming distance between the fast-path and the
full-decode pHash and dHash, and the median time of each path. The fast path is kept only for
formats where the distances stay within what `dupes` treats as the same photo.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import imagehash

from photoverify.dedupe.catalog.fingerprint import image_facts
from photoverify.dedupe.catalog.metadata import MetadataReader
from photoverify.dedupe.catalog.sniff import DECODABLE_IMAGES, classify

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "real"


def distance(a: str, b: str) -> int:
    return imagehash.hex_to_hash(a) - imagehash.hex_to_hash(b)


SAMPLE = 300  # a full decode of a 12 MP HEIC costs ~0.4 s: larger folders are sampled


def measure(
    folder: Path, limit: int = SAMPLE
) -> dict[str, list[tuple[str, int, int, float, float]]]:
    files = sorted(str(p) for p in folder.rglob("*") if p.is_file())
    if len(files) > limit:  # every k-th file: deterministic, and spread over every folder
        files = files[:: -(-len(files) // limit)]
    with MetadataReader() as reader:
        metas = reader.read(files)
    rows: dict[str, list] = {}
    for path, meta in zip(files, metas, strict=True):
        kind, fmt = classify(meta.file_type, meta.mime_type, path)
        if kind != "image" or fmt not in DECODABLE_IMAGES:
            continue
        t0 = time.perf_counter()
        fast = image_facts(path, fmt, fast=True)
        t1 = time.perf_counter()
        full = image_facts(path, fmt, fast=False)
        t2 = time.perf_counter()
        if not (fast.decode_ok and full.decode_ok and fast.phash) or fast.method == "full":
            continue
        rows.setdefault(fast.method, []).append(
            (
                path,
                distance(fast.phash, full.phash),
                distance(fast.dhash, full.dhash),
                t1 - t0,
                t2 - t1,
            )
        )
    return rows


def main(argv: list[str]) -> None:
    folder = Path(argv[0]) if argv else DEFAULT_DIR
    rows = measure(folder)
    total = sum(1 for p in folder.rglob("*") if p.is_file())
    if total > SAMPLE:
        print(f"(a sample: every {-(-total // SAMPLE)}th of {total} files)\n")
    print(
        "| fast path | files | pHash distance median / max | dHash distance median / max "
        "| fast median ms | full median ms |"
    )
    print("|---|---|---|---|---|---|")
    for method, items in sorted(rows.items()):
        ph = [r[1] for r in items]
        dh = [r[2] for r in items]
        print(
            f"| {method} | {len(items)} | {statistics.median(ph)} / {max(ph)} | "
            f"{statistics.median(dh)} / {max(dh)} | "
            f"{statistics.median(r[3] for r in items) * 1000:.1f} | "
            f"{statistics.median(r[4] for r in items) * 1000:.1f} |"
        )
    for method, items in sorted(rows.items()):
        worst = sorted(items, key=lambda r: -r[1])[:5]
        for path, ph, dh, _, _ in worst:
            print(f"  {method} worst: pHash {ph:2d} dHash {dh:2d}  {path}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])

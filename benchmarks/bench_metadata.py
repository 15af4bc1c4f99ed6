"""photoverify's metadata phase beside `exiftool -r -json` on the same files.

    python -m benchmarks.bench_metadata DIR [DIR...] [--repeat 3]

photoverify's phase is what a scan's workers do: one long-lived exiftool (`-stay_open`, through
pyexiftool) per worker reading batches of 48 files, then the normalization to capture time, GPS,
camera and ids. It is timed in one worker and in two (as `scan` runs on this 2-core machine).
"""

from __future__ import annotations

import sys

from benchmarks.timing import command_table, per_tree, tree_parser, version
from photoverify.dedupe.catalog.metadata import TAGS
from photoverify.dedupe.catalog.scan import BATCH_FILES

PHASE = """
import os, sys
from concurrent.futures import ProcessPoolExecutor
from photoverify.dedupe.catalog.metadata import MetadataReader

def read(paths):
    with MetadataReader() as reader:
        for i in range(0, len(paths), {batch}):
            reader.read(paths[i:i + {batch}])
    return len(paths)

root, workers = sys.argv[1], int(sys.argv[2])
paths = sorted(os.path.join(d, n) for d, _, names in os.walk(root) for n in names)
if workers == 1:
    read(paths)
else:
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(read, [paths[i::workers] for i in range(workers)]))
"""


def bench(root: str, repeat: int) -> list[str]:
    code = PHASE.format(batch=BATCH_FILES)
    exit_1_ok = {"ok_codes": (0, 1)}  # exiftool exits 1 when some file cannot be read
    rows = [
        ("photoverify metadata phase, 1 worker", [sys.executable, "-c", code, root, "1"], {}),
        (
            "photoverify metadata phase, 2 workers (as scan)",
            [sys.executable, "-c", code, root, "2"],
            {},
        ),
        ("exiftool -r -j (all tags)", ["exiftool", "-r", "-j", "-q", "-q", root], exit_1_ok),
        (
            "exiftool -r -j -a -G0:1 -n (photoverify's tags)",
            [
                "exiftool",
                "-r",
                "-j",
                "-a",
                "-G0:1",
                "-n",
                "-q",
                "-q",
                *[f"-{t}" for t in TAGS],
                root,
            ],
            exit_1_ok,
        ),
    ]
    lines, times = command_table(root, rows, repeat, "files/s")
    one, two, et = (times[rows[0][0]], times[rows[1][0]], times[rows[2][0]])
    lines += [
        "",
        f"Ratios: 1 worker / exiftool -r -j = {one / et:.2f}; 2 workers / exiftool -r "
        f"-j = {two / et:.2f}.",
        "",
    ]
    return lines


def main(argv: list[str] | None = None) -> None:
    args = tree_parser(__doc__).parse_args(argv)
    tools = f"exiftool {version(['exiftool', '-ver'])}"
    per_tree("bench_metadata", args, tools, lambda root: bench(root, args.repeat))


if __name__ == "__main__":
    main()

"""Scan throughput beside b3sum and exiftool on the same files, the re-scan speed-up, and the
fast-path perceptual hash beside the full decode.

    python -m benchmarks.bench_scan DIR [DIR...] [--repeat 3]

Each DIR is measured on its own. All runs are warm-cache (the machine cannot drop caches for an
unprivileged benchmark, and the first run warms it for the others): the figures compare CPU work.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

from benchmarks.timing import (
    per_tree,
    remove_catalog,
    run_timed,
    tree_heading,
    tree_parser,
    tree_stats,
    version,
)

PV = [sys.executable, "-m", "photoverify"]


def bench_dir(root: str, repeat: int, full_repeat: int) -> list[str]:
    files, size = tree_stats(root)
    mb = size / 1e6
    tmp = tempfile.mkdtemp(prefix="pv-bench-")
    db = os.path.join(tmp, "c.sqlite")

    def fresh() -> None:
        remove_catalog(db)

    rows = []

    def add(name: str, seconds: float, rss: int, note: str = "") -> None:
        rows.append(
            f"| {name} | {seconds:.2f} | {files / seconds:.0f} | {mb / seconds:.1f} | "
            f"{rss / 1024:.0f} | {note} |"
        )

    scan = [*PV, "scan", root, "--catalog", db, "--quiet"]
    t_scan, rss = run_timed(scan, before=fresh, repeat=repeat)
    add("photoverify scan (fresh catalog)", t_scan, rss, "BLAKE3 + exiftool + pHash/dHash + decode")
    t_full, rss = run_timed([*scan, "--full-decode"], before=fresh, repeat=full_repeat)
    add("photoverify scan --full-decode", t_full, rss, "perceptual hashes from full decodes")
    run_timed(scan, before=fresh, repeat=1)
    t_re, rss = run_timed(scan, repeat=repeat)
    add(
        "photoverify scan (unchanged re-scan)",
        t_re,
        rss,
        f"**{t_scan / t_re:.0f}× faster than the first scan**",
    )
    t_b3, rss = run_timed(
        f"find '{root}' -type f -print0 | xargs -0 b3sum > /dev/null", shell=True, repeat=repeat
    )
    add("b3sum (all files)", t_b3, rss, "bytes only")
    t_sha, rss = run_timed(
        f"find '{root}' -type f -print0 | xargs -0 sha256sum > /dev/null", shell=True, repeat=repeat
    )
    add("sha256sum (all files)", t_sha, rss, "bytes only")
    # exiftool exits 1 when some file cannot be read (the library has empty and truncated ones)
    t_et, rss = run_timed(
        ["exiftool", "-r", "-j", "-q", "-q", root], repeat=repeat, ok_codes=(0, 1)
    )
    add("exiftool -r -j", t_et, rss, "metadata only, one process")
    shutil.rmtree(tmp, ignore_errors=True)
    header = [
        tree_heading(root, files, size),
        "",
        "| command | median s | files/s | MB/s | peak RSS MiB | note |",
        "|---|---|---|---|---|---|",
    ]
    ratios = [
        "",
        f"Ratios: scan / exiftool = {t_scan / t_et:.2f}; scan / b3sum = {t_scan / t_b3:.1f}; "
        f"full-decode scan / fast scan = {t_full / t_scan:.2f}; first scan / re-scan = "
        f"{t_scan / t_re:.0f}.",
        "",
    ]
    return header + rows + ratios


def main(argv: list[str] | None = None) -> None:
    parser = tree_parser(__doc__)
    parser.add_argument(
        "--full-repeat",
        type=int,
        default=None,
        help="runs of the slow --full-decode scan (default: --repeat)",
    )
    args = parser.parse_args(argv)
    full_repeat = args.full_repeat or args.repeat
    tools = (
        f"{version(['exiftool', '-ver'])} (exiftool), {version(['b3sum', '--version'])}, "
        f"{version(['sha256sum', '--version'])}"
    )
    per_tree(
        "bench_scan",
        args,
        tools,
        lambda root: bench_dir(root, args.repeat, full_repeat),
        f" --full-repeat {full_repeat}",
    )


if __name__ == "__main__":
    main()

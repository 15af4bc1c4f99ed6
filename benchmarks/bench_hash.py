"""Content hashing: photoverify's BLAKE3 pass (a manifest without the catalog) beside b3sum,
sha256sum and hashdeep on the same tree.

    python -m benchmarks.bench_hash DIR [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from benchmarks.timing import header, run_timed, tree_stats, version

PV = [sys.executable, "-m", "photoverify"]


def bench(root: str, repeat: int) -> list[str]:
    files, size = tree_stats(root)
    out = os.path.join(tempfile.mkdtemp(prefix="pv-hash-"), "m")
    rows = [
        (
            "photoverify manifest --no-catalog (BLAKE3, b3sum format)",
            [*PV, "manifest", root, "--no-catalog", "-o", out + ".b3"],
            False,
        ),
        (
            "photoverify manifest --no-catalog --algorithm sha256",
            [*PV, "manifest", root, "--no-catalog", "--format", "sha256sum", "-o", out + ".sha"],
            False,
        ),
        (
            "b3sum (via find, xargs)",
            f"find '{root}' -type f -print0 | xargs -0 b3sum >/dev/null",
            True,
        ),
        (
            "b3sum --num-threads 1",
            f"find '{root}' -type f -print0 | xargs -0 b3sum --num-threads 1 >/dev/null",
            True,
        ),
        (
            "sha256sum (via find, xargs)",
            f"find '{root}' -type f -print0 | xargs -0 sha256sum >/dev/null",
            True,
        ),
        ("hashdeep -r -c sha256", f"hashdeep -r -c sha256 '{root}' >/dev/null", True),
    ]
    lines = [
        f"#### `{root}`: {files} files, {size / 1e6:.0f} MB",
        "",
        "| command | median s | MB/s | peak RSS MiB |",
        "|---|---|---|---|",
    ]
    results = {}
    for name, cmd, shell in rows:
        t, rss = run_timed(cmd, shell=shell, repeat=repeat)
        results[name] = t
        lines.append(f"| {name} | {t:.2f} | {size / 1e6 / t:.0f} | {rss / 1024:.0f} |")
    pv = results[rows[0][0]]
    lines += [
        "",
        f"Ratio photoverify BLAKE3 / b3sum = {pv / results[rows[2][0]]:.1f}; "
        f"/ sha256sum = {pv / results[rows[4][0]]:.2f}; / hashdeep = "
        f"{pv / results[rows[5][0]]:.2f}.",
        "",
    ]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dirs", nargs="+")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    tools = (
        f"{version(['b3sum', '--version'])}, {version(['sha256sum', '--version'])}, "
        f"{version(['hashdeep', '-V'])} (hashdeep)"
    )
    print(header("bench_hash", f"{' '.join(args.dirs)} --repeat {args.repeat}", tools))
    for d in args.dirs:
        print("\n".join(bench(os.path.abspath(d), args.repeat)))


if __name__ == "__main__":
    main()

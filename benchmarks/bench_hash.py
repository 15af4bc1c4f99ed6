"""Content hashing: photoverify's BLAKE3 pass (a manifest without the catalog) beside b3sum,
sha256sum and hashdeep on the same tree.

    python -m benchmarks.bench_hash DIR [--repeat 3]
"""

from __future__ import annotations

import os
import sys
import tempfile

from benchmarks.timing import command_table, per_tree, tree_parser, version

PV = [sys.executable, "-m", "photoverify"]


def bench(root: str, repeat: int) -> list[str]:
    out = os.path.join(tempfile.mkdtemp(prefix="pv-hash-"), "m")
    shell = {"shell": True}
    rows = [
        (
            "photoverify manifest --no-catalog (BLAKE3, b3sum format)",
            [*PV, "manifest", root, "--no-catalog", "-o", out + ".b3"],
            {},
        ),
        (
            "photoverify manifest --no-catalog --algorithm sha256",
            [*PV, "manifest", root, "--no-catalog", "--format", "sha256sum", "-o", out + ".sha"],
            {},
        ),
        (
            "b3sum (via find, xargs)",
            f"find '{root}' -type f -print0 | xargs -0 b3sum >/dev/null",
            shell,
        ),
        (
            "b3sum --num-threads 1",
            f"find '{root}' -type f -print0 | xargs -0 b3sum --num-threads 1 >/dev/null",
            shell,
        ),
        (
            "sha256sum (via find, xargs)",
            f"find '{root}' -type f -print0 | xargs -0 sha256sum >/dev/null",
            shell,
        ),
        ("hashdeep -r -c sha256", f"hashdeep -r -c sha256 '{root}' >/dev/null", shell),
    ]
    lines, results = command_table(root, rows, repeat, "MB/s")
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
    args = tree_parser(__doc__).parse_args(argv)
    tools = (
        f"{version(['b3sum', '--version'])}, {version(['sha256sum', '--version'])}, "
        f"{version(['hashdeep', '-V'])} (hashdeep)"
    )
    per_tree("bench_hash", args, tools, lambda root: bench(root, args.repeat))


if __name__ == "__main__":
    main()

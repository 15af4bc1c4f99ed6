"""What the picture signature costs: a first scan with and without it, and dupes on a warm
catalog before and after pixel confirmation.

    python -m benchmarks.bench_signature scan ROOT [--repeat 5]
    python -m benchmarks.bench_signature dupes NEW_CATALOG OLD_CATALOG OLD_PYTHON [--repeat 5]

scan: fresh scans of ROOT, one with the signature and one without (the same code, its
signature step replaced by one returning None; the pool's workers are forked, so they inherit
it), alternated, each into a new catalog. dupes: `dupes --json` on each catalog by the code that
built it (OLD_PYTHON: the interpreter of a checkout from before pixel confirmation), alternated.
Both report medians and the median of the per-round ratios, and the load average.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

NO_SIGNATURE = (
    "import photoverify.dedupe.catalog.fingerprint as f; f._signature = lambda im, icc: None; "
    "from photoverify.cli import main; main()"
)


def _timed(argv: list[str], cwd: str | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _report(name_a: str, a: list[float], name_b: str, b: list[float]) -> None:
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    print(f"| {name_a} | {statistics.median(a):.2f} | {', '.join(f'{x:.2f}' for x in a)} |")
    print(f"| {name_b} | {statistics.median(b):.2f} | {', '.join(f'{x:.2f}' for x in b)} |")
    print(f"\nmedian ratio {name_a} / {name_b}: {statistics.median(ratios):.3f}")


def scan_cost(root: str, repeat: int) -> None:
    tmp = tempfile.mkdtemp(prefix="pv-sigcost-")
    with_sig, without = [], []
    print(f"load average before: {_load()}")
    try:
        for i in range(repeat):
            order = (True, False) if i % 2 == 0 else (False, True)
            for signed in order:
                db = os.path.join(tmp, f"c{i}{int(signed)}.sqlite")
                head = [sys.executable, "-m", "photoverify"] if signed else [
                    sys.executable, "-c", NO_SIGNATURE]  # fmt: skip
                t = _timed([*head, "scan", root, "--catalog", db, "--quiet"])
                (with_sig if signed else without).append(t)
        print(f"load average after: {_load()}\n")
        print("| first scan | median s | runs (s) |\n|---|---:|---|")
        _report("with signature", with_sig, "without signature", without)
        db = os.path.join(tmp, "c01.sqlite")
        print(_signature_bytes(db))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _signature_bytes(db: str) -> str:
    import sqlite3

    con = sqlite3.connect(db)
    n, avg, top = con.execute(
        "SELECT count(*), avg(length(signature)), max(length(signature)) FROM files "
        "WHERE signature IS NOT NULL"
    ).fetchone()
    con.close()
    return f"signatures: {n} images, {avg:.0f} bytes each on average, {top} at most"


def dupes_cost(new_db: str, old_db: str, old_python: str, repeat: int) -> None:
    new, old = [], []
    old_cwd = os.path.dirname(os.path.dirname(old_python.rstrip("/")))  # <checkout>/.venv/bin
    old_cwd = os.path.dirname(old_cwd)
    print(f"load average before: {_load()}")
    for i in range(repeat):
        runs = [
            ("new", [sys.executable, "-m", "photoverify", "dupes", "--catalog", new_db, "--json"],
             None),
            ("old", [old_python, "-m", "photoverify", "dupes", "--catalog", old_db, "--json"],
             old_cwd),
        ]  # fmt: skip
        for name, argv, cwd in runs if i % 2 == 0 else runs[::-1]:
            (new if name == "new" else old).append(_timed(argv, cwd))
    print(f"load average after: {_load()}\n")
    print("| dupes on the warm catalog | median s | runs (s) |\n|---|---:|---|")
    _report("with pixel confirmation", new, "before pixel confirmation", old)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    s = sub.add_parser("scan")
    s.add_argument("root")
    s.add_argument("--repeat", type=int, default=5)
    d = sub.add_parser("dupes")
    d.add_argument("new_catalog")
    d.add_argument("old_catalog")
    d.add_argument("old_python")
    d.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    if args.what == "scan":
        scan_cost(args.root, args.repeat)
    else:
        dupes_cost(args.new_catalog, args.old_catalog, args.old_python, args.repeat)


if __name__ == "__main__":
    main()

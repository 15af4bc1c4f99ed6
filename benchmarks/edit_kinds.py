"""Score `dupes --json` on a generated library against its truth: same-photo precision and
recall over image pairs, and per exported edit kind how many edits are related to their source as
`derived` under the edit's name, named otherwise, or merged with another file.

    python -m benchmarks.edit_kinds LIBRARY [--catalog DB]   (runs scan and dupes)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from itertools import combinations
from typing import Any

PV = [sys.executable, "-m", "photoverify"]


def score(result: dict[str, Any], truth: dict[str, Any], root: str) -> dict[str, Any]:
    """{"precision", "recall", "pairs", "kinds": {edit: {"n", "named", "merged", "other":
    Counter of the names given instead}}}. Pure."""
    files = {f["path"]: f for f in truth["files"]}
    images = {p for p, f in files.items() if f["kind"] == "image"}
    broken = set(truth["groups"]["broken"])

    def rel(path: str) -> str:
        return os.path.relpath(path, root)

    merged: set[tuple[str, str]] = set()
    for c in result["clusters"]:
        paths = sorted(rel(m["path"]) for m in c["members"])
        merged.update(p for p in combinations(paths, 2) if p[0] in images and p[1] in images)
    true: set[tuple[str, str]] = set()
    for group in truth["groups"]["same-photo"]:
        keep = sorted(p for p in group if p in images and p not in broken)
        true.update(combinations(keep, 2))
    hit = len(merged & true)
    names: dict[tuple[str, str], str | None] = {}
    for r in result["related"]:
        if r["kind"] == "derived":
            names[tuple(sorted((rel(r["a"]), rel(r["b"]))))] = r["evidence"].get("edit")
    kinds: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"n": 0, "named": 0, "merged": 0, "other": Counter()}
    )
    for p, f in sorted(files.items()):
        if not f.get("edit"):
            continue
        row = kinds[f["edit"]]
        row["n"] += 1
        got = names.get(tuple(sorted((p, f["source"]))), "not derived")
        row["named"] += got == f["edit"]
        if got != f["edit"]:
            row["other"][str(got)] += 1
        row["merged"] += any(p in pair for pair in merged)
    return {
        "precision": hit / len(merged) if merged else 1.0,
        "recall": hit / len(true) if true else 1.0,
        "pairs": len(true),
        "kinds": dict(kinds),
    }


def run(root: str, db: str) -> dict[str, Any]:
    subprocess.run([*PV, "scan", root, "--catalog", db, "--quiet"], check=False)
    out = subprocess.run(
        [*PV, "dupes", root, "--catalog", db, "--json"], check=True, capture_output=True
    ).stdout
    return json.loads(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("library")
    ap.add_argument("--catalog", default=None)
    args = ap.parse_args(argv)
    root = os.path.abspath(args.library)
    db = args.catalog or os.path.join(tempfile.mkdtemp(prefix="pv-kinds-"), "c.sqlite")
    with open(os.path.join(root, "truth.json"), encoding="utf-8") as fh:
        truth = json.load(fh)
    s = score(run(root, db), truth, root)
    print(f"same-photo P {s['precision']:.3f} R {s['recall']:.3f} ({s['pairs']} pairs)")
    for kind, row in sorted(s["kinds"].items()):
        other = ", ".join(f"{k} {v}" for k, v in row["other"].items())
        print(f"{kind}: named {row['named']}/{row['n']}, merged {row['merged']}  {other}")


if __name__ == "__main__":
    main()

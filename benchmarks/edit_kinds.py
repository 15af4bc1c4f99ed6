"""Score `dupes --json` on a generated library against its truth: same-photo precision and
recall over image pairs, and per exported edit kind how many edits are related to their source as
`derived` under the edit's name, named otherwise, or merged with another file.

    python -m benchmarks.edit_kinds LIBRARY [--catalog DB]   (runs scan and dupes)
    python -m benchmarks.edit_kinds --public-set OUT          (benchmarks.public_set, scored)
    python -m benchmarks.edit_kinds --held-out OUT [--photos N]

--held-out: the public set's recipe applied to the corpus photos (>= 360 px) that
`make_library --from /work/shared/corpus/real --photos N` does not take, pairwise distinct
(a tagged one converted to sRGB first: the recipe's JPEG copies carry no profile).
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


CORPUS = "/work/shared/corpus/real"


def held_out_pictures(photos: int) -> dict:
    """{name: picture} of the corpus photos a library of `photos` photos does not take."""
    import io
    from pathlib import Path

    from PIL import ImageCms

    from benchmarks.library import scene

    found = scene.find_sources(Path(CORPUS))
    probed = [
        (p, scene.phash_of(im) if (im := scene.load_source(p, 1024)) else None) for p in found
    ]
    taken = set(scene.pick_distinct(probed, scene.SELECTION_DISTANCE)[:photos])
    rest = [(p, h) for p, h in probed if p not in taken]
    out = {}
    for p in scene.pick_distinct(rest, scene.SELECTION_DISTANCE):
        im = scene.load_source(p, 768)
        if im is None or min(im.size) < 360:
            continue
        icc = im.info.pop("icc_profile", None)
        if icc:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            im = ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"))
        out[os.path.relpath(p, CORPUS).replace("/", "_")] = im
    return out


def score_set(out: str, pictures: dict | None) -> None:
    """Build the public set's recipe over `pictures` (None: the public photos) and score it."""
    from pathlib import Path

    from benchmarks import public_set

    truth = public_set.build(Path(out), pictures=pictures)
    db = os.path.join(tempfile.mkdtemp(prefix="pv-kinds-"), "c.sqlite")
    result = json.loads(
        subprocess.run(
            [*PV, "dupes", out, "--catalog", db, "--json"], check=True, capture_output=True
        ).stdout
    )
    s = public_set.score_dupes(result, truth, os.path.abspath(out))
    hit = len(s["merged"] & s["true"])
    print(f"{len({t['source'] for t in truth.values()})} sources, {len(truth)} files")
    print(
        f"same-photo P {hit / max(len(s['merged']), 1):.3f} R {hit / len(s['true']):.3f} "
        f"({len(s['true'])} pairs)"
    )
    for kind, row in sorted(s["per_kind"].items()):
        print(f"{kind}: {row}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("library", nargs="?")
    ap.add_argument("--catalog", default=None)
    ap.add_argument("--public-set", metavar="OUT")
    ap.add_argument("--held-out", metavar="OUT")
    ap.add_argument("--photos", type=int, default=330)
    args = ap.parse_args(argv)
    if args.public_set or args.held_out:
        out = args.public_set or args.held_out
        score_set(out, None if args.public_set else held_out_pictures(args.photos))
        return
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

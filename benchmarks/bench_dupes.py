"""Duplicate finding beside the peer tools, scored against a generated library's ground truth.

    python -m benchmarks.bench_dupes [--photos N] [--seed S] [--from DIR] [--size small|12mp]
                                     [--repeat 3] [--near-repeat 1] [--thresholds 6,8,10,12]

Builds (or reuses, cached under benchmarks/out/) a library with benchmarks.make_library, then:

1. Near duplicates: photoverify's clusters at each pHash threshold, imagededup (PHash,
   max_distance_threshold=10), difPy (similarity "similar", same_dim=False) and findimagedupes
   (default 90 %), all scored pairwise against the truth's same-photo groups.
2. Exact duplicates: `photoverify dupes` on a fresh and on a warm catalog beside rmlint, jdupes,
   fdupes and rdfind, and whether they report the same groups of identical files.

Prints a markdown section (benchmarks/results/dupes.md is made from it).

Scoring, stated once: a predicted pair is two files the tool put in one group; a true pair is two
files in one truth same-photo group. Identical copies count (a byte copy is the same photo, and a
finder that misses it has missed a duplicate); the "distinct bytes" columns score only the pairs
whose bytes differ, the part that needs perceptual hashing. Only image files are scored (the
truth's kind "image") in the table; a line after it scores photoverify's videos (first frames
and durations), which no peer reads.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from itertools import combinations
from pathlib import Path
from typing import Any

from benchmarks.timing import machine, remove_catalog, tree_stats, version

PV = [sys.executable, "-m", "photoverify"]
OUT = Path(__file__).resolve().parent / "out"
THRESHOLDS = (6, 8, 10, 12)
DERIVED_ROLES = {"edit", "crop"}
# findimagedupes calls VIEW once per group; a tab cannot occur in the library's names.
FID_VIEW = 'VIEW(){ printf "GROUP"; printf "\\t%s" "$@"; echo; }'

Pair = tuple[str, str]
# Runs one command and reports its wall time and the peak RSS of its process tree's largest
# process. A fresh process per run: RUSAGE_CHILDREN's maximum only ever grows within one process,
# so timing.run_timed's peak is that of the largest command run so far, not of this one.
_MEASURE = (
    "import json, resource, subprocess, sys, time\n"
    "t0 = time.perf_counter()\n"
    "subprocess.run(json.loads(sys.argv[1]), shell=sys.argv[2] == '1', check=True,"
    " stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
    "print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


# --- scoring: pure functions over path groups -------------------------------------------------


def pairs_of(groups: Iterable[Iterable[str]], universe: set[str] | None = None) -> set[Pair]:
    """Every unordered pair of two files in one group (as a sorted tuple), both in `universe`."""
    pairs: set[Pair] = set()
    for group in groups:
        members = sorted({p for p in group if universe is None or p in universe})
        pairs.update(combinations(members, 2))
    return pairs


@dataclass(frozen=True)
class Score:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        # no prediction claims nothing false
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def score(predicted: set[Pair], truth: set[Pair]) -> Score:
    return Score(len(predicted & truth), len(predicted - truth), len(truth - predicted))


def distinct_bytes(pairs: set[Pair], blake3: dict[str, str]) -> set[Pair]:
    """The pairs whose two files differ in bytes (what perceptual hashing is for)."""
    return {(a, b) for a, b in pairs if blake3.get(a) != blake3.get(b)}


def burst_merges(predicted: set[Pair], truth: dict[str, Any]) -> set[Pair]:
    """Predicted pairs joining two different frames of one burst (a copy of a frame is fine)."""
    photo = {f["path"]: f["photo_id"] for f in truth["files"]}
    burst_of = {p: i for i, group in enumerate(truth["groups"]["similar"]) for p in group}
    return {
        (a, b)
        for a, b in predicted
        if a in burst_of and burst_of.get(a) == burst_of.get(b) and photo[a] != photo[b]
    }


def derived_merges(predicted: set[Pair], truth: dict[str, Any]) -> set[Pair]:
    """Predicted pairs that put an edit or a crop with another file whose bytes differ."""
    files = {f["path"]: f for f in truth["files"]}
    return {
        (a, b)
        for a, b in predicted
        if (files[a]["role"] in DERIVED_ROLES or files[b]["role"] in DERIVED_ROLES)
        and files[a]["blake3"] != files[b]["blake3"]
    }


def group_set(groups: Iterable[Iterable[str]], keep: set[str] | None = None) -> set[frozenset]:
    """Groups as a comparable set: restricted to `keep`, without singletons."""
    out = set()
    for g in groups:
        members = frozenset(p for p in g if keep is None or p in keep)
        if len(members) > 1:
            out.add(members)
    return out


def agreement(ours: set[frozenset], theirs: set[frozenset]) -> tuple[int, int, int]:
    """(groups both report, groups only in ours, groups only in theirs)."""
    return len(ours & theirs), len(ours - theirs), len(theirs - ours)


# --- reading each tool's output -----------------------------------------------------------------


def relative(path: str, root: str) -> str:
    return os.path.relpath(path, root) if os.path.isabs(path) else os.path.normpath(path)


def photoverify_groups(result: dict[str, Any], root: str) -> list[list[str]]:
    """One group per cluster: the keeper and every member."""
    return [
        sorted({relative(c["keeper"], root)} | {relative(m["path"], root) for m in c["members"]})
        for c in result["clusters"]
    ]


def identical_within(groups: list[list[str]], blake3: dict[str, str]) -> list[list[str]]:
    """Split groups into their byte-identical parts."""
    out = []
    for g in groups:
        parts: dict[str, list[str]] = defaultdict(list)
        for p in g:
            parts[blake3.get(p, p)].append(p)
        out.extend(sorted(v) for v in parts.values() if len(v) > 1)
    return out


def blank_line_groups(text: str, root: str) -> list[list[str]]:
    """fdupes/jdupes output: one path a line, groups separated by a blank line."""
    groups, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(relative(line, root))
        elif current:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def rmlint_groups(doc: list[dict[str, Any]], root: str) -> list[list[str]]:
    by_sum: dict[str, list[str]] = defaultdict(list)
    for entry in doc:
        if entry.get("type") == "duplicate_file":
            by_sum[entry["checksum"]].append(relative(entry["path"], root))
    return list(by_sum.values())


def rdfind_groups(text: str, root: str) -> list[list[str]]:
    """rdfind's results.txt: `duptype id depth size device inode priority name`; a duplicate
    carries the negated id of its first occurrence."""
    by_id: dict[int, list[str]] = defaultdict(list)
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        fields = line.split(" ", 7)
        by_id[abs(int(fields[1]))].append(relative(fields[7], root))
    return [g for g in by_id.values() if len(g) > 1]


def findimagedupes_output(text: str, root: str) -> tuple[list[list[str]], set[str]]:
    """(groups, files fingerprinted) from `findimagedupes -v fp` with FID_VIEW."""
    groups, readable = [], set()
    for line in text.splitlines():
        if line.startswith("GROUP\t"):
            groups.append([relative(p, root) for p in line.split("\t")[1:]])
        elif "  " in line:
            readable.add(relative(line.split("  ", 1)[1], root))
    return groups, readable


# --- the peers, each run in its own process (timed from outside) -------------------------------


def run_peer(name: str, root: str, out: str) -> None:
    """Run one Python peer on `root`; write {"groups", "readable"} as JSON to `out`."""
    if name == "imagededup":
        groups, readable = _imagededup(root)
    elif name == "difpy":
        groups, readable = _difpy(root)
    else:
        raise ValueError(f"unknown peer {name}")
    Path(out).write_text(json.dumps({"groups": groups, "readable": sorted(readable)}))


def _imagededup(root: str) -> tuple[list[list[str]], set[str]]:
    import types

    import imagededup

    # The hashing methods need neither torch nor matplotlib, but the package __init__ files of
    # imagededup.methods and imagededup.utils import the CNN and plotting code: skip those two.
    for sub in ("methods", "utils"):
        mod = types.ModuleType(f"imagededup.{sub}")
        mod.__path__ = [os.path.join(imagededup.__path__[0], sub)]
        sys.modules[mod.__name__] = mod
    from imagededup.methods.hashing import PHash

    phash = PHash(verbose=False)
    encodings = phash.encode_images(image_dir=root, recursive=True)
    found = phash.find_duplicates(encoding_map=encodings, max_distance_threshold=10)
    # find_duplicates answers per file (file -> its near files): report those pairs as they are
    groups = [
        [relative(os.path.join(root, k), root), relative(os.path.join(root, v), root)]
        for k, vs in found.items()
        for v in vs
    ]
    return groups, {relative(os.path.join(root, k), root) for k in encodings}


def _difpy(root: str) -> tuple[list[list[str]], set[str]]:
    import difPy

    built = difPy.build(root, show_progress=False)
    found = difPy.search(built, similarity="similar", same_dim=False, show_progress=False)
    groups = [
        [relative(k, root)] + [relative(m[0], root) for m in v] for k, v in found.result.items()
    ]
    readable = {relative(p, root) for p in built._filename_dictionary.values()}
    return groups, readable


def measure(
    cmd: list[str] | str, *, shell: bool = False, before: Any = None, repeat: int = 3
) -> tuple[float, int]:
    """(median wall seconds, largest peak RSS in KiB) over `repeat` runs; `before` runs untimed
    before each run."""
    times, peaks = [], []
    for _ in range(repeat):
        if before:
            before()
        out = subprocess.run(
            [sys.executable, "-c", _MEASURE, json.dumps(cmd), "1" if shell else "0"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        times.append(float(out[0]))
        peaks.append(int(out[1]))
    return statistics.median(times), max(peaks)


def fmt_s(t: float | None) -> str:
    return "—" if t is None else f"{t:.3f}" if t < 0.1 else f"{t:.2f}" if t < 10 else f"{t:.1f}"


# --- the benchmark -------------------------------------------------------------------------------


def library(photos: int, seed: int, source: str | None, size: str) -> Path:
    """The cached library for these parameters, made when missing."""
    tag = Path(source).name if source else "gen"
    out = OUT / f"dupes-{tag}-p{photos}-s{seed}-{size}"
    if not (out / "truth.json").is_file():
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.make_library",
            str(out),
            "--photos",
            str(photos),
            "--seed",
            str(seed),
            "--size",
            size,
        ]
        if source:
            cmd += ["--from", source]
        subprocess.run(cmd, check=True)
    return out


def distinct_sources(source: str) -> int:
    """How many real photos make_library would take from `source` (pairwise-distinct looks)."""
    from benchmarks.library import scene

    found = scene.find_sources(Path(source))
    hashes = []
    for p in found:
        img = scene.load_source(p, 1024)
        hashes.append((p, scene.phash_of(img) if img is not None else None))
    return len(scene.pick_distinct(hashes))


class Bench:
    def __init__(self, root: Path, repeat: int, near_repeat: int, thresholds: tuple[int, ...]):
        self.root = str(root)
        self.truth = json.loads((root / "truth.json").read_text(encoding="utf-8"))
        self.repeat, self.near_repeat, self.thresholds = repeat, near_repeat, thresholds
        self.tmp = tempfile.mkdtemp(prefix="pv-dupes-")
        self.db = os.path.join(self.tmp, "catalog.sqlite")
        files = self.truth["files"]
        files = [f for f in files if f["path"] != "truth.json"]
        self.files = {f["path"]: f for f in files}
        self.blake3 = {f["path"]: f["blake3"] for f in files}
        self.images = {f["path"] for f in files if f["kind"] == "image"}
        self.broken = set(self.truth["groups"]["broken"])
        self.true_pairs = pairs_of(self.truth["groups"]["same-photo"], self.images)
        self.lines: list[str] = []

    def out(self, *lines: str) -> None:
        self.lines.extend(lines)
        print(*lines, sep="\n", flush=True)

    def dupes(self, threshold: int) -> dict[str, Any]:
        cmd = [
            *PV,
            "dupes",
            self.root,
            "--catalog",
            self.db,
            "--json",
            "--threshold",
            str(threshold),
        ]
        return json.loads(subprocess.run(cmd, check=True, capture_output=True).stdout)

    # -- section 1 --

    def near_row(
        self,
        tool: str,
        setting: str,
        groups: list[list[str]],
        readable: set[str],
        seconds: float | None,
        rss: int | None,
    ) -> str:
        pred = pairs_of(groups, self.images)
        s = score(pred, self.true_pairs)
        readable_imgs = readable & self.images
        s_read = score(pred, pairs_of(self.truth["groups"]["same-photo"], readable_imgs))
        s_near = score(
            distinct_bytes(pred, self.blake3), distinct_bytes(self.true_pairs, self.blake3)
        )
        unread = self.images - self.broken - readable
        skipped = sorted({self.files[p]["format"] for p in unread})
        skipped_n = len(unread)
        t = fmt_s(seconds)
        mem = f"{rss / 1024:.0f}" if rss else "—"
        whole = len(self.images - self.broken)
        return (
            f"| {tool} | {setting} | {len(readable_imgs - self.broken)}/{whole} | "
            f"{', '.join(skipped) + f' ({skipped_n})' if skipped_n else '—'} | {len(pred)} | "
            f"{s.precision:.3f} | {s.recall:.3f} | {s_read.recall:.3f} | "
            f"{s_near.precision:.3f} | {s_near.recall:.3f} | "
            f"{len(burst_merges(pred, self.truth))} | {len(derived_merges(pred, self.truth))} | "
            f"{t} | {mem} |"
        )

    def near(self) -> dict[str, float]:
        o = self.out
        o(
            "### Near duplicates (same photo in another encoding, size or metadata state)",
            "",
            f"{len(self.images)} image files, {len(self.true_pairs)} true same-photo pairs "
            f"({len(distinct_bytes(self.true_pairs, self.blake3))} of them between files whose "
            f"bytes differ), {len(self.truth['groups']['similar'])} bursts, "
            f"{len(self.truth['groups']['derived'])} edits/crops.",
            "",
            "| tool | setting | images read | skipped (formats) | pairs | P | R (all images) | "
            "R (images it reads) | P distinct bytes | R distinct bytes | burst merges | "
            "edit/crop merges | s | peak RSS MiB |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        )
        times: dict[str, float] = {}
        cmd = [*PV, "dupes", self.root, "--catalog", self.db, "--json"]
        times["pv_fresh"], times["pv_fresh_rss"] = measure(
            cmd, before=lambda: remove_catalog(self.db), repeat=self.repeat
        )
        times["pv_warm"], times["pv_warm_rss"] = measure(cmd, repeat=self.repeat)
        records = json.loads(
            subprocess.run(
                [*PV, "show", self.root, "--catalog", self.db, "--json"],
                check=True,
                capture_output=True,
            ).stdout
        )
        pv_read = {relative(r["path"], self.root) for r in records if r.get("decode_ok")}
        # decoded but not hashed: flat pictures, which photoverify relates by bytes only
        hashed = {relative(r["path"], self.root) for r in records if r.get("phash")}
        self.unhashed = sorted((pv_read & self.images) - hashed)
        self.pv_blake3 = {relative(r["path"], self.root): r["blake3"] for r in records}
        self.pv_default = None
        for th in self.thresholds:
            t0 = time.perf_counter()
            result = self.dupes(th)
            warm = time.perf_counter() - t0
            if th == 10:
                self.pv_default = result
            label = f"threshold {th}" + (" (default)" if th == 10 else "")
            secs = times["pv_fresh"] if th == 10 else None
            note = f"{label}; warm {warm:.1f} s"
            o(
                self.near_row(
                    "photoverify",
                    note,
                    photoverify_groups(result, self.root),
                    pv_read,
                    secs,
                    times["pv_fresh_rss"] if th == 10 else None,
                )
            )
        if self.pv_default is None:
            self.pv_default = self.dupes(10)

        for name, setting in (
            ("imagededup", "PHash, max_distance_threshold=10"),
            ("difpy", 'similarity="similar", same_dim=False'),
        ):
            res = os.path.join(self.tmp, f"{name}.json")
            cmd = [
                sys.executable,
                "-c",
                "import sys; from benchmarks.bench_dupes import run_peer; run_peer(*sys.argv[1:])",
                name,
                self.root,
                res,
            ]
            secs, rss = measure(cmd, repeat=self.near_repeat)
            doc = json.loads(Path(res).read_text())
            times[name] = secs
            o(
                self.near_row(
                    {"difpy": "difPy"}.get(name, name),
                    setting,
                    doc["groups"],
                    set(doc["readable"]),
                    secs,
                    rss,
                )
            )

        res = os.path.join(self.tmp, "fid.txt")
        fid = (
            f"findimagedupes -R -v fp -i '{FID_VIEW}' '{self.root}' > '{res}' 2>/dev/null; "
            "true"
        )  # exits 1 when it printed warnings (unreadable files)
        secs, rss = measure(fid, shell=True, repeat=self.near_repeat)
        groups, readable = findimagedupes_output(Path(res).read_text(errors="replace"), self.root)
        times["findimagedupes"] = secs
        o(self.near_row("findimagedupes", "default (90 %, 25 bits)", groups, readable, secs, rss))
        if self.unhashed:
            o(
                "",
                f"photoverify decoded every readable image but gave {len(self.unhashed)} no "
                "perceptual hash (flat pictures, whose hash would match every other flat "
                f"picture): {', '.join(f'`{p}`' for p in self.unhashed)}.",
            )
        videos = {p for p, f in self.files.items() if f["kind"] == "video"}
        true_v = pairs_of(self.truth["groups"]["same-photo"], videos)
        pred_v = pairs_of(photoverify_groups(self.pv_default, self.root), videos)
        s_v = score(pred_v, true_v)
        s_vd = score(distinct_bytes(pred_v, self.blake3), distinct_bytes(true_v, self.blake3))
        o(
            "",
            f"Videos (no peer reads them; not in the table): photoverify at the default "
            f"threshold puts {len(pred_v)} pairs of videos together against {len(true_v)} true "
            f"pairs: precision {s_v.precision:.3f}, recall {s_v.recall:.3f}; between different "
            f"bytes (MOV → MP4 conversions, {len(distinct_bytes(true_v, self.blake3))} pairs) "
            f"precision {s_vd.precision:.3f}, recall {s_vd.recall:.3f}. Live Photo motion files "
            "travel with their still and are not clustered on their own.",
        )
        o(
            "",
            "P and R: pairwise precision and recall against the truth's same-photo groups, "
            "identical copies included; *distinct bytes*: only pairs whose files differ in bytes. "
            "*R (images it reads)*: recall over the true pairs whose both files the tool could "
            "read. Burst merges: pairs joining two different frames of one burst; edit/crop "
            "merges: pairs joining an edit or crop to another file. Seconds: photoverify from a "
            f"fresh catalog (scan + analysis, median of {self.repeat}); the other photoverify "
            "rows re-run the analysis on the warm catalog; peers: median of "
            f"{self.near_repeat} run(s).",
            "",
        )
        return times

    # -- section 2 --

    def exact_peers(self) -> list[tuple[str, str, Callable[[], list[list[str]]]]]:
        """(name, shell command, the groups it wrote) of each byte-duplicate peer."""
        root, tmp = self.root, self.tmp
        rm, jd = os.path.join(tmp, "rmlint.json"), os.path.join(tmp, "jdupes.txt")
        fd, rd = os.path.join(tmp, "fdupes.txt"), os.path.join(tmp, "rdfind.txt")
        return [
            ("rmlint", f"cd '{tmp}' && rmlint '{root}' -o json:'{rm}'",
             lambda: rmlint_groups(json.loads(Path(rm).read_text()), root)),
            ("jdupes -r", f"jdupes -r '{root}' > '{jd}'",
             lambda: blank_line_groups(Path(jd).read_text(), root)),
            ("fdupes -r", f"fdupes -r '{root}' > '{fd}'",
             lambda: blank_line_groups(Path(fd).read_text(), root)),
            ("rdfind -dryrun true", f"rdfind -dryrun true -outputname '{rd}' '{root}' > /dev/null",
             lambda: rdfind_groups(Path(rd).read_text(), root)),
        ]  # fmt: skip

    def exact(self, times: dict[str, float]) -> None:
        o = self.out
        nonempty = {p for p, f in self.files.items() if f["size"] > 0}
        truth_groups = group_set(self.truth["groups"]["identical"], nonempty)
        pv_groups = photoverify_groups(self.pv_default, self.root)
        pv_identical = group_set(identical_within(pv_groups, self.pv_blake3), nonempty)
        by_tool: dict[str, tuple[float, int, set[frozenset]]] = {
            f"photoverify dupes ({which} catalog)": (
                times[f"pv_{which}"], int(times[f"pv_{which}_rss"]), pv_identical
            )
            for which in ("fresh", "warm")
        }  # fmt: skip
        by_hash: dict[str, list[str]] = defaultdict(list)
        for p, h in self.pv_blake3.items():
            by_hash[h].append(p)
        catalog_groups = group_set(by_hash.values(), nonempty)

        for name, cmd, groups in self.exact_peers():
            secs, rss = measure(cmd, shell=True, repeat=self.repeat)
            by_tool[name] = (secs, rss, group_set(groups(), nonempty))

        base = min(v[0] for k, v in by_tool.items() if not k.startswith("photoverify"))
        o(
            "### Exact duplicates (identical bytes)",
            "",
            f"Truth: {len(truth_groups)} groups of identical non-empty files; the photoverify "
            f"catalog's BLAKE3 grouping has {len(catalog_groups)} "
            f"({'the same' if catalog_groups == truth_groups else 'DIFFERENT'}).",
            "",
            "| tool | median s | × fastest peer | peak RSS MiB | groups | same as truth | "
            "only in tool | only in truth |",
            "|---|---|---|---|---|---|---|---|",
        )
        for name, (secs, rss, groups) in by_tool.items():
            both, mine, theirs = agreement(groups, truth_groups)
            o(
                f"| {name} | {fmt_s(secs)} | {secs / base:.0f} | {rss / 1024:.0f} | "
                f"{len(groups)} | {both} | {mine} | {theirs} |"
            )
        missing = truth_groups - by_tool["photoverify dupes (warm catalog)"][2]
        kinds = sorted({self.files[p]["format"] for g in missing for p in g})
        o(
            "",
            "Groups compared as sets of non-empty files (empty files are skipped by "
            "photoverify, jdupes, rdfind and rmlint's duplicate search; fdupes reports them, they "
            "are dropped here). photoverify's identical groups are its clusters split by BLAKE3. "
            f"Truth groups photoverify dupes does not report: {len(missing)} "
            f"(formats: {', '.join(kinds) or '—'}).",
            "",
        )
        self.exact_missing = missing

    def run(self) -> list[str]:
        files, size = tree_stats(self.root)
        self.out(
            f"#### Library `{os.path.relpath(self.root)}`: {files} files, {size / 1e6:.0f} MB "
            f"({self.truth['photos']} photos, seed {self.truth['seed']}, size "
            f"{self.truth['size']}, from {self.truth['source_dir'] or 'generated scenes'})",
            "",
        )
        times = self.near()
        self.exact(times)
        shutil.rmtree(self.tmp, ignore_errors=True)
        return self.lines


def public_section(repeat: int = 1) -> list[str]:
    """The labelled public-image set (benchmarks.public_set) scored per copy and edit kind for
    photoverify and the perceptual peers. A copy kind's cell: the share merged with its original
    (recall); an edit kind's: the share wrongly merged with it, and for photoverify also the share
    related as derived under the edit's name."""
    from benchmarks import public_set

    tmp = Path(tempfile.mkdtemp(prefix="pv-public-"))
    root = tmp / "set"
    truth = public_set.build(root)
    db = tmp / "c.sqlite"
    subprocess.run(
        [*PV, "scan", "-q", "--catalog", str(db), str(root)], check=True, capture_output=True
    )
    secs, _ = measure([*PV, "dupes", "--catalog", str(db), "--format", "json"], repeat=repeat)
    pv = json.loads(
        subprocess.run(
            [*PV, "dupes", "--catalog", str(db), "--format", "json"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    scored = {"photoverify": public_set.score_dupes(pv, truth, str(root))}
    times = {"photoverify": secs}
    for name in ("imagededup", "difpy"):
        res = str(tmp / f"{name}.json")
        code = "import sys; from benchmarks.bench_dupes import run_peer; run_peer(*sys.argv[1:])"
        try:
            times[name], _ = measure([sys.executable, "-c", code, name, str(root), res], repeat=1)
        except subprocess.CalledProcessError:
            continue  # not installed: `bash scripts/setup.sh --bench`
        groups = json.loads(Path(res).read_text())["groups"]
        scored[name] = public_set.score_dupes(_as_result(groups, root), truth, str(root))
    res = tmp / "fid.txt"
    fid = f"findimagedupes -R -v fp -i '{FID_VIEW}' '{root}' > '{res}' 2>/dev/null; true"
    times["findimagedupes"], _ = measure(fid, shell=True, repeat=1)
    groups, _ = findimagedupes_output(res.read_text(errors="replace"), str(root))
    scored["findimagedupes"] = public_set.score_dupes(_as_result(groups, root), truth, str(root))
    tools = list(scored)
    sources = sorted({t["source"] for t in truth.values()})
    lines = [
        f"#### Public labelled set: {len(truth)} files from {len(sources)} sources "
        f"({', '.join(sources)}; benchmarks/public_set.py)",
        "",
        "Same-photo pairs (an original with its copies, copies among themselves): "
        + "; ".join(
            f"{t} P {_pr(scored[t])[0]:.3f} R {_pr(scored[t])[1]:.3f} ({times[t]:.1f} s)"
            for t in tools
        )
        + ".",
        "",
        "| kind | expected | n | " + " | ".join(tools) + " |",
        "|---|---|---:|" + "---:|" * len(tools),
    ]
    kinds = scored["photoverify"]["per_kind"]
    for kind, row in kinds.items():
        is_edit = kind in public_set.EDITS
        expect = f"derived: {public_set.edit_name(kind)}" if is_edit else "same-photo"
        cells = []
        for t in tools:
            r = scored[t]["per_kind"][kind]
            if not is_edit:
                cells.append(f"merged {r['merged']}/{r['n']}")
            elif t == "photoverify":
                cells.append(f"named {r['derived_named']}/{r['n']}, merged {r['merged']}")
            else:
                cells.append(f"merged {r['merged']}/{r['n']}")
        lines.append(f"| {kind} | {expect} | {row['n']} | " + " | ".join(cells) + " |")
    left = "stereo/left.jpg", "stereo/right.jpg"
    lines += [
        "",
        "The stereo pair (skimage stereo_motorcycle, two different photos): merged by "
        + (", ".join(t for t in tools if left in scored[t]["merged"]) or "no tool")
        + ".",
        "",
    ]
    shutil.rmtree(tmp, ignore_errors=True)
    return lines


def _as_result(groups: list[list[str]], root: Path) -> dict:
    """A peer's groups in the shape of `dupes --format json` (clusters only)."""
    return {
        "clusters": [{"members": [{"path": str(root / p)} for p in g]} for g in groups],
        "related": [],
    }


def _pr(scored: dict) -> tuple[float, float]:
    hits = len(scored["merged"] & scored["true"])
    return hits / max(1, len(scored["merged"])), hits / max(1, len(scored["true"]))


def tool_versions() -> str:
    def pkg(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return ", ".join(
        [
            version([*PV, "--version"]),
            f"imagededup {pkg('imagededup')}",
            f"difPy {pkg('difPy')}",
            version(["findimagedupes", "--version"]),
            "rmlint " + version(["rmlint", "--version"]).split()[1],
            version(["jdupes", "-v"]).split(" (")[0],
            version(["fdupes", "--version"]),
            "rdfind " + version(["rdfind", "--version"]).split()[-1],
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--photos", type=int, default=None, help="default: every distinct photo of --from, else 150"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--from", dest="source", default=None)
    parser.add_argument("--size", choices=("small", "12mp"), default="small")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--near-repeat",
        type=int,
        default=1,
        help="runs of each perceptual peer (slow, deterministic)",
    )
    parser.add_argument("--thresholds", default=",".join(map(str, THRESHOLDS)))
    parser.add_argument(
        "--public-only", action="store_true", help="only the labelled public-image set"
    )
    args = parser.parse_args(argv)
    if args.public_only:
        print(f"Machine: {machine()}  ")
        print(f"Tools: {tool_versions()}  ")
        print("Command: `python -m benchmarks.bench_dupes --public-only`\n")
        print("\n".join(public_section()))
        return
    source = os.path.abspath(args.source) if args.source else None
    photos = args.photos or (distinct_sources(source) if source else 150)
    root = library(photos, args.seed, source, args.size)
    thresholds = tuple(int(t) for t in args.thresholds.split(","))
    cmd = [
        "python -m benchmarks.bench_dupes",
        f"--photos {photos}",
        f"--seed {args.seed}",
        f"--size {args.size}",
        f"--repeat {args.repeat}",
        f"--near-repeat {args.near_repeat}",
    ]
    if args.source:
        cmd.insert(1, f"--from {args.source}")
    print(f"Machine: {machine()}  ")
    print(f"Tools: {tool_versions()}  ")
    print(f"Command: `{' '.join(cmd)}`\n")
    Bench(root, args.repeat, args.near_repeat, thresholds).run()
    print("\n".join(public_section()))


if __name__ == "__main__":
    main()

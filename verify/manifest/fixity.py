"""Fixity: a tree on disk checked against a manifest.

Every file on disk gets exactly one outcome, and every manifest entry is accounted for exactly
once, by these rules (the first that applies wins):

* A path in the manifest and on disk (names compared NFC/NFD-insensitively):
  ``matched`` when the digest equals the manifest's, ``changed`` otherwise (including a size that
  differs from the manifest's, which is decided without reading the file), ``unreadable`` when it
  could not be read. An entry under a folder that could not be listed is ``unreadable`` too, not
  ``missing``: nothing is known about it.
* A manifest entry whose path is absent from disk is ``missing``, unless its content turned up
  under a path that the manifest does not list: then that disk path is ``moved`` (evidence
  ``from`` names the manifest path) and the entry gets no finding of its own. A renamed folder thus
  shows as one ``moved`` per file. A ``changed`` entry whose old content turned up elsewhere is
  also a move source (a file moved away and another put in its place): its path stays
  ``changed`` and the new path is ``moved`` with ``from_state: "changed"``.
* A disk path not in the manifest whose content is in the manifest but is not (or no longer)
  needed as a move target is ``duplicated``: one manifest entry's content now found at several
  paths. The original path keeps its own outcome (``matched`` or the move); only the extra copies
  are ``duplicated`` (evidence ``copy_of``).
* Any other disk path not in the manifest is ``new``.

When several extra paths hold the content of several move sources, sources whose path is missing
pair before changed ones, an extra path pairs first with a source of the same file name (a renamed
folder keeps file names), and the rest pair in sorted order.

Only what is needed is read: a file at a manifest path is hashed unless its size already differs
from the manifest's; a file not in the manifest is hashed only when its size equals the size of
some manifest entry (all are hashed when the manifest has no sizes), since hashing is the only way
to tell a move or a copy from a new file.
"""

from __future__ import annotations

import os
import posixpath
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from photoverify.dedupe.core.findings import Finding
from photoverify.verify.manifest.entries import KnownDigest, Manifest, Progress, path_key
from photoverify.verify.manifest.tree import read_digests, walk_tree

OUTCOMES = ("matched", "changed", "missing", "moved", "duplicated", "new", "unreadable")
SEVERITY = {
    "matched": "info",
    "changed": "error",
    "missing": "error",
    "unreadable": "error",
    "moved": "warning",
    "duplicated": "warning",
    "new": "warning",
}


# Named tuples, not frozen dataclasses: one of each per file, and a frozen dataclass costs ~1 µs
# per field to build (a tree of 100,000 files).
class Expected(NamedTuple):
    digest: str
    size: int | None = None


class Observed(NamedTuple):
    size: int | None  # None: not known (its folder could not be listed)
    digest: str | None = None  # None: not hashed (size ruled it out) or unreadable
    error: str | None = None


class Outcome(NamedTuple):
    key: str  # the matching key of the path the outcome is about
    outcome: str
    expected: str | None = None
    actual: str | None = None
    other: str | None = None  # moved: the manifest key it came from; duplicated: the copy's origin
    other_state: str | None = None  # moved: "missing" or "changed"


@dataclass
class FixityResult:
    findings: list[Finding]
    counts: dict[str, int]
    algorithm: str
    problems: list[Finding] = field(default_factory=list)  # skipped symlinks, unlistable dirs
    files_read: int = 0  # files whose bytes were read to take their digest
    digests_reused: int = 0  # files whose digest a `known_digest` supplied, contents not read
    digests: dict[str, str] = field(default_factory=dict)  # abs path -> digest read, chosen alg

    @property
    def ok(self) -> bool:
        return not any(self.counts[o] for o in ("changed", "missing", "unreadable"))


# ---------------------------------------------------------------------------- pure decisions


def select_for_hashing(expected: Mapping[str, Expected], sizes: Mapping[str, int]) -> set[str]:
    """The disk keys whose content must be read to classify them."""
    manifest_sizes = {e.size for e in expected.values()}
    all_sized = None not in manifest_sizes
    chosen = set()
    for key, size in sizes.items():
        exp = expected.get(key)
        if exp is not None:
            if exp.size is None or exp.size == size:
                chosen.add(key)
        elif not all_sized or size in manifest_sizes:
            chosen.add(key)
    return chosen


def choose_algorithm(
    expected_digests: Mapping[str, str], observed_by_alg: Mapping[str, Mapping[str, str | None]]
) -> str:
    """Of several candidate algorithms, the one under which most manifest paths match."""
    best, best_hits = None, -1
    for alg, observed in observed_by_alg.items():
        hits = sum(1 for k, d in expected_digests.items() if observed.get(k) == d)
        if hits > best_hits:
            best, best_hits = alg, hits
    assert best is not None
    return best


def _pair(sources: list[tuple[str, str]], extras: list[str]) -> list[tuple[str, str, str]]:
    """Pair move sources (key, state) with extra disk keys: (extra, source, state) triples."""
    ordered = sorted(sources, key=lambda s: (s[1] != "missing", s[0]))
    by_name: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for src in reversed(ordered):  # popped from the end: first in order comes out first
        by_name[posixpath.basename(src[0])].append(src)
    used: set[str] = set()
    pairs = []
    unpaired = []
    for extra in extras:
        same_name = by_name.get(posixpath.basename(extra))
        if same_name:
            src = same_name.pop()
            used.add(src[0])
            pairs.append((extra, src[0], src[1]))
        else:
            unpaired.append(extra)
    rest = [s for s in ordered if s[0] not in used]
    for extra, src in zip(unpaired, rest, strict=False):
        pairs.append((extra, src[0], src[1]))
    return pairs


def classify(expected: Mapping[str, Expected], observed: Mapping[str, Observed]) -> list[Outcome]:
    """Outcomes for a manifest (key -> Expected) against a tree (key -> Observed). Pure."""
    out: list[Outcome] = []
    by_digest: dict[str, list[str]] = defaultdict(list)
    for key, exp in expected.items():
        by_digest[exp.digest].append(key)
    intact: dict[str, str] = {}  # digest -> a manifest key that still holds it
    sources: dict[str, list[tuple[str, str]]] = defaultdict(list)
    missing: set[str] = set()

    for key in sorted(expected):
        exp = expected[key]
        obs = observed.get(key)
        if obs is None:
            missing.add(key)
            sources[exp.digest].append((key, "missing"))
        elif obs.error is not None:
            out.append(Outcome(key, "unreadable", exp.digest, None))
        elif obs.digest == exp.digest and (exp.size is None or exp.size == obs.size):
            out.append(Outcome(key, "matched", exp.digest, obs.digest))
            intact.setdefault(exp.digest, key)
        else:
            out.append(Outcome(key, "changed", exp.digest, obs.digest))
            sources[exp.digest].append((key, "changed"))

    extras_by_digest: dict[str, list[str]] = defaultdict(list)
    for key in sorted(k for k in observed if k not in expected):
        obs = observed[key]
        if obs.error is not None:
            out.append(Outcome(key, "unreadable", None, None))
        elif obs.digest is None or obs.digest not in by_digest:
            out.append(Outcome(key, "new", None, obs.digest))
        else:
            extras_by_digest[obs.digest].append(key)

    for digest, extras in extras_by_digest.items():
        pairs = _pair(sources.get(digest, []), extras)
        moved_to = {}
        for extra, src, state in pairs:
            out.append(Outcome(extra, "moved", digest, digest, src, state))
            missing.discard(src)
            moved_to.setdefault(digest, extra)
        paired = {p[0] for p in pairs}
        origin = intact.get(digest) or moved_to.get(digest)
        for extra in extras:
            if extra not in paired:
                out.append(Outcome(extra, "duplicated", digest, digest, origin))

    for key in sorted(missing):
        out.append(Outcome(key, "missing", expected[key].digest, None))
    return out


# ---------------------------------------------------------------------------- I/O edge


def check_fixity(
    root: str | os.PathLike,
    manifest: Manifest,
    *,
    known_digest: KnownDigest | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> FixityResult:
    """Check the tree under root against manifest. Unreadable files become findings.

    Every file that needs a digest is read, by a pool of `workers` threads, unless
    `known_digest` (the stat-only opt-in) supplies it; `FixityResult.files_read` counts the reads.

    For a bag, root may be the bag directory itself (its data/ is then checked) or any tree
    holding a copy of its payload.
    """
    root_p = Path(root).absolute()
    if manifest.format == "bagit" and root_p.resolve() == Path(manifest.source).resolve():
        root_p = root_p / "data"  # the bag itself was named: its payload is what is checked
    # A manifest without sizes (the line formats) has every file read whatever its size, so
    # the walk need not stat them: the reads tell their sizes. The stat-only opt-in compares
    # stats, and a manifest with sizes chooses by size what to read.
    sized = known_digest is not None or any(e.size is not None for e in manifest.entries)
    skip = (manifest.source, manifest.source + ".tmp")
    files, problems = walk_tree(root_p, skip=skip, stat=sized)
    # Names to keys, by one rule for the manifest's names and the disk's: an NFD name matches
    # an NFC one, and NFC/NFD twins listed both (two files on Linux) keep one key each.
    expected_raw = _keyed(manifest.entries, lambda e: e.path)
    disk = _keyed(files, lambda f: f.rel)
    # The digest string is the manifest's; which algorithm made it is settled below when the
    # manifest leaves that open.
    expected = {
        k: Expected(e.digests.get(manifest.algorithm, ""), e.size) for k, e in expected_raw.items()
    }
    to_hash = select_for_hashing(
        expected, {k: f.stat.st_size if f.stat else None for k, f in disk.items()}
    )
    algorithms = tuple(manifest.candidates)
    reads = _read(disk, sorted(to_hash), algorithms, known_digest, progress, workers)
    algorithm = manifest.algorithm
    if len(reads.by_alg) > 1:
        algorithm = choose_algorithm({k: e.digest for k, e in expected.items()}, reads.by_alg)
    observed = {
        k: Observed(
            f.stat.st_size if f.stat else reads.sizes.get(k),
            reads.by_alg[algorithm].get(k),
            reads.errors.get(k),
        )
        for k, f in disk.items()
    }
    _unlisted(expected, observed, reads.errors, problems)
    outcomes = classify(expected, observed)

    def shown(key: str) -> str:
        if key in disk:
            return disk[key].rel
        return expected_raw[key].path if key in expected_raw else key

    findings = [
        _finding(o, shown, algorithm, expected, observed, reads.errors.get(o.key)) for o in outcomes
    ]
    findings.sort(key=lambda f: (f.path, f.outcome))
    counts = dict.fromkeys(OUTCOMES, 0)
    counts.update(Counter(f.outcome for f in findings))
    fresh = {disk[k].abs: d for k in reads.read_keys if (d := reads.by_alg[algorithm].get(k))}
    return FixityResult(
        findings, counts, algorithm, problems, len(reads.read_keys), reads.reused, fresh
    )


def _keyed(items, name_of):
    """Items by path key: an exact NFC name keeps its key; a twin of a name already keyed (the
    other normalization of it) keeps its raw spelling, so both are reported."""
    out = {}
    others = []  # (name, key, item) of names not in NFC: keyed after every NFC name
    for item in items:
        name = name_of(item)
        key = path_key(name)
        if key == name:
            out[key] = item
        else:
            others.append((name, key, item))
    for name, key, item in others:
        out[name if key in out else key] = item
    return out


@dataclass
class _Reads:
    by_alg: dict[str, dict[str, str | None]]  # algorithm -> key -> digest (None: unread)
    errors: dict[str, str]  # key -> why it could not be read
    reused: int  # digests the stat-only opt-in supplied
    read_keys: list[str]  # keys whose bytes were read
    sizes: dict[str, int | None]  # key -> size, of the files walked without a stat


def _read(disk, todo, algorithms, known_digest, progress, workers) -> _Reads:
    """Every digest the check needs, of the files keyed `todo`, read by a pool of threads."""
    reads = _Reads({a: {} for a in algorithms}, {}, 0, [], {})
    files = [disk[k] for k in todo]
    got_all = read_digests(files, algorithms, known_digest, workers)  # in the order of `files`
    for done, (key, (f, got, was_known, size)) in enumerate(zip(todo, got_all, strict=True), 1):
        reads.reused += was_known
        if f.stat is None:
            reads.sizes[key] = size if size is not None else _size_now(f.abs)
        if not was_known:
            reads.read_keys.append(key)
        if isinstance(got, OSError):
            reads.errors[key] = got.strerror or str(got)
            got = {}
        for a in algorithms:
            reads.by_alg[a][key] = got.get(a)
        if progress is not None:
            progress(done, len(todo), f.rel)
    return reads


def _size_now(path: str) -> int | None:
    """The size of a file walked without a stat that could not be opened (None: not even that)."""
    try:
        return os.lstat(path).st_size
    except OSError:
        return None


def _unlisted(expected, observed, errors, problems) -> None:
    """A manifest entry under a folder that could not be listed is not known to be missing: it
    is unreadable, like the folder (observed and errors gain it)."""
    closed = [
        path_key(p.path) for p in problems if p.outcome == "unreadable" and p.path.endswith("/")
    ]
    if any(p.path == "." and p.outcome == "unreadable" for p in problems):
        closed = [""]
    for key in expected:
        if key not in observed and any(key.startswith(c) for c in closed):
            errors[key] = "its folder could not be listed"
            observed[key] = Observed(None, None, errors[key])


def _finding(
    o: Outcome,
    shown,
    algorithm: str,
    expected: Mapping[str, Expected],
    observed: Mapping[str, Observed],
    error: str | None,
) -> Finding:
    path = shown(o.key)
    exp = expected.get(o.key)
    obs = observed.get(o.key)
    evidence: dict = {"algorithm": algorithm, "expected": o.expected, "actual": o.actual}
    if exp is not None and exp.size is not None:
        evidence["expected_size"] = exp.size
    if obs is not None:
        evidence["actual_size"] = obs.size
    if o.outcome == "moved":
        evidence["from"] = shown(o.other)
        evidence["from_state"] = o.other_state
        message = f"{path}: moved from {evidence['from']}"
    elif o.outcome == "duplicated":
        evidence["copy_of"] = shown(o.other) if o.other else None
        message = f"{path}: copy of {evidence['copy_of']}"
    elif o.outcome == "changed":
        if exp is not None and obs is not None and exp.size not in (None, obs.size):
            message = f"{path}: size {obs.size} differs from the manifest's {exp.size}"
        else:
            message = f"{path}: content differs from the manifest ({algorithm})"
    elif o.outcome == "unreadable":
        evidence["error"] = error
        message = f"{path}: cannot read: {error}"
    elif o.outcome == "matched":
        message = f"{path}: matches the manifest"
    elif o.outcome == "missing":
        message = f"{path}: listed in the manifest, not found"
    else:  # new
        message = f"{path}: not in the manifest"
    return Finding(path, "fixity", SEVERITY[o.outcome], o.outcome, message, evidence)

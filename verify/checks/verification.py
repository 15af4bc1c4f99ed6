"""The whole `photoverify verify` run: a tree checked against a manifest, and optionally decoded
and held to metadata expectations.

Order of work, each step reusing the one before:

1. fixity against the manifest: every file that needs a digest is read, by a pool of threads,
   every time (a flipped byte under an unchanged mtime must show). Only the explicit
   ``trust_stat`` opt-in takes the catalog's BLAKE3 for files whose size, mtime and inode match
   it; the result then says how many files' contents were not read (``digests_reused``);
2. when a later step needs the catalog's facts (decode, expectations, a JSON manifest's
   capture time and GPS, or ``trust_stat``), ROOT is scanned into the catalog first (unchanged
   files are not read again by the scan; a file whose bytes the fixity read contradict the
   catalog's BLAKE3 is fingerprinted again, so decode and metadata checks see what is there now);
3. decode checks, when asked (`verify.decode`, cached by content);
4. the rules file's expectations, when given (`verify.expect`);
5. for a photoverify JSON manifest, the built-in expectations: capture time and GPS as recorded.

Without steps 2-5 no exiftool runs and nothing is decoded: fixity runs at the speed of the disk.

A file edited in place (e.g. by a tool that strips GPS) is reported by both checks that see it:
fixity ``changed`` (its bytes differ) and expect ``gps-lost`` (what was lost). Both are kept, and
each names the other in its evidence (``metadata_changes`` on the fixity finding, ``fixity`` on
the metadata finding) so a reader can tell an edit that lost metadata from damage.

All findings name files relative to ROOT, "/"-separated, as the manifest does.
"""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from photoverify.dedupe.core.errors import UsageError
from photoverify.dedupe.core.findings import Finding, Verdict
from photoverify.verify.manifest.entries import FileStat, Manifest
from photoverify.verify.manifest.fixity import FixityResult, check_fixity
from photoverify.verify.manifest.read import read_manifest

if TYPE_CHECKING:
    # the scan (step 2) loads exiftool's wrapper and the fingerprints: a run of fixity alone
    # does not load it. Decoding loads PyAV, Pillow and numpy: only a --decode run pays for them
    from photoverify.dedupe.catalog.scan import ScanResult
    from photoverify.dedupe.catalog.store import Catalog
    from photoverify.dedupe.core.records import FileRecord  # its dataclasses: ~8 ms to import
    from photoverify.verify.checks.decode import DecodeResult, DecodeStats
    from photoverify.verify.checks.decode_cache import DecodeCache
    from photoverify.verify.checks.expect import Rule

SCHEMA = "photoverify.verify/1"
# (stage, done, total[, bytes done, bytes in all]); stages: scan, fixity, decode (with bytes)
Progress = Callable[..., None]


@dataclass
class VerifyResult(Verdict):
    root: str
    manifest: str
    manifest_format: str
    algorithm: str
    findings: list[Finding]
    counts: dict[str, int]  # outcome -> number of findings, over every check
    by_check: dict[str, dict[str, int]]  # check -> outcome -> number
    rules: list[Rule] = field(default_factory=list)
    decode: DecodeStats | None = None
    scan: dict[str, Any] = field(default_factory=dict)
    digests_reused: int = 0  # files whose BLAKE3 fixity took from the catalog, contents unread
    files_read: int = 0  # files whose bytes fixity read
    trust_stat: bool = False
    seconds: float = 0.0
    records: dict[str, FileRecord] = field(default_factory=dict)  # by finding path; not in JSON

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "root": self.root,
            "manifest": self.manifest,
            "manifest_format": self.manifest_format,
            "algorithm": self.algorithm,
            "ok": self.ok,
            "counts": self.counts,
            "by_check": self.by_check,
            "severity_counts": dict(Counter(f.severity for f in self.findings)),
            "rules": [r.to_json() for r in self.rules],
            "decode": self.decode.to_json() if self.decode is not None else None,
            "scan": self.scan,
            "digests_reused": self.digests_reused,
            "files_read": self.files_read,
            "trust_stat": self.trust_stat,
            "seconds": round(self.seconds, 3),
            "findings": [f.to_json() for f in self.findings],
        }


def _relative(path: str, root: str) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")


def cross_reference(findings: list[Finding]) -> list[Finding]:
    """Link a file's fixity ``changed`` finding and its metadata findings to each other. Pure."""
    metadata: dict[str, list[str]] = defaultdict(list)
    for f in findings:
        if f.check == "expect" and f.evidence.get("rule") == "manifest":
            metadata[f.path].append(f.outcome)
    if not metadata:  # no manifest expectations: nothing to link
        return list(findings)
    changed = {f.path for f in findings if f.check == "fixity" and f.outcome == "changed"}
    out = []
    for f in findings:
        if f.check == "fixity" and f.outcome == "changed" and metadata.get(f.path):
            f = replace(f, evidence={**f.evidence, "metadata_changes": sorted(metadata[f.path])})
        elif f.check == "expect" and f.evidence.get("rule") == "manifest" and f.path in changed:
            f = replace(f, evidence={**f.evidence, "fixity": "changed"})
        out.append(f)
    return out


def _every(n: int, progress: Progress, stage: str) -> Callable[[int, int, str], None]:
    """A per-file callback passing on every nth call and the last: a bar moved per file costs
    more than hashing a small file."""

    def update(done: int, total: int, _rel: str) -> None:
        if done == total or not done % n:
            progress(stage, done, total)

    return update


def verify_tree(
    root: str | os.PathLike,
    manifest_path: str | os.PathLike,
    *,
    catalog: Catalog | Callable[[], Catalog],
    expect_rules: str | os.PathLike | None = None,
    decode: bool = False,
    decode_cache: DecodeCache | None = None,
    use_decode_cache: bool = True,
    workers: int | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
    trust_stat: bool = False,
) -> VerifyResult:
    """Verify the tree under root against a manifest; see the module docstring.

    `catalog`: the catalog, or a function that opens it, called only when the run needs it (a
    run of fixity alone does not).

    `decode_cache`: the cache to use (default: `decode-cache.sqlite` beside the catalog), unless
    `use_decode_cache` is False. `now` fixes the clock for "not in the future" rules.
    `trust_stat`: take the catalog's BLAKE3 for files whose stat is unchanged, not reading them.
    """
    started = time.perf_counter()
    root_abs = os.path.abspath(root)
    if not os.path.isdir(root_abs):
        raise UsageError(f"{root_abs}: not a directory")
    manifest = read_manifest(manifest_path)
    rules = _load_rules(expect_rules)
    opener = catalog if callable(catalog) else lambda: catalog
    tree = _Catalogued(opener, root_abs, _manifest_files(manifest), workers, progress)
    if decode or bool(rules) or manifest.format == "json" or trust_stat:
        tree.scan()
    fixity = _check_manifest(tree, manifest, trust_stat)
    findings: list[Finding] = [*fixity.problems, *fixity.findings]
    decode_stats = None
    if decode:
        result = _check_decode(tree, decode_cache, use_decode_cache)
        findings.extend(result.findings)
        decode_stats = result.stats
    findings.extend(_check_expectations(tree.records, manifest, rules, now, root_abs))

    findings, counts, by_check = _tally(findings)
    return VerifyResult(
        root=root_abs,
        manifest=manifest.source,
        manifest_format=manifest.format,
        algorithm=fixity.algorithm,
        findings=findings,
        counts=counts,
        by_check=by_check,
        rules=rules,
        decode=decode_stats,
        scan=tree.scanned.to_json() if tree.scanned is not None else {},
        digests_reused=fixity.digests_reused,
        files_read=fixity.files_read,
        trust_stat=trust_stat,
        seconds=time.perf_counter() - started,
        records={_relative(r.path, root_abs): r for r in tree.records},
    )


def _load_rules(expect_rules: str | os.PathLike | None) -> list[Rule]:
    if expect_rules is None:
        return []
    from photoverify.verify.checks.expect import load_rules

    return load_rules(expect_rules)


def _manifest_files(manifest: Manifest) -> set[str]:
    """The manifest file and its temporary file, when they are inside the tree: not its files."""
    return {os.path.abspath(manifest.source), os.path.abspath(manifest.source) + ".tmp"}


@dataclass
class _Catalogued:
    """ROOT's records in the catalog (the manifest's files left out), once ROOT is scanned.
    The catalog is opened when first needed: a run of fixity alone never opens it."""

    open_catalog: Callable[[], Catalog]
    root: str
    manifest_files: set[str]
    workers: int | None
    progress: Progress | None
    records: list[FileRecord] = field(default_factory=list)
    scanned: ScanResult | None = None

    @cached_property
    def catalog(self) -> Catalog:
        return self.open_catalog()

    def scan(self) -> None:
        from photoverify.dedupe.move.plan import LEDGER_JSON

        self.scanned = self._scan()
        if os.path.exists(os.path.join(self.root, LEDGER_JSON)):
            # a new library `apply` wrote is a copy, unless it is known as a library
            self.catalog.mark_roots([self.root], "copy")
        self.records = self._load()

    def rescan(self, stale: list[str]) -> None:
        """Fingerprint again the files whose records the bytes just read contradict."""
        self.catalog.remove(stale)
        self._scan()
        self.records = self._load()

    def _scan(self) -> ScanResult:
        from photoverify.dedupe.catalog.scan import scan

        return scan([self.root], self.catalog, workers=self.workers, progress=self._scan_progress)

    def _scan_progress(
        self, files_done: int, bytes_done: int, files_total: int, total: int
    ) -> None:
        if self.progress is not None:
            self.progress("scan", files_done, files_total, bytes_done, total)

    def _load(self) -> list[FileRecord]:
        return [
            r
            for r in self.catalog.records(under=[self.root])
            if os.path.abspath(r.path) not in self.manifest_files
        ]


def _check_manifest(tree: _Catalogued, manifest: Manifest, trust_stat: bool) -> FixityResult:
    """Step 1: fixity against the manifest. With `trust_stat`, a file whose stat matches its
    record is not read. A record whose bytes the fixity read contradict is scanned again."""
    by_abs = {r.path: r for r in tree.records}

    def known_digest(path: str, st: FileStat, algorithm: str) -> str | None:
        if algorithm != "blake3":
            return None
        rec = by_abs.get(os.path.abspath(path))
        if (
            rec is None
            or rec.blake3 is None
            or (rec.size, rec.mtime_ns, rec.inode) != (st.st_size, st.st_mtime_ns, st.st_ino)
        ):
            return None
        return rec.blake3

    fixity = check_fixity(
        tree.root,
        manifest,
        known_digest=known_digest if trust_stat and "blake3" in manifest.candidates else None,
        progress=_every(64, tree.progress, "fixity") if tree.progress else None,
        workers=tree.workers or None,
    )
    if fixity.algorithm == "blake3" and tree.records:
        # The bytes just read outrank a record the scan kept because its stat was unchanged: such
        # a file is fingerprinted again, so decode and metadata checks see what is there now.
        stale = [r.path for r in tree.records if fixity.digests.get(r.path, r.blake3) != r.blake3]
        if stale:
            tree.rescan(stale)
    return fixity


def _check_decode(
    tree: _Catalogued, decode_cache: DecodeCache | None, use_decode_cache: bool
) -> DecodeResult:
    """Step 3: decode every image and play every video, cached by content."""
    from photoverify.verify.checks.decode import check_decode
    from photoverify.verify.checks.decode_cache import DecodeCache, decode_cache_path

    own_cache = decode_cache is None and use_decode_cache
    if own_cache:  # beside the catalog: photoverify's state is in one place
        decode_cache = DecodeCache(decode_cache_path(tree.catalog.path))
    cache = decode_cache if use_decode_cache else None
    progress = tree.progress
    try:
        return check_decode(
            tree.records,
            cache=cache,
            workers=tree.workers,
            root=tree.root,
            progress=(lambda d, t, b, tb: progress("decode", d, t, b, tb)) if progress else None,
        )
    finally:
        if own_cache and cache is not None:
            cache.close()


def _check_expectations(
    records: list[FileRecord],
    manifest: Manifest,
    rules: list[Rule],
    now: datetime | None,
    root: str,
) -> list[Finding]:
    """Steps 4 and 5: the rules file's expectations, and a JSON manifest's capture time and GPS."""
    if not rules and manifest.format != "json":
        return []
    from photoverify.verify.checks.expect import check_against_manifest, check_expectations

    findings: list[Finding] = []
    if rules:
        findings.extend(check_expectations(records, rules, now=now, root=root))
    if manifest.format == "json":
        findings.extend(check_against_manifest(records, manifest, root=root))
    return findings


def _tally(findings: list[Finding]) -> tuple[list[Finding], dict[str, int], dict[str, dict]]:
    """The findings cross-referenced and sorted, counted by outcome and by check. Pure."""
    findings = cross_reference(findings)
    findings.sort(key=lambda f: (f.path, f.check, f.outcome))
    counts: Counter[str] = Counter()
    by_check: dict[str, dict[str, int]] = defaultdict(dict)
    for (check, outcome), n in Counter((f.check, f.outcome) for f in findings).items():
        by_check[check][outcome] = n
        counts[outcome] += n
    return findings, dict(counts), dict(by_check)

"""Merge plans: which file goes where, built from the catalog and the duplicate graph.

`build_plan` is a pure decision over records. The file edges (`write_plan`, `read_plan`,
`write_csv`) are in `planfile`; `check_plan` looks at the disk to say whether a plan can still be
carried out. The format is documented in docs/plan-format.md.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from photoverify.dedupe.core.errors import PlanError
from photoverify.dedupe.core.findings import Finding
from photoverify.dedupe.core.hashing import hash_file
from photoverify.dedupe.core.paths import under_any
from photoverify.dedupe.core.records import DupesResult, FileRecord
from photoverify.dedupe.core.timeparse import now_iso
from photoverify.dedupe.move.naming import (
    DEFAULT_TEMPLATE,
    check_template,
    companion_name,
    companion_suffix,
    join,
    name_key,
    numbered_path,
    render_target,
    sanitize_component,
    split_ext,
    unique_number,
)

FORMAT = "photoverify-plan"
# 2: entries carry `merge` (plan --merge-metadata); 3: a merged `keywords` field may list the
# words it `added` to the keeper's own. Versions 1 and 2 still read.
VERSION = 3
VERSIONS = (1, 2, 3)
ACTIONS = ("keep", "duplicate", "companion", "skip")
WRITES = ("keep", "companion")  # the actions that put a file at DEST
LEDGER_JSON = "photoverify-ledger.json"
LEDGER_CSV = "photoverify-ledger.csv"
MANIFEST = "photoverify-manifest.b3"
REPORT_NAMES = (LEDGER_JSON, LEDGER_CSV, MANIFEST)
HEADER_KEYS = (
    "format",
    "version",
    "created",
    "roots",
    "dest",
    "catalog",
    "options",
    "bytes_to_write",
    "dest_free_bytes",
)
ENTRY_KEYS = ("source", "blake3", "size", "captured_at", "action", "target", "cluster", "reason")
ENTRY_KEYS_V2 = (*ENTRY_KEYS, "merge")


@dataclass(frozen=True, slots=True)  # one a file of a million-file plan: no __dict__ each
class PlanEntry:
    source: str
    blake3: str | None
    size: int
    captured_at: str | None
    action: str  # one of ACTIONS
    target: str | None  # relative to dest, "/"-separated; None for skip
    cluster: str | None = None
    reason: str | None = None
    merge: dict[str, Any] | None = None  # dedupe.metamerge.Merge.to_json(), keep entries only

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Plan:
    roots: tuple[str, ...]
    dest: str
    catalog: str
    options: dict[str, Any]
    entries: tuple[PlanEntry, ...]
    created: str = ""
    dest_free_bytes: int | None = None

    @property
    def bytes_to_write(self) -> int:
        return sum(e.size for e in self.entries if e.action in WRITES)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(ACTIONS, 0)
        for e in self.entries:
            out[e.action] += 1
        return out

    @property
    def version(self) -> int:
        # a plan without metadata merges is written as version 1, readable by older versions
        return VERSION if any(e.merge for e in self.entries) else 1

    def header_json(self) -> dict[str, Any]:
        """The document without its entries (HEADER_KEYS)."""
        return {
            "format": FORMAT,
            "version": self.version,
            "created": self.created,
            "roots": list(self.roots),
            "dest": self.dest,
            "catalog": self.catalog,
            "options": self.options,
            "bytes_to_write": self.bytes_to_write,
            "dest_free_bytes": self.dest_free_bytes,
        }

    def _entry_keys(self) -> tuple[str, ...]:
        return ENTRY_KEYS if self.version == 1 else ENTRY_KEYS_V2

    def entries_json(self) -> Iterator[dict[str, Any]]:
        """Each entry as the document holds it (the fields of the plan's version), one at a time;
        the values are the entry's own, not copies."""
        keys = self._entry_keys()
        for e in self.entries:
            yield {k: getattr(e, k) for k in keys}

    def to_json(self) -> dict[str, Any]:
        """The whole document, its entries copies (a caller may change them)."""
        keys = self._entry_keys()
        return {**self.header_json(), "entries": [_only(e.to_json(), keys) for e in self.entries]}


def _only(doc: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: doc[k] for k in keys}


def check_dest_outside_roots(dest: str, roots: list[str] | tuple[str, ...], *, real: bool) -> None:
    """Refuse a DEST inside a source root: the next scan would find the copies as new files."""
    fix = os.path.realpath if real else os.path.abspath
    for root in roots:
        if under_any(fix(dest), [fix(root)]):
            raise PlanError(f"{dest}: destination is inside source root {root}; choose another")


def _skip_reason(rec: FileRecord, excludes: list[str]) -> str | None:
    if any(fnmatch.fnmatch(rec.path, pat) for pat in excludes):
        return "excluded"
    if rec.error or not rec.blake3:
        return f"unreadable: {rec.error or 'no content hash'}"
    if rec.kind == "other":
        return "not media"
    return None


def build_plan(
    records: list[FileRecord],
    dupes: DupesResult,
    dest: str,
    *,
    template: str = DEFAULT_TEMPLATE,
    roots: list[str],
    catalog: str,
    options: dict[str, Any],
    unreadable: Mapping[str, str] | None = None,
) -> Plan:
    """Decide the fate and target of every record. Pure: the result depends only on the
    arguments, not on their order (entries come out sorted by source path).

    Rules (docs/plan-format.md): keepers and files in no cluster are `keep`; other cluster
    members are `duplicate` with their keeper's target; an asset's companions are `companion`
    and take their primary's target stem; a duplicate's companion is a `duplicate` of the
    keeper's companion of the same kind, else it follows the keeper as its `companion`.

    `unreadable`: folders under the roots the scan could not list -> why. Each is a `skip` entry
    of its own, and so is every record the catalog remembers under one (what is there now was
    not read): nothing the run could not read is absent from the plan.
    """
    check_template(template)
    check_dest_outside_roots(dest, roots, real=False)
    by_path = {r.path: r for r in sorted(records, key=lambda r: r.path)}
    skips = _skips(by_path, list(options.get("exclude", [])), unreadable or {})
    live = {p for p in by_path if p not in skips}
    duplicate_of = _duplicate_of(dupes, live)
    clustered = set(duplicate_of) | {c.keeper for c in dupes.clusters}
    companions, beside = _companions_of(dupes, live, clustered)
    placing = _Placing(by_path, skips, companions, beside)
    # keepers and stand-alone files first, in path order: the first path gets the plain name
    is_companion = {c for cs in (*companions.values(), *beside.values()) for c in cs}
    for path in sorted(live):
        if path not in is_companion and path not in duplicate_of:
            placing.keep(path, template)
    # duplicates and their companions, each pointing at what the keeper's asset has
    for path in sorted(duplicate_of):
        placing.duplicate(path, *duplicate_of[path])
    entries = placing.entries
    return Plan(
        roots=tuple(sorted(roots)),
        dest=dest,
        catalog=catalog,
        options={**options, "template": template},
        entries=tuple(entries[p] for p in sorted(entries)),
        created=now_iso(),
    )


def _entry(
    rec: FileRecord, action: str, target: str | None, cluster: str | None, reason: str | None
) -> PlanEntry:
    return PlanEntry(
        rec.path, rec.blake3, rec.size, rec.metadata.captured_at, action, target, cluster, reason
    )


def _skips(
    by_path: dict[str, FileRecord], excludes: list[str], unreadable: Mapping[str, str]
) -> dict[str, PlanEntry]:
    """The `skip` entries: records excluded, unreadable or not media, records under a folder
    the scan could not list, and each such folder itself."""
    closed = sorted(unreadable.items())
    skips: dict[str, PlanEntry] = {}
    for rec in by_path.values():
        why = _skip_reason(rec, excludes)
        if not why and under_any(rec.path, (folder for folder, _ in closed)):
            why = "unreadable: its folder could not be listed"
        if why:
            skips[rec.path] = _entry(rec, "skip", None, None, why)
    for folder, error in closed:
        if folder not in skips:
            skips[folder] = PlanEntry(folder, None, 0, None, "skip", None, None, error)
    return skips


def _duplicate_of(dupes: DupesResult, live: set[str]) -> dict[str, tuple[str, str, str]]:
    """Each planned cluster member that is not kept -> (keeper, cluster id, reason). A cluster
    whose keeper is not planned keeps its first planned member; a file in two clusters is a
    duplicate in the first (by cluster id)."""
    duplicate_of: dict[str, tuple[str, str, str]] = {}
    for cl in sorted(dupes.clusters, key=lambda c: c.id):
        members = sorted({m.path for m in cl.members} | {cl.keeper})
        members = [m for m in members if m in live]
        if not members:
            continue
        keeper = cl.keeper if cl.keeper in live else members[0]
        reason = cl.reason if keeper == cl.keeper else f"keeper {cl.keeper} unreadable; first kept"
        for m in members:
            if m != keeper and m not in duplicate_of:
                duplicate_of[m] = (keeper, cl.id, f"{cl.kind} duplicate of {keeper}: {reason}")
    return duplicate_of


def _companions_of(
    dupes: DupesResult, live: set[str], clustered: set[str]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """primary -> its planned companions that take its target stem, and primary -> those that
    go beside it under their own name. A companion in a cluster, or not planned, is planned as
    a file of its own, and so is every companion of a primary that is not planned."""
    companions: dict[str, list[str]] = {}
    beside: dict[str, list[str]] = {}
    placed: set[str] = {a.primary for a in dupes.assets}  # a primary is nobody's companion
    for asset in sorted(dupes.assets, key=lambda a: a.primary):
        if asset.primary not in live:
            continue
        pname = os.path.basename(asset.primary)
        # one stem per asset: a second companion with the same ending (IMG_1.AAE and
        # IMG_O1.AAE) cannot share it, and goes beside its primary under its own name
        endings = {name_key(split_ext(pname)[1])}
        companions.setdefault(asset.primary, [])
        for c in sorted(c for c in asset.companions if c in live and c not in clustered):
            if c in placed:
                continue
            placed.add(c)
            ending = name_key(companion_suffix(pname, os.path.basename(c)))
            if ending in endings:
                beside.setdefault(asset.primary, []).append(c)
                continue
            endings.add(ending)
            companions[asset.primary].append(c)
    return companions, beside


class _Placing:
    """The entries decided so far and the target names they take (by `name_key`), while
    `build_plan` places keepers and then duplicates. Lives for one call: build_plan stays pure."""

    def __init__(
        self,
        by_path: dict[str, FileRecord],
        skips: dict[str, PlanEntry],
        companions: dict[str, list[str]],
        beside: dict[str, list[str]],
    ) -> None:
        self.by_path = by_path
        self.entries = dict(skips)
        self.companions = companions
        self.beside = beside
        self.taken: set[str] = {name_key(n) for n in REPORT_NAMES}
        self.writers: dict[str, str] = {}  # name_key(target) -> the first source written there
        # unique_path's arguments -> the number it gave: every smaller one is taken, and stays so
        self.numbers: dict[tuple[str, str, tuple[str, ...]], int] = {}

    def free_path(self, folder: str, name: str, suffixes: tuple[str, ...] = ()) -> str:
        """unique_path, its search starting where the last one for the same name ended."""
        key = (folder, name, suffixes)
        n = unique_number(folder, name, self.taken, suffixes, self.numbers.get(key, 1))
        self.numbers[key] = n
        return numbered_path(folder, name, n)

    def put(
        self, path: str, action: str, target: str, cluster: str | None, reason: str | None
    ) -> None:
        if action in WRITES:
            self.taken.add(name_key(target))
            self.writers.setdefault(name_key(target), path)
        self.entries[path] = _entry(self.by_path[path], action, target, cluster, reason)

    def keep(self, path: str, template: str) -> None:
        """A keeper or a file in no cluster, its companions on its target stem."""
        m = self.by_path[path].metadata
        name = os.path.basename(path)
        folder, tname = render_target(template, name, m.captured_at, m.make, m.model)
        comps = self.companions.get(path, [])
        suffixes = tuple(companion_suffix(name, os.path.basename(c)) for c in comps)
        target = self.free_path(folder, tname, suffixes)
        self.put(path, "keep", target, None, None)
        tfolder, tname = posixpath.split(target)
        tstem = split_ext(tname)[0]
        for c, suffix in zip(comps, suffixes, strict=True):
            ctarget = join(tfolder, companion_name(tstem, suffix))
            self.put(c, "companion", ctarget, None, f"companion of {path}")
        self.put_beside(path, tfolder, None, f"companion of {path} (beside it, own name)")

    def duplicate(self, path: str, keeper: str, cid: str, reason: str) -> None:
        """A duplicate, pointing at its keeper's target; its companions take the keeper's stem:
        `duplicate` of the keeper's companion already there, else `companion` following it."""
        ktarget = self.entries[keeper].target
        self.put(path, "duplicate", ktarget, cid, reason)
        kfolder, kname = posixpath.split(ktarget)
        kstem = split_ext(kname)[0]
        follows = f"companion of duplicate {path}, follows keeper {keeper}"
        for c in self.companions.get(path, []):
            suffix = companion_suffix(os.path.basename(path), os.path.basename(c))
            ctarget = join(kfolder, companion_name(kstem, suffix))
            if name_key(ctarget) in self.taken:
                owner = self.writers[name_key(ctarget)]
                why = f"companion of duplicate {path}; the keeper's asset has {owner}"
                self.put(c, "duplicate", ctarget, cid, why)
            else:
                self.put(c, "companion", ctarget, cid, follows)
        self.put_beside(path, kfolder, cid, follows)

    def put_beside(self, primary: str, folder: str, cluster: str | None, reason: str) -> None:
        for c in self.beside.get(primary, []):
            ctarget = self.free_path(folder, sanitize_component(os.path.basename(c)))
            self.put(c, "companion", ctarget, cluster, reason)


def free_bytes(dest: str) -> int:
    """Free bytes at DEST, or at its nearest existing ancestor when DEST does not exist yet."""
    probe = os.path.abspath(dest)
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    st = os.statvfs(probe)
    return st.f_bavail * st.f_frsize


def with_free_space(plan: Plan) -> Plan:
    return replace(plan, dest_free_bytes=free_bytes(plan.dest))


# ---- a file's fate in words ------------------------------------------------------------------


def fate(entry: PlanEntry) -> str:
    """The 'new path or fate' column a person reads in a spreadsheet."""
    if entry.action in WRITES:
        return entry.target or ""
    return fate_words(entry.action, entry.target, entry.reason)


def fate_words(fate: str | None, target: str | None, reason: str | None) -> str | None:
    """A fate that wrote no file, in the plan's and the ledger's spreadsheets alike."""
    if fate == "duplicate":
        return f"duplicate of {target}"
    if fate in ("skip", "skipped"):
        return f"skipped: {reason}"
    return fate


# ---- checking a plan against the disk ---------------------------------------------------------


def _finding(path: str, severity: str, outcome: str, message: str, **evidence) -> Finding:
    return Finding(path, "plan", severity, outcome, message, evidence)


def target_problem(dest: str, target: str) -> str | None:
    """Why `target` would not land inside DEST, or None."""
    return DestGuard(dest).problem(target)


class DestGuard:
    """Checks targets against one DEST, looking at each folder on disk once.

    A plan's thousands of targets share a few hundred folders; a folder's verdict (a symlink
    out of DEST on the way, or none) is remembered for the guard's life, one run."""

    def __init__(self, dest: str) -> None:
        self.dest = dest
        self.real_dest = os.path.realpath(dest)
        self.folders: dict[tuple[str, ...], str | None] = {}

    def problem(self, target: str) -> str | None:
        if target.startswith("/") or "\\" in target or (len(target) > 1 and target[1] == ":"):
            return "absolute target"
        if any(ord(c) < 32 or ord(c) == 127 for c in target):
            return "target has control characters"
        parts = target.split("/")
        if any(p in ("", ".", "..") for p in parts):
            return "target has an empty, '.' or '..' component"
        if name_key(target) in {name_key(n) for n in REPORT_NAMES}:
            return "target is the name of a report file"
        why = self.folder_problem(tuple(parts[:-1]))
        if why:
            return why
        final = os.path.join(self.dest, *parts)
        if os.path.islink(final):
            return f"{final} is a symlink"
        return None

    def folder_problem(self, parts: tuple[str, ...]) -> str | None:
        if parts not in self.folders:
            self.folders[parts] = self._look(parts)
        return self.folders[parts]

    def _look(self, parts: tuple[str, ...]) -> str | None:
        if not parts:
            return None
        why = self.folder_problem(parts[:-1])
        if why:
            return why
        parent = os.path.join(self.dest, *parts[:-1])
        if parts[:-1] and not os.path.lexists(parent):
            return None  # nothing on disk below here yet: apply makes real folders
        probe = os.path.join(self.dest, *parts)
        if os.path.islink(probe) and not under_any(os.path.realpath(probe), [self.real_dest]):
            return f"{probe} is a symlink out of the destination"
        return None


def check_plan(plan: Plan, *, verify_sources: bool = True) -> list[Finding]:
    """Everything that stands between this plan and a safe apply. Errors block the whole plan
    except source mismatches, which only block their own entry."""
    check_dest_outside_roots(plan.dest, plan.roots, real=True)
    findings: list[Finding] = []
    seen: dict[str, str] = {}
    guard = DestGuard(plan.dest)
    for e in plan.entries:
        if e.target is None:
            continue
        why = guard.problem(e.target)
        if why:
            findings.append(_finding(e.source, "error", "escapes-dest", f"{e.target}: {why}"))
        if e.action in WRITES:
            key = name_key(e.target)
            if key in seen:
                findings.append(
                    _finding(
                        e.source,
                        "error",
                        "target-clash",
                        f"{e.target} is also the target of {seen[key]}",
                    )
                )
            seen[key] = e.source
        side = (e.merge or {}).get("sidecar") if (e.merge or {}).get("write") == "sidecar" else None
        if side:  # the XMP sidecar a metadata merge writes is a target like any other
            why = guard.problem(side)
            if why or name_key(side) in seen:
                msg = f"{side}: {why or 'merge sidecar clashes with another target'}"
                findings.append(_finding(e.source, "error", "escapes-dest", msg))
            seen[name_key(side)] = e.source
    for e in plan.entries:
        if e.action == "duplicate" and name_key(e.target or "") not in seen:
            findings.append(
                _finding(
                    e.source,
                    "error",
                    "dangling-duplicate",
                    f"duplicate points at {e.target}, which no entry writes",
                )
            )
    if verify_sources:
        for e in plan.entries:
            if e.action in WRITES:
                findings.extend(source_findings(e))
    return findings


def source_findings(e: PlanEntry) -> list[Finding]:
    """Whether the source still has the planned size and BLAKE3."""
    try:
        size = os.stat(e.source).st_size
        digest = hash_file(e.source)["blake3"] if size == e.size else None
    except FileNotFoundError:
        return [_finding(e.source, "error", "source-missing", "source no longer exists")]
    except OSError as exc:
        return [_finding(e.source, "error", "source-unreadable", f"cannot read source: {exc}")]
    if size != e.size or digest != e.blake3:
        return [
            _finding(
                e.source,
                "error",
                "source-changed",
                "source changed since the plan was made",
                planned={"size": e.size, "blake3": e.blake3},
                found={"size": size, "blake3": digest},
            )
        ]
    return []


__all__ = [
    "Plan",
    "PlanEntry",
    "build_plan",
    "check_plan",
    "with_free_space",
    "free_bytes",
    "fate",
    "ACTIONS",
    "WRITES",
]

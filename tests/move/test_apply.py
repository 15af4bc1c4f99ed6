"""apply / undo on real files, with real subprocesses killed by SIGKILL and a real full disk."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from conftest import REAL, apply_plan, undo

from photoverify.dedupe.catalog.scan import scan
from photoverify.dedupe.catalog.store import Catalog
from photoverify.dedupe.core.errors import EnvironmentProblem, PlanError
from photoverify.dedupe.core.hashing import hash_file
from photoverify.dedupe.core.records import Asset, Cluster, ClusterMember, DupesResult
from photoverify.dedupe.move.fileops import TMP_SUFFIX, copy_into
from photoverify.dedupe.move.journal import CRASH_ENV, CRASH_FILE_ENV, read_journal
from photoverify.dedupe.move.plan import build_plan
from photoverify.dedupe.move.planfile import read_plan, write_plan

REPO = Path(__file__).resolve().parents[2]
BATCH = 6  # files per batch in the crash tests: several batches from the small tree
FILES = [
    "exif-samples/heic/IMG_5195.HEIC",
    "immich-test-assets/formats/heic/IMG_2682.heic",
    "exiftool-samples/QuickTime.mov",
    "exiftool-samples/XMP.xmp",
    "exiftool-samples/PLIST.aae",
    "exiftool-samples/Apple.jpg",
    "exif-samples/README.rst",
    "immich-test-assets/formats/jpeg/el_torcal_rocks.jpeg",
    "immich-test-assets/formats/jpg/el_torcal_rocks.jpg",
    "immich-test-assets/formats/png/density_plot.png",
    "immich-test-assets/metadata/dates/time-created.jpg",
    *[f"exif-samples/jpg/{n}.jpg" for n in ("Canon_40D", "Nikon_D70", "Pentax_K10D",
      "Sony_HDR-HC3", "Olympus_C8080WZ", "Panasonic_DMC-FZ30", "Kodak_CX7530")],
]  # fmt: skip


@pytest.fixture(scope="module")
def real() -> Path:
    return REAL


def make_tree(real: Path, src: Path) -> None:
    """Two cameras' worth of files: duplicates across folders, a Live Photo with sidecars."""
    a, b = src / "phone", src / "backup"
    a.mkdir(parents=True)
    for rel in FILES:
        shutil.copy2(real / rel, a / Path(rel).name)
    shutil.copy2(real / "exiftool-samples/QuickTime.mov", a / "IMG_5195.MOV")
    shutil.copy2(real / "exiftool-samples/XMP.xmp", a / "IMG_5195.HEIC.xmp")
    shutil.copy2(real / "exiftool-samples/PLIST.aae", a / "IMG_5195.AAE")
    b.mkdir()
    for name in ["IMG_5195.HEIC", "IMG_5195.MOV", "Canon_40D.jpg", "Nikon_D70.jpg", "Apple.jpg"]:
        shutil.copy2(a / name, b / name)
    # same name, other bytes: must be numbered, not overwritten
    data = (a / "Pentax_K10D.jpg").read_bytes()
    (b / "Pentax_K10D.jpg").write_bytes(data + b"\0trailer")
    os.utime(b / "Pentax_K10D.jpg", ns=(1_000_000_000, 1_500_000_000_123_456_789))


def make_plan(src: Path, dest: Path, plan_path: Path, catalog: Path) -> None:
    with Catalog(str(catalog)) as cat:
        scan([str(src)], cat)
        recs = cat.records(under=[str(src)])
    by_hash = defaultdict(list)
    for r in recs:
        if r.blake3 and r.kind in ("image", "video"):
            by_hash[r.blake3].append(r.path)
    live = {str(src / "phone" / "IMG_5195.HEIC"), str(src / "backup" / "IMG_5195.HEIC")}
    clusters = []
    for n, paths in enumerate(sorted(p for p in by_hash.values() if len(p) > 1)):
        paths = [p for p in paths if not p.endswith(".MOV")]
        if len(paths) < 2:
            continue
        keeper = sorted(paths, key=lambda p: ("backup" in p, p))[0]
        members = tuple(ClusterMember(p, "keeper" if p == keeper else "identical") for p in paths)
        clusters.append(Cluster(f"c{n}", "identical", keeper, "phone copy first", members))
    assets = [
        Asset(sorted(live)[1], tuple(str(src / "phone" / f) for f in
              ("IMG_5195.MOV", "IMG_5195.HEIC.xmp", "IMG_5195.AAE"))),
        Asset(sorted(live)[0], (str(src / "backup" / "IMG_5195.MOV"),)),
    ]  # fmt: skip
    plan = build_plan(recs, DupesResult(tuple(clusters), (), tuple(assets)), str(dest),
                      roots=[str(src)], catalog=str(catalog), options={})  # fmt: skip
    write_plan(plan, plan_path)


@pytest.fixture(scope="module")
def template_tree(real, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    base = tmp_path_factory.mktemp("tree")
    make_tree(real, base / "src")
    hashes = {str(p.relative_to(base)): hash_file(p)["blake3"] for p in base.rglob("*")
              if p.is_file()}  # fmt: skip
    return base, hashes


@pytest.fixture
def setup(template_tree, tmp_path):
    """A fresh copy of the tree, its plan and a DEST path: (src, dest, plan path)."""
    base, _ = template_tree
    shutil.copytree(base / "src", tmp_path / "src", copy_function=shutil.copy2)
    make_plan(tmp_path / "src", tmp_path / "dest", tmp_path / "plan.json", tmp_path / "c.db")
    return tmp_path / "src", tmp_path / "dest", tmp_path / "plan.json"


def source_hashes(src: Path) -> dict[str, str]:
    return {str(p): hash_file(p)["blake3"] for p in sorted(src.rglob("*")) if p.is_file()}


def assert_dest_matches_plan(plan_path: Path, original: dict[str, str]) -> dict:
    plan = read_plan(plan_path)
    dest = Path(plan.dest)
    want = {e.target: e for e in plan.entries if e.action in ("keep", "companion")}
    got = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    reports = {"photoverify-ledger.json", "photoverify-ledger.csv", "photoverify-manifest.b3"}
    assert got == set(want) | reports, got ^ (set(want) | reports)
    for target, e in want.items():
        assert hash_file(dest / target)["blake3"] == e.blake3 == original[e.source], target
        assert (dest / target).read_bytes() == Path(e.source).read_bytes()
        assert (dest / target).stat().st_mtime_ns == Path(e.source).stat().st_mtime_ns
    ledger = json.loads((dest / "photoverify-ledger.json").read_text())
    sources = [r["source"] for r in ledger["entries"]]
    assert sorted(sources) == sorted(e.source for e in plan.entries)  # each exactly once
    assert len(set(sources)) == len(sources)
    check = subprocess.run(["b3sum", "--check", "photoverify-manifest.b3"], cwd=dest,
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == len(want)
    return ledger


def run_apply(plan: Path, crash_after: int | None = None, mode: str = "copy",
              batch_files: int | None = None, wrap: tuple[str, ...] = (),
              crash_at_step: int | None = None, no_syncfs: bool = False):  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in (CRASH_ENV, CRASH_FILE_ENV)}
    if crash_after is not None:
        env[CRASH_ENV] = str(crash_after)
    if crash_at_step is not None:
        env[CRASH_FILE_ENV] = str(crash_at_step)
    code = ("import sys, json; import photoverify.dedupe.move.apply as a; "
            "import photoverify.dedupe.move.batches as b, photoverify.dedupe.move.fileops as f; "
            "from photoverify.verify.manifest import render_b3sum; "
            f"b.BATCH_FILES = {batch_files or 'b.BATCH_FILES'}; "
            f"f._SYNCFS = {'None' if no_syncfs else 'f._SYNCFS'}; "
            "r = a.apply_plan(sys.argv[1], mode=sys.argv[2], force_space=True, "
            "render_manifest=render_b3sum); "
            "print(json.dumps(r.to_json()))")  # fmt: skip
    return subprocess.run([*wrap, sys.executable, "-c", code, str(plan), mode], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=60)  # fmt: skip


# ---- the happy path --------------------------------------------------------------------------


def test_copy_apply_then_rerun_then_undo(setup):
    src, dest, plan_path = setup
    before = source_hashes(src)
    result = apply_plan(plan_path)
    assert result.ok and result.findings == []
    json.dumps(result.to_json())
    plan = read_plan(plan_path)
    assert result.fates["copied"] == sum(e.action in ("keep", "companion") for e in plan.entries)
    assert result.fates["duplicate"] == 6 and result.fates["skipped"] == 1
    ledger = assert_dest_matches_plan(plan_path, before)
    fates = {Path(r["source"]).relative_to(src).as_posix(): r["new_path"] or r["fate"]
             for r in ledger["entries"]}  # fmt: skip
    assert fates["phone/IMG_5195.HEIC"] == "2021/04/IMG_5195.HEIC"
    assert fates["phone/IMG_5195.AAE"] == "2021/04/IMG_5195.AAE"
    assert fates["backup/IMG_5195.MOV"] == "duplicate"
    assert fates["backup/Pentax_K10D.jpg"] == "2008/05/Pentax_K10D.jpg"  # path order
    assert fates["phone/Pentax_K10D.jpg"] == "2008/05/Pentax_K10D (2).jpg"
    assert source_hashes(src) == before
    # a second run changes nothing and reports the same
    again = apply_plan(plan_path)
    assert again.fates == result.fates and again.bytes_written == 0
    assert_dest_matches_plan(plan_path, before)
    # undo removes what apply made, and only that
    (dest / "mine.txt").write_text("user file")
    changed = dest / "2008/05/Canon_40D.jpg"
    changed.write_bytes(b"edited by the user")
    u = undo(str(plan_path) + ".journal")
    assert u.left == 1 and [f.outcome for f in u.findings] == ["target-changed"]
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == [
        "2008/05/Canon_40D.jpg", "mine.txt"]  # fmt: skip
    assert undo(str(plan_path) + ".journal").removed == 0  # idempotent
    assert source_hashes(src) == before


def test_refusals(setup, tmp_path):
    src, dest, plan_path = setup
    doc = json.loads(plan_path.read_text())
    bad = tmp_path / "bad.json"
    for edit, message in [
        (lambda d: d.update(dest=str(src / "phone" / "out")), "inside source root"),
        (lambda d: next(e for e in d["entries"] if e["action"] == "keep").update(
            target="../../etc/x.jpg"), "empty, '.' or '..'"),
        (lambda d: next(e for e in d["entries"] if e["action"] == "keep").update(
            target="/etc/x.jpg"), "absolute target"),
        (lambda d: d["entries"][0].update(action="nuke"), "action 'nuke'"),
    ]:  # fmt: skip
        d = json.loads(json.dumps(doc))
        edit(d)
        bad.write_text(json.dumps(d))
        with pytest.raises(PlanError, match=message) as exc:
            apply_plan(bad)
        assert "\n" not in str(exc.value)
    assert not dest.exists()
    # a symlink inside DEST that leads out of it
    (dest / "2021").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", dest / "2021" / "04")
    with pytest.raises(PlanError, match="symlink out of the destination"):
        apply_plan(plan_path)
    assert list((tmp_path / "outside").iterdir()) == []
    os.unlink(dest / "2021" / "04")
    # not enough space (the plan's bytes can never fit in what a 1-byte margin leaves)
    from photoverify.dedupe.move import apply as apply_mod

    old = apply_mod.SPACE_MARGIN
    apply_mod.SPACE_MARGIN = 1 << 60
    try:
        with pytest.raises(PlanError, match="not enough free space"):
            apply_plan(plan_path)
    finally:
        apply_mod.SPACE_MARGIN = old
    # a plan edited after apply started
    apply_plan(plan_path)
    d = json.loads(plan_path.read_text())
    d["options"]["note"] = "edited"
    plan_path.write_text(json.dumps(d))
    with pytest.raises(PlanError, match="edited after apply started"):
        apply_plan(plan_path)


def test_changed_source_and_occupied_target_become_findings(setup):
    src, dest, plan_path = setup
    (src / "phone" / "Nikon_D70.jpg").write_bytes(b"x" * 5)  # different size
    canon = src / "phone" / "Canon_40D.jpg"
    data = canon.read_bytes()
    canon.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # same size, other bytes
    sony = next(e.target for e in read_plan(plan_path).entries if "Sony" in e.source)
    (dest / sony).parent.mkdir(parents=True)
    (dest / sony).write_bytes(b"someone else's")
    result = apply_plan(plan_path)
    outcomes = sorted(f.outcome for f in result.findings)
    assert outcomes == ["source-changed", "source-changed", "target-occupied"]
    assert (dest / sony).read_bytes() == b"someone else's"
    assert not (dest / "2008/05/Canon_40D.jpg").exists()
    assert not list(dest.rglob(f"*{TMP_SUFFIX}"))
    ledger = json.loads((dest / "photoverify-ledger.json").read_text())
    failed = [r for r in ledger["entries"] if r["fate"].startswith("failed")]
    assert len(failed) == 3 and all(r["new_path"] is None for r in failed)


def test_two_long_names_with_one_content_share_a_tmp_name_but_not_a_batch(setup):
    """Names too long for a tmp prefix fall back to a tmp named by the BLAKE3: two such files
    with the same bytes in one folder would share it if they were written in one batch."""
    src, dest, plan_path = setup
    doc = json.loads(plan_path.read_text())
    movs = [e for e in doc["entries"] if e["source"].endswith("IMG_5195.MOV")]
    assert len(movs) == 2 and movs[0]["blake3"] == movs[1]["blake3"]
    for n, e in enumerate(movs):
        e.update(action="keep", cluster=None, target=f"long/{'x' * 240}{n}.MOV")
    doc["bytes_to_write"] = sum(e["size"] for e in doc["entries"]
                                if e["action"] in ("keep", "companion"))  # fmt: skip
    plan_path.write_text(json.dumps(doc))
    result = apply_plan(plan_path)
    assert result.ok, result.findings
    for e in movs:
        assert hash_file(dest / e["target"])["blake3"] == e["blake3"]
    assert not list(dest.rglob(f"*{TMP_SUFFIX}"))
    # one file per batch: the second would be written while the first's batch is in flight
    undo(str(plan_path) + ".journal")
    os.unlink(str(plan_path) + ".journal")
    again = run_apply(plan_path, batch_files=1)
    assert again.returncode == 0 and json.loads(again.stdout)["ok"], again.stderr
    for e in movs:
        assert hash_file(dest / e["target"])["blake3"] == e["blake3"]
    assert not list(dest.rglob(f"*{TMP_SUFFIX}"))


def test_reflink_is_clear_about_support_and_reflink_or_copy_works(setup):
    src, dest, plan_path = setup
    before = source_hashes(src)
    try:
        result = apply_plan(plan_path, mode="reflink")
    except PlanError as exc:  # ext4, tmpfs: no FICLONE
        assert "reflink (FICLONE) not supported" in str(exc)
        os.unlink(str(plan_path) + ".journal")
        result = apply_plan(plan_path, mode="reflink-or-copy")
    assert result.ok
    assert_dest_matches_plan(plan_path, before)


def test_hardlink_mode_links_sources(setup):
    src, dest, plan_path = setup
    before = source_hashes(src)
    apply_plan(plan_path, mode="hardlink")
    assert_dest_matches_plan(plan_path, before)
    assert (dest / "2021/04/IMG_5195.HEIC").stat().st_ino == (
        (src / "phone/IMG_5195.HEIC").stat().st_ino)  # fmt: skip
    undo(str(plan_path) + ".journal")
    assert not dest.exists() and source_hashes(src) == before


# ---- move ---------------------------------------------------------------------------------------


def test_move_removes_sources_only_after_verified_copies_and_undo_restores(setup):
    src, dest, plan_path = setup
    before = source_hashes(src)
    mtimes = {p: os.stat(p).st_mtime_ns for p in before}
    plan = read_plan(plan_path)
    result = apply_plan(plan_path, mode="move")
    assert result.ok and result.fates["moved"] > 0
    for e in plan.entries:
        target = dest / e.target if e.target else None
        if e.action in ("keep", "companion"):
            assert not os.path.exists(e.source)
            assert hash_file(target)["blake3"] == before[e.source]
        else:  # duplicates and skipped files are never touched by move
            assert hash_file(e.source)["blake3"] == before[e.source]
    u = undo(str(plan_path) + ".journal")
    assert u.restored == result.fates["moved"] and u.findings == []
    assert source_hashes(src) == before
    assert {p: os.stat(p).st_mtime_ns for p in before} == mtimes
    assert not dest.exists()
    assert undo(str(plan_path) + ".journal").restored == 0


# ---- SIGKILL at many points ----------------------------------------------------------------------


def test_sigkill_at_any_journal_step_then_rerun_finishes_the_same(setup, template_tree):
    src, dest, plan_path = setup
    base, _ = template_tree
    before = source_hashes(src)
    # a clean run tells how many journal writes there are and what the result must be; small
    # batches, so that kills land in the first, a middle and the last batch
    ref = run_apply(plan_path, batch_files=BATCH)
    assert ref.returncode == 0, ref.stderr
    reference = json.loads(ref.stdout)["fates"]
    ops = [r["op"] for r in read_journal(str(plan_path) + ".journal")]
    steps = len(ops)
    assert steps > 60 and ops.count("batch") == ops.count("synced") >= 4
    ref_files = {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*")
                 if p.is_file() and "ledger" not in p.name}  # fmt: skip
    # every kind of step, and the edges of each batch's states: after its intents, between
    # tmp files, after the last tmp before the sync, after the sync before any link, between
    # links, after the last link
    firsts = {k + 1 for k in range(steps) if k == 0 or ops[k] != ops[k - 1]}
    lasts = {k + 1 for k in range(steps) if k == steps - 1 or ops[k] != ops[k + 1]}
    rnd = random.Random(20240611)
    points = sorted(firsts | lasts | set(rnd.sample(range(1, steps), 8)))
    assert {ops[n - 1] for n in points} >= {"begin", "mkdir", "batch", "written", "synced",
                                            "placed", "report", "finish"}  # fmt: skip
    assert len(points) >= 30
    for n in points:
        kill_then_finish(plan_path, {"crash_after": n}, reference, ref_files, rnd)
    # the file steps between journal records: after a tmp is written, after a batch's sync,
    # once a target is named (renamed, or linked while its tmp exists), before `placed`
    files_per_batch = ops.index("synced") - ops.index("batch") - 1
    first_batch = 3 * files_per_batch + 1
    points = sorted(set(range(1, first_batch + 2)) | set(rnd.sample(range(first_batch, 90), 6)))
    killed = {n: kill_then_finish(plan_path, {"crash_at_step": n}, reference, ref_files, rnd)
              for n in points}  # fmt: skip
    assert all(killed[n] for n in range(1, first_batch + 2)), killed
    # only the points past the last file step let the run finish, and then every later one
    assert all(n > k for n in points if not killed[n] for k in points if killed[k]), killed
    assert_dest_matches_plan(plan_path, before)
    assert source_hashes(src) == before


def kill_then_finish(plan_path: Path, crash: dict, reference: dict, ref_files: dict,
                     rnd: random.Random) -> bool:  # fmt: skip
    """Start afresh, be killed at `crash`, maybe again while resuming, then finish; checks the
    result either way. True when the kill happened (a file step past the last one never comes)."""
    dest = Path(read_plan(plan_path).dest)
    shutil.rmtree(dest)
    os.unlink(str(plan_path) + ".journal")
    killed = run_apply(plan_path, batch_files=BATCH, **crash)
    n = next(iter(crash.values()))
    if "crash_at_step" in crash and killed.returncode == 0:
        done = killed  # past the last file step: the run finished, checked as any other
    else:
        assert killed.returncode == -signal.SIGKILL, (crash, killed.stderr)
        if n % 3 == 0:  # die a second time while resuming
            again = run_apply(plan_path, crash_after=rnd.randint(1, 15), batch_files=BATCH)
            assert again.returncode in (-signal.SIGKILL, 0), again.stderr
        # resuming with other batch boundaries than the killed run's must not matter
        done = run_apply(plan_path, batch_files=BATCH if n % 2 else None)
    assert done.returncode == 0, (crash, done.stderr)
    assert json.loads(done.stdout)["fates"] == reference, crash
    assert not list(dest.rglob(f"*{TMP_SUFFIX}")), crash
    files = {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*")
             if p.is_file() and "ledger" not in p.name}  # fmt: skip
    assert files == ref_files, crash
    return killed.returncode == -signal.SIGKILL


def test_copy_syncs_once_per_batch_not_once_per_file(setup, tmp_path):
    """The point of batching, counted with strace on a real run: one syncfs per batch and a
    handful of fsyncs (journal, folders, reports) instead of two per file."""
    if not shutil.which("strace"):
        pytest.skip("strace is not installed")
    _, dest, plan_path = setup
    log = tmp_path / "strace.log"
    wrap = ("strace", "-f", "-qq", "-e", "trace=fsync,fdatasync,syncfs", "-o", str(log))

    def traced(**kw) -> tuple[Counter, dict]:
        run = run_apply(plan_path, batch_files=BATCH, wrap=wrap, **kw)
        if run.returncode != 0 and "ptrace" in run.stderr:
            pytest.skip(f"strace cannot trace here: {run.stderr.strip()}")
        assert run.returncode == 0, run.stderr
        text = log.read_text()
        return Counter(re.findall(r"\b(fsync|fdatasync|syncfs)\(", text)), json.loads(run.stdout)

    calls, result = traced()
    copied = result["fates"]["copied"]
    batches = -(-copied // BATCH)
    # a syncfs per batch, one for the folders, one for the reports' data, one for their names
    assert calls["syncfs"] == batches + 3
    # the journal's folder; DEST made (record and parent); the records begin, one per batch,
    # report and finish
    assert calls["fsync"] + calls["fdatasync"] == 3 + 3 + batches
    # without syncfs each file and folder is fsynced instead: the same result, more syncs
    ref = {p.relative_to(dest): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    undo(str(plan_path) + ".journal")
    os.unlink(str(plan_path) + ".journal")
    calls, again = traced(no_syncfs=True)
    assert again["fates"] == result["fates"] and calls["syncfs"] == 0
    assert calls["fsync"] > copied + 3 + 3 + batches
    assert {p.relative_to(dest): p.read_bytes() for p in dest.rglob("*") if p.is_file()} == ref


def test_sigkill_during_move_then_resume_and_undo(setup):
    src, dest, plan_path = setup
    before = source_hashes(src)
    for n in (7, 23, 41):
        killed = run_apply(plan_path, crash_after=n, mode="move")
        assert killed.returncode == -signal.SIGKILL
    done = run_apply(plan_path, mode="move")
    assert done.returncode == 0, done.stderr
    plan = read_plan(plan_path)
    for e in plan.entries:
        if e.action in ("keep", "companion"):
            assert not os.path.exists(e.source)
            assert hash_file(dest / e.target)["blake3"] == before[e.source]
    undo(str(plan_path) + ".journal")
    assert source_hashes(src) == before and not dest.exists()


def run_undo(journal: str, crash_after: int, batch: int):
    """undo in a subprocess, killed after its `crash_after`-th journal write, `batch` entries
    undone between two syncs."""
    env = {k: v for k, v in os.environ.items() if k not in (CRASH_ENV, CRASH_FILE_ENV)}
    env[CRASH_ENV] = str(crash_after)
    code = ("import sys; import photoverify.dedupe.move.undoing as u; "
            "from photoverify.verify.manifest import render_b3sum; "
            f"u.BATCH = {batch}; u.undo(sys.argv[1], render_manifest=render_b3sum)")  # fmt: skip
    return subprocess.run([sys.executable, "-c", code, journal], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


@pytest.mark.parametrize("mode", ["copy", "move"])
def test_an_undo_killed_between_its_batches_is_finished_by_the_next(setup, mode):
    """undo removes a batch of targets, syncs their folders, then writes the batch's `undone`
    records: killed anywhere in that (the records of two entries a batch), a second undo
    finishes the work: every source back as it was, nothing of the apply left in DEST."""
    src, dest, plan_path = setup
    before = source_hashes(src)
    assert run_apply(plan_path, mode=mode).returncode == 0
    journal = str(plan_path) + ".journal"
    writes = len(read_journal(journal))
    for n in (2, 3, 5, 8):  # undo-begin, then records of the first batches
        killed = run_undo(journal, n, batch=2)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(read_journal(journal)) > writes  # the killed runs undid some entries
    undo(journal)
    assert source_hashes(src) == before
    assert not dest.exists() or not [p for p in dest.rglob("*") if p.is_file()]


def test_an_unreadable_source_fails_alone_and_a_rerun_finishes(setup):
    """A source that cannot be read (mode 000, read on a worker thread) becomes a one-line
    finding naming it; the rest is copied, no tmp is left, and once readable a rerun copies it."""
    src, dest, plan_path = setup
    before = source_hashes(src)
    plan = read_plan(plan_path)
    locked = next(Path(e.source) for e in plan.entries if e.action == "keep")
    locked.chmod(0)
    root = os.geteuid() == 0
    drop = "-dac_override,-dac_read_search"
    wrap = ("setpriv", "--bounding-set", drop, "--inh-caps", drop) if root else ()
    try:
        run = run_apply(plan_path, wrap=wrap)
    finally:
        locked.chmod(0o644)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert not result["ok"] and result["fates"]["failed"] == 1
    (finding,) = result["findings"]
    assert finding["path"] == str(locked) and finding["outcome"] == "source-unreadable"
    assert finding["message"] == "cannot read: Permission denied"
    assert not list(dest.rglob(f"*{TMP_SUFFIX}"))
    again = apply_plan(plan_path)
    assert again.ok and again.fates.get("failed", 0) == 0
    assert_dest_matches_plan(plan_path, before)


def test_undo_of_a_killed_run_removes_targets_whose_placed_record_was_lost(setup):
    """Killed just after naming a batch's first target: its `placed` record never reached the
    journal (unsynced records wait for the next synced one). Undo, without a resume first,
    still removes it: the target was announced while free and holds the announced bytes."""
    src, dest, plan_path = setup
    before = source_hashes(src)
    # file steps of the first batch: BATCH tmps written, the sync, then the first target named
    killed = run_apply(plan_path, batch_files=BATCH, crash_at_step=BATCH + 2)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    named = [p for p in dest.rglob("*") if p.is_file() and TMP_SUFFIX not in p.name]
    assert len(named) == 1
    ops = [r["op"] for r in read_journal(str(plan_path) + ".journal")]
    assert "placed" not in ops and "batch" in ops
    u = undo(str(plan_path) + ".journal")
    assert u.removed == 1 and u.left == 0
    assert not [p for p in dest.rglob("*") if p.is_file()]
    assert source_hashes(src) == before


@pytest.mark.parametrize("where", ["same filesystem", "tmpfs"])
def test_copy_into_gives_the_bytes_and_the_hash_of_the_copy(tmp_path, corpus, where):
    """The kernel copy (copy_file_range) on one filesystem; across filesystems, where the kernel
    refuses it (EXDEV), the read/write loop. Either way the digest is the copy's."""
    folder = tmp_path if where == "same filesystem" else Path("/dev/shm")
    if not folder.is_dir():
        pytest.skip("no /dev/shm here")
    photo = max(corpus.rglob("*.HEIC"), key=lambda p: p.stat().st_size)
    contents = {"empty": b"", "one byte": b"x", photo.name: photo.read_bytes()}
    for name, data in contents.items():
        src = folder / f"photoverify-test-{os.getpid()}-{name}"
        src.write_bytes(data)
        dst = tmp_path / f"copy of {name}"
        fd = os.open(dst, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            digest = copy_into(str(src), fd, bytearray(1 << 20))
        finally:
            os.close(fd)
            src.unlink()
        assert dst.read_bytes() == data, name
        assert digest == hash_file(dst)["blake3"], name


# ---- a full disk -------------------------------------------------------------------------------


@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                          capture_output=True, text=True)  # fmt: skip
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_stops_cleanly_and_resumes(setup, small_tmpfs, tmp_path):
    src, _, _ = setup
    before = source_hashes(src)
    plan_path = tmp_path / "tmpfs-plan.json"
    make_plan(src, small_tmpfs / "dest", plan_path, tmp_path / "c2.db")
    plan = read_plan(plan_path)
    assert plan.bytes_to_write > 1_000_000
    with pytest.raises(PlanError, match="not enough free space"):
        apply_plan(plan_path)
    filler = small_tmpfs / "filler.bin"
    filler.write_bytes(os.urandom(1_500_000))
    with pytest.raises(EnvironmentProblem) as exc:
        apply_plan(plan_path, force_space=True)
    message = str(exc.value)
    assert "ENOSPC" in message and "\n" not in message
    assert str(small_tmpfs / "dest") in message
    dest = small_tmpfs / "dest"
    assert not list(dest.rglob(f"*{TMP_SUFFIX}"))
    for e in plan.entries:  # whatever is at a target is complete
        if e.target and (dest / e.target).exists() and e.action != "duplicate":
            assert hash_file(dest / e.target)["blake3"] == e.blake3
    filler.unlink()
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_tmpfs)], check=True)
    result = apply_plan(plan_path, force_space=True)
    assert result.ok
    assert_dest_matches_plan(plan_path, before)
    assert source_hashes(src) == before

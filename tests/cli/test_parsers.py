"""Readers of outside input are linear and total: hostile or unusual input is read, or refused
with one line naming the file (exit 2), never a traceback (issue 11, items 7 and 8)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import run_cli

from photoverify.dedupe.catalog.apple_csv import read_photo_details
from photoverify.dedupe.catalog.walk import Candidate, WalkError, walk
from photoverify.dedupe.core.errors import ManifestError, PlanError, UsageError
from photoverify.dedupe.move.planfile import read_plan
from photoverify.verify.manifest import read_manifest
from photoverify.verify.manifest.tree import walk_tree
from photoverify.verify.report.inputs import read_verify_json

DEEP_JSON = "[" * 100_000 + "]" * 100_000


def make_deep_tree(base: Path, depth: int, name: str = "d") -> str:
    """`depth` nested folders with one file at the bottom; returns its path relative to base.

    Made through dir fds: os.makedirs recurses, and the bottom may be longer than PATH_MAX."""
    fd = os.open(base, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            nfd = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        out = os.open("bottom.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd)
        os.write(out, b"at the bottom\n")
        os.close(out)
    finally:
        os.close(fd)
    return "/".join([name] * depth + ["bottom.txt"])


def remove_tree(path: Path) -> None:
    """rm -r without recursion (shutil.rmtree recurses, so pytest cannot clean a deep tree)."""
    fds = [os.open(path, os.O_RDONLY | os.O_DIRECTORY)]
    names: list[str] = []
    while fds:
        fd = fds[-1]
        entries = list(os.scandir(fd))
        sub = next((e.name for e in entries if e.is_dir(follow_symlinks=False)), None)
        if sub is not None:
            fds.append(os.open(sub, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd))
            names.append(sub)
            continue
        for e in entries:
            os.unlink(e.name, dir_fd=fd)
        os.close(fds.pop())
        if names:
            os.rmdir(names.pop(), dir_fd=fds[-1])


@pytest.fixture
def deep_tmp(tmp_path: Path):
    """tmp_path, emptied without recursion afterwards."""
    yield tmp_path
    remove_tree(tmp_path)


def one_line_refusal(proc: subprocess.CompletedProcess, where: Path) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(where.name) in lines[0], proc.stderr


# ---------------------------------------------------------------------------- 7: linear reading


def json_manifest(path: Path, n: int, pretty: bool = False) -> None:
    """The writer's layout (one entry per line), or pretty-printed (read as one document)."""
    rows = [
        {"path": f"d{i % 97}/IMG_{i:07d}.JPG", "blake3": f"{i:064x}", "size": i} for i in range(n)
    ]
    head = {"version": 1, "format": "photoverify-manifest", "algorithm": "blake3", "root": "/r"}
    if pretty:
        path.write_text(json.dumps({**head, "entries": rows}, indent=2))
        return
    body = ",\n".join(json.dumps(r) for r in rows)
    path.write_text(json.dumps(head)[:-1] + ', "entries": [\n' + body + "\n]}\n")


@pytest.mark.parametrize("pretty", [False, True], ids=["one-per-line", "pretty"])
def test_a_json_manifest_reads_in_linear_time(tmp_path, pretty):
    small, big = tmp_path / "small.json", tmp_path / "big.json"
    json_manifest(small, 4_000, pretty)
    json_manifest(big, 16_000, pretty)

    def load(p: Path) -> float:
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            m = read_manifest(p)
            best = min(best, time.perf_counter() - t)
        assert m.format == "json"
        return best

    t_small, t_big = load(small), load(big)
    # Four times the entries: about four times the time when linear, sixteen when quadratic
    # (the old reader took ~20 s for the big one).
    assert t_big < 8 * t_small + 0.05, (t_small, t_big)
    assert t_big < 3.0
    m = read_manifest(big)
    # lines are still found: after the head line, or at each "path" key of the pretty form
    assert m.entries[12_345].line == (12_345 * 5 + 8 if pretty else 12_347)


def test_json_manifest_lines_follow_repeated_and_escaped_paths(tmp_path):
    head = '{"version": 1, "format": "photoverify-manifest", "algorithm": "md5", "entries": [\n'
    rows = [
        {"path": "caf\u00e9/a\\b.jpg", "md5": "0" * 32},
        {"path": "x.jpg", "md5": "1" * 32},
        {"path": "x.jpg", "md5": "2" * 32},
    ]
    p = tmp_path / "m.json"
    p.write_text(head + ",\n".join(json.dumps(r) for r in rows) + "\n]}\n")
    with pytest.raises(ManifestError, match=r"m\.json:4 \(entry 2\): 'x.jpg' listed again"):
        read_manifest(p)
    rows.pop()
    p.write_text(head + ",\n".join(json.dumps(r) for r in rows) + "\n]}\n")
    assert [e.line for e in read_manifest(p).entries] == [2, 3]


# ---------------------------------------------------------------------------- 8: deep trees


def test_manifest_and_verify_a_tree_a_thousand_folders_deep(deep_tmp):
    tmp_path = deep_tmp
    root = tmp_path / "tree"
    root.mkdir()
    rel = make_deep_tree(root, 1000)
    out = tmp_path / "deep.b3"
    run_cli("manifest", str(root), "-o", str(out))
    assert out.read_text().endswith(f"  {rel}\n")
    # the real b3sum opens the file the manifest names
    check = subprocess.run(["b3sum", "--check", str(out)], cwd=root, capture_output=True)
    assert check.returncode == 0 and check.stdout.endswith(b": OK\n")
    proc = run_cli("verify", "--manifest", str(out), str(root), "--json")
    assert json.loads(proc.stdout)["counts"]["matched"] == 1


def test_the_scan_walker_goes_a_thousand_folders_deep(deep_tmp):
    tmp_path = deep_tmp
    rel = make_deep_tree(tmp_path, 1000)
    found = list(walk([str(tmp_path)]))
    assert [c.path for c in found if isinstance(c, Candidate)] == [str(tmp_path / rel)]


def test_a_tree_deeper_than_path_max_is_a_finding_not_a_crash(deep_tmp):
    tmp_path = deep_tmp
    make_deep_tree(tmp_path, 600, "dddddddd")  # 5,400 bytes: past Linux's 4,096
    (tmp_path / "top.jpg").write_bytes(b"top")
    files, problems = walk_tree(tmp_path)
    assert [f.rel for f in files] == ["top.jpg"]
    assert len(problems) == 1 and problems[0].outcome == "unreadable"
    assert "File name too long" in problems[0].message
    found = list(walk([str(tmp_path)]))
    assert [c.path for c in found if isinstance(c, Candidate)] == [str(tmp_path / "top.jpg")]
    errors = [e for e in found if isinstance(e, WalkError)]
    assert len(errors) == 1 and "File name too long" in errors[0].error


# ---------------------------------------------------------------------------- 8: JSON inputs


@pytest.mark.parametrize(
    "args",
    [
        lambda f, tree: ("verify", "--manifest", str(f), str(tree)),
        lambda f, tree: ("plan", "--check", str(f)),
        lambda f, tree: (
            "report",
            "--catalog",
            str(tree / "c.sqlite"),
            "--verify",
            str(f),
            "-o",
            str(tree / "r.html"),
        ),
    ],
    ids=["verify", "plan-check", "report"],
)
def test_deeply_nested_json_is_one_line_naming_the_file(tmp_path, args):
    f = tmp_path / "deep.json"
    f.write_text('{"format": "photoverify-manifest", "version": 1, "entries": ' + DEEP_JSON + "}")
    one_line_refusal(run_cli(*args(f, tmp_path), check=False), f)


def test_deep_json_in_each_reader_raises_the_projects_error(tmp_path):
    f = tmp_path / "deep.json"
    f.write_text('{"format": "photoverify-manifest", "version": 1, "entries": ' + DEEP_JSON + "}")
    for read, error in ((read_manifest, ManifestError), (read_plan, PlanError)):
        with pytest.raises(error, match="deep.json: not valid JSON: nested too deeply"):
            read(f)
    with pytest.raises(UsageError, match="nested too deeply"):
        read_verify_json(f)


def test_a_json_manifest_algorithm_that_is_a_list_is_refused(tmp_path):
    f = tmp_path / "m.json"
    f.write_text(
        '{"format": "photoverify-manifest", "version": 1, "algorithm": ["blake3"], "entries": []}'
    )
    one_line_refusal(run_cli("verify", "--manifest", str(f), str(tmp_path), check=False), f)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "not valid JSON"),
        ("[]", "not an object"),
        ('{"findings": [{"x": 1}]}', "finding 0 needs a text field 'path'"),
        ('{"findings": {}}', "findings is not a list"),
        ('{"findings": [], "counts": {"matched": "many"}}', "counts must map"),
    ],
)
def test_report_verify_input_that_is_not_verify_output(tmp_path, text, message):
    f = tmp_path / "v.json"
    f.write_text(text)
    proc = run_cli(
        "report",
        "--catalog",
        str(tmp_path / "c.sqlite"),
        "--verify",
        str(f),
        "-o",
        str(tmp_path / "r.html"),
        check=False,
    )
    one_line_refusal(proc, f)
    assert message in proc.stderr


def test_report_verify_reads_verify_json(tmp_path):
    f = tmp_path / "v.json"
    finding = {
        "path": "a.jpg",
        "check": "fixity",
        "severity": "error",
        "outcome": "changed",
        "message": "a.jpg: changed",
        "evidence": {"expected": "00"},
        "later": 1,
    }
    f.write_text(json.dumps({"findings": [finding], "counts": {"changed": 1, "matched": 3}}))
    findings, counts = read_verify_json(f)
    assert findings[0].outcome == "changed" and findings[0].evidence == {"expected": "00"}
    assert counts == {"changed": 1, "matched": 3}


# ---------------------------------------------------------------------------- 8: Photo Details


HEADER = "imgName,fileChecksum,favorite,hidden,deleted,originalCreationDate,viewCount,importDate"
ROW = 'IMG_0001.HEIC,AQ==,no,no,no,"Saturday June 4,2022 12:11 PM GMT",{views},'


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_photo_details_csv_is_read(tmp_path, encoding):
    f = tmp_path / "Photo Details.csv"
    row = ROW.format(views=3)
    f.write_bytes(f"{HEADER}\n{row}\n".encode(encoding))
    part = read_photo_details(str(f))
    assert part.error is None
    assert [(r.name, r.view_count) for r in part.rows] == [("IMG_0001.HEIC", 3)]


def test_a_broken_utf16_photo_details_csv_is_an_error_of_its_part(tmp_path):
    f = tmp_path / "Photo Details.csv"
    f.write_bytes(f"{HEADER}\n".encode("utf-16") + b"\x00\xd8")  # a lone surrogate at the end
    assert read_photo_details(str(f)).error == "not UTF-8 or UTF-16 text"


@pytest.mark.parametrize("views", ["²", "٣", "9" * 5000, "-1"])
def test_a_view_count_that_is_not_a_count_is_left_out(tmp_path, views):
    f = tmp_path / "Photo Details.csv"
    f.write_text(f"imgName,viewCount\nIMG_0001.HEIC,{views}\n", encoding="utf-8")
    part = read_photo_details(str(f))
    assert [(r.name, r.view_count) for r in part.rows] == [("IMG_0001.HEIC", None)]


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"gps": {"lat": "x", "lon": 1}}, "is not a lat/lon position"),
        ({"gps": {"lat": 10**400, "lon": 1}}, "is not a lat/lon position"),
        ({"gps": [1, 2]}, "is not a lat/lon position"),
        ({"captured_at": 20210411}, "is not a time"),
    ],
)
def test_json_manifest_metadata_verify_cannot_use_is_refused(tmp_path, extra, message):
    """Before, `verify` crashed comparing a changed file's GPS against `"lat": "x"`."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.jpg").write_bytes(b"not the recorded bytes")
    m = tmp_path / "m.json"
    row = {"path": "a.jpg", "blake3": "0" * 64, **extra}
    head = '{"version": 1, "format": "photoverify-manifest", "algorithm": "blake3", "entries": [\n'
    m.write_text(head + json.dumps(row) + "\n]}\n")
    proc = run_cli("verify", str(tree), "--manifest", str(m), "--catalog",
                   str(tmp_path / "c.sqlite"), check=False)  # fmt: skip
    one_line_refusal(proc, m)
    assert f"m.json:2 (entry 0): {list(extra)[0]}" in proc.stderr and message in proc.stderr


def test_report_verify_reads_what_verify_json_writes(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_text("one")
    (tree / "b.txt").write_text("two")
    m, db = tmp_path / "m.b3", str(tmp_path / "c.sqlite")
    run_cli("manifest", str(tree), "-o", str(m))
    (tree / "a.txt").write_text("changed")
    proc = run_cli(
        "verify", str(tree), "--manifest", str(m), "--catalog", db, "--json", check=False
    )
    assert proc.returncode == 1
    saved = tmp_path / "verify.json"
    saved.write_text(proc.stdout)
    report = json.loads(
        run_cli(
            "report",
            "--catalog",
            db,
            "--verify",
            str(saved),
            "-o",
            str(tmp_path / "r.html"),
            "--json",
        ).stdout  # fmt: skip
    )
    assert report["summary_counts"]["changed"] == 1 and report["summary_counts"]["matched"] == 1


@pytest.mark.parametrize("odd", ["\u2028", "\x1c", "\x85", "\x0b"])
def test_a_photo_details_name_with_a_unicode_line_break_is_one_row(tmp_path, odd):
    f = tmp_path / "Photo Details.csv"
    f.write_text(f"imgName,viewCount\nIMG{odd}0001.HEIC,3\nIMG_0002.HEIC,4\n", encoding="utf-8")
    part = read_photo_details(str(f))
    assert [(r.name, r.view_count, r.line) for r in part.rows] == [
        (f"IMG{odd}0001.HEIC", 3, 2),
        ("IMG_0002.HEIC", 4, 3),
    ]


@pytest.mark.parametrize("size", ["-5", "١٢", "1_000", " 7", "9" * 30])
def test_a_hashdeep_size_is_ascii_digits(tmp_path, size):
    f = tmp_path / "m.hashdeep"
    f.write_text(f"%%%% HASHDEEP-1.0\n%%%% size,md5,filename\n{size},{'0' * 32},./a.jpg\n")
    with pytest.raises(ManifestError, match=r"m\.hashdeep:3: size .* is not a number"):
        read_manifest(f)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_a_utf16_manifest_with_a_bom_is_read(tmp_path, encoding):
    """`sha256sum * > SHA256SUMS` in Windows PowerShell 5 writes UTF-16 with a BOM."""
    f = tmp_path / "SHA256SUMS"
    text = f"{'ab' * 32}  caf\u00e9.jpg\r\n{'cd' * 32}  b.jpg\r\n"
    data = text.encode(encoding)
    f.write_bytes(data if encoding == "utf-16" else b"\xfe\xff" + data)
    m = read_manifest(f)
    assert [(e.path, e.digests["sha256"]) for e in m.entries] == [
        ("caf\u00e9.jpg", "ab" * 32),
        ("b.jpg", "cd" * 32),
    ]


def test_a_broken_utf16_manifest_is_one_line(tmp_path):
    f = tmp_path / "SHA256SUMS"
    f.write_bytes(b"\xff\xfe" + "a".encode("utf-16-le") + b"\x00\xd8")
    with pytest.raises(ManifestError, match="SHA256SUMS: manifest starts as UTF-16 but is not"):
        read_manifest(f)

"""Manifests written by us are accepted by the peer tools, and theirs are read by us."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from photoverify.dedupe.core.errors import ManifestError, UsageError
from photoverify.dedupe.core.hashing import hash_file
from photoverify.verify.manifest import (
    Manifest,
    ManifestEntry,
    path_key,
    read_manifest,
    render_manifest,
    write_manifest,
)
from photoverify.verify.manifest.entries import LINE_FORMATS, safe_relpath, unholdable
from photoverify.verify.manifest.fixity import check_fixity

BAGIT = [sys.executable, str(Path(sys.executable).parent / "bagit.py")]
NFD_NAME = unicodedata.normalize("NFD", "été à Noël.jpg")
ODD_NAMES = [
    "plain.jpg",
    "with space.jpg",
    "new\nline.jpg",
    "back\\slash.jpg",
    NFD_NAME,
    "-leading-dash.jpg",
    "sub dir/nested -x.jpg",
    "sub dir/deeper/100%.jpg",
]


def make_tree(root: Path, names: list[str]) -> Path:
    for i, name in enumerate(names):
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(f"content {i} of {name!r}\n".encode() * (i + 1))
    return root


@pytest.fixture
def odd_tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "tree", ODD_NAMES)


def all_matched(root: Path, manifest: Manifest, n: int) -> None:
    result = check_fixity(root, manifest)
    assert result.counts["matched"] == n, [f.message for f in result.findings]
    assert sum(result.counts.values()) == n


# ---------------------------------------------------------------- our manifests, peer tools check


@pytest.mark.parametrize("fmt", list(LINE_FORMATS))
def test_line_formats_pass_peer_check(odd_tree: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"manifest.{fmt}"
    m = write_manifest(odd_tree, out, fmt=fmt)
    assert len(m.entries) == len(ODD_NAMES) and not m.errors
    tool = fmt  # b3sum, sha256sum, sha1sum, md5sum
    run = subprocess.run([tool, "--check", str(out)], cwd=odd_tree, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count(": OK") == len(ODD_NAMES)
    back = read_manifest(out)
    assert back.format == fmt and back.algorithm == LINE_FORMATS[fmt]
    assert {e.path for e in back.entries} == set(ODD_NAMES)
    all_matched(odd_tree, back, len(ODD_NAMES))


def test_peer_check_fails_on_a_changed_file(odd_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.sha256"
    write_manifest(odd_tree, out, fmt="sha256sum")
    (odd_tree / "new\nline.jpg").write_bytes(b"tampered")
    run = subprocess.run(["sha256sum", "-c", str(out)], cwd=odd_tree, capture_output=True)
    assert run.returncode == 1


def test_hashdeep_audit_passes(odd_tree: Path, tmp_path: Path) -> None:
    (odd_tree / "new\nline.jpg").unlink()  # hashdeep's format cannot hold a newline
    out = tmp_path / "m.hashdeep"
    m = write_manifest(odd_tree, out, fmt="hashdeep")
    assert out.read_text().startswith("%%%% HASHDEEP-1.0\n%%%% size,sha256,filename\n")
    audit = subprocess.run(
        ["hashdeep", "-a", "-k", str(out), "-r", "-l", "."],
        cwd=odd_tree,
        capture_output=True,
        text=True,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    back = read_manifest(out)
    assert back.format == "hashdeep" and all(e.size is not None for e in back.entries)
    all_matched(odd_tree, back, len(m.entries))


def test_hashdeep_reports_unrepresentable_name(odd_tree: Path, tmp_path: Path) -> None:
    m = write_manifest(odd_tree, tmp_path / "m.hashdeep", fmt="hashdeep")
    assert [f.path for f in m.errors] == ["new\nline.jpg"]
    assert len(m.entries) == len(ODD_NAMES) - 1


def bagit_validate(bag: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*BAGIT, "--validate", str(bag)], capture_output=True, text=True)


def test_bag_beside_data_by_hard_links(odd_tree: Path, tmp_path: Path) -> None:
    before = {p: p.stat().st_ino for p in odd_tree.rglob("*") if p.is_file()}
    bag = tmp_path / "bag"
    m = write_manifest(odd_tree, bag, fmt="bagit")
    assert m.root == str(bag / "data")
    run = bagit_validate(bag)
    assert run.returncode == 0, run.stderr
    info = (bag / "bag-info.txt").read_text()
    size = sum(p.stat().st_size for p in before)
    assert f"Payload-Oxum: {size}.{len(ODD_NAMES)}" in info and "Bagging-Date: " in info
    # The user's files stay where they were, and the payload is the same inodes, not copies.
    assert {p: p.stat().st_ino for p in before} == before
    assert (bag / "data" / "plain.jpg").stat().st_ino == before[odd_tree / "plain.jpg"]
    assert "data/new%0Aline.jpg" in (bag / "manifest-sha256.txt").read_text()
    all_matched(odd_tree, read_manifest(bag), len(ODD_NAMES))


def test_bag_copy_mode_and_tamper_detected(odd_tree: Path, tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    write_manifest(odd_tree, bag, fmt="bagit", bag_mode="copy")
    assert bagit_validate(bag).returncode == 0
    copy = bag / "data" / "plain.jpg"
    assert copy.stat().st_ino != (odd_tree / "plain.jpg").stat().st_ino
    copy.write_bytes(b"rot")
    assert bagit_validate(bag).returncode != 0


def test_bag_in_place_needs_data_layout(odd_tree: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no data/ directory"):
        write_manifest(odd_tree, odd_tree, fmt="bagit")
    laid_out = tmp_path / "laid"
    shutil.copytree(odd_tree, laid_out / "data")
    m = write_manifest(laid_out, laid_out, fmt="bagit")
    assert len(m.entries) == len(ODD_NAMES)
    assert bagit_validate(laid_out).returncode == 0


def test_bag_refuses_blake3_and_bag_inside_root(odd_tree: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="BagIt cannot hold blake3"):
        write_manifest(odd_tree, tmp_path / "b", fmt="bagit", algorithm="blake3")
    with pytest.raises(UsageError, match="must not be inside"):
        write_manifest(odd_tree, odd_tree / "bag", fmt="bagit")


def test_json_manifest_shape_and_media_info(odd_tree: Path, tmp_path: Path) -> None:
    def media_info(abs_path: str) -> dict | None:
        if abs_path.endswith("plain.jpg"):
            return {"captured_at": "2021-07-04T10:00:00+02:00", "gps": {"lat": 1.5, "lon": 2.5}}
        return None

    out = tmp_path / "m.json"
    write_manifest(odd_tree, out, fmt="json", media_info=media_info)
    doc = json.loads(out.read_text())
    assert (doc["version"], doc["format"], doc["algorithm"]) == (
        1,
        "photoverify-manifest",
        "blake3",
    )
    rows = {r["path"]: r for r in doc["entries"]}
    assert unicodedata.normalize("NFC", NFD_NAME) in rows and NFD_NAME not in rows
    plain = rows["plain.jpg"]
    assert plain["blake3"] == hash_file(odd_tree / "plain.jpg")["blake3"]
    assert plain["size"] == (odd_tree / "plain.jpg").stat().st_size
    assert plain["gps"] == {"lat": 1.5, "lon": 2.5} and "captured_at" in plain
    assert "gps" not in rows["with space.jpg"]
    back = read_manifest(out)
    assert back.entries[0].mtime_ns is not None
    assert next(e for e in back.entries if e.path == "plain.jpg").extra["gps"]["lat"] == 1.5
    all_matched(odd_tree, back, len(ODD_NAMES))


def test_known_digest_is_reused_not_recomputed(odd_tree: Path, tmp_path: Path) -> None:
    asked = []

    def known(abs_path: str, st: os.stat_result, algorithm: str) -> str | None:
        asked.append((Path(abs_path).name, st.st_size, algorithm))
        return "ab" * 32 if abs_path.endswith("plain.jpg") else None

    m = write_manifest(odd_tree, tmp_path / "m.b3", fmt="b3sum", known_digest=known)
    assert len(asked) == len(ODD_NAMES) and all(a[2] == "blake3" for a in asked)
    digests = {e.path: e.digests["blake3"] for e in m.entries}
    assert digests["plain.jpg"] == "ab" * 32  # taken from the callback, so not hashed
    assert digests["with space.jpg"] == hash_file(odd_tree / "with space.jpg")["blake3"]


def test_vanished_file_is_an_error_not_a_crash(odd_tree: Path, tmp_path: Path) -> None:
    def known(abs_path: str, st: os.stat_result, algorithm: str) -> str | None:
        if abs_path.endswith("plain.jpg"):
            os.unlink(abs_path)  # the file disappears between listing and reading
        return None

    m = write_manifest(odd_tree, tmp_path / "m.b3", fmt="b3sum", known_digest=known)
    assert [(f.path, f.outcome) for f in m.errors] == [("plain.jpg", "unreadable")]
    assert "plain.jpg" not in {e.path for e in m.entries}


def test_manifest_inside_root_skips_itself_and_symlinks(odd_tree: Path) -> None:
    (odd_tree / "link.jpg").symlink_to(odd_tree / "plain.jpg")
    out = odd_tree / "SHA256SUMS"
    m = write_manifest(odd_tree, out, fmt="sha256sum")
    assert "SHA256SUMS" not in {e.path for e in m.entries}
    assert [(f.path, f.outcome) for f in m.errors] == [("link.jpg", "skipped")]
    m2 = write_manifest(odd_tree, out, fmt="sha256sum")  # again, over the existing file
    assert len(m2.entries) == len(ODD_NAMES)
    run = subprocess.run(["sha256sum", "-c", str(out)], cwd=odd_tree, capture_output=True)
    assert run.returncode == 0


def test_format_and_algorithm_must_agree(odd_tree: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="sha256sum holds sha256"):
        write_manifest(odd_tree, tmp_path / "m", fmt="sha256sum", algorithm="md5")
    with pytest.raises(UsageError, match="hashdeep cannot hold blake3"):
        write_manifest(odd_tree, tmp_path / "m", fmt="hashdeep", algorithm="blake3")
    m = write_manifest(odd_tree, tmp_path / "m.json", fmt="json", algorithm="sha1")
    assert read_manifest(tmp_path / "m.json").algorithm == m.algorithm == "sha1"


# ---------------------------------------------------------------- peer tools' manifests, we read


def test_read_b3sum_and_sha256sum_output(odd_tree: Path, tmp_path: Path) -> None:
    names = sorted(ODD_NAMES)
    for tool, fname in (("b3sum", "out.b3"), ("sha256sum", "SHA256SUMS")):
        out = tmp_path / fname
        with open(out, "wb") as fh:
            subprocess.run([tool, "--", *names], cwd=odd_tree, stdout=fh, check=True)
        m = read_manifest(out)
        assert m.algorithm == ("blake3" if tool == "b3sum" else "sha256")
        assert {e.path for e in m.entries} == set(ODD_NAMES)
        all_matched(odd_tree, m, len(ODD_NAMES))


def test_read_find_style_paths_binary_marker_and_tags(odd_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "sums.txt"
    files = subprocess.run(
        ["find", ".", "-type", "f", "-print0"], cwd=odd_tree, capture_output=True, check=True
    ).stdout.split(b"\0")[:-1]
    with open(out, "wb") as fh:
        subprocess.run(["md5sum", "-b", "--", *files], cwd=odd_tree, stdout=fh, check=True)
    assert b" *./" in out.read_bytes()
    all_matched(odd_tree, read_manifest(out), len(ODD_NAMES))
    tagged = tmp_path / "tagged"
    with open(tagged, "wb") as fh:
        subprocess.run(["sha1sum", "--tag", "--", *files], cwd=odd_tree, stdout=fh, check=True)
    assert tagged.read_bytes().startswith(b"SHA1 (") or b"\\SHA1 (" in tagged.read_bytes()
    m = read_manifest(tagged)
    assert m.algorithm == "sha1"
    all_matched(odd_tree, m, len(ODD_NAMES))


def test_read_hashdeep_output_with_two_algorithms(odd_tree: Path, tmp_path: Path) -> None:
    (odd_tree / "new\nline.jpg").unlink()
    (odd_tree / "comma,in,name.jpg").write_bytes(b"commas")
    n = len(ODD_NAMES)
    for algs in ("sha256", "md5,sha256"):
        out = tmp_path / f"hd-{algs}.txt"
        with open(out, "wb") as fh:
            subprocess.run(
                ["hashdeep", "-c", algs, "-r", "-l", "."], cwd=odd_tree, stdout=fh, check=True
            )
        m = read_manifest(out)
        assert m.format == "hashdeep" and m.algorithm == "sha256"
        assert "comma,in,name.jpg" in {e.path for e in m.entries}
        if algs == "md5,sha256":
            assert all(set(e.digests) == {"md5", "sha256"} for e in m.entries)
        all_matched(odd_tree, m, n)


def test_read_bag_made_by_bagit_python(odd_tree: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(odd_tree, copy)
    subprocess.run([*BAGIT, "--sha256", "--md5", str(copy)], check=True, capture_output=True)
    assert (copy / "data").is_dir() and (copy / "bagit.txt").is_file()
    m = read_manifest(copy)
    assert m.format == "bagit" and m.algorithm == "sha256" and m.root == str(copy / "data")
    all_matched(odd_tree, m, len(ODD_NAMES))  # the original tree against the bag's manifest
    all_matched(copy, m, len(ODD_NAMES))  # the bag itself: its data/ is checked
    m2 = read_manifest(copy / "manifest-md5.txt")  # naming a manifest file inside the bag works
    assert m2.format == "bagit"


def test_nfd_manifest_matches_nfc_tree(tmp_path: Path) -> None:
    nfc = unicodedata.normalize("NFC", NFD_NAME)
    tree = make_tree(tmp_path / "t", [nfc])
    digest = hash_file(tree / nfc, ("sha256",))["sha256"]
    out = tmp_path / "m.sha256"
    out.write_bytes(f"{digest}  {NFD_NAME}\n".encode())  # as a macOS export would name it
    all_matched(tree, read_manifest(out), 1)


def test_64_hex_without_hint_resolves_to_blake3_by_content(odd_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "checksums.txt"  # nothing in the name says b3
    with open(out, "wb") as fh:
        subprocess.run(["b3sum", "--", *sorted(ODD_NAMES)], cwd=odd_tree, stdout=fh, check=True)
    m = read_manifest(out)
    assert set(m.candidates) == {"sha256", "blake3"}
    result = check_fixity(odd_tree, m)
    assert result.algorithm == "blake3" and result.counts["matched"] == len(ODD_NAMES)


# ---------------------------------------------------------------- malformed and hostile manifests


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("m.sha256", f"{'a' * 64}  ok.jpg\n{'b' * 64}  ok2.jpg\nthis is not a sum line\n", 3),
        ("m.md5", f"{'a' * 32}  ok.jpg\n{'a' * 31}  short.jpg\n", 2),
        ("m.sha256", f"{'a' * 64}  ok.jpg\n\\{'b' * 64}  bad\\qescape\n", 2),
        ("m.sha256", f"{'a' * 64}  x.jpg\n{'b' * 64}  x.jpg\n", 2),
        (
            "m.hd",
            "%%%% HASHDEEP-1.0\n%%%% size,sha256,filename\n## c\n12,zz,./x\n",
            4,
        ),
        ("m.hd", f"%%%% HASHDEEP-1.0\n%%%% size,sha256,filename\nten,{'a' * 64},./x\n", 3),
        ("m.json", '{"version": 1,\n "format": "photoverify-manifest",\n "entries": [,]}', 3),
    ],
)
def test_malformed_manifest_names_file_and_line(
    tmp_path: Path, name: str, content: str, line: int
) -> None:
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(ManifestError) as info:
        read_manifest(p)
    assert f"{p}:{line}:" in str(info.value)


A64 = "a" * 64
HD = f"%%%% HASHDEEP-1.0\n%%%% size,sha256,filename\n1,{A64},./x\n"


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (f"{A64}  ok.jpg\n{A64}  ../etc/passwd\n", 2),
        (f"{A64}  ok.jpg\n{A64}  /etc/passwd\n", 2),
        (f"{A64}  ok.jpg\n{A64}  C:/Windows/win.ini\n", 2),
        (f"{A64}  ok.jpg\n{A64}  sub/../../etc/passwd\n", 2),
        (f"{A64}  ok.jpg\nSHA256 (../etc/passwd) = {A64}\n", 2),
        (f"{HD}1,{A64},../etc/passwd\n", 4),
        (f"{HD}1,{A64},/etc/passwd\n", 4),
    ],
)
def test_entry_outside_root_refused(tmp_path: Path, content: str, line: int) -> None:
    p = tmp_path / "m.sha256"
    p.write_text(content)
    with pytest.raises(ManifestError, match=rf"{p}:{line}: refused entry"):
        read_manifest(p)


def test_json_entry_outside_root_refused(tmp_path: Path) -> None:
    p = tmp_path / "m.json"
    m = Manifest("blake3", "json", [ManifestEntry("ok.jpg", {"blake3": "a" * 64}, 1)], str(p))
    text = render_manifest(m).decode().replace('"ok.jpg"', '"../etc/passwd"')
    p.write_text(text)
    with pytest.raises(ManifestError, match=rf"{p}:2 \(entry 0\): refused entry"):
        read_manifest(p)


def test_bag_entry_outside_root_refused(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    (bag / "data").mkdir(parents=True)
    (bag / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    (bag / "manifest-sha256.txt").write_text(f"{'a' * 64}  data/../../etc/passwd\n")
    with pytest.raises(ManifestError, match="manifest-sha256.txt:1: refused entry"):
        read_manifest(bag)


# ---------------------------------------------------------------- properties

name_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\0/")
component = st.text(name_chars, min_size=1, max_size=12).filter(lambda c: c not in (".", ".."))
rel_paths = st.lists(component, min_size=1, max_size=3).map("/".join)


@given(st.text(max_size=40))
def test_safe_relpath_never_leaves_root(raw: str) -> None:
    try:
        rel = safe_relpath(raw)
    except ValueError:
        return
    parts = rel.split("/")
    assert ".." not in parts and "" not in parts and "." not in parts
    assert not rel.startswith(("/", "\\")) and "\0" not in rel
    assert os.path.normpath(os.path.join("/root", rel)).startswith("/root/")


@given(rel_paths)
def test_safe_relpath_keeps_ordinary_paths(rel: str) -> None:
    if any(p == ".." for p in rel.replace("\\", "/").split("/")) or rel.startswith("\\"):
        return
    if len(rel) > 1 and rel[1] == ":" and rel[0].isascii() and rel[0].isalpha():
        return
    assert safe_relpath(rel) == rel


def _read(read) -> tuple:
    try:
        m = read()
    except ManifestError as exc:
        return ("refused", str(exc))
    entries = [(e.path, e.digests, e.size, e.mtime_ns, e.extra, e.line) for e in m.entries]
    return (m.algorithm, m.format, m.candidates, entries)


# names from parts that make a sum line anything but plain: ".", "..", empty parts, drive
# letters, escapes, NUL, CR, LF, comment marks, NFD accents
_PARTS = ["a", "b c", ".", "..", "", "C:", "c:x", "x\\y", "x\0", "x\ny", "x\r", "#", "-", "é"]
_NAMES = st.one_of(
    st.builds(
        lambda dot, parts: dot + "/".join(parts),
        st.sampled_from(["", "./", "/", "\\"]),
        st.lists(st.sampled_from([*_PARTS, "e\u0301", "..."]), min_size=1, max_size=3),
    ),
    st.text(st.sampled_from(list("ab./\\\0\n\r:C -*#\t\x0bé")), max_size=8),
)


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a" * 64] * 4 + ["B" * 64, "0" * 32, "f" * 63, "c" * 40, "md5 ("]),
            st.sampled_from(["  "] * 3 + [" *", " ", "\t"]),
            _NAMES,
        ),
        max_size=5,
    ),
    st.booleans(),
    st.sampled_from([None, "blake3", "sha256", "md5"]),
    st.sampled_from(["m.b3", "SHA256SUMS", "list.txt"]),
)
@example([("a" * 64, "  ", "C:/x")], True, None, "m.b3")
@example([("a" * 64, "  ", "a/./b")], True, None, "m.b3")
@example([("a" * 64, "  ", "a/..")], False, None, "m.b3")
@example([("a" * 64, "  ", "./a"), ("a" * 64, " *", "a")], True, "blake3", "m.b3")
def test_sum_file_read_in_one_pass_as_line_by_line(lines, final_newline, algorithm, name) -> None:
    """The one-pass reader of plain sum lines gives what the line-by-line reader gives, and
    leaves every other file (and every refusal, with its line number) to that reader."""
    from photoverify.verify.manifest.sums import read_sum_lines, read_sums, sum_algorithm_hint

    text = "\n".join(d + sep + n for d, sep, n in lines) + ("\n" if final_newline else "")
    p = Path(name)
    hint = sum_algorithm_hint(text, name)
    assert _read(lambda: read_sums(p, text, algorithm)) == _read(
        lambda: read_sum_lines(p, text, algorithm, hint)
    )


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(rel_paths, st.binary(min_size=32, max_size=32), min_size=1, max_size=6),
    st.sampled_from(["b3sum", "sha256sum", "json", "hashdeep"]),
)
def test_render_then_read_round_trips(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, bytes], fmt: str
) -> None:
    alg = {"b3sum": "blake3", "json": "blake3"}.get(fmt, "sha256")
    # Paths a prefix of another ("a" and "a/b") cannot both be files; the parser does not care.
    entries = [ManifestEntry(p, {alg: d.hex()}, size=len(p)) for p, d in sorted(files.items())]
    out = tmp_path_factory.mktemp("rt") / ("m.b3" if fmt == "b3sum" else f"m.{fmt}")
    manifest = Manifest(alg, fmt, list(entries), str(out), "/r")
    out.write_bytes(render_manifest(manifest))
    # what the format cannot hold ("C:x", "..\\x", a newline for hashdeep…) is named, not written
    assert [f.path for f in manifest.errors] == [e.path for e in entries if unholdable(fmt, e.path)]
    if not manifest.entries:
        return
    back = read_manifest(out)
    assert back.algorithm == alg
    got = sorted((path_key(e.path), e.digests[alg]) for e in back.entries)
    assert got == sorted((path_key(e.path), e.digests[alg]) for e in manifest.entries)


@pytest.mark.parametrize("fmt", ["b3sum", "sha256sum", "hashdeep", "json"])
def test_nfc_and_nfd_twins_are_both_listed_and_verified(tmp_path: Path, fmt: str) -> None:
    """`café.jpg` NFC and NFD in one folder are two files on Linux: the manifest lists both and
    `verify` checks both (it once refused its own manifest: "listed again with another
    digest"); a change to either one is found."""
    from conftest import run_json

    nfc, nfd = "café.jpg", unicodedata.normalize("NFD", "café.jpg")
    tree = make_tree(tmp_path / "tree", [nfc, nfd, "other.jpg"])
    out, db = tmp_path / f"m.{fmt}", tmp_path / "c.sqlite"
    written = run_json("manifest", str(tree), "--format", fmt, "-o", str(out), "--catalog", str(db))
    assert written["files"] == 3 and written["errors"] == []
    got = run_json("verify", str(tree), "--manifest", str(out), "--catalog", str(db))
    assert got["ok"] and got["counts"]["matched"] == 3, got
    (tree / nfd).write_bytes(b"changed")
    got = run_json("verify", str(tree), "--manifest", str(out), "--catalog", str(db), check=(1,))
    problems = [(f["path"], f["outcome"]) for f in got["findings"] if f["severity"] != "info"]
    assert problems == [(nfd, "changed")], got["findings"]


def test_a_bag_of_nfc_and_nfd_twins_holds_one_and_names_the_other(tmp_path: Path) -> None:
    """bagit-python matches names NFC-insensitively, so a bag cannot hold both twins: the NFC
    one is bagged, the other is left out of the payload and named; the bag validates."""
    from conftest import run_cli

    nfc, nfd = "café.jpg", unicodedata.normalize("NFD", "café.jpg")
    tree = make_tree(tmp_path / "tree", [nfc, nfd, "other.jpg"])
    bag, db = tmp_path / "bag", tmp_path / "c.sqlite"
    proc = run_cli("manifest", str(tree), "--format", "bagit", "-o", str(bag), "--catalog",
                   str(db), "--json", check=(1,))  # fmt: skip
    written = json.loads(proc.stdout)
    assert written["files"] == 2
    assert [(e["path"], e["outcome"]) for e in written["errors"]] == [(nfd, "unrepresentable")]
    assert sorted(p.name for p in (bag / "data").iterdir()) == [nfc, "other.jpg"]
    assert bagit_validate(bag).returncode == 0, bagit_validate(bag).stderr

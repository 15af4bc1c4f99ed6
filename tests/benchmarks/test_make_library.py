"""The sample library generator: its truth must agree with what real tools read from its files."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
import subprocess
from datetime import UTC
from itertools import combinations
from pathlib import Path

import imagehash
import pillow_heif
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from benchmarks.library.layout import FILES_PER_PHOTO, plan_library
from benchmarks.make_library import Truth, _apple_date, make_library

pillow_heif.register_heif_opener()

PHOTOS = 12  # one full turn of the archetype cycle


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple[Path, Truth]:
    out = tmp_path_factory.mktemp("lib")
    return out, make_library(out, PHOTOS, seed=7, size="small")


def _exiftool(root: Path) -> dict[str, dict]:
    proc = subprocess.run(
        ["exiftool", "-j", "-n", "-r", "-G1", "-q", "-q", "-ext", "*", "."],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    return {d["SourceFile"].removeprefix("./"): d for d in json.loads(proc.stdout)}


@pytest.mark.slow
def test_file_count_is_a_fixed_multiple_of_photos(library):
    out, truth = library
    on_disk = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    listed = sorted(f["path"] for f in truth.files)
    assert on_disk == sorted([*listed, "truth.json"])
    assert len(truth.files) == FILES_PER_PHOTO * PHOTOS + 2  # + the two Photo Details.csv
    roles = {f["role"] for f in truth.files}
    assert roles >= {
        "original", "copy", "conversion", "downscale", "recompressed", "oriented", "stripped",
        "edit", "crop", "burst", "live-mov", "sidecar", "truncated", "empty", "manifest",
    }  # fmt: skip


def test_blake3_agrees_with_b3sum(library):
    out, truth = library
    paths = [f["path"] for f in truth.files]
    proc = subprocess.run(
        ["b3sum", "--", *paths], cwd=out, capture_output=True, text=True, check=True
    )
    reported = {}
    for line in proc.stdout.splitlines():
        digest, path = line.split("  ", 1)
        reported[path] = digest
    assert reported == {f["path"]: f["blake3"] for f in truth.files}
    for f in truth.files:
        assert (out / f["path"]).stat().st_size == f["size"]


def _captured_at(tags: dict) -> str | None:
    if "Keys:CreationDate" in tags:
        return re.sub(r"^(\d+):(\d+):(\d+) ", r"\1-\2-\3T", tags["Keys:CreationDate"])
    date = tags.get("ExifIFD:DateTimeOriginal")
    if date is None:
        return None
    day, clock = date.split(" ")
    sub = str(tags["ExifIFD:SubSecTimeOriginal"]).zfill(3)
    return f"{day.replace(':', '-')}T{clock}.{sub}{tags['ExifIFD:OffsetTimeOriginal']}"


def test_truth_agrees_with_exiftool(library):
    out, truth = library
    tags = _exiftool(out)
    checked = 0
    for f in truth.files:
        if f["kind"] not in ("image", "video") or f["role"] in ("truncated", "empty"):
            continue
        t = tags[f["path"]]
        assert _captured_at(t) == f["captured_at"], f["path"]
        lat, lon = t.get("Composite:GPSLatitude"), t.get("Composite:GPSLongitude")
        if f["gps"] is None:
            assert lat is None, f["path"]
        else:
            assert lat == pytest.approx(f["gps"]["lat"], abs=1e-5), f["path"]
            assert lon == pytest.approx(f["gps"]["lon"], abs=1e-5), f["path"]
        assert (t.get("IFD0:Make") or t.get("Keys:Make")) == f["make"], f["path"]
        assert (t.get("IFD0:Model") or t.get("Keys:Model")) == f["model"], f["path"]
        content_id = t.get("Apple:MediaGroupUUID") or t.get("Keys:ContentIdentifier")
        assert content_id == f["content_id"], f["path"]
        assert t.get("Apple:BurstUUID") == f["burst_id"], f["path"]
        if f["kind"] == "image" and f["orientation"]:
            assert t.get("IFD0:Orientation") == f["orientation"], f["path"]
        checked += 1
    assert checked > PHOTOS * 3


def test_live_photo_pairs_share_id_and_time(library):
    _, truth = library
    files = truth.by_path()
    pairs = [f for f in truth.files if f["role"] == "live-mov"]
    assert pairs
    for mov in pairs:
        still = files[mov["companion_of"]]
        assert mov["content_id"] == still["content_id"] is not None
        assert still["captured_at"].startswith(mov["captured_at"][:19])
        assert [still["path"], mov["path"]] in [
            [p for p in g if p in (still["path"], mov["path"])] for g in truth.groups["companion"]
        ]


def _phash(path: Path) -> imagehash.ImageHash:
    with Image.open(path) as im:
        return imagehash.phash(ImageOps.exif_transpose(im).convert("RGB"))


def test_originals_look_different_and_conversions_alike(library):
    out, truth = library
    originals = [
        f for f in truth.files if f["role"] in ("original", "burst") and f["kind"] == "image"
    ]
    hashes = {f["path"]: _phash(out / f["path"]) for f in originals}
    burst = {f["path"]: f["burst_id"] for f in originals}
    ids = {f["path"]: f["photo_id"] for f in originals}
    for a, b in combinations(hashes, 2):
        if burst[a] and burst[a] == burst[b]:
            continue  # frames of one burst are meant to look alike
        if {ids[a], ids[b]} == {ids[a].removesuffix(".n"), ids[a].removesuffix(".n") + ".n"}:
            continue  # a stereo-like neighbour is meant to look like its partner
        assert hashes[a] - hashes[b] > 16, (a, b)
    near_roles = ("conversion", "downscale", "recompressed", "oriented", "stripped")
    near = [f for f in truth.files if f["role"] in near_roles and f["kind"] == "image"]
    assert near
    for f in near:
        # pHash reads a Display P3 original's numbers as they are (no colour management): its
        # sRGB conversion of a saturated scene stands up to 12 bits away (the pixel signature,
        # which converts through the profile, is what tells it is the same picture)
        with Image.open(out / f["source"]) as src:
            bound = 12 if src.info.get("icc_profile") else 6
        assert _phash(out / f["path"]) - hashes[f["source"]] <= bound, f["path"]


def test_groups_are_consistent(library):
    _, truth = library
    files = truth.by_path()
    for group in truth.groups["identical"]:
        assert len({files[p]["blake3"] for p in group}) == 1
    for group in truth.groups["same-photo"]:
        assert len({files[p]["photo_id"] for p in group}) == 1
    for src, dst in truth.groups["derived"]:
        assert files[dst]["source"] == src and files[dst]["role"] in ("edit", "crop")
    assert truth.groups["similar"] and all(len(g) >= 4 for g in truth.groups["similar"])
    assert all(files[p]["size"] == 0 for p in truth.groups["broken"] if files[p]["role"] == "empty")
    movs = {f["companion_of"] for f in truth.files if f["role"] == "live-mov"}
    orphans = [
        f["path"]
        for f in truth.files
        if f["role"] == "original" and f["content_id"] and f["path"] not in movs
    ]
    assert orphans and set(orphans) <= set(truth.groups["live-still-without-mov"])


@pytest.mark.slow
def test_same_seed_gives_identical_bytes(library, tmp_path):
    out, truth = library
    again = make_library(tmp_path / "again", PHOTOS, seed=7, size="small", workers=1)
    assert [f["blake3"] for f in again.files] == [f["blake3"] for f in truth.files]
    assert (tmp_path / "again" / "truth.json").read_bytes() == (out / "truth.json").read_bytes()
    for f in truth.files[:30]:
        a, b = (out / f["path"]).stat(), (tmp_path / "again" / f["path"]).stat()
        assert a.st_mtime_ns == b.st_mtime_ns


def test_privacy_export_details_csv(library):
    out, truth = library
    details = [f for f in truth.files if f["role"] == "manifest"]
    assert len(details) == 2
    with open(out / details[0]["path"], newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == [
        "imgName", "fileChecksum", "favorite", "hidden", "deleted",
        "originalCreationDate", "viewCount", "importDate",
    ]  # fmt: skip
    assert re.fullmatch(
        r"\w+day \w+ \d{1,2},\d{4} \d{1,2}:\d\d [AP]M GMT", rows[0]["originalCreationDate"]
    )
    files = truth.by_path()
    folder = str(Path(details[0]["path"]).parent)
    listed = files[f"{folder}/{rows[0]['imgName']}"]
    sha1 = hashlib.sha1((out / listed["path"]).read_bytes()).digest()
    assert rows[0]["fileChecksum"] == base64.b64encode(sha1).decode()


@pytest.mark.slow
def test_from_real_corpus(corpus, tmp_path):
    truth = make_library(tmp_path, 6, seed=1, source_dir=corpus, size="small")
    assert len(truth.files) == FILES_PER_PHOTO * 6 + 2
    first = next(f for f in truth.files if f["role"] == "original")
    with Image.open(tmp_path / first["path"]) as im:
        assert im.size == (first["width"], first["height"])
        assert im.size != (1024, 768)  # real pixels keep their own shape


@settings(max_examples=25, deadline=None)
@given(photos=st.integers(1, 40), seed=st.integers(0, 2**32 - 1))
def test_plan_paths_unique_and_counts_exact(photos, seed):
    plans = plan_library(photos, seed, "small")
    paths = [f.path for p in plans for f in p.files]
    assert len(paths) == len(set(paths)) == FILES_PER_PHOTO * photos
    for plan in plans:
        for spec in plan.files:
            if spec.source:
                assert spec.source in paths


def test_apple_date_format():
    from datetime import datetime

    moment = datetime(2022, 6, 4, 12, 11, tzinfo=UTC)
    assert _apple_date(moment) == "Saturday June 4,2022 12:11 PM GMT"


def test_full_size_heics_carry_an_iphone_thumbnail(tmp_path):
    """As real iPhone HEICs do (the corpus's carry a 320-pixel one): scans of the 12 MP library
    then take the thumbnail path a real library takes. The small library's stay without."""
    from benchmarks.library.render import save_still

    picture = Image.radial_gradient("L").convert("RGB")
    save_still(picture.resize((2400, 1800)), tmp_path / "big.HEIC", "HEIC", 65, None)
    save_still(picture.resize((1024, 768)), tmp_path / "small.HEIC", "HEIC", 65, None)
    assert pillow_heif.open_heif(tmp_path / "big.HEIC").info["thumbnails"] == [320]
    assert pillow_heif.open_heif(tmp_path / "small.HEIC").info["thumbnails"] == []

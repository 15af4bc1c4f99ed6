"""The duplicate graph: relations on real photos and their conversions, clusters that never
chain, keepers that do not depend on input order."""

from __future__ import annotations

import json
import random
import shutil
import sys
import tracemalloc
from dataclasses import replace
from itertools import combinations
from pathlib import Path

import pytest
from conftest import run_cli, run_json
from hypothesis import given, settings
from hypothesis import strategies as st
from media import convert, exiftool, make_video, transcode

from photoverify.dedupe.catalog.rows import MATCH_METADATA
from photoverify.dedupe.catalog.scan import scan
from photoverify.dedupe.catalog.store import Catalog
from photoverify.dedupe.core.records import FileRecord, Metadata
from photoverify.dedupe.match.graph import DupesOptions, find_duplicates, judge, judge_video
from photoverify.dedupe.match.spill import RelationLog

PHOTOS = {  # three different real photos every checkout has (tests/data/real)
    "dated": "immich-test-assets/formats/jpg/el_torcal_rocks.jpg",  # its burst neighbour is made
    "edited": "exif-samples/jpg/orientation/landscape_1.jpg",
    "other": "immich-test-assets/metadata/gps-position/thompson-springs.jpg",
}


@pytest.fixture(scope="module")
def library(corpus, tmp_path_factory) -> Path:
    """Real photos and their migration variants, built with Pillow and the real exiftool."""
    lib = tmp_path_factory.mktemp("lib")
    heic = corpus / "exif-samples/heic/IMG_5195.HEIC"
    (lib / "export1").mkdir()
    (lib / "export2").mkdir()
    shutil.copy(heic, lib / "export1/IMG_5195.HEIC")
    shutil.copy(heic, lib / "export2/IMG_5195 (1).HEIC")  # identical copy
    convert(heic, lib / "export2/IMG_5195.JPG", quality=85)  # HEIC -> JPEG with metadata
    convert(heic, lib / "export2/IMG_5195-2048.jpg", max_side=2048, quality=75)
    convert(heic, lib / "export2/stripped.jpg", max_side=1024, quality=60, keep_metadata=False)
    # A Live Photo: the MOV carries the still's ContentIdentifier.
    make_video(lib / "export1/IMG_5195.MOV", seconds=1)
    exiftool(
        "-Keys:ContentIdentifier=570F1469-09C7-4E50-9875-05F21D5BD166",
        "-Keys:CreationDate=2021:04:11 15:47:53-05:00",
        str(lib / "export1/IMG_5195.MOV"),
    )
    shutil.copy(corpus / "exiftool-samples/XMP.xmp", lib / "export1/IMG_5195.XMP")
    # Different photos, and a burst-like neighbour: the next second, the same scene shifted.
    for photo in PHOTOS.values():
        shutil.copy(corpus / photo, lib / "export1" / Path(photo).name)
    convert(corpus / PHOTOS["dated"], lib / "export2/el_torcal_rocks.jpg", quality=70)
    burst = lib / "export1/el_torcal_rocks_burst.jpg"
    convert(corpus / PHOTOS["dated"], burst, quality=92)
    exiftool("-AllDates+=0:0:0 0:0:1", str(burst))
    # An edit beside its original.
    convert(corpus / PHOTOS["edited"], lib / "export1/landscape_1_edited.jpg", quality=80)
    return lib


@pytest.fixture(scope="module")
def result(library, tmp_path_factory):
    db = tmp_path_factory.mktemp("db") / "c.sqlite"
    return run_json("dupes", str(library), "--catalog", str(db)), library


def _names(paths) -> set[str]:
    return {Path(p).parent.name + "/" + Path(p).name for p in paths}


def test_heic_and_its_conversions_form_one_cluster_with_the_heic_kept(result):
    data, lib = result
    heic_cluster = [c for c in data["clusters"] if "IMG_5195" in c["keeper"]]
    assert len(heic_cluster) == 1
    c = heic_cluster[0]
    assert c["keeper"] == str(lib / "export1/IMG_5195.HEIC")
    assert c["kind"] == "same-photo"
    members = {m["path"]: m for m in c["members"]}
    assert _names(members) == {
        "export1/IMG_5195.HEIC",
        "export2/IMG_5195 (1).HEIC",
        "export2/IMG_5195.JPG",
        "export2/IMG_5195-2048.jpg",
        "export2/stripped.jpg",
    }
    assert members[str(lib / "export2/IMG_5195 (1).HEIC")]["relation"] == "identical"
    assert members[str(lib / "export2/stripped.jpg")]["relation"] == "same-photo"
    # each loser is named with the criterion that beat it
    assert "HEIC is the original format, JPEG a conversion" in c["reason"]
    suffixed = "over export2/IMG_5195 (1).HEIC: a shorter name without copy or size suffixes"
    assert suffixed in c["reason"]


def test_recompressed_jpeg_is_same_photo_but_burst_is_only_similar(result):
    data, lib = result
    dscn = [c for c in data["clusters"] if "el_torcal_rocks" in c["keeper"]]
    assert len(dscn) == 1
    assert _names(m["path"] for m in dscn[0]["members"]) == {
        "export1/el_torcal_rocks.jpg",
        "export2/el_torcal_rocks.jpg",
    }
    similar = [r for r in data["related"] if r["kind"] == "similar"]
    assert any("el_torcal_rocks_burst" in r["a"] + r["b"] for r in similar)
    burst = str(lib / "export1/el_torcal_rocks_burst.jpg")
    assert all(burst not in [m["path"] for m in c["members"]] for c in data["clusters"])


def test_edit_is_derived_not_merged(result):
    data, lib = result
    derived = [r for r in data["related"] if r["kind"] == "derived"]
    assert {(Path(r["a"]).name, Path(r["b"]).name) for r in derived} == {
        ("landscape_1.jpg", "landscape_1_edited.jpg")
    }


def test_every_relation_and_member_says_what_decided_it(result):
    data, lib = result
    members = [m for c in data["clusters"] for m in c["members"] if m["relation"] != "keeper"]
    assert {m["relation"] for m in members} == {"identical", "same-photo"}
    assert {r["kind"] for r in data["related"]} >= {"derived", "similar"}
    for ev in [m["evidence"] for m in members] + [r["evidence"] for r in data["related"]]:
        assert ev["decided_by"], ev
    by = {Path(r["b"]).name: r["evidence"]["decided_by"] for r in data["related"]}
    assert by["landscape_1_edited.jpg"].startswith("file name")


def test_live_photo_and_sidecar_travel_with_their_still(result):
    data, lib = result
    assets = {a["primary"]: a["companions"] for a in data["assets"]}
    assert sorted(assets[str(lib / "export1/IMG_5195.HEIC")]) == [
        str(lib / "export1/IMG_5195.MOV"),
        str(lib / "export1/IMG_5195.XMP"),
    ]
    assert str(lib / "export1/IMG_5195.MOV") not in assets


def test_fdupes_and_csv_formats(library, tmp_path):
    from conftest import run_cli

    db = str(tmp_path / "c.sqlite")
    out = run_cli("dupes", str(library), "--catalog", db, "--format", "fdupes").stdout
    groups = [g.splitlines() for g in out.strip().split("\n\n")]
    assert len(groups) == 2 and all(len(g) >= 2 for g in groups)
    csv_out = run_cli("dupes", "--catalog", db, "--format", "csv").stdout
    assert csv_out.splitlines()[0].startswith("cluster,kind,path,relation")


def test_prefer_root_wins_the_keeper(library, tmp_path):
    db = str(tmp_path / "c.sqlite")
    data = run_json("dupes", str(library), "--catalog", db, "--prefer", str(library / "export2"))
    assert _names(c["keeper"] for c in data["clusters"]) == {
        "export2/IMG_5195 (1).HEIC",
        "export2/el_torcal_rocks.jpg",
    }
    for c in data["clusters"]:
        assert c["keeper"].startswith(str(library / "export2"))
        assert "preferred" in c["reason"]


# ---- properties over synthetic records ----------------------------------------------------


def _record(i: int, base: int, flips: int, t: int | None, cid: str | None, w: int) -> FileRecord:
    phash = base ^ ((1 << flips) - 1)
    return FileRecord(
        path=f"/lib/{i:04d}.jpg",
        root="/lib",
        size=1000 + i,
        mtime_ns=0,
        inode=i,
        device=1,
        blake3=f"{i:064x}",
        kind="image",
        format="JPEG",
        width=w,
        height=300,
        phash=f"{phash:016x}",
        dhash=f"{phash:016x}",
        decode_ok=True,
        metadata=Metadata(
            captured_at=None if t is None else f"2020-01-01T00:00:{t:02d}", content_id=cid
        ),
    )


def _same_photo_by_spec(a: FileRecord, b: FileRecord) -> bool:
    """The rule for these signature-less records, written out apart from `judge`: hashes within
    10 bits (20 under an equal camera id), no capture time or camera id against it, and the
    same aspect ratio (400 and 401 px wide round alike at 300 px high; 600 does not)."""
    bits = (int(a.phash, 16) ^ int(b.phash, 16)).bit_count()
    ta, tb = a.metadata.captured_at, b.metadata.captured_at
    ca, cb = a.metadata.content_id, b.metadata.content_id
    if (ta and tb and ta != tb) or (ca and cb and ca != cb):
        return False
    if (a.width == 600) != (b.width == 600):
        return False
    return bits <= 10 or (ca is not None and ca == cb and bits <= 20)


records_strategy = st.lists(
    st.tuples(
        st.sampled_from([0, 0xFFFF0000FFFF0000, 0x123456789ABCDEF0]),
        st.integers(0, 14),
        st.one_of(st.none(), st.integers(0, 3)),
        st.one_of(st.none(), st.sampled_from(["A", "B"])),
        st.sampled_from([400, 401, 600]),
    ),
    min_size=1,
    max_size=24,
)


@settings(max_examples=150, deadline=None)
@given(records_strategy, st.randoms())
def test_clusters_are_disjoint_cliques_with_member_keepers_and_order_free(specs, rnd):
    recs = [_record(i, *s) for i, s in enumerate(specs)]
    opts = DupesOptions(threshold=10)
    result = find_duplicates(recs, opts)
    by_path = {r.path: r for r in recs}
    seen: set[str] = set()
    for c in result.clusters:
        paths = [m.path for m in c.members]
        assert c.keeper in paths and len(paths) >= 2
        assert not seen & set(paths)
        seen |= set(paths)
        for i, a in enumerate(paths):  # no chaining: every pair is itself the same photo
            for b in paths[i + 1 :]:
                assert _same_photo_by_spec(by_path[a], by_path[b]), (a, b)
    # every other pair the rule makes one photo is reported, and nothing else as the same photo
    cluster_of = {m.path: c.id for c in result.clusters for m in c.members}
    reported = {frozenset((r.a, r.b)) for r in result.related if r.kind == "same-photo"}
    for a, b in combinations(recs, 2):
        together = a.path in cluster_of and cluster_of[a.path] == cluster_of.get(b.path)
        expected = _same_photo_by_spec(a, b)
        assert together or (frozenset((a.path, b.path)) in reported) == expected, (a, b)
    shuffled = recs[:]
    rnd.shuffle(shuffled)
    again = find_duplicates(shuffled, opts)
    assert again.to_json() == result.to_json()


def test_real_catalog_scan_matches_direct_call(library, tmp_path):
    with Catalog(tmp_path / "c.sqlite") as cat:
        scan([str(library)], cat)
        recs = list(cat.all_records())
    a = find_duplicates(recs)
    b = find_duplicates(list(reversed(recs)))
    assert a == b and len(a.clusters) == 2


def test_records_read_without_signatures_give_the_same_answer(library, tmp_path, corpus):
    """dupes reads its records without their picture signatures and each chunk of pairs asks
    the catalog for its ends' (a million signatures would not fit): the same clusters and
    relations, edit names included, as records read whole."""
    from PIL import Image

    lib = tmp_path / "lib"
    shutil.copytree(library, lib)
    edited = Image.open(corpus / PHOTOS["edited"]).convert("RGB")
    edited.transpose(Image.Transpose.ROTATE_90).save(lib / "turned.jpg", quality=90)
    w, h = edited.size
    edited.crop((w // 8, h // 8, w - w // 8, h - h // 8)).save(lib / "cropped.jpg", quality=90)
    with Catalog(tmp_path / "c.sqlite") as cat:
        scan([str(lib)], cat)
        whole = cat.records(under=[str(lib)])
        bare = cat.records(under=[str(lib)], signatures=False)
        asked: list[int] = []

        def source(recs):
            asked.append(len(recs))
            return cat.signatures(recs)

        lazy = find_duplicates(bare, signatures=source)
        assert cat.signatures(whole) == [r.signature for r in whole]
        spilled = find_duplicates(bare, signatures=source, keep_relations=0)
        slim = cat.records(under=[str(lib)], signatures=False, for_matching=True)
        matched = find_duplicates(slim, signatures=cat.signatures)
    # read for matching: the metadata dupes reads, from its columns, and the same answer
    assert [[getattr(r.metadata, f) for f in MATCH_METADATA] for r in slim] == [
        [getattr(r.metadata, f) for f in MATCH_METADATA] for r in whole
    ]
    assert any(r.metadata.captured_at for r in slim) and not any(r.metadata.file_type for r in slim)
    assert matched == lazy
    assert any(r.signature for r in whole) and not any(r.signature for r in bare)
    assert lazy == find_duplicates(whole)
    # the relations logged on disk (as in a library of look-alikes) say the same, in order
    assert isinstance(spilled.related, RelationLog) and spilled.related.spilled
    assert spilled == lazy and "".join(spilled.json_chunks()) == "".join(lazy.json_chunks())
    kinds = {rel.evidence.get("edit") for rel in lazy.related}
    assert kinds & {"rotated 90", "rotated 270", "cropped"}, kinds  # signatures were judged
    assert asked and max(asked) < len(whole)  # never every record's at once


def test_different_content_ids_veto_a_near_match():
    base = _record(0, 0, 0, 1, "A", 400)
    other = replace(_record(1, 0, 1, 1, "B", 400))
    assert judge(base, other, 10).kind == "similar"
    same = replace(_record(2, 0, 1, 1, "A", 400))
    assert judge(base, same, 10).kind == "same-photo"
    vetoed = judge(base, other, 10).evidence
    assert vetoed["why"] == "different camera ids" and vetoed["content_id"] == "different"
    assert find_duplicates([base, other]).clusters == ()  # reported as related, never merged


def test_flat_pictures_match_only_on_metadata_proof():
    def flat(i, cid=None, t=None):
        return replace(
            _record(i, 0, 0, None, cid, 400),
            phash=None,
            dhash=None,
            metadata=Metadata(content_id=cid, captured_at=t),
        )

    assert judge(flat(0, "A"), flat(1, "A"), 10).kind == "same-photo"
    assert judge(flat(0, "A"), flat(1, "B"), 10) is None
    assert judge(flat(0), flat(1), 10) is None  # blank frames without metadata stay apart
    t = "2020-01-01T00:00:01.25"
    assert judge(flat(0, t=t), flat(1, t=t), 10).kind == "same-photo"
    assert judge(flat(0, t=t), flat(1, t="2020-01-01T00:00:01.50"), 10) is None
    result = find_duplicates([flat(0, "A"), flat(1, "A"), flat(2)])
    assert [len(c.members) for c in result.clusters] == [2]


# ---- videos: the same recording in other bytes ----------------------------------------------


@pytest.fixture(scope="module")
def clips(corpus, tmp_path_factory):
    """A clip (a pan across a real photo), its transcode (MPEG-4 in MP4 at half the size, as an
    export makes), a clip across another photo, and a shorter clip that starts on the same
    picture; scanned for real."""
    lib = tmp_path_factory.mktemp("clips")
    (lib / "export").mkdir()
    one, other = corpus / PHOTOS["dated"], corpus / PHOTOS["edited"]
    make_video(lib / "clip.MOV", seconds=2, size=(320, 240), photo=one)
    transcode(lib / "clip.MOV", lib / "export/clip.mp4", size=(160, 120))
    make_video(lib / "other.MOV", seconds=2, size=(320, 240), photo=other)
    make_video(lib / "short.MOV", seconds=1, size=(320, 240), photo=one)
    with Catalog(tmp_path_factory.mktemp("db") / "c.sqlite") as cat:
        scan([str(lib)], cat)
        recs = {Path(r.path).relative_to(lib).as_posix(): r for r in cat.all_records()}
    return lib, recs


def test_a_transcoded_video_is_the_same_recording(clips):
    lib, recs = clips
    clip, mp4 = recs["clip.MOV"], recs["export/clip.mp4"]
    assert clip.phash and mp4.phash and clip.phash_method == "video-first-frame"
    assert clip.format != mp4.format and clip.codec != mp4.codec
    rel = judge_video(clip, mp4, 10)
    assert rel is not None and rel.kind == "same-photo", rel
    assert rel.evidence["compared"] == "first frames"
    # another picture, or the same start but another length: not the same recording
    assert judge_video(clip, recs["other.MOV"], 10) is None
    assert judge_video(clip, recs["short.MOV"], 10) is None
    result = find_duplicates(list(recs.values()))
    (cluster,) = result.clusters
    assert {m.path for m in cluster.members} == {clip.path, mp4.path}


def test_videos_are_never_related_to_pictures(clips):
    """A Live Photo's still looks like its motion's first frame: they are companions (an
    asset), never duplicates of each other."""
    lib, recs = clips
    clip = recs["clip.MOV"]
    still = replace(clip, path=str(lib / "clip.JPG"), kind="image", format="JPEG", blake3="f" * 64)
    assert judge_video(clip, still, 10) is None
    result = find_duplicates([clip, still])
    assert result.clusters == () and result.related == ()


def test_videos_cataloged_before_frame_hashes_are_fingerprinted_again(clips, tmp_path):
    lib, _ = clips
    db = tmp_path / "c.sqlite"
    with Catalog(db) as cat:
        scan([str(lib)], cat)
        with cat.db:  # as a catalog written before videos had first-frame hashes
            cat.db.execute(
                "UPDATE files SET phash = NULL, dhash = NULL, phash_method = NULL "
                "WHERE kind = 'video'"
            )
        again = scan([str(lib)], cat)
        assert again.changed == 4 and again.unchanged == 0
        assert all(r.phash for r in cat.all_records() if r.kind == "video")
        assert scan([str(lib)], cat).unchanged == 4


def test_fdupes_format_never_lets_a_name_forge_a_line(corpus, tmp_path):
    """`inj\\nEVIL.jpg` would be two lines of fdupes output (fdupes itself writes it raw): that
    run is refused with one line naming the file and pointing to JSON and fdupes0, which holds
    it. Other names are written as their bytes, as fdupes writes them: the groups are fdupes'."""
    import os
    import subprocess

    from conftest import run_cli

    photo = corpus / "exif-samples/jpg/Canon_40D.jpg"
    lib, db = tmp_path / "lib", str(tmp_path / "c.sqlite")
    lib.mkdir()
    names = [b"inj\nEVIL.jpg", b"caf\xe9.jpg", b"plain.jpg"]
    for name in names:
        shutil.copy2(photo, os.path.join(os.fsencode(lib), name))
    proc = run_cli("dupes", str(lib), "--catalog", db, "-q", "--format", "fdupes", check=(2,))
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "inj␊EVIL.jpg" in proc.stderr, proc.stderr
    assert "--format json" in proc.stderr

    args = [sys.executable, "-m", "photoverify", "dupes", str(lib), "--catalog", db, "-q"]
    out = subprocess.run([*args, "--format", "fdupes0"], capture_output=True, check=True).stdout
    groups = [g.split(b"\0") for g in out.removesuffix(b"\0\0").split(b"\0\0")]
    assert [sorted(g) for g in groups] == [sorted(os.fsencode(lib) + b"/" + n for n in names)]
    jdupes = subprocess.run(["jdupes", "-0", "-q", str(lib)], capture_output=True).stdout
    assert sorted(n for n in jdupes.split(b"\0") if n) == sorted(groups[0])

    # the CSV is UTF-8, with the one spelling of an undecodable byte (docs/plan-format.md)
    csv_out = subprocess.run([*args, "--format", "csv"], capture_output=True, check=True).stdout
    assert "caf\\udce9.jpg" in csv_out.decode("utf-8")

    os.unlink(os.path.join(os.fsencode(lib), names[0]))
    out = subprocess.run([*args, "--format", "fdupes"], capture_output=True, check=True).stdout
    fdupes = subprocess.run(["fdupes", str(lib)], capture_output=True, check=True).stdout
    assert sorted(out.splitlines()) == sorted(fdupes.splitlines())  # the bytes fdupes writes


def test_copies_read_from_the_catalog_share_their_facts(library, tmp_path):
    # a million records must fit in memory: identical copies hold one digest, hash, picture
    # signature and metadata between them, and every record the same root and format strings
    with Catalog(tmp_path / "c.sqlite") as cat:
        scan([str(library)], cat)
        recs = {Path(r.path).relative_to(library).as_posix(): r for r in cat.all_records()}
    a, b = recs["export1/IMG_5195.HEIC"], recs["export2/IMG_5195 (1).HEIC"]
    assert a.blake3 == b.blake3 and a.signature and a.metadata.captured_at
    assert a.blake3 is b.blake3 and a.signature is b.signature and a.phash is b.phash
    assert a.metadata is b.metadata
    c = recs["export1/" + Path(PHOTOS["other"]).name]
    assert c.root is a.root and c.metadata is not a.metadata
    assert not hasattr(c, "__dict__")  # slotted


def test_dupes_json_is_the_result_dumped_whole(library, tmp_path):
    # streamed item by item, the text is what json.dumps of the whole result writes
    db = tmp_path / "c.sqlite"
    with Catalog(db) as cat:
        scan([str(library)], cat)
        expected = find_duplicates(list(cat.all_records())).to_json()
    out = run_cli("dupes", "--catalog", str(db), "--format", "json").stdout
    assert expected["clusters"] and expected["related"] and expected["assets"]
    assert out == json.dumps(expected, indent=2, ensure_ascii=True) + "\n"


def test_dupes_result_holds_little_per_copy():
    # 2,000 photos, each in 10 copies: the result is one member and one asset per file, with no
    # per-copy evidence or relation objects (454 bytes a file before; 215 after; 316 since the
    # records are held as columns, dedupe.match.table: a member's path is its own string, where
    # it was the record's, and the assets hold the paths' column)
    rnd = random.Random(1)
    meta = Metadata(captured_at="2020-01-01T00:00:00", make="Apple")
    recs = []
    for i in range(2000):
        digest, ph, dh = f"{rnd.getrandbits(256):064x}", f"{rnd.getrandbits(64):016x}", "0" * 16
        for k in range(10):
            path = f"/lib/copy{k}/{i // 100:03d}/IMG_{i:05d}.JPG"
            recs.append(
                FileRecord(path, f"/lib/copy{k}", 1000 + i, 0, i, 1, blake3=digest, kind="image")
            )
            recs[-1].format, recs[-1].phash, recs[-1].dhash = "JPEG", ph, dh
            recs[-1].width, recs[-1].height, recs[-1].decode_ok = 48, 36, True
            recs[-1].metadata = meta
    recs.sort(key=lambda r: r.path.encode())
    find_duplicates(recs[:50])  # imports and compiled code out of the measure
    tracemalloc.start()
    try:
        result = find_duplicates(recs)
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(result.clusters) == 2000 and all(len(c.members) == 10 for c in result.clusters)
    assert held / len(recs) < 350

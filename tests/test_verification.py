"""`verify_tree` end to end on a copy of real corpus files with planted faults."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import REAL

from photoverify.dedupe.catalog import Catalog
from photoverify.dedupe.scan import scan
from photoverify.verify.decode import DecodeCache
from photoverify.verify.manifest import write_manifest
from photoverify.verify.verification import verify_tree

PICKS = (
    sorted(f"exif-samples/jpg/gps/DSCN00{n}.jpg" for n in ("10", "12", "21", "25", "27", "29"))
    + [
        "exif-samples/heic/IMG_5195.HEIC",
        "immich-test-assets/formats/heic/IMG_2682.heic",
        "exiftool-samples/Apple.jpg",
        "immich-test-assets/formats/png/density_plot.png",
        "exif-samples/jpg/hdr/iphone_hdr_NO.jpg",
        "exif-samples/jpg/mobile/HMD_Nokia_8.3_5G.jpg",
        "exif-samples/jpg/mobile/jolla.jpg",
    ]
    + [
        f"exif-samples/jpg/exif-org/{n}.jpg"
        for n in (
            "canon-ixus", "fujifilm-dx10", "fujifilm-finepix40i", "fujifilm-mx1700",
            "kodak-dc210", "kodak-dc240", "nikon-e950", "olympus-c960", "ricoh-rdc5300",
            "sanyo-vpcsx550", "sony-cybershot", "sony-d700",
        )
    ]
)  # fmt: skip


@pytest.fixture(scope="module")
def real() -> Path:
    return REAL


def make_mp4(path: Path) -> None:
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=15)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        audio = out.add_stream("aac", rate=22050)
        for i in range(30):
            img = np.zeros((120, 160, 3), np.uint8)
            img[:, :, 0] = i * 8
            for p in video.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in video.encode():
            out.mux(p)
        step = audio.codec_context.frame_size or 1024
        for pts in range(0, 44100, step):
            samples = np.sin(np.arange(pts, pts + step) / 10).astype(np.float32) * 0.2
            frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 22050, pts
            for p in audio.encode(frame):
                out.mux(p)
        for p in audio.encode():
            out.mux(p)


@pytest.fixture()
def library(real, tmp_path) -> tuple[Path, Path, Catalog]:
    """A copy of real files, a photoverify JSON manifest of it with capture times and GPS from a
    catalog scan, and that catalog."""
    root = tmp_path / "lib"
    for rel in PICKS:
        dst = root / rel.split("/")[-2] / rel.split("/")[-1]
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(real / rel, dst)
    (root / "video").mkdir()
    make_mp4(root / "video" / "clip.mp4")
    catalog = Catalog(tmp_path / "catalog.sqlite")
    scan([str(root)], catalog, workers=2)
    by_path = {r.path: r for r in catalog.records(under=[str(root)])}

    def media_info(path: str) -> dict | None:
        rec = by_path.get(path)
        return {"captured_at": rec.metadata.captured_at, "gps": rec.metadata.gps} if rec else None

    manifest = tmp_path / "manifest.json"
    write_manifest(root, manifest, fmt="json", media_info=media_info)
    yield root, manifest, catalog
    catalog.close()


def _cut(path: Path, fraction: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def plant_faults(root: Path) -> None:
    data = bytearray((root / "gps/DSCN0012.jpg").read_bytes())
    data[100_000] ^= 0x01  # one bit, deep in the picture data
    (root / "gps/DSCN0012.jpg").write_bytes(bytes(data))
    _cut(root / "exif-org/canon-ixus.jpg", 0.5)
    (root / "exif-org/kodak-dc210.jpg").unlink()
    (root / "mobile").rename(root / "phone")
    shutil.copy2(root / "gps/DSCN0010.jpg", root / "gps/DSCN0010 copy.jpg")
    exiftool = ["exiftool", "-q", "-overwrite_original"]
    subprocess.run([*exiftool, "-gps:all=", str(root / "gps/DSCN0021.jpg")], check=True)
    subprocess.run([*exiftool, "-AllDates+=1", str(root / "gps/DSCN0025.jpg")], check=True)
    _cut(root / "heic/IMG_5195.HEIC", 0.6)
    _cut(root / "video/clip.mp4", 0.6)


EXPECTED_FAULTS = {
    ("gps/DSCN0012.jpg", "fixity", "changed"),
    ("exif-org/canon-ixus.jpg", "fixity", "changed"),
    ("exif-org/kodak-dc210.jpg", "fixity", "missing"),
    ("phone/HMD_Nokia_8.3_5G.jpg", "fixity", "moved"),
    ("phone/jolla.jpg", "fixity", "moved"),
    ("gps/DSCN0010 copy.jpg", "fixity", "duplicated"),
    ("gps/DSCN0021.jpg", "fixity", "changed"),
    ("gps/DSCN0021.jpg", "expect", "gps-lost"),
    ("gps/DSCN0025.jpg", "fixity", "changed"),
    ("gps/DSCN0025.jpg", "expect", "capture-time-changed"),
    ("heic/IMG_5195.HEIC", "fixity", "changed"),
    ("video/clip.mp4", "fixity", "changed"),
}
DECODE_FAULTS = {
    ("exif-org/canon-ixus.jpg", "decode", "truncated"),
    ("heic/IMG_5195.HEIC", "decode", "truncated"),
    ("video/clip.mp4", "decode", "truncated"),
}


def _faults(result) -> set[tuple[str, str, str]]:
    return {(f.path, f.check, f.outcome) for f in result.findings if f.severity != "info"}


def test_an_untouched_copy_verifies_clean(library, tmp_path):
    root, manifest, catalog = library
    with DecodeCache(tmp_path / "decode.sqlite") as cache:
        result = verify_tree(root, manifest, catalog=catalog, decode=True, decode_cache=cache)
    assert result.ok and result.exit_code == 0
    assert _faults(result) == set()
    assert result.counts["matched"] == len(PICKS) + 1
    assert result.counts["decoded"] == len(PICKS) + 1
    # Fixity read every file itself: no cached digest stands in for a read (issue 11.0).
    assert result.digests_reused == 0 and result.files_read == len(PICKS) + 1
    assert result.scan["unchanged"] == len(PICKS) + 1


def test_planted_faults_are_reported_exactly(library, tmp_path):
    root, manifest, catalog = library
    plant_faults(root)
    with DecodeCache(tmp_path / "decode.sqlite") as cache:
        result = verify_tree(root, manifest, catalog=catalog, decode=True, decode_cache=cache)
        assert _faults(result) == EXPECTED_FAULTS | DECODE_FAULTS
        assert not result.ok and result.exit_code == 1
        # Every intact file decodes; what decoded at scan time before the faults still does.
        decoded = {f.path for f in result.findings if f.outcome == "decoded"}
        assert len(decoded) == len(PICKS) + 1 + 1 - 1 - 3  # + copy, - deleted, - 3 truncated
        assert result.decode.decoded == len(PICKS)  # the copy shares its original's decode

        by = {(f.path, f.outcome): f for f in result.findings}
        assert by[("gps/DSCN0025.jpg", "capture-time-changed")].evidence["seconds_apart"] == 3600
        gps = by[("gps/DSCN0021.jpg", "gps-lost")]
        assert gps.evidence["expected"]["lat"] == pytest.approx(43.4670816666639)
        # An exiftool edit: both findings, each naming the other.
        assert gps.evidence["fixity"] == "changed"
        assert by[("gps/DSCN0021.jpg", "changed")].evidence["metadata_changes"] == ["gps-lost"]
        assert "metadata_changes" not in by[("gps/DSCN0012.jpg", "changed")].evidence
        assert by[("phone/jolla.jpg", "moved")].evidence["from"] == "mobile/jolla.jpg"

        doc = json.loads(json.dumps(result.to_json()))
        assert doc["schema"] == "photoverify.verify/1" and doc["ok"] is False
        assert doc["by_check"]["expect"] == {"gps-lost": 1, "capture-time-changed": 1}
        assert doc["counts"]["missing"] == 1 and doc["decode"]["failed"] == 3

        # The second run reads no file to decode it: every outcome comes from the cache.
        again = verify_tree(root, manifest, catalog=catalog, decode=True, decode_cache=cache)
    assert again.decode.decoded == 0
    assert again.decode.from_cache == result.decode.files
    assert _faults(again) == _faults(result)
    assert again.scan["unchanged"] == again.scan["files"]


def test_rules_and_other_manifest_formats(library, tmp_path):
    root, _, catalog = library
    sums = tmp_path / "b3.txt"
    write_manifest(root, sums, fmt="b3sum")
    shas = tmp_path / "SHA256SUMS"  # the name says which 64-hex digest it holds
    write_manifest(root, shas, fmt="sha256sum")
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-gps:all=",
                    str(root / "gps/DSCN0027.jpg")], check=True)  # fmt: skip
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "GPS"\nkinds = ["image"]\npaths = ["gps/**"]\n'
                     'require = ["gps"]\n')  # fmt: skip

    b3 = verify_tree(root, sums, catalog=catalog, expect_rules=str(rules))
    # A b3sum manifest records no metadata: the loss is seen through the rule only.
    assert _faults(b3) == {
        ("gps/DSCN0027.jpg", "fixity", "changed"),
        ("gps/DSCN0027.jpg", "expect", "metadata-absent"),
    }
    assert b3.decode is None and b3.digests_reused == 0 and b3.files_read > 0
    assert [r["name"] for r in b3.to_json()["rules"]] == ["GPS"]

    sha = verify_tree(root, shas, catalog=catalog)
    assert _faults(sha) == {("gps/DSCN0027.jpg", "fixity", "changed")}
    assert sha.algorithm == "sha256" and sha.digests_reused == 0

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

from photoverify.dedupe.catalog.scan import scan
from photoverify.dedupe.catalog.store import Catalog
from photoverify.verify.checks.decode_cache import DecodeCache
from photoverify.verify.checks.verification import verify_tree
from photoverify.verify.manifest import write_manifest

PICKS = {  # where each real file (shipped in tests/data/real) lives in the library
    "gps/gps-datetime.jpg": "immich-test-assets/metadata/dates/gps-datetime.jpg",
    "gps/thompson-springs.jpg": "immich-test-assets/metadata/gps-position/thompson-springs.jpg",
    "gps/datetimeoriginal-gps.jpg": "immich-test-assets/metadata/dates/datetimeoriginal-gps.jpg",
    "gps/Kodak_CX7530.jpg": "exif-samples/jpg/Kodak_CX7530.jpg",
    "camera/landscape_1.jpg": "exif-samples/jpg/orientation/landscape_1.jpg",
    "camera/Nikon_D70.jpg": "exif-samples/jpg/Nikon_D70.jpg",
    "heic/IMG_5195.HEIC": "exif-samples/heic/IMG_5195.HEIC",
    "heic/IMG_2682.heic": "immich-test-assets/formats/heic/IMG_2682.heic",
    "exiftool-samples/Apple.jpg": "exiftool-samples/Apple.jpg",
    "png/density_plot.png": "immich-test-assets/formats/png/density_plot.png",
    "mobile/iphone_13_pro_max.HEIC": "exif-samples/heic/mobile/iphone_13_pro_max.HEIC",
    "mobile/Pentax_K10D.jpg": "exif-samples/jpg/Pentax_K10D.jpg",
    "old/portrait_3.jpg": "exif-samples/jpg/orientation/portrait_3.jpg",
    **{
        f"old/{name}.jpg": f"exif-samples/jpg/{name}.jpg"
        for name in (
            "Canon_40D", "Canon_DIGITAL_IXUS_400", "Fujifilm_FinePix_E500",
            "Fujifilm_FinePix6900ZOOM", "Nikon_COOLPIX_P1", "Konica_Minolta_DiMAGE_Z3",
            "Olympus_C8080WZ", "Panasonic_DMC-FZ30", "Ricoh_Caplio_RR330",
            "Samsung_Digimax_i50_MP3", "Sony_HDR-HC3",
        )
    },
}  # fmt: skip


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
    for rel, corpus_rel in PICKS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(real / corpus_rel, root / rel)
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
    data = bytearray((root / "camera/landscape_1.jpg").read_bytes())
    data[100_000] ^= 0x01  # one bit, deep in the picture data
    (root / "camera/landscape_1.jpg").write_bytes(bytes(data))
    _cut(root / "old/portrait_3.jpg", 0.5)
    (root / "old/Fujifilm_FinePix6900ZOOM.jpg").unlink()
    (root / "mobile").rename(root / "phone")
    shutil.copy2(root / "gps/gps-datetime.jpg", root / "gps/gps-datetime copy.jpg")
    exiftool = ["exiftool", "-q", "-overwrite_original"]
    subprocess.run([*exiftool, "-gps:all=", str(root / "gps/thompson-springs.jpg")], check=True)
    subprocess.run([*exiftool, "-AllDates+=1", str(root / "camera/Nikon_D70.jpg")], check=True)
    _cut(root / "heic/IMG_5195.HEIC", 0.6)
    _cut(root / "video/clip.mp4", 0.6)


EXPECTED_FAULTS = {
    ("camera/landscape_1.jpg", "fixity", "changed"),
    ("old/portrait_3.jpg", "fixity", "changed"),
    ("old/Fujifilm_FinePix6900ZOOM.jpg", "fixity", "missing"),
    ("phone/iphone_13_pro_max.HEIC", "fixity", "moved"),
    ("phone/Pentax_K10D.jpg", "fixity", "moved"),
    ("gps/gps-datetime copy.jpg", "fixity", "duplicated"),
    ("gps/thompson-springs.jpg", "fixity", "changed"),
    ("gps/thompson-springs.jpg", "expect", "gps-lost"),
    ("camera/Nikon_D70.jpg", "fixity", "changed"),
    ("camera/Nikon_D70.jpg", "expect", "capture-time-changed"),
    ("heic/IMG_5195.HEIC", "fixity", "changed"),
    ("video/clip.mp4", "fixity", "changed"),
}
DECODE_FAULTS = {
    ("old/portrait_3.jpg", "decode", "truncated"),
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
        assert (
            by[("camera/Nikon_D70.jpg", "capture-time-changed")].evidence["seconds_apart"] == 3600
        )
        gps = by[("gps/thompson-springs.jpg", "gps-lost")]
        assert gps.evidence["expected"]["lat"] == pytest.approx(39.115)
        # An exiftool edit: both findings, each naming the other.
        assert gps.evidence["fixity"] == "changed"
        assert by[("gps/thompson-springs.jpg", "changed")].evidence["metadata_changes"] == [
            "gps-lost"
        ]
        assert "metadata_changes" not in by[("camera/landscape_1.jpg", "changed")].evidence
        assert by[("phone/Pentax_K10D.jpg", "moved")].evidence["from"] == "mobile/Pentax_K10D.jpg"

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
                    str(root / "gps/datetimeoriginal-gps.jpg")], check=True)  # fmt: skip
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "GPS"\nkinds = ["image"]\npaths = ["gps/**"]\n'
                     'require = ["gps"]\n')  # fmt: skip

    b3 = verify_tree(root, sums, catalog=catalog, expect_rules=str(rules))
    # A b3sum manifest records no metadata: the loss is seen through the rule only.
    assert _faults(b3) == {
        ("gps/datetimeoriginal-gps.jpg", "fixity", "changed"),
        ("gps/datetimeoriginal-gps.jpg", "expect", "metadata-absent"),
    }
    assert b3.decode is None and b3.digests_reused == 0 and b3.files_read > 0
    assert [r["name"] for r in b3.to_json()["rules"]] == ["GPS"]

    sha = verify_tree(root, shas, catalog=catalog)
    assert _faults(sha) == {("gps/datetimeoriginal-gps.jpg", "fixity", "changed")}
    assert sha.algorithm == "sha256" and sha.digests_reused == 0

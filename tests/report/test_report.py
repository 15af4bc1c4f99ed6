"""The report: a pure model from findings, a self-contained HTML file checked in real Chromium,
and a terminal summary.

The realistic scenario is a real move: corpus photos copied, then on the copy some deleted, some
stripped of GPS or of all metadata by exiftool, one truncated, one duplicated, one re-encoded,
and one named like an HTML tag; fixity runs against a real manifest, the catalog is a real scan.

Set PHOTOVERIFY_UPDATE_SCREENSHOT=1 to rewrite docs/report.png from that scenario.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from rich.console import Console

from photoverify.dedupe.catalog.scan import scan
from photoverify.dedupe.catalog.store import Catalog
from photoverify.dedupe.core.findings import Finding
from photoverify.dedupe.core.records import (
    Cluster,
    ClusterMember,
    DupesResult,
    FileRecord,
    Relation,
)
from photoverify.verify.manifest import write_manifest
from photoverify.verify.manifest.fixity import check_fixity
from photoverify.verify.report.html import (
    ROWS_INLINE,
    _thumbnail_targets,
    make_thumbnail,
    render_html,
    script_json,
)
from photoverify.verify.report.model import (
    build_report,
    display_text,
    key_evidence,
    render_terminal,
    section_of,
    split_path,
)

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
XSS_NAME = "<img src=x onerror=alert(1)>.jpg"

PHOTOS = {  # corpus file (shipped in tests/data/real) -> where it lives in the original library
    "exif-samples/jpg/Canon_40D.jpg": "2008/10/DSCN0010.jpg",
    "immich-test-assets/metadata/gps-position/thompson-springs.jpg": "2008/10/DSCN0012.jpg",
    "exif-samples/jpg/Nikon_D70.jpg": "2008/10/DSCN0021.jpg",
    "immich-test-assets/formats/jpg/el_torcal_rocks.jpg": "2008/11/DSCN0025.jpg",
    "exif-samples/jpg/Pentax_K10D.jpg": "2015/04/IMG_0412.jpg",
    "exif-samples/jpg/Panasonic_DMC-FZ30.jpg": "2015/02/IMG_7781.jpg",
    "exif-samples/jpg/Samsung_Digimax_i50_MP3.jpg": "2022/08/IMG_20220814.jpg",
    "exif-samples/heic/IMG_5195.HEIC": "2021/04/IMG_5195.HEIC",
    "immich-test-assets/formats/heic/IMG_2682.heic": "2019/03/IMG_2682.heic",
    "exif-samples/jpg/orientation/portrait_6.jpg": "2012/scans/portrait_6.jpg",
    "exif-samples/jpg/Fujifilm_FinePix6900ZOOM.jpg": "2001/Fujifilm_FinePix6900ZOOM.jpg",
    "exif-samples/jpg/Konica_Minolta_DiMAGE_Z3.jpg": "2001/Konica_Minolta_DiMAGE_Z3.jpg",
    "immich-test-assets/formats/webp/denali.webp": "2010/denali.webp",
    "exif-samples/jpg/Olympus_C8080WZ.jpg": "2005/DSC_0087.jpg",
}


@pytest.fixture(scope="session")
def browser():
    # set-up installs Chromium (scripts/setup.sh, run by `make test`); the suite only uses it
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is absent: run scripts/setup.sh (or `make test`)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class Page:
    """A page that records every request and every dialog."""

    def __init__(self, browser, path: Path, viewport=(1280, 900)):
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        self.page = self.context.new_page()
        self.page.on("request", lambda r: self.requests.append(r.url))

        def on_dialog(d):
            self.dialogs.append(d.message)
            d.dismiss()

        self.page.on("dialog", on_dialog)
        started = time.perf_counter()
        self.page.goto(path.as_uri(), wait_until="load")
        self.load_s = time.perf_counter() - started

    def foreign_requests(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(("file://", "data:"))]

    def close(self) -> None:
        self.context.close()


# --------------------------------------------------------------------------- the scenario


def _exiftool(*args: str) -> None:
    subprocess.run(["exiftool", "-q", "-q", "-overwrite_original", *args], check=True)


def _metadata_findings(src: dict[str, FileRecord], dst: dict[str, FileRecord]) -> list[Finding]:
    """What a metadata expectation check reports: per relative path, what the copy lost."""
    out = []
    for rel, a in sorted(src.items()):
        b = dst.get(rel)
        if b is None:
            continue
        ma, mb = a.metadata, b.metadata
        if ma.gps and not mb.gps:
            out.append(
                Finding(rel, "expect", "error", "gps-lost", f"{rel}: GPS position lost",
                        {"expected": ma.gps, "actual": None, "captured_at": ma.captured_at})
            )  # fmt: skip
        if ma.captured_at and not mb.captured_at:
            out.append(
                Finding(rel, "expect", "error", "capture-time-lost",
                        f"{rel}: capture time lost",
                        {"expected": ma.captured_at, "source": ma.captured_source,
                         "captured_at": ma.captured_at})
            )  # fmt: skip
        if ma.model and not mb.model:
            out.append(
                Finding(rel, "expect", "warning", "camera-lost", f"{rel}: camera model lost",
                        {"expected": f"{ma.make} {ma.model}", "actual": None,
                         "captured_at": ma.captured_at})
            )  # fmt: skip
    return out


def _clusters(records: list[FileRecord]) -> DupesResult:
    """Identical bytes and near-identical pHash, grouped the simple way: enough for a report."""
    by_digest: dict[str, list[FileRecord]] = {}
    for r in records:
        if r.blake3 and r.kind == "image":
            by_digest.setdefault(r.blake3, []).append(r)
    clusters, related = [], []
    reps = []
    for i, (digest, group) in enumerate(sorted(by_digest.items())):
        group.sort(key=lambda r: (len(r.path), r.path))
        reps.append(group[0])
        if len(group) > 1:
            keeper = group[0]
            members = (ClusterMember(keeper.path, "keeper"),) + tuple(
                ClusterMember(r.path, "identical", 0, {"blake3": digest}) for r in group[1:]
            )
            reason = "same bytes; kept the copy in the shallowest folder"
            clusters.append(Cluster(f"c{i:04d}", "identical", keeper.path, reason, members))
    used = set()
    for a in reps:
        for b in reps:
            if a.path >= b.path or not (a.phash and b.phash) or a.path in used:
                continue
            d = bin(int(a.phash, 16) ^ int(b.phash, 16)).count("1")
            if d <= 6:
                keeper, other = (a, b) if a.pixels >= b.pixels else (b, a)
                reason = (
                    f"largest picture ({keeper.width}×{keeper.height} against "
                    f"{other.width}×{other.height}), same capture time"
                )
                members = (
                    ClusterMember(keeper.path, "keeper"),
                    ClusterMember(other.path, "same-photo", d, {"phash_distance": d}),
                )
                clusters.append(Cluster(f"p{len(clusters):04d}", "same-photo", keeper.path,
                                        reason, members))  # fmt: skip
                used.update({a.path, b.path})
            elif d <= 14:
                related.append(Relation(a.path, b.path, "similar", {"phash_distance": d}))
    return DupesResult(tuple(clusters), tuple(related), ())


def make_scenario(corpus: Path, tmp: Path):
    """A library and its damaged copy, scanned and checked: (findings, counts, dupes, records)."""
    src, dst = tmp / "Pictures", tmp / "NewDisk" / "Pictures"
    for rel_corpus, rel in PHOTOS.items():
        target = src / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(corpus / rel_corpus, target)
    gps = corpus / "immich-test-assets/metadata/dates/datetimeoriginal-gps.jpg"
    shutil.copy2(gps, src / "2008/10" / XSS_NAME)
    manifest = write_manifest(src, tmp / "Pictures.b3", fmt="b3sum")
    shutil.copytree(src, dst)

    (dst / "2008/10/DSCN0021.jpg").unlink()
    (dst / "2021/04/IMG_5195.HEIC").unlink()
    _exiftool("-gps:all=", str(dst / "2008/10/DSCN0012.jpg"), str(dst / "2008/10" / XSS_NAME))
    _exiftool("-all=", str(dst / "2015/04/IMG_0412.jpg"))
    data = (dst / "2022/08/IMG_20220814.jpg").read_bytes()
    (dst / "2022/08/IMG_20220814.jpg").write_bytes(data[: len(data) // 3])
    (dst / "Imports").mkdir()
    shutil.copy2(dst / "2015/02/IMG_7781.jpg", dst / "Imports/IMG_7781 (1).jpg")
    shutil.copy2(dst / "2015/02/IMG_7781.jpg", dst / "Imports/IMG_7781 copy.jpg")
    with Image.open(dst / "2008/11/DSCN0025.jpg") as im:
        exif = im.info.get("exif", b"")
        im.reduce(2).save(dst / "Imports/DSCN0025-small.jpg", quality=80, exif=exif)

    db = tmp / "catalog.sqlite"
    with Catalog(db) as cat:
        scan([str(src), str(dst)], cat, workers=0)
        src_recs = {os.path.relpath(r.path, src): r for r in cat.records(under=[str(src)])}
        dst_list = cat.records(under=[str(dst)])
    dst_recs = {os.path.relpath(r.path, dst): r for r in dst_list}

    fixity = check_fixity(dst, manifest)
    findings = list(fixity.findings)
    findings += _metadata_findings(src_recs, dst_recs)
    for rel, r in sorted(dst_recs.items()):
        if r.decode_ok is False:
            findings.append(
                Finding(rel, "decode", "error", "undecodable", f"{rel}: {r.decode_error}",
                        {"format": r.format, "error": r.decode_error})
            )  # fmt: skip
    # Missing files have no record in the copy: the original's record tells kind and year.
    records = {**{rel: src_recs[rel] for rel in src_recs}, **dst_recs}
    dupes = _clusters(dst_list)
    records.update({r.path: r for r in dst_list})
    return findings, fixity.counts, dupes, records


@pytest.fixture(scope="module")
def scenario(corpus, tmp_path_factory):
    return make_scenario(corpus, tmp_path_factory.mktemp("scenario"))


@pytest.fixture(scope="module")
def scenario_html(scenario, tmp_path_factory) -> tuple[Path, object]:
    findings, counts, dupes, records = scenario
    model = build_report(
        findings, counts=counts, dupes=dupes, records=records, title="Move to NewDisk: check"
    )
    out = tmp_path_factory.mktemp("html") / "report.html"
    render_html(model, out)
    return out, model


# ------------------------------------------------------------------------------ pure model


def _f(path: str, outcome: str, severity: str = "error", check: str = "fixity", **ev) -> Finding:
    return Finding(path, check, severity, outcome, f"{path}: {outcome}", ev)


def test_sections_follow_the_outcome():
    assert section_of(_f("a", "missing")) == "missing"
    assert section_of(_f("a", "sidecar-missing", check="audit")) == "missing"
    assert section_of(_f("a", "gps-lost", check="expect")) == "metadata"
    assert section_of(_f("a", "changed")) == "failed"
    assert section_of(_f("a", "undecodable", check="decode")) == "failed"
    assert section_of(_f("a", "moved", "warning")) == "notes"
    assert section_of(_f("a", "matched", "info")) is None


def test_model_counts_groups_and_charts():
    rec = FileRecord("/lib/2019/a.jpg", "/lib", 10, 0, 1, 1, kind="image")
    rec.metadata = type(rec.metadata)(captured_at="2019-05-01T10:00:00")
    findings = [
        _f("/lib/2019/a.jpg", "gps-lost", check="expect"),
        _f("x/b.mov", "missing"),
        _f("x/c.jpg", "missing"),
        _f("x/d.jpg", "matched", "info"),
        _f("x/e.jpg", "changed"),
    ]
    model = build_report(
        findings, counts={"matched": 500, "new": 0}, records={"/lib/2019/a.jpg": rec}, title="t"
    )
    # counts win over the findings for the outcomes they name; problems come first
    assert model.summary_counts == {
        "missing": 2,
        "changed": 1,
        "gps-lost": 1,
        "new": 0,
        "matched": 500,
    }
    assert model.severity_of["matched"] == "info" and model.severity_of["new"] == "warning"
    assert [g.outcome for g in model.section("missing").groups] == ["missing"]
    assert [r.name for r in model.section("missing").groups[0].rows] == ["b.mov", "c.jpg"]
    assert model.section("metadata").groups[0].rows[0].message == "gps-lost"  # path stripped
    by_kind = {b.label: dict(b.parts) for b in model.charts[0].bars}
    assert by_kind == {"image": {"metadata": 1, "missing": 1, "failed": 1}, "video": {"missing": 1}}
    by_year = [b.label for b in model.charts[1].bars]
    assert by_year == ["2019", "unknown"]
    data = json.loads(json.dumps(model.to_json()))
    assert data["schema"] == "photoverify.report/2" and data["problems"] == 4
    assert data["duplicates"] is None


def test_clusters_keeper_first_and_biggest_savings_first():
    sizes = {"/a": 5, "/b": 5, "/c": 9, "/d": 9, "/e": 9}
    recs = {p: FileRecord(p, "/", s, 0, 1, 1) for p, s in sizes.items()}

    def cluster(cid: str, keeper: str, paths: tuple[str, ...]) -> Cluster:
        members = tuple(ClusterMember(p, "keeper" if p == keeper else "identical") for p in paths)
        return Cluster(cid, "identical", keeper, "r", members)

    small, big = cluster("c1", "/b", ("/a", "/b")), cluster("c2", "/c", ("/c", "/d", "/e"))
    model = build_report([], dupes=DupesResult((small, big), (), ()), records=recs, title="t")
    assert [c.id for c in model.clusters] == ["c2", "c1"]
    assert model.clusters[1].members[0].path == "/b" and model.clusters[1].members[0].is_keeper
    assert model.redundant_files == 3 and model.redundant_bytes == 5 + 9 + 9


@given(st.text())
def test_display_text_always_encodes(text):
    shown = display_text(text)
    shown.encode("utf-8")  # never raises: surrogates replaced
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown)  # C0, DEL, C1
    assert not any(c in "\u2028\u2029\u200e\u200f" or 0x202A <= ord(c) <= 0x202E
                   or 0x2066 <= ord(c) <= 0x2069 for c in shown)  # fmt: skip


@given(
    st.recursive(
        st.none() | st.text() | st.integers(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
    )
)
def test_script_json_cannot_close_the_element(value):
    text = script_json({"v": value})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == json.loads(json.dumps({"v": value}))


@given(st.text(min_size=1).filter(lambda s: "/" not in s))
def test_split_path_keeps_the_name(name):
    assert split_path(f"some/dir/{name}") == (name, "some/dir")


def test_undecodable_name_bytes_survive_into_json():
    raw = os.fsdecode(b"/lib/caf\xe9.jpg")
    model = build_report([_f(raw, "missing")], title="t")
    row = model.to_json()["sections"][0]["groups"][0]["rows"][0]
    assert row["path"] == raw  # the exact name, for programs
    assert display_text(raw) == "/lib/caf\ufffd.jpg"  # and something printable, for people


def test_key_evidence_shortens_digests():
    ev = key_evidence({"algorithm": "blake3", "expected": "ab" * 32, "actual": None, "size": 3})
    assert ev == [("expected", "abababababab…"), ("size", "3")]


def test_thumbnail_placeholder_for_bad_file(tmp_path, corpus):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    assert make_thumbnail(str(bad)) is None
    assert make_thumbnail(str(tmp_path / "absent.jpg")) is None
    uri = make_thumbnail(str(corpus / "exif-samples/jpg/orientation/portrait_6.jpg"))
    import base64

    im = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert im.format == "JPEG" and max(im.size) <= 160
    assert im.height > im.width  # orientation 6 applied: shown as a portrait
    heic = make_thumbnail(str(corpus / "exif-samples/heic/IMG_5195.HEIC"))
    assert heic is not None and heic.startswith("data:image/jpeg;base64,")


def test_thumbnail_work_is_bounded(scenario, tmp_path):
    findings, counts, dupes, records = scenario
    model = build_report(findings, counts=counts, dupes=dupes, records=records, title="t")
    targets = _thumbnail_targets(model, 3)
    assert targets == [m.path for m in model.clusters[0].members][:3]  # clusters first
    out = tmp_path / "r.html"
    render_html(model, out, max_thumbnails=2)
    assert out.read_text("utf-8").count('src="data:image/jpeg;base64,') == 2
    render_html(model, out, thumbnails=False)
    assert "data:image/jpeg" not in out.read_text("utf-8")


# ------------------------------------------------------------------------ real scenario


def test_scenario_model(scenario):
    findings, counts, dupes, records = scenario
    model = build_report(findings, counts=counts, dupes=dupes, records=records, title="t")
    missing = {r.name for g in model.section("missing").groups for r in g.rows}
    assert missing == {"DSCN0021.jpg", "IMG_5195.HEIC"}
    lost = {(g.outcome, r.name) for g in model.section("metadata").groups for r in g.rows}
    assert ("gps-lost", "DSCN0012.jpg") in lost and ("gps-lost", XSS_NAME) in lost
    assert ("capture-time-lost", "IMG_0412.jpg") in lost
    failed = {(g.outcome, r.name) for g in model.section("failed").groups for r in g.rows}
    assert ("undecodable", "IMG_20220814.jpg") in failed
    assert {c.kind for c in model.clusters} == {"identical", "same-photo"}
    years = {b.label for b in model.charts[1].bars}
    assert {"2008", "2021"} <= years  # the missing HEIC's year comes from the original's record


def test_terminal_summary_prints_names_literally(scenario):
    findings, counts, dupes, records = scenario
    findings = [*findings, _f("[red]weird[/red].jpg", "missing")]
    model = build_report(findings, counts=counts, dupes=dupes, records=records, title="t")
    console = Console(record=True, width=200, color_system=None)
    render_terminal(model, console)
    out = console.export_text()
    assert "matched" in out and "missing" in out and "duplicate clusters" in out
    assert "[red]weird[/red].jpg" in out  # not eaten as markup
    assert "DSCN0021.jpg" in out


def test_html_in_chromium(scenario_html, browser):
    out, model = scenario_html
    html = out.read_text("utf-8")
    assert XSS_NAME not in html  # escaped everywhere, attributes and inline JSON too
    p = Page(browser, out)
    try:
        page = p.page
        counts = page.inner_text("#counts")
        for outcome, n in model.summary_counts.items():
            tile = page.locator(f'#counts [data-outcome="{outcome}"]')
            assert tile.inner_text().split("\n")[0] == f"{n:,}", outcome
        assert "duplicate clusters" in counts
        assert page.locator("img[src='x']").count() == 0
        assert page.locator("img[onerror]").count() == 0
        assert p.dialogs == []
        body = page.inner_text("body")
        assert XSS_NAME in body  # shown as text, verbatim
        assert page.get_by_text(XSS_NAME).first.is_visible()
        keeper = page.locator(".cluster figure.tile.keeper img")
        assert keeper.count() >= 2  # every inline cluster's keeper has a thumbnail
        assert page.locator(".cluster figure.tile.keeper .keep").first.inner_text() == "KEEP"
        assert page.locator("svg.bars rect.seg-missing").count() >= 1
        assert p.foreign_requests() == [], p.foreign_requests()
    finally:
        p.close()
    if os.environ.get("PHOTOVERIFY_UPDATE_SCREENSHOT"):
        p = Page(browser, out, viewport=(1280, 900))
        p.page.screenshot(path=str(REPO / "docs" / "report.png"), full_page=True)
        p.close()


SCRIPT_BREAK = "</script><script>alert(2)</script>"


def _many_findings(n: int) -> list[Finding]:
    outcomes = [
        ("missing", "fixity", "error"),
        ("changed", "fixity", "error"),
        ("gps-lost", "expect", "error"),
        ("capture-time-lost", "expect", "error"),
        ("undecodable", "decode", "error"),
        ("new", "fixity", "warning"),
    ]
    out = []
    for i in range(n):
        outcome, check, sev = outcomes[i % len(outcomes)]
        folder = f"Photos/{2000 + i % 24}/{i % 12 + 1:02d}"
        # hostile names sort among the others, so "show more" loads some of them too
        path = f"{folder}/IMG_{i:06d}" + ("" if i % 97 else f"<img src=x onerror=alert({i})>")
        path += ".JPG"
        ev = {"algorithm": "blake3", "expected": f"{i:064x}", "actual": f"{i + 1:064x}"}
        if i % 5 == 0:  # in the inline JSON too: must not end the <script> element
            ev["note"] = SCRIPT_BREAK
        if check == "expect":
            ev = {"expected": "2011-04-03T10:11:12+02:00", "captured_at": f"{2000 + i % 24}-01-01"}
        out.append(Finding(path, check, sev, outcome, f"{path}: {outcome} in the copy", ev))
    return out


@pytest.mark.slow
def test_100k_findings_open_quickly(browser, tmp_path):
    findings = _many_findings(100_000)
    started = time.perf_counter()
    model = build_report(findings, counts={"matched": 250_000}, title="100,000 findings")
    out = tmp_path / "big.html"
    render_html(model, out, thumbnails=False)
    build_s = time.perf_counter() - started
    size = out.stat().st_size
    p = Page(browser, out)
    try:
        page = p.page
        assert page.locator('#counts [data-outcome="missing"] .n').inner_text() == "16,667"
        rendered = page.locator("table.rows tbody tr").count()
        assert rendered <= ROWS_INLINE * 6
        # the rest is reachable: one click adds the next page of rows, built from inline JSON
        page.locator('button[data-key="missing-0"]').click()
        assert page.locator("#rows-missing-0 tr").count() == ROWS_INLINE + 1000
        assert page.locator("#rows-missing-0 .kv", has_text=SCRIPT_BREAK).count() > 200 // 5
        # the rows built by the script show hostile names as text, never as elements
        loaded = page.locator(f"#rows-missing-0 tr:nth-child(n+{ROWS_INLINE + 1}) .name")
        hostile = loaded.filter(has_text="<img src=x onerror=alert(")
        assert hostile.count() >= 5
        assert hostile.first.inner_text().endswith(">.JPG")
        assert page.locator("img[src='x']").count() == 0
        assert p.dialogs == [] and p.foreign_requests() == []
    finally:
        p.close()
    print(f"\n100k findings: build+render {build_s:.2f} s, {size / 1e6:.1f} MB, "
          f"Chromium load {p.load_s:.2f} s")  # fmt: skip
    assert p.load_s < 10
    assert size < 30e6


def test_schema_doc_names_every_key(scenario):
    findings, counts, dupes, records = scenario
    data = build_report(findings, counts=counts, dupes=dupes, records=records, title="t").to_json()
    doc = (REPO / "docs" / "report-schema.md").read_text("utf-8")
    row = data["sections"][0]["groups"][0]["rows"][0]
    cluster = data["duplicates"]["clusters"][0]
    keys = [
        *data,
        *data["sections"][0],
        *data["sections"][0]["groups"][0],
        *row,
        *data["charts"][0],
        *data["charts"][0]["bars"][0],
        *data["duplicates"],
        *cluster,
        *cluster["members"][0],
    ]
    assert data["schema"] in doc
    assert [k for k in keys if f"`{k}`" not in doc and f'"{k}"' not in doc] == []

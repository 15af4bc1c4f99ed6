"""Copy the curated subset of ../shared/corpus/real into tests/data/real and write its SOURCES.md.

Only files whose licence allows redistribution are listed: immich-app/test-assets (public
domain), exiftool's t/images (Perl's terms), and the exif-samples files that are Wikimedia Commons
uploads or user contributions (CC BY-SA 4.0). The exif-samples files without a stated licence
(jpg/gps from gaia-gis.it, jpg/exif-org from exif.org, jpg/tests from bug reports,
heic/samplefilehub.heif) stay in the shared corpus only.

    .venv/bin/python scripts/real_subset.py [CORPUS_REAL]
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "data" / "real"
LIMIT = 8 * 1024 * 1024

EXIF_SAMPLES = (
    "https://github.com/ianare/exif-samples/blob/5332a9cf0220e9c6c93f88a187daa90808051e10"
)
IMMICH = "https://github.com/immich-app/test-assets/blob/ec56cc6c1d76c45bc9615dc6ea232470a2b0a3a1"
EXIFTOOL = "https://github.com/exiftool/exiftool/blob/38bdbace3037a89d2c332664fc60bddad118958a"
COMMONS = "https://commons.wikimedia.org/wiki/File:"
CC_BY_SA = "CC BY-SA 4.0 (exif-samples README: user-contributed images)"
ON_COMMONS = "the free licence on its Commons page (exif-samples jpg/README)"
PD = "public domain (immich-app/test-assets README: all assets are public domain)"
PERL = "Perl's terms: Artistic License or GPL (exiftool README)"

# exif-samples camera JPEGs: the Wikimedia Commons file each was downscaled from (jpg/README)
CAMERAS = {
    "Canon_40D": "Iguana_iguana_male_head.jpg",
    "Canon_40D_photoshop_import": "Anolis_equestris_-_bright_close_3-4.jpg",
    "Canon_DIGITAL_IXUS_400": "Ducati749.jpg",
    "Fujifilm_FinePix6900ZOOM": "Hylidae_cinerea.JPG",
    "Fujifilm_FinePix_E500": "VlaamseGaaiVeertje1480.JPG",
    "Kodak_CX7530": "Red-headed_Rock_Agama.jpg",
    "Konica_Minolta_DiMAGE_Z3": "Knechtova01.jpg",
    "Nikon_COOLPIX_P1": "Miyagikotsu-castle6861.JPG",
    "Nikon_D70": "Anolis_carolinensis_brown.jpg",
    "Olympus_C8080WZ": "Pterois_volitans_Manado-e.jpg",
    "Panasonic_DMC-FZ30": "Rømø_-_St.Klement_-_Kanzel_3.jpg",
    "Pentax_K10D": "Mrs._Herbert_Stevens_May_2008.jpg",
    "Ricoh_Caplio_RR330": "Steveston_dusk.JPG",
    "Samsung_Digimax_i50_MP3": "Villa_di_Poggio_a_Caiano,_sala_neoclassica_4.JPG",
    "Sony_HDR-HC3": "Positive_roll_film.jpg",
    "WWL_(Polaroid)_ION230": "PoudriereBoisSousRoche3.jpg",
}
AUTHORS = {"Pentax_K10D": "Laitche (its EXIF Copyright: 'This file is in the public domain.')"}


def files() -> list[tuple[str, str, str, str]]:
    """(path under real/, source URL, author, licence) of every file in the subset."""
    rows = []
    for name, wiki in CAMERAS.items():
        rel = f"exif-samples/jpg/{name}.jpg"
        author = AUTHORS.get(name, "named on its Commons page; downscaled by ianare/exif-samples")
        rows.append((rel, f"{COMMONS}{wiki} via {EXIF_SAMPLES}/jpg/{name}.jpg", author, ON_COMMONS))
    rows.append(
        (
            "exif-samples/jpg/PaintTool_sample.jpg",
            f"{EXIF_SAMPLES}/jpg/PaintTool_sample.jpg",
            "Jan Trofimov (OXIj) (exif-samples jpg/README)",
            CC_BY_SA,
        )
    )
    contributed = [
        "exif-samples/README.rst",  # a file that is not a photo
        "exif-samples/heic/IMG_5195.HEIC",
        "exif-samples/heic/mobile/iphone_13_pro_max.HEIC",
        *[
            f"exif-samples/jpg/orientation/{n}.jpg"
            for n in ("landscape_1", "portrait_3", "portrait_6")
        ],
    ]
    for rel in contributed:
        rows.append(
            (
                rel,
                f"{EXIF_SAMPLES}/{rel.removeprefix('exif-samples/')}",
                "an exif-samples contributor (its commit history)",
                CC_BY_SA,
            )
        )
    for rel in ("exif-samples/tiff/Arbitro.tiff", "exif-samples/tiff/BSG1.tiff"):
        rows.append(
            (
                rel,
                f"{COMMONS}{Path(rel).stem}.tiff via {EXIF_SAMPLES}/tiff/{Path(rel).name}",
                "named on its Commons page (exif-samples tiff/README)",
                ON_COMMONS,
            )
        )
    immich = [
        "formats/heic/IMG_2682.heic",
        "formats/avif/8bit-sRGB.avif",
        "formats/jxl/8bit-sRGB.jxl",
        "formats/webp/denali.webp",
        "formats/png/density_plot.png",
        "formats/jpg/el_torcal_rocks.jpg",
        "formats/jpeg/el_torcal_rocks.jpeg",
        "metadata/dates/date-priority-test.jpg",
        "metadata/dates/datetimeoriginal-gps.jpg",
        "metadata/dates/gps-datetime.jpg",
        "metadata/dates/time-created.jpg",
        "metadata/gps-position/thompson-springs.jpg",
        "metadata/tags/picasa.jpg",
        "metadata/xmp/dates/2000.xmp",
        "metadata/xmp/dates/2010.xmp",
        "metadata/xmp/dates/2020.xmp",
        "problems/xmp/iso-value-array/iso-value-array.xmp",
    ]
    for rel in immich:
        rows.append((f"immich-test-assets/{rel}", f"{IMMICH}/{rel}", "immich-app/test-assets", PD))
    for name in (
        "Apple.jpg",
        "ExtendedXMP.jpg",
        "PLIST.aae",
        "PLUS.xmp",
        "QuickTime.heic",
        "QuickTime.mov",
        "XMP.jpg",
        "XMP.xmp",
    ):
        rows.append(
            (
                f"exiftool-samples/{name}",
                f"{EXIFTOOL}/t/images/{name}",
                "Phil Harvey (exiftool)",
                PERL,
            )
        )
    return rows


def write(corpus_real: Path) -> int:
    rows = files()
    if OUT.exists():
        shutil.rmtree(OUT)
    for rel, *_ in rows:
        (OUT / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(corpus_real / rel, OUT / rel)
    total = sum((OUT / rel).stat().st_size for rel, *_ in rows)
    lines = [
        "# tests/data/real: real files shipped for a clone without ../shared/corpus",
        "",
        "A subset of `../shared/corpus/real` (same paths), copied unchanged by",
        "`scripts/real_subset.py`, which lists why each file is here. Only files whose licence",
        "allows redistribution are shipped; tests that need the rest of the corpus skip without it",
        "and say so.",
        f"{len(rows)} files, {total:,} bytes.",
        "",
        "| file | source | author | licence |",
        "|---|---|---|---|",
        *[f"| {rel} | {src} | {author} | {licence} |" for rel, src, author, licence in rows],
        "",
    ]
    (OUT / "SOURCES.md").write_text("\n".join(lines), encoding="utf-8")
    return total


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "corpus" / "real"
    size = write(source)
    print(f"{OUT}: {size:,} bytes")
    sys.exit(0 if size <= LIMIT else 1)

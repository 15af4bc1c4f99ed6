"""Checksum manifests in the formats peer tools read and write (formats), and a tree on disk
checked against one (fixity)."""

from photoverify.verify.manifest.formats import (
    Manifest,
    ManifestEntry,
    read_manifest,
    render_b3sum,
    render_manifest,
    write_manifest,
)

__all__ = [
    "Manifest",
    "ManifestEntry",
    "read_manifest",
    "render_b3sum",
    "render_manifest",
    "write_manifest",
]

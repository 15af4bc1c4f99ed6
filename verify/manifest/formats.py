"""The names dedupe/move/apply.py imports from here, until it imports them from the package
face (photoverify.verify.manifest). The formats themselves are in entries, tree, sums,
hashdeep, bag, json_format, write and read."""

from photoverify.verify.manifest.entries import Manifest, ManifestEntry
from photoverify.verify.manifest.write import render_manifest

__all__ = ["Manifest", "ManifestEntry", "render_manifest"]

"""Reading files in: which files exist (walk), what they are (sniff), what exiftool says of them
(metadata), their fingerprints and picture signatures, where the work runs (executors), the scan
that ties these together, the catalog (store) that keeps the result, and Apple's Photo Details
CSVs (apple_csv)."""

from photoverify.dedupe.catalog.apple_csv import ApplePart, is_photo_details, read_photo_details
from photoverify.dedupe.catalog.scan import ScanResult, scan
from photoverify.dedupe.catalog.store import Catalog, default_path, digest_lookup, media_lookup

__all__ = [
    "ApplePart",
    "Catalog",
    "ScanResult",
    "dask_client",
    "default_path",
    "digest_lookup",
    "is_photo_details",
    "media_lookup",
    "read_photo_details",
    "scan",
]


def __getattr__(name: str):
    # dask_client is loaded on first use: its module (executors) loads exiftool's wrapper, which
    # a run that only reads bytes (manifest, verify's fixity) must not pay for at start-up
    if name == "dask_client":
        from photoverify.dedupe.catalog.executors import dask_client

        return dask_client
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Reading files in: which files exist (walk), what they are (sniff), what exiftool says of them
(metadata), their fingerprints and picture signatures, where the work runs (executors), the scan
that ties these together, and the catalog (store) that keeps the result."""

from photoverify.dedupe.catalog.executors import dask_client
from photoverify.dedupe.catalog.scan import ScanResult, scan
from photoverify.dedupe.catalog.store import Catalog, default_path, digest_lookup, media_lookup

__all__ = [
    "Catalog",
    "ScanResult",
    "dask_client",
    "default_path",
    "digest_lookup",
    "media_lookup",
    "scan",
]

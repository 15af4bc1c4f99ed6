"""Reading files in: which files exist (walk), what they are (sniff), what exiftool says of them
(metadata), their fingerprints and picture signatures, where the work runs (executors), the scan
that ties these together, the catalog (store) that keeps the result, and Apple's Photo Details
CSVs (apple_csv)."""

from photoverify.dedupe.core.lazy import exports

# loaded on first use (dedupe.core.lazy): a run that only reads bytes (manifest, verify's fixity,
# dupes --exact) does not load the scan, exiftool's wrapper or Apple's CSV reader. The scan itself
# is `dedupe.catalog.scan.scan` (a name here would be shadowed by its module's).
__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "ApplePart": "apple_csv",
        "is_photo_details": "apple_csv",
        "read_photo_details": "apple_csv",
        "ScanResult": "scan",
        "Catalog": "store",
        "default_path": "store",
        "digest_lookup": "store",
        "media_lookup": "store",
        "dask_client": "executors",
    },
)

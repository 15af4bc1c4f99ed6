"""What every room shares: plain records, findings, the exception hierarchy, where a path
stands, capture times, content hashing, JSON in and out, writing an output file, opening a
SQLite file.

Its names are loaded on first use (dedupe.core.lazy): importing `errors`, as every command does,
does not load the records or the hashing."""

from photoverify.dedupe.core.lazy import exports

__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "EnvironmentProblem": "errors",
        "ManifestError": "errors",
        "PhotoverifyError": "errors",
        "PlanError": "errors",
        "UsageError": "errors",
        "ALGORITHMS": "hashing",
        "hash_file": "hashing",
        "new_hasher": "hashing",
        "under_any": "paths",
        "DupesResult": "records",
        "FileRecord": "records",
        "Finding": "findings",
        "Verdict": "findings",
        "Metadata": "records",
        "now_iso": "timeparse",
    },
)

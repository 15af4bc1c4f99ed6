"""What every room shares: plain records, the exception hierarchy, where a path stands, capture
times, content hashing, JSON in and out, writing an output file, opening a SQLite file."""

from photoverify.dedupe.core.errors import (
    EnvironmentProblem,
    ManifestError,
    PhotoverifyError,
    PlanError,
    UsageError,
)
from photoverify.dedupe.core.hashing import ALGORITHMS, hash_file, new_hasher
from photoverify.dedupe.core.paths import under_any
from photoverify.dedupe.core.records import DupesResult, FileRecord, Finding, Metadata
from photoverify.dedupe.core.timeparse import now_iso

__all__ = [
    "ALGORITHMS",
    "DupesResult",
    "EnvironmentProblem",
    "FileRecord",
    "Finding",
    "ManifestError",
    "Metadata",
    "PhotoverifyError",
    "PlanError",
    "UsageError",
    "hash_file",
    "new_hasher",
    "now_iso",
    "under_any",
]

"""What is a duplicate of what: near-duplicate search over perceptual hashes (index, and
between two sets: cross), the pairs worth judging (candidates), what a pair is (judge), typed
relations and clusters (graph, with the relations logged on disk past a point: spill), files that
travel together (companions), which copy to keep (policy), and exact duplicates from bytes alone
(exact)."""

from photoverify.dedupe.core.lazy import exports

# loaded on first use (dedupe.core.lazy): graph loads networkx, numpy and numba (the
# near-duplicate index), which `dupes --exact` never needs; companions holds its records as numpy
# columns (dedupe.match.table)
__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "exact_asset_clusters": "exact",
        "find_exact": "exact",
        "choose_keeper": "policy",
        "DupesOptions": "graph",
        "find_duplicates": "graph",
        "find_assets": "companions",
    },
)

"""What is a duplicate of what: near-duplicate search over perceptual hashes (index, and
between two sets: cross), the pairs worth judging (candidates), what a pair is (judge), typed
relations and clusters (graph, with the relations logged on disk past a point: spill), files that
travel together (companions), which copy to keep (policy), and exact duplicates from bytes alone
(exact)."""

from photoverify.dedupe.match.exact import exact_asset_clusters, find_exact
from photoverify.dedupe.match.policy import choose_keeper

__all__ = [
    "DupesOptions",
    "choose_keeper",
    "exact_asset_clusters",
    "find_assets",
    "find_duplicates",
    "find_exact",
]


def __getattr__(name: str):
    # the graph's names are loaded on first use: graph loads networkx, numpy and numba (the
    # near-duplicate index), which `dupes --exact` never needs; companions holds its records
    # as numpy columns (dedupe.match.table)
    if name in ("DupesOptions", "find_duplicates"):
        from photoverify.dedupe.match import graph

        return getattr(graph, name)
    if name == "find_assets":
        from photoverify.dedupe.match.companions import find_assets

        return find_assets
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

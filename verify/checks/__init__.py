"""Checks of a tree's files: do they decode (decode, its results kept by decode_cache), do they
carry what they should (expect), does an Apple export agree with its own CSV (apple), and the
whole `verify` run (verification)."""

from photoverify.dedupe.core.lazy import exports

__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "decode_cache_path": "decode_cache",
        "VerifyResult": "verification",
        "verify_tree": "verification",
    },
)

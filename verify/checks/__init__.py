"""Checks of a tree's files: do they decode (decode, its results kept by decode_cache), do they
carry what they should (expect), does an Apple export agree with its own CSV (apple), and the
whole `verify` run (verification)."""

from photoverify.verify.checks.decode_cache import decode_cache_path
from photoverify.verify.checks.verification import VerifyResult, verify_tree

__all__ = ["VerifyResult", "decode_cache_path", "verify_tree"]

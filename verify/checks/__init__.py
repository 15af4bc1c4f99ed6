"""Checks of a tree's files: do they decode (decode), do they carry what they should (expect),
does an Apple export agree with its own CSV (apple), and the whole `verify` run (verification)."""

from photoverify.verify.checks.verification import VerifyResult, verify_tree

__all__ = ["VerifyResult", "decode_cache_path", "verify_tree"]


def __getattr__(name: str):
    # decode_cache_path is loaded on first use: its module (decode) loads the decoders (Pillow,
    # pillow-heif, PyAV, numpy), which verify's fixity check must not pay for at start-up
    if name == "decode_cache_path":
        from photoverify.verify.checks.decode import decode_cache_path

        return decode_cache_path
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

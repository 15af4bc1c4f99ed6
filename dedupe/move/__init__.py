"""Moving a library: target names (naming), the merge plan (plan decides, planfile reads and writes
its files), carrying a plan out (apply: its journal and locks in journal, its file operations in
fileops, the batched modes in batches, `move` in movemode, the ledger and manifest in ledger,
results) and undoing it (undoing), and the metadata merge (metamerge decides, metasources gathers
what each file knows, metawrite writes it into DEST)."""

from photoverify.dedupe.move.plan import (
    LEDGER_JSON,
    Plan,
    PlanEntry,
    build_plan,
    check_plan,
    with_free_space,
)
from photoverify.dedupe.move.planfile import read_plan, write_csv, write_plan

__all__ = [
    "LEDGER_JSON",
    "Plan",
    "PlanEntry",
    "apply_plan",
    "build_plan",
    "check_plan",
    "plan_with_merges",
    "read_plan",
    "undo",
    "with_free_space",
    "write_csv",
    "write_plan",
]

# apply's and the merge's names are loaded on first use: apply loads its file operations, the
# metadata writer and Apple's CSV reader, which a run that only needs the plan's names (verify
# reads LEDGER_JSON) must not pay for at start-up
_LAZY = {
    "apply_plan": "photoverify.dedupe.move.apply",
    "undo": "photoverify.dedupe.move.apply",
    "plan_with_merges": "photoverify.dedupe.move.metasources",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Moving a library: target names (naming), the merge plan (plan decides, planfile reads and writes
its files), carrying a plan out and undoing it (apply), and the metadata merge (metamerge decides,
metasources gathers what each file knows, metawrite writes it into DEST)."""

from photoverify.dedupe.move.apply import apply_plan, undo
from photoverify.dedupe.move.metasources import plan_with_merges
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

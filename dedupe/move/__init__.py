"""Moving a library: target names (naming), the merge plan and its files (plan), carrying a plan
out (apply: its journal and locks in journal, its file operations in fileops, the batched modes
in batches, `move` in movemode, the ledger and manifest in ledger, results) and undoing it
(undo), and the metadata merge (metamerge decides, metasources gathers what each file knows,
metawrite writes it into DEST)."""

from photoverify.dedupe.move.apply import apply_plan, undo
from photoverify.dedupe.move.metasources import plan_with_merges
from photoverify.dedupe.move.plan import (
    LEDGER_JSON,
    Plan,
    PlanEntry,
    build_plan,
    check_plan,
    read_plan,
    with_free_space,
    write_csv,
    write_plan,
)

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

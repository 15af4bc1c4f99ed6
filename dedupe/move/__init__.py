"""Moving a library: target names (naming), the merge plan (plan decides, planfile reads and writes
its files), carrying a plan out (apply: its journal and locks in journal, its file operations in
fileops, the batched modes in batches, `move` in movemode, the ledger and manifest in ledger,
results) and undoing it (undoing), and the metadata merge (metamerge decides, metasources gathers
what each file knows, metawrite writes it into DEST)."""

from photoverify.dedupe.core.lazy import exports

# loaded on first use (dedupe.core.lazy): apply loads its file operations, the metadata writer
# and Apple's CSV reader, which a run that only needs the plan's names must not pay for
__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "LEDGER_JSON": "plan",
        "Plan": "plan",
        "PlanEntry": "plan",
        "build_plan": "plan",
        "check_plan": "plan",
        "with_free_space": "plan",
        "read_plan": "planfile",
        "write_csv": "planfile",
        "write_plan": "planfile",
        "apply_plan": "apply",
        "undo": "apply",
        "plan_with_merges": "metasources",
    },
)

"""Did a migration lose anything: every source asset accounted for in DEST (libraries: the audit
and its result; its phases in matching, comparison and metadata; outcomes; ledger), what a merge
changed in a DEST copy (gained), files broken before the move (source_damage), and what a person
is shown of an audit (view)."""

from photoverify.dedupe.core.lazy import exports

__getattr__, __dir__, __all__ = exports(
    __name__,
    {
        "AuditResult": "libraries",
        "audit_libraries": "libraries",
        "audit_view": "view",
    },
)

"""Did a migration lose anything: every source asset accounted for in DEST (libraries: the audit
and its result; its phases in matching, comparison and metadata; outcomes; ledger), what a merge
changed in a DEST copy (gained), files broken before the move (source_damage), and what a person
is shown of an audit (view)."""

from photoverify.verify.audit.libraries import AuditResult, audit_libraries
from photoverify.verify.audit.view import audit_view

__all__ = ["AuditResult", "audit_libraries", "audit_view"]

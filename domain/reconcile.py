"""Reconciliation: a process's workflow that ended without closing its records —
`temporal workflow terminate`, a cancel that could not close them, a run that timed out, a
workflow that failed, or a workflow no longer in Temporal (deleted, or past the namespace's
retention) — leaves them open in PostgreSQL for ever. The reconciliation job (ops/reconcile.py)
closes them. Pure rules here; the SQL is store/reconcile.py."""

# Workflow statuses (temporalio WorkflowExecutionStatus names) after which nothing will close
# the records any more. A CANCELED run normally closed its records itself (a cancel from
# Temporal runs the process's cancel step), but one cancelled while its records were still
# being created, or by code before that step existed, may have left some open: they are
# found and closed like a terminated one's. COMPLETED runs closed theirs; RUNNING /
# CONTINUED_AS_NEW still may.
ENDED_UNCLOSED = {
    "TERMINATED": "terminated",
    "CANCELED": "cancelled",
    "TIMED_OUT": "timed out",
    "FAILED": "failed",
}
MISSING = None  # no such workflow in the namespace

AUDIT_PREFIX = "closed by reconciliation"
STEP = "reconcile-close"
ACTOR = "reconciliation"
OPS_TEAM = "ops"  # PARTNERFLOW_TEAM_ADDRESSES role the notice goes to


def closes(status: str | None) -> bool:
    """Whether records of a workflow in this status are closed by the reconciliation."""
    return status is MISSING or status in ENDED_UNCLOSED


def ended(status: str | None) -> str:
    """How the run ended, in one word for counts: terminated, cancelled, ..., missing."""
    return "missing" if status is MISSING else ENDED_UNCLOSED.get(status, status).replace(" ", "_")


def reason(status: str | None, identity: str = "", why: str = "") -> str:
    """The audit action and the records' closing reason, e.g. "closed by reconciliation:
    workflow terminated by ops-anna@host (duplicate order)"."""
    if status is MISSING:
        what = "workflow not found in Temporal"
    else:
        what = f"workflow {ENDED_UNCLOSED[status]}"
    if identity:
        what += f" by {identity[:80]}"
    if why:
        what += f" ({why[:200]})"
    return f"{AUDIT_PREFIX}: {what}"

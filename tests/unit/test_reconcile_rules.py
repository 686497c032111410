"""When the reconciliation closes a process's records, and the reason it writes."""

import pytest

from domain.reconcile import closes, reason


@pytest.mark.parametrize(
    "status, closed",
    [
        ("TERMINATED", True),
        ("TIMED_OUT", True),
        ("FAILED", True),
        # cancelled while its records were still being written (the cancel's own step
        # closed what existed then)
        ("CANCELED", True),
        (None, True),
        # the workflow closed its records itself, or still may
        ("COMPLETED", False),
        ("RUNNING", False),
        ("CONTINUED_AS_NEW", False),
    ],
)
def test_which_ends_leave_records_to_close(status, closed):
    assert closes(status) is closed


def test_the_reason_names_the_end_who_and_why():
    assert reason("TERMINATED", "ops-anna@host", "duplicate order") == (
        "closed by reconciliation: workflow terminated by ops-anna@host (duplicate order)"
    )
    assert reason("CANCELED", "ops-ben@laptop", "wrong PBX") == (
        "closed by reconciliation: workflow cancelled by ops-ben@laptop (wrong PBX)"
    )
    assert reason("TIMED_OUT") == "closed by reconciliation: workflow timed out"
    assert reason(None) == "closed by reconciliation: workflow not found in Temporal"
    assert len(reason("TERMINATED", "x" * 500, "y" * 5000)) < 340  # bounded, it is a column

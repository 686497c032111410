"""The client's failures: one exit code and its words for the starter, the same failure as an
HTTP status for the portal."""

import pytest
from temporalio.service import RPCError, RPCStatusCode

from client.failures import (
    BAD_INPUT,
    BUSY,
    NO_PROCESS,
    REFUSED,
    SETUP,
    UNREACHABLE,
    BadInput,
    Failure,
    failure_of,
    rpc_failure,
)
from config import NotConfigured


@pytest.mark.parametrize(
    ("status", "message", "code", "http"),
    [
        (RPCStatusCode.NOT_FOUND, "workflow not found", NO_PROCESS, 404),
        (RPCStatusCode.RESOURCE_EXHAUSTED, "too many in-flight updates", BUSY, 503),
        (RPCStatusCode.ALREADY_EXISTS, "exists", REFUSED, 409),
        (RPCStatusCode.UNAVAILABLE, "down", UNREACHABLE, 503),
        (RPCStatusCode.PERMISSION_DENIED, "no", SETUP, 500),
        (RPCStatusCode.INVALID_ARGUMENT, "id length exceeds limit", BAD_INPUT, 400),
    ],
)
def test_each_temporal_error_has_its_exit_code_and_http_status(status, message, code, http):
    failure = rpc_failure(RPCError(message, status, b""), "p-1")
    assert (failure.code, failure.http_status) == (code, http)
    assert message in str(failure)


def test_any_exception_becomes_words_never_a_traceback():
    assert failure_of(BadInput("--pbx: use PBX-...")).code == BAD_INPUT
    assert failure_of(NotConfigured("no key ring")).code == SETUP
    unexpected = failure_of(KeyError("x"))
    assert "unexpected error: KeyError" in str(unexpected)
    same = Failure(REFUSED, "refused")
    assert failure_of(same) is same

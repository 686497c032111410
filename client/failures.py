"""Every failure of a request to a process, as an exit code and words (never a traceback),
and the same failure as an HTTP status for the portal."""

from temporalio.client import (
    RPCTimeoutOrCancelledError,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from codec import ENCODING as ENCRYPTED_ENCODING
from codec import PLAINTEXT_REFUSED
from config import NotConfigured

# Exit codes: what happened, and so what the person can do next.
OK = 0  # done
REFUSED = 1  # refused or rejected by the process; the reason is said
BAD_INPUT = 2  # bad input: nothing was sent
NO_PROCESS = 3  # no such process, or it has ended
UNREACHABLE = 4  # Temporal could not be reached: nothing was sent
BUSY = 5  # Temporal or the process is busy (e.g. too many steps in flight): try again
NO_ANSWER = 6  # sent, but no answer in time (worker down, process stuck): see `status`
SETUP = 7  # not set up to run: no key ring, bad credentials, no permission
FAILED = 8  # Temporal or the worker failed on the request (e.g. a failed workflow task)

# The same outcomes for a web page: the portal answers with these.
HTTP_STATUS = {
    OK: 200,
    REFUSED: 409,
    BAD_INPUT: 400,
    NO_PROCESS: 404,
    UNREACHABLE: 503,
    BUSY: 503,
    NO_ANSWER: 504,
    SETUP: 500,
    FAILED: 502,
}


class Failure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)


class BadInput(ValueError):
    """Input that cannot be sent: exit 2, nothing reaches Temporal."""


def first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:300]


def rpc_failure(e: RPCError, process_id: str | None = None) -> Failure:
    """Every error Temporal answers with, as its own exit code and words."""
    message = e.message or str(e)
    lower = message.lower()
    status = e.status
    if status == RPCStatusCode.NOT_FOUND:
        what = f"process {process_id}" if process_id else "it"
        return Failure(NO_PROCESS, f"no such process, or it has ended: {what} ({message})")
    if status == RPCStatusCode.RESOURCE_EXHAUSTED:
        return _busy(lower, message)
    if status == RPCStatusCode.INVALID_ARGUMENT:
        if "length" in lower and ("exceed" in lower or "too long" in lower):
            return Failure(
                BAD_INPUT, f"an id is too long for Temporal ({message}); nothing was started"
            )
        return Failure(BAD_INPUT, f"Temporal refused the request as invalid: {message}")
    simple = _SIMPLE.get(status) if status is not None else None
    if simple is not None:
        code, said = simple
        return Failure(code, said.format(message=message))
    if "workflow task" in lower:
        return Failure(
            FAILED,
            f"the worker failed on the process's workflow task ({message}): "
            "see the worker's log or the Temporal UI",
        )
    return Failure(
        FAILED, f"Temporal failed the request ({status.name if status else '?'}): {message}"
    )


def _busy(lower: str, message: str) -> Failure:
    if "in-flight" in lower or "update" in lower:
        return Failure(
            BUSY,
            "busy, try again: the process has too many steps in progress "
            f"(Temporal's limit of in-flight updates); nothing was applied ({message})",
        )
    return Failure(BUSY, f"busy, try again: Temporal limits requests right now ({message})")


_SIMPLE: dict[RPCStatusCode, tuple[int, str]] = {
    RPCStatusCode.ALREADY_EXISTS: (REFUSED, "already exists: {message}"),
    RPCStatusCode.UNAVAILABLE: (UNREACHABLE, "Temporal is unreachable: {message}"),
    RPCStatusCode.DEADLINE_EXCEEDED: (NO_ANSWER, "no answer in time: {message}"),
    RPCStatusCode.CANCELLED: (NO_ANSWER, "no answer in time: {message}"),
    RPCStatusCode.UNAUTHENTICATED: (
        SETUP,
        "Temporal refused our credentials or namespace ({message}): "
        "check TEMPORAL_API_KEY / TLS settings and TEMPORAL_NAMESPACE",
    ),
    RPCStatusCode.PERMISSION_DENIED: (
        SETUP,
        "Temporal refused our credentials or namespace ({message}): "
        "check TEMPORAL_API_KEY / TLS settings and TEMPORAL_NAMESPACE",
    ),
}


ENCRYPTED_ANSWER = (
    "the process's answer is encrypted and this side has no key ring to read it: set the "
    "same PARTNERFLOW_ENCRYPTION_KEYS as the worker (nothing was changed)"
)


def not_set_up(e: BaseException) -> Failure | None:
    """A request sent unencrypted to a worker that encrypts (refused there, whether a start,
    a step or a read), or an encrypted answer that this side, without a key ring, cannot
    read: not set up (exit 7), with the setting to fix; None for anything else."""
    cause = e.cause if isinstance(e, WorkflowFailureError | WorkflowUpdateFailedError) else e
    if isinstance(cause, ApplicationError) and cause.type == PLAINTEXT_REFUSED:
        return Failure(SETUP, cause.message)
    # the payload converter's words for an encoding it has no converter for
    if isinstance(e, KeyError) and ENCRYPTED_ENCODING.decode() in str(e):
        return Failure(SETUP, ENCRYPTED_ANSWER)
    return None


def failure_of(e: BaseException, process_id: str | None = None) -> Failure:
    """Any exception of a request, as an exit code and words (never a traceback)."""
    if isinstance(e, Failure):
        return e
    if (setup := not_set_up(e)) is not None:
        return setup
    if isinstance(e, BadInput):
        return Failure(BAD_INPUT, str(e))
    if isinstance(e, RPCError):
        return rpc_failure(e, process_id)
    if isinstance(e, WorkflowUpdateFailedError):
        return update_failure(e)
    if isinstance(e, WorkflowUpdateRPCTimeoutOrCancelledError | RPCTimeoutOrCancelledError):
        return Failure(
            NO_ANSWER,
            "no answer in time from Temporal; the request may still be "
            "carried out: check `starter.py status`",
        )
    if isinstance(e, WorkflowFailureError):
        return Failure(
            FAILED, f"the process failed: {first_line(e.cause or e)}; see the Temporal UI"
        )
    if isinstance(e, NotConfigured):
        return Failure(SETUP, str(e))
    return Failure(
        FAILED,
        f"unexpected error: {type(e).__name__}: {first_line(e)} (set "
        "PARTNERFLOW_DEBUG=1 for the traceback)",
    )


def failure_message(e: WorkflowUpdateFailedError) -> str:
    cause = e.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause or e)


def update_failure(e: WorkflowUpdateFailedError) -> Failure:
    """A step the process did not take: refused by it (exit 1), or refused because it came
    unencrypted to a worker that encrypts (exit 7: a setup problem, not a business one)."""
    return not_set_up(e) or Failure(REFUSED, failure_message(e))


def connect_error_in_words(e: BaseException, debug: bool = False) -> str:
    """The transport's error (`tonic::transport::Error(... ConnectionRefused ...)`) as what it
    means and what to check; the raw text only when debugging."""
    lower = str(e).lower()
    check = (
        "is the Temporal server running (./run starts one), and is TEMPORAL_ADDRESS "
        "right? Nothing was sent"
    )
    if "connection refused" in lower or "connectionrefused" in lower:
        why = "nothing listens there (connection refused)"
    elif "dns" in lower or "lookup" in lower or "name or service not known" in lower:
        why = "the host name is not known"
        check = "check TEMPORAL_ADDRESS. Nothing was sent"
    elif "tls" in lower or "certificate" in lower or "handshake" in lower:
        why = "the TLS handshake failed"
        check = (
            "check the TEMPORAL_TLS* settings or TEMPORAL_API_KEY (Temporal Cloud). "
            "Nothing was sent"
        )
    elif "timed out" in lower or "deadline" in lower:
        why = "no answer in time"
    else:
        why = "the connection failed"
    detail = f" [{first_line(e)}]" if debug else ""
    return f"{why}: {check}{detail}"

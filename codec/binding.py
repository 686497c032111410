"""A step bound to its process and its kind.

Encryption alone only says "someone with the key ring wrote this": a payload copied out of
one process's history would open anywhere. So every encrypted payload is sealed with the
namespace and workflow id it was written for as associated data (the codec, see
`codec.EncryptionCodec`), and every start, update and signal input carries, under the same
seal, the facts of its step: its kind, its name and its request id (the update id; a fresh
id for a signal; for a start, when it was issued). The worker checks them where the input is
read, before any handler runs:

- an update's input must name this update and this update id (`current_update_info`);
- a start's input must be a start, issued within `FRESH_START` of the run's start time;
- a signal's input must name this signal, and each signal id is taken once per run;
- anything else (a payload of another process, an activity's result, a payload without
  facts) is refused as the input of a step.

A refused update is rejected by the worker (the sender hears why, history keeps nothing), a
refused start fails its run before any activity, a refused signal is dropped: the process
goes on. Each refusal is reported once to `REFUSALS`, which the worker writes to
`security_log` (door "workflow"); the report key is taken from the run's history, so a
replay reports nothing new.

The facts travel as the metadata of the inner payload (inside the ciphertext): the codec
server, which decodes without a workflow context, shows them as they are."""

import asyncio
import dataclasses
import hashlib
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import structlog
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Interceptor as ClientInterceptor,
)
from temporalio.client import (
    OutboundInterceptor,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    StartWorkflowUpdateWithStartInput,
    WorkflowHandle,
    WorkflowUpdateHandle,
)
from temporalio.converter import (
    ActivitySerializationContext,
    SerializationContext,
    WorkflowSerializationContext,
)
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ContinueAsNewInput,
    ExecuteWorkflowInput,
    HandleSignalInput,
    SignalExternalWorkflowInput,
    StartChildWorkflowInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from temporalio.worker import Interceptor as WorkerInterceptor

FACTS = "partnerflow-step"  # metadata key of the inner payload: the step's facts (JSON)
BOUND = "partnerflow-bound"  # metadata key of the sealed payload: namespace/workflow id
SIGNED_WITH = "partnerflow-key"  # metadata key of the inner payload: the signing key's id
# On a refused input's marker: the staff member it named without their signature.
CLAIMED = "partnerflow-claimed"
UNKNOWN_ACTOR = "unknown (a forged or copied input)"


def claimed_actor(payload: Payload) -> str:
    """Who a refused input claimed to be, for the security log ("who")."""
    claimed = payload.metadata.get(CLAIMED)
    if claimed is None:
        return UNKNOWN_ACTOR
    return f"{claimed.decode(errors='replace')} (claimed, not proven)"


# What a payload sealed for another process decodes to (see codec.EncryptionCodec.decode).
MISBOUND_ENCODING = "partnerflow/misbound"
# Left to the converter, which refuses it in its own words: a plaintext payload.
PLAINTEXT_REFUSED_ENCODING = b"partnerflow/plaintext-refused"
STEP_REFUSED = "StepRefused"
# A start's input is taken only close to when it was issued: the same id started again
# later with a copied input is refused. Generous for clocks that differ.
FRESH_START = timedelta(minutes=15)
START, UPDATE, SIGNAL = "start", "update", "signal"

log = structlog.get_logger("partnerflow.security")


def bound_to(context: SerializationContext | None) -> str | None:
    """The namespace/workflow id a payload in this context belongs to (None: no workflow)."""
    if isinstance(context, WorkflowSerializationContext):
        return f"{context.namespace}/{context.workflow_id}"
    if isinstance(context, ActivitySerializationContext) and context.workflow_id:
        return f"{context.namespace}/{context.workflow_id}"
    return None


@dataclasses.dataclass(frozen=True)
class StepFacts:
    kind: str  # start | update | signal
    step: str  # workflow type, update name or signal name
    request: str  # update id, signal id, or the start's own id
    workflow_id: str
    issued: str  # ISO time the sender wrote it

    def to_json(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), sort_keys=True).encode()

    @classmethod
    def from_payload(cls, payload: Payload) -> "StepFacts | None":
        raw = payload.metadata.get(FACTS)
        if raw is None:
            return None
        try:
            return cls(**json.loads(raw))
        except (ValueError, TypeError):
            return None


@dataclasses.dataclass(frozen=True)
class Stepped:
    """A step's argument with its facts, as the interceptors hand it to the converter."""

    facts: StepFacts
    value: Any


# --- refusals: reported from the workflow thread, written by the worker --------------------


@dataclasses.dataclass(frozen=True)
class Refusal:
    key: str  # the same refusal seen again on a replay has the same key: one row
    actor: str
    permission: str  # Workflow.step
    process_id: str
    reason: str


class RefusalLog:
    """Where the worker's refusals of forged inputs go. They are found in the workflow
    thread (which must do no I/O), so they are queued here and written by the worker's own
    task (`attach`); without one (a client), they are logged only."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Refusal] | None = None

    def report(self, refusal: Refusal) -> None:
        log.warning(
            "step refused",
            actor=refusal.actor,
            permission=refusal.permission,
            process_id=refusal.process_id,
            reason=refusal.reason,
            checked_in="workflow",
        )
        loop, queue = self._loop, self._queue
        if loop is not None and queue is not None:
            loop.call_soon_threadsafe(queue.put_nowait, refusal)

    def attach(self) -> "asyncio.Queue[Refusal]":
        """The queue the caller's writer drains, on the running loop."""
        self._loop, self._queue = asyncio.get_running_loop(), asyncio.Queue()
        return self._queue

    def detach(self) -> None:
        self._loop = self._queue = None


REFUSALS = RefusalLog()


def refuse(reason: str, *, step: str, request: str, payload: Payload) -> NoReturn:
    """Reports a forged input of this run and raises the refusal."""
    info = workflow.info()
    digest = hashlib.sha256(payload.SerializeToString()).hexdigest()[:16]
    REFUSALS.report(
        Refusal(
            key=f"{info.workflow_id}/{info.run_id}/{info.get_current_history_length()}/"
            f"{step}/{request}/{digest}",
            actor=claimed_actor(payload),
            permission=f"{info.workflow_type}.{step}",
            process_id=info.workflow_id,
            reason=reason,
        )
    )
    raise ApplicationError(
        f"refused: {reason} (nothing was done)", type=STEP_REFUSED, non_retryable=True
    )


# --- the converter's side: what a payload read inside a workflow must show -----------------

# Values of start and signal inputs read by the converter, until the inbound interceptor
# takes their facts (by the value's id; bounded, in case one never arrives).
_pending: "OrderedDict[int, StepFacts | None]" = OrderedDict()
_pending_lock = threading.Lock()
_PENDING_MAX = 10_000


def _remember(value: Any, facts: StepFacts | None) -> None:
    with _pending_lock:
        _pending[id(value)] = facts
        while len(_pending) > _PENDING_MAX:
            _pending.popitem(last=False)


def _take(value: Any) -> tuple[bool, StepFacts | None]:
    with _pending_lock:
        if id(value) not in _pending:
            return False, None
        return True, _pending.pop(id(value))


def is_step_input(context: SerializationContext | None) -> bool:
    """A payload read in a workflow with the workflow's own context is the input of a start,
    an update, a signal or a query of this process."""
    return (
        workflow.in_workflow()
        and isinstance(context, WorkflowSerializationContext)
        and context.workflow_id == workflow.info().workflow_id
    )


def is_start_or_signal_input(context: SerializationContext | None) -> bool:
    """A payload read in the sandbox outside the run's own code: the run's input (before the
    run exists) or a signal's (applied before the run's code goes on)."""
    return (
        not workflow.in_workflow()
        and workflow.unsafe.in_sandbox()
        and isinstance(context, WorkflowSerializationContext)
    )


def unchecked(payload: Payload, lenient: bool) -> bool:
    """A refused plaintext payload is refused by the converter in its own words; `lenient`:
    an input without facts passes (histories written before encryption, see codec)."""
    return payload.metadata.get("encoding") == PLAINTEXT_REFUSED_ENCODING or (
        lenient
        and FACTS not in payload.metadata
        and payload.metadata.get("encoding") != MISBOUND_ENCODING.encode()
    )


def check_start_or_signal_input(
    payload: Payload, context: SerializationContext | None, hint: Any, lenient: bool = False
) -> None:
    """A start's or signal's input read outside the run's code (before the workflow's
    __init__ or handler sees it): one sealed for another process, or written for no start
    or signal, is refused here (a start fails its run, a signal is dropped); the kind and
    name are checked by the inbound interceptor."""
    reason = None
    if unchecked(payload, lenient):
        return
    if payload.metadata.get("encoding") == MISBOUND_ENCODING.encode():
        reason = payload.data.decode(errors="replace")
    else:
        facts = StepFacts.from_payload(payload)
        if facts is None or facts.kind not in (START, SIGNAL):
            reason = "this input was not written for a start or a signal"
    if reason is not None:
        refuse_input(payload, context, hint, reason)


def refuse_input(
    payload: Payload, context: SerializationContext | None, hint: Any, reason: str
) -> NoReturn:
    """Reports and raises the refusal of a start's or signal's input read outside the run's
    code (no workflow.info() there: the key is the process, the input and its type)."""
    assert isinstance(context, WorkflowSerializationContext)
    name = getattr(hint, "__name__", "a start or signal")
    digest = hashlib.sha256(payload.SerializeToString()).hexdigest()[:16]
    REFUSALS.report(
        Refusal(
            key=f"{context.workflow_id}/input/{name}/{digest}",
            actor=claimed_actor(payload),
            permission=f"input ({name})",
            process_id=context.workflow_id,
            reason=reason,
        )
    )
    raise ApplicationError(
        f"refused: {reason} (nothing was done)", type=STEP_REFUSED, non_retryable=True
    )


def remember_start(payload: Payload, value: Any, lenient: bool = False) -> None:
    """Once converted, a start's or signal's input waits for the inbound interceptor (not
    one without facts let through by a lenient converter: nothing to check)."""
    facts = StepFacts.from_payload(payload)
    if facts is not None or not lenient:
        _remember(value, facts)


def check_step_input(payload: Payload, lenient: bool = False) -> None:
    """Called by the converter for each input a workflow reads (is_step_input), before it
    converts it: an update's is checked here, a start's or signal's by the inbound
    interceptor (which knows the signal's name)."""
    update = workflow.current_update_info()
    if unchecked(payload, lenient):
        return
    if payload.metadata.get("encoding") == MISBOUND_ENCODING.encode():
        refuse_misbound(payload)
    facts = StepFacts.from_payload(payload)
    if update is not None:
        if facts is None or facts.kind != UPDATE:
            refuse(
                "this input was not written for a step (copied from elsewhere)",
                step=update.name,
                request=update.id,
                payload=payload,
            )
        if facts.step != update.name:
            refuse(
                f"this input was written for step {facts.step!r}, not {update.name!r}",
                step=update.name,
                request=update.id,
                payload=payload,
            )
        if facts.request != update.id:
            refuse(
                "this input was written for another request of the same step (sent again "
                "under a new id)",
                step=update.name,
                request=update.id,
                payload=payload,
            )
        if SIGNED_WITH in payload.metadata and not fresh(facts):
            # A revoked key is refused for steps issued after its revocation: the issue time
            # is signed, and must be now, so a holder cannot date a step back.
            refuse(
                f"a step issued at {facts.issued}, not now",
                step=update.name,
                request=update.id,
                payload=payload,
            )
        return
    if facts is not None and facts.kind == UPDATE:
        refuse(
            f"an input of step {facts.step!r} sent as a start or signal",
            step="start-or-signal",
            request=facts.request,
            payload=payload,
        )


def fresh(facts: StepFacts) -> bool:
    try:
        issued = datetime.fromisoformat(facts.issued)
    except ValueError:
        return False
    return issued.tzinfo is not None and abs(workflow.now() - issued) <= FRESH_START


def remember_start_or_signal(payload: Payload, value: Any, lenient: bool = False) -> None:
    if workflow.current_update_info() is None:
        remember_start(payload, value, lenient)


def refuse_misbound(payload: Payload) -> NoReturn:
    """A payload sealed for another process (the codec's marker), read in this workflow."""
    update = workflow.current_update_info()
    reason = payload.data.decode(errors="replace") or "sealed for another process"
    refuse(
        reason,
        step=update.name if update else "input",
        request=update.id if update else "",
        payload=payload,
    )


# --- the interceptors: facts written by the senders, checked by the receivers --------------


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _stepped(args: Sequence[Any], facts: StepFacts) -> list[Any]:
    return [Stepped(facts, a) for a in args]


class _ClientSide(OutboundInterceptor):
    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        facts = StepFacts(START, input.workflow, uuid.uuid4().hex, input.id, _now())
        input.args = _stepped(input.args, facts)
        if input.start_signal and input.start_signal_args:
            signal = StepFacts(SIGNAL, input.start_signal, uuid.uuid4().hex, input.id, _now())
            input.start_signal_args = _stepped(input.start_signal_args, signal)
        return await super().start_workflow(input)

    async def start_workflow_update(
        self, input: StartWorkflowUpdateInput
    ) -> WorkflowUpdateHandle[Any]:
        input.update_id = input.update_id or str(uuid.uuid4())
        facts = StepFacts(UPDATE, input.update, input.update_id, input.id, _now())
        input.args = _stepped(input.args, facts)
        return await super().start_workflow_update(input)

    async def start_update_with_start_workflow(
        self, input: StartWorkflowUpdateWithStartInput
    ) -> WorkflowUpdateHandle[Any]:
        start, update = input.start_workflow_input, input.update_workflow_input
        update.update_id = update.update_id or str(uuid.uuid4())
        start.args = _stepped(
            start.args, StepFacts(START, start.workflow, update.update_id, start.id, _now())
        )
        update.args = _stepped(
            update.args, StepFacts(UPDATE, update.update, update.update_id, start.id, _now())
        )
        return await super().start_update_with_start_workflow(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        facts = StepFacts(SIGNAL, input.signal, uuid.uuid4().hex, input.id, _now())
        input.args = _stepped(input.args, facts)
        await super().signal_workflow(input)


class _WorkflowSide(WorkflowOutboundInterceptor):
    """What a process sends to another (a child, a signal) or to its next run carries the
    same facts; ids and times come from the workflow, so a replay writes the same."""

    def _facts(self, kind: str, step: str, workflow_id: str) -> StepFacts:
        return StepFacts(kind, step, str(workflow.uuid4()), workflow_id, workflow.now().isoformat())

    async def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> None:
        input.args = _stepped(input.args, self._facts(SIGNAL, input.signal, input.workflow_id))
        await super().signal_external_workflow(input)

    async def start_child_workflow(self, input: StartChildWorkflowInput) -> Any:
        input.args = _stepped(input.args, self._facts(START, input.workflow, input.id))
        return await super().start_child_workflow(input)

    def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
        info = workflow.info()
        step = input.workflow or info.workflow_type
        input.args = _stepped(input.args, self._facts(START, step, info.workflow_id))
        super().continue_as_new(input)


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        self._signals_seen: set[str] = set()
        super().init(_WorkflowSide(outbound))

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        info = workflow.info()
        for value in input.args:
            known, facts = _take(value)
            if not known or facts is None:
                continue  # read without a key ring's converter
            payload = Payload(metadata={FACTS: facts.to_json()})
            if facts.kind != START:
                refuse(
                    f"an input of signal {facts.step!r} sent as a start",
                    step="start",
                    request=facts.request,
                    payload=payload,
                )
            if facts.step != info.workflow_type:
                refuse(
                    f"a start of {facts.step}, not of {info.workflow_type}",
                    step="start",
                    request=facts.request,
                    payload=payload,
                )
            issued = datetime.fromisoformat(facts.issued)
            if abs(info.start_time - issued) > FRESH_START:
                refuse(
                    f"a start issued at {facts.issued}, not for this run (started "
                    f"{info.start_time.isoformat()}): sent again",
                    step="start",
                    request=facts.request,
                    payload=payload,
                )
        return await super().execute_workflow(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        for value in input.args:
            known, facts = _take(value)
            if not known:
                continue
            payload = Payload(metadata={FACTS: facts.to_json()} if facts else {})
            try:
                if facts is None or facts.kind != SIGNAL:
                    refuse(
                        "this input was not written as a signal",
                        step=input.signal,
                        request="",
                        payload=payload,
                    )
                if facts.step != input.signal:
                    refuse(
                        f"this input was written for signal {facts.step!r}",
                        step=input.signal,
                        request=facts.request,
                        payload=payload,
                    )
                if facts.request in self._signals_seen:
                    refuse(
                        "this signal was already taken (sent again)",
                        step=input.signal,
                        request=facts.request,
                        payload=payload,
                    )
            except ApplicationError:
                return  # ignored: a signal cannot be answered, and the process goes on
            self._signals_seen.add(facts.request)
        await super().handle_signal(input)


class StepBinding(ClientInterceptor, WorkerInterceptor):
    """On a client: writes the facts of each start, update and signal it sends. On a worker
    (a client's interceptor is the worker's too): checks them, and writes them on what a
    process sends."""

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _ClientSide(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _Inbound

"""The steps a partner user takes in the portal, sent through the client the starter uses
(client/): the same workflow updates, with the same models, and `actor` always the user of
the verified session (never a form field). The workflows and the store still check every
step themselves; the portal only refuses earlier what is plainly not the user's.

Temporal is reached only from here, server-side: the browser talks to the portal alone."""

import re
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from client.failures import NO_ANSWER, NO_PROCESS, REFUSED, failure_of
from client.processes import Processes
from domain.classound import DocumentUpload
from domain.documents import DocumentRef
from domain.leads import LeadStepRequest, lead_step_process_id, queue_process_id
from domain.partners import FirstLogin, partner_account_process_id
from domain.steps import Decline, StaffStep, StepAnswer
from workflows.classound_order import ClassoundOrder
from workflows.fast_change_order import FastChangeOrder
from workflows.partner_onboarding import PartnerOnboarding

ANSWER_WITHIN = 30.0  # seconds a page waits for a process's answer
REQUEST_ID = re.compile(r"^[A-Za-z0-9]{8,32}$")
ENDED = "The process has ended: nothing can be done on it any more."


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str
    unknown: bool = False  # no answer in time: it may still be carried out
    code: str = ""  # the process's answer as a code and values (domain.steps.StepAnswer)
    params: dict[str, Any] = field(default_factory=dict)
    own: bool = False  # `message` is the portal's own text (translated), not the process's


def request_id(form_value: str | None) -> str:
    """The form's own id (rendered with the page): sent twice (a double click, a reload of
    the answer), it is the same request, applied once. Anything else: a new one."""
    if form_value and REQUEST_ID.match(form_value):
        return form_value
    return uuid.uuid4().hex[:16]


async def _answer(call: Awaitable[StepAnswer]) -> Outcome:
    """The step's answer as a page says it: done, refused (and why), ended, or no answer in
    time. Any other failure leaves as the HTTP answer the client maps it to."""
    try:
        answer = await call
    except Exception as e:  # noqa: BLE001 - every failure in the client's words
        failure = failure_of(e)
        if failure.code == NO_ANSWER:
            return Outcome(False, "", unknown=True)
        if failure.code == REFUSED:
            code, params = _reason_of(e)
            return Outcome(False, str(failure), code=code, params=params)
        if failure.code == NO_PROCESS:
            return Outcome(False, ENDED, own=True)
        raise HTTPException(failure.http_status, str(failure)) from None
    return Outcome(not answer.rejected, answer.message, code=answer.code, params=answer.params)


def _reason_of(e: BaseException) -> tuple[str, dict[str, Any]]:
    """The code and values a refusal carries beside its English words, if any: on the
    update's failure, which the client's refusal was raised from."""
    for err in (e, e.__context__):
        cause = getattr(err, "cause", None)
        details = cause.details if isinstance(cause, ApplicationError) else ()
        if details and isinstance(details[0], dict) and isinstance(details[0].get("code"), str):
            params = details[0].get("params")
            return details[0]["code"], params if isinstance(params, dict) else {}
    return "", {}


async def confirm_order(p: Processes, process_id: str, user_id: str, rid: str) -> Outcome:
    """ "Bestellung bestätigen": the `confirm` update every order process has (fast change,
    change order), as `starter.py confirm ID --as <partner user>`."""
    step = StaffStep(actor=user_id)
    return await _answer(p.send(process_id, FastChangeOrder.confirm, step, f"confirm-portal-{rid}"))


async def decline_order(
    p: Processes, process_id: str, user_id: str, reason: str, rid: str
) -> Outcome:
    """The partner's "no" to an order, with its reason: the `decline` update of both order
    processes."""
    step = Decline(actor=user_id, reason=reason)
    return await _answer(p.send(process_id, FastChangeOrder.decline, step, f"decline-portal-{rid}"))


async def upload_document(
    p: Processes, process_id: str, user_id: str, ref: DocumentRef, rid: str
) -> Outcome:
    """The `upload` update of a CLASSOUND order (and of a change order), as `starter.py
    upload`: only the reference travels, the bytes are in the document store already."""
    step = DocumentUpload(actor=user_id, document=ref)
    return await _answer(p.send(process_id, ClassoundOrder.upload, step, f"upload-portal-{rid}"))


async def first_login(
    p: Processes, partner_id: str, user_id: str, token_digest: str, password_hash: str, rid: str
) -> Outcome:
    """The partner account's `partner_login` update, as `starter.py partner-login`: the
    token's digest and the password's hash only."""
    step = FirstLogin(actor=user_id, token_digest=token_digest, password_hash=password_hash)
    return await _answer(
        p.send(
            partner_account_process_id(partner_id),
            PartnerOnboarding.partner_login,
            step,
            f"partner_login-portal-{rid}",
        )
    )


async def lead_step(p: Processes, rid: str, **fields) -> Outcome:
    """A step on leads (claim, accept, not interested, convert, update an opportunity): its
    own short process, as `starter.py claim-lead` and the others send it."""
    request = LeadStepRequest(**fields)
    try:
        await p.client.get_workflow_handle(queue_process_id(request.queue_id)).describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return Outcome(
                False,
                "The lead queue {queue} does not exist any more.",
                own=True,
                params={"queue": request.queue_id},
            )
        raise
    process_id = lead_step_process_id(request, f"portal-{rid}")
    return await _answer(
        p.answered(process_id, f"process {process_id}", p.lead_step(request, process_id))
    )

"""The steps a partner user takes in the portal, sent to the processes exactly as the starter
sends them: the same workflow updates, with the same models, and `actor` always the user of
the verified session (never a form field). The workflows and the store still check every
step themselves; the portal only refuses earlier what is plainly not the user's.

Temporal is reached only from here, server-side: the browser talks to the portal alone."""

import asyncio
import re
import uuid
from dataclasses import dataclass

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

import config
from cli.common import Failure, failure_message
from cli.leads import run_lead_step
from domain.classound import DocumentUpload
from domain.documents import DocumentRef
from domain.leads import LeadStepRequest, lead_step_process_id, queue_process_id
from domain.partners import FirstLogin, partner_account_process_id
from domain.steps import StaffStep, StepAnswer
from workflows.classound_order import ClassoundOrder
from workflows.fast_change_order import FastChangeOrder
from workflows.partner_onboarding import PartnerOnboarding

ANSWER_WITHIN = 30.0  # seconds a page waits for a process's answer
REQUEST_ID = re.compile(r"^[A-Za-z0-9]{8,32}$")


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str
    unknown: bool = False  # no answer in time: it may still be carried out


def request_id(form_value: str | None) -> str:
    """The form's own id (rendered with the page): sent twice (a double click, a reload of
    the answer), it is the same request, applied once. Anything else: a new one."""
    if form_value and REQUEST_ID.match(form_value):
        return form_value
    return uuid.uuid4().hex[:16]


async def _answer(call) -> Outcome:
    try:
        answer: StepAnswer = await asyncio.wait_for(call, ANSWER_WITHIN)
    except TimeoutError:
        return Outcome(False, "", unknown=True)
    except WorkflowUpdateFailedError as e:
        return Outcome(False, failure_message(e))
    except Failure as f:  # a lead step sent before, refused then: its reason
        return Outcome(False, str(f))
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return Outcome(False, "the process has ended: nothing can be done on it any more")
        raise
    return Outcome(not answer.rejected, answer.message)


async def _update(client: Client, process_id: str, update, arg, update_id: str) -> Outcome:
    handle = client.get_workflow_handle(process_id)
    return await _answer(handle.execute_update(update, arg, id=update_id))


async def confirm_order(client: Client, process_id: str, user_id: str, rid: str) -> Outcome:
    """ "Bestellung bestätigen": the `confirm` update every order process has (fast change,
    change order), as `starter.py confirm ID --as <partner user>`."""
    return await _update(
        client,
        process_id,
        FastChangeOrder.confirm,
        StaffStep(actor=user_id),
        f"confirm-portal-{rid}",
    )


async def upload_document(
    client: Client, process_id: str, user_id: str, ref: DocumentRef, rid: str
) -> Outcome:
    """The `upload` update of a CLASSOUND order (and of a change order), as `starter.py
    upload`: only the reference travels, the bytes are in the document store already."""
    return await _update(
        client,
        process_id,
        ClassoundOrder.upload,
        DocumentUpload(actor=user_id, document=ref),
        f"upload-portal-{rid}",
    )


async def first_login(
    client: Client, partner_id: str, user_id: str, token_digest: str, password_hash: str, rid: str
) -> Outcome:
    """The partner account's `partner_login` update, as `starter.py partner-login`: the
    token's digest and the password's hash only."""
    step = FirstLogin(actor=user_id, token_digest=token_digest, password_hash=password_hash)
    return await _update(
        client,
        partner_account_process_id(partner_id),
        PartnerOnboarding.partner_login,
        step,
        f"partner_login-portal-{rid}",
    )


async def lead_step(client: Client, rid: str, **fields) -> Outcome:
    """A step on leads (claim, accept, not interested, convert, update an opportunity): its
    own short process, as `starter.py claim-lead` and the others send it."""
    request = LeadStepRequest(**fields)
    try:
        await client.get_workflow_handle(queue_process_id(request.queue_id)).describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return Outcome(False, f"lead queue {request.queue_id} does not exist any more")
        raise
    process_id = lead_step_process_id(request, f"portal-{rid}")
    return await _answer(run_lead_step(client, request, process_id, config.TASK_QUEUE))

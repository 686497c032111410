"""The partner's lead inbox and own leads: claim, accept, not interested, convert. Each is a
lead step through the client, after checking that the lead is the partner's (or the user's)."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from client.processes import Processes
from domain import ids
from domain.leads import OPPORTUNITY_STAGES, LeadStepRequest
from portal import answers, steps
from portal.deps import (
    CurrentUser,
    NotYours,
    Pool,
    PortalUser,
    Steps,
    form_with_csrf,
)
from portal.deps import page as show
from portal.forms import opportunity_fields
from portal.i18n import Words
from portal.lead_words import claim_words
from store import lead_claims
from store import portal as db

router = APIRouter()


INBOX_PAGE = 50  # waiting leads a page of the inbox shows, the oldest first
MINE_PAGE = 50  # own leads a page of "my leads" shows, the oldest claim first


@router.get("/leads", response_class=HTMLResponse)
async def inbox(request: Request, user: CurrentUser, pool: Pool, page: int = 1) -> Response:
    return await leads_page(request, pool, user, "leads.html", "inbox", page=max(1, page))


@router.get("/my-leads", response_class=HTMLResponse)
async def mine(request: Request, user: CurrentUser, pool: Pool, page: int = 1) -> Response:
    return await leads_page(request, pool, user, "my_leads.html", "mine", page=max(1, page))


async def leads_page(
    request: Request,
    pool: Any,
    user: PortalUser,
    template: str,
    nav: str,
    status: int = 200,
    errors: dict | None = None,
    values: dict | None = None,
    page: int = 1,
) -> HTMLResponse:
    """The inbox reads the partner's waiting leads a page at a time; "my leads" the user's
    own. Each reads only what it shows: with 100,000 leads waiting, the other list costs."""
    queues: list = []
    waiting: list = []
    own: list = []
    async with pool.acquire() as conn:
        said = await answers.taken(conn, user, request.query_params.get("answer"))
        if nav == "inbox":
            queues = await db.partner_queues(conn, user.partner_id)
            waiting = await db.lead_inbox(
                conn, user.partner_id, INBOX_PAGE + 1, (page - 1) * INBOX_PAGE
            )
        else:
            own = await db.my_leads(conn, user.id, MINE_PAGE + 1, (page - 1) * MINE_PAGE)
    return show(
        request,
        template,
        user=user,
        nav=nav,
        queues=queues,
        inbox=waiting[:INBOX_PAGE],
        page=page,
        more=len(waiting) > INBOX_PAGE if nav == "inbox" else len(own) > MINE_PAGE,
        leads=own[:MINE_PAGE],
        stages=OPPORTUNITY_STAGES,
        status=status,
        errors=errors or {},
        values=values or {},
        answers=said,
    )


async def lead_action(
    request: Request,
    pool: Any,
    processes: Processes,
    user: PortalUser,
    form: Any,
    lead_id: str,
    *,
    own: bool,
    kind: str,
    **fields: Any,
) -> Response:
    """A step on a lead of the partner's inbox (`own`: one of the user's own leads)."""
    async with pool.acquire() as conn:
        queue = None
        if ids.NAME.matches(lead_id):
            queue = (
                await db.queue_of_own_lead(conn, lead_id, user.id)
                if own
                else await db.queue_of_lead_for_partner(conn, lead_id, user.partner_id)
            )
    if queue is None:
        raise NotYours()  # the app's handler writes its security-log row
    result = await steps.lead_step(
        processes,
        steps.request_id(str(form.get("request", ""))),
        queue_id=queue,
        kind=kind,
        actor=user.id,
        lead_id=lead_id,
        **fields,
    )
    return await answers.answered(request, pool, user, "/my-leads" if own else "/leads", result)


@router.post("/leads/{lead_id}/claim")
async def claim(request: Request, lead_id: str, user: CurrentUser, pool: Pool) -> Response:
    """ "Lead übernehmen": decided here, in one PostgreSQL transaction (store/lead_claims.py),
    not by a process of its own: in a rush after a fair, hundreds of partner users click at
    once and each waits for nothing but the lead's and the partner account's row locks."""
    form = await form_with_csrf(request)
    async with pool.acquire() as conn:
        queue = (
            await db.queue_of_lead_for_partner(conn, lead_id, user.partner_id)
            if ids.NAME.matches(lead_id)
            else None
        )
        if queue is None:
            raise NotYours()  # the app's handler writes its security-log row
        done = await lead_claims.claim(
            lead_claims.OnConnection(conn),
            LeadStepRequest(queue_id=queue, kind="claim", actor=user.id, lead_id=lead_id),
            steps.request_id(str(form.get("request", ""))),
        )
    words = Words(user.language)
    said = claim_words(user.language, done.words, done.values)
    if done.ok:
        return await answers.redirect_with(
            pool, user, "/my-leads", "ok", words("Done: {message}", message=said)
        )
    return await answers.redirect_with(
        pool, user, "/my-leads", "error", words("Refused: {message}", message=said)
    )


@router.post("/leads/{lead_id}/accept")
async def accept(
    request: Request, lead_id: str, user: CurrentUser, pool: Pool, processes: Steps
) -> Response:
    form = await form_with_csrf(request)
    return await lead_action(request, pool, processes, user, form, lead_id, own=True, kind="accept")


@router.post("/leads/{lead_id}/not-interested")
async def not_interested(
    request: Request, lead_id: str, user: CurrentUser, pool: Pool, processes: Steps
) -> Response:
    form = await form_with_csrf(request)
    reason = str(form.get("reason", "")).strip()
    if len(reason) < 3:
        words = Words(user.language)
        errors = {f"{lead_id}-reason": words("Say why (at least 3 characters).")}
        return await leads_page(request, pool, user, "my_leads.html", "mine", 400, errors)
    return await lead_action(
        request,
        pool,
        processes,
        user,
        form,
        lead_id,
        own=True,
        kind="not-interested",
        reason=reason[:500],
    )


@router.post("/leads/{lead_id}/convert")
async def convert(
    request: Request, lead_id: str, user: CurrentUser, pool: Pool, processes: Steps
) -> Response:
    form = await form_with_csrf(request)
    fields, errors = opportunity_fields(form, Words(user.language), lead_id)
    if errors:
        values = {lead_id: dict(form)}
        return await leads_page(request, pool, user, "my_leads.html", "mine", 400, errors, values)
    fields["stage"] = fields.get("stage") or "prospecting"
    return await lead_action(
        request, pool, processes, user, form, lead_id, own=True, kind="convert", **fields
    )

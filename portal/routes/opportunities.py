"""The user's opportunities, and updating one (stage, amount, close date): a lead step."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from domain import ids
from domain.leads import OPPORTUNITY_STAGES
from portal import answers, steps
from portal.deps import (
    CurrentUser,
    NotYours,
    Pool,
    PortalUser,
    Steps,
    form_with_csrf,
    page,
)
from portal.forms import opportunity_fields
from portal.i18n import Words
from portal.routes.home import menu_counts
from store import portal as db

router = APIRouter()


@router.get("/opportunities", response_class=HTMLResponse)
async def opportunities(request: Request, user: CurrentUser, pool: Pool) -> Response:
    return await opportunities_page(request, pool, user)


async def opportunities_page(
    request: Request, pool: Any, user: PortalUser, status: int = 200, errors: dict | None = None
) -> HTMLResponse:
    async with pool.acquire() as conn:
        rows = await db.my_opportunities(conn, user.id)
        said = await answers.taken(conn, user, request.query_params.get("answer"))
        counts = await menu_counts(conn, user)
    return page(
        request,
        "opportunities.html",
        user=user,
        nav="opportunities",
        opportunities=rows,
        answers=said,
        counts=counts,
        stages=OPPORTUNITY_STAGES,
        status=status,
        errors=errors or {},
    )


@router.post("/opportunities/{opportunity_id}")
async def update_opportunity(
    request: Request, opportunity_id: str, user: CurrentUser, pool: Pool, processes: Steps
) -> Response:
    form = await form_with_csrf(request)
    words = Words(user.language)
    async with pool.acquire() as conn:
        own = (
            await db.own_opportunity(conn, opportunity_id, user.id)
            if ids.NAME.matches(opportunity_id)
            else None
        )
    if own is None:
        raise NotYours()
    fields, errors = opportunity_fields(form, words, opportunity_id)
    if not errors and not fields:
        errors[f"{opportunity_id}-stage"] = words("Give a stage, an amount or a close date.")
    if errors:
        return await opportunities_page(request, pool, user, 400, errors)
    result = await steps.lead_step(
        processes,
        steps.request_id(str(form.get("request", ""))),
        queue_id=own["queue_id"],
        kind="update-opportunity",
        actor=user.id,
        opportunity_id=opportunity_id,
        **fields,
    )
    return await answers.answered(
        request, pool, user, "/opportunities", result, company=own["company"]
    )

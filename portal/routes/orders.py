"""Orders awaiting the partner's confirmation, and confirming one."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from domain import ids
from portal import steps
from portal.deps import CurrentUser, NotYours, Pool, Steps, back, form_with_csrf, outcome, page
from portal.i18n import Words
from store import portal as db

router = APIRouter()


@router.get("/orders", response_class=HTMLResponse)
async def orders(request: Request, user: CurrentUser, pool: Pool) -> Response:
    async with pool.acquire() as conn:
        rows = await db.orders_awaiting_confirmation(conn, user.partner_id)
    return page(request, "orders.html", user=user, nav="orders", orders=rows)


@router.post("/orders/{process_id}/confirm")
async def confirm(
    request: Request, process_id: str, user: CurrentUser, pool: Pool, processes: Steps
) -> Response:
    form = await form_with_csrf(request)
    async with pool.acquire() as conn:
        if not (
            ids.PROCESS.matches(process_id)
            and await db.order_of_partner(conn, process_id, user.partner_id)
        ):
            raise NotYours()
    result = await steps.confirm_order(
        processes, process_id, user.id, steps.request_id(str(form.get("request", "")))
    )
    outcome(request, Words(user.language), result)
    return back("/orders")

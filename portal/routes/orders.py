"""Orders awaiting the partner's confirmation, with what they cost per month; confirming or
declining one (with a reason)."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from domain import ids
from portal import answers, steps
from portal.deps import CurrentUser, NotYours, Pool, PortalUser, Steps, form_with_csrf
from portal.deps import page as show
from portal.i18n import Words
from portal.routes.home import menu_counts
from store import portal as db

router = APIRouter()
REASON_LIMITS = (3, 500)  # as the decline step takes it (domain.steps.Decline)
ORDERS_PAGE = 20  # orders a page shows, the oldest first: each shows its lines and prices


@router.get("/orders", response_class=HTMLResponse)
async def orders(request: Request, user: CurrentUser, pool: Pool, page: int = 1) -> Response:
    return await orders_page(request, pool, user, page=max(1, page))


async def orders_page(
    request: Request,
    pool,
    user: PortalUser,
    status: int = 200,
    errors: dict | None = None,
    values: dict | None = None,
    page: int = 1,
) -> HTMLResponse:
    async with pool.acquire() as conn:
        rows = await db.orders_awaiting_confirmation(
            conn, user.partner_id, ORDERS_PAGE + 1, (page - 1) * ORDERS_PAGE
        )
        said = await answers.taken(conn, user, request.query_params.get("answer"))
        counts = await menu_counts(conn, user)
    return show(
        request,
        "orders.html",
        user=user,
        nav="orders",
        orders=rows[:ORDERS_PAGE],
        page=page,
        more=len(rows) > ORDERS_PAGE,
        answers=said,
        counts=counts,
        status=status,
        errors=errors or {},
        values=values or {},
    )


async def _own_order(pool, process_id: str, user: PortalUser):
    async with pool.acquire() as conn:
        order = (
            await db.order_named(conn, process_id, user.partner_id)
            if ids.PROCESS.matches(process_id)
            else None
        )
    if order is None:
        raise NotYours()
    return order


@router.post("/orders/{process_id}/confirm")
async def confirm(
    request: Request, process_id: str, user: CurrentUser, pool: Pool, processes: Steps
) -> Response:
    form = await form_with_csrf(request)
    order = await _own_order(pool, process_id, user)
    result = await steps.confirm_order(
        processes, process_id, user.id, steps.request_id(str(form.get("request", "")))
    )
    return await answers.answered(
        request, pool, user, "/orders", result, account=order["account_name"]
    )


@router.post("/orders/{process_id}/decline")
async def decline(
    request: Request, process_id: str, user: CurrentUser, pool: Pool, processes: Steps
) -> Response:
    form = await form_with_csrf(request)
    order = await _own_order(pool, process_id, user)
    reason = str(form.get("reason", "")).strip()
    low, high = REASON_LIMITS
    if not low <= len(reason) <= high:
        words = Words(user.language)
        errors = {f"{process_id}-reason": words("Say why (at least 3 characters, at most 500).")}
        return await orders_page(request, pool, user, 400, errors, {process_id: reason[:high]})
    result = await steps.decline_order(
        processes, process_id, user.id, reason, steps.request_id(str(form.get("request", "")))
    )
    return await answers.answered(
        request, pool, user, "/orders", result, account=order["account_name"]
    )

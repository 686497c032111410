"""The partner's home page: what waits for the user (orders to confirm, documents missing,
leads due back to the queue under a service level, opportunities closing this month), and
the counts every page's menu shows."""

import calendar
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from portal import answers
from portal.deps import CurrentUser, Pool, PortalUser, page
from portal.i18n import TIME_ZONE
from store import portal as db

router = APIRouter()


def this_month(now: datetime | None = None) -> tuple[date, date]:
    """The first and last day of the partners' current month (their business day)."""
    today = (now or datetime.now(ZoneInfo(TIME_ZONE))).astimezone(ZoneInfo(TIME_ZONE)).date()
    last = calendar.monthrange(today.year, today.month)[1]
    return today.replace(day=1), today.replace(day=last)


async def menu_counts(conn: Any, user: PortalUser) -> dict[str, int]:
    return await db.waiting_counts(conn, user.partner_id, user.id, this_month())


@router.get("/home", response_class=HTMLResponse)
async def home(request: Request, user: CurrentUser, pool: Pool) -> Response:
    month = this_month()
    async with pool.acquire() as conn:
        counts = await db.waiting_counts(conn, user.partner_id, user.id, month)
        items = await db.waiting_items(conn, user.partner_id, user.id, month)
        said = await answers.taken(conn, user, request.query_params.get("answer"))
    return page(
        request,
        "home.html",
        user=user,
        nav="home",
        counts=counts,
        items=items,
        answers=said,
    )

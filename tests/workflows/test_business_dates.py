"""Business dates in the workflows, on a time-skipping server of this module's own (the clock
runs months ahead to chosen instants, which the session's server must not do to other tests).

23:30 UTC on a winter day is 00:30 the next day in Berlin; in summer 22:30 UTC is."""

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain.business_time import Family, business_today, start_of_business_day
from domain.change_order import Cancellation, FastChangeRequest, Stage
from domain.classound import Stage as ClassoundStage
from domain.order_lines import FastChangeLine
from store.documents import DocumentStore
from tests.conftest import start_time_skipping
from tests.records import new_account
from tests.workflows.harness import outcome, running_worker, start_process
from tests.workflows.test_classound_order import RESELLER, both_documents, date_answer, start
from workflows.classound_order import ClassoundOrder
from workflows.fast_change_order import FastChangeOrder

WINTER, SUMMER = {12, 1, 2}, {6, 7, 8}


@pytest.fixture(scope="module")
async def clock_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_time_skipping()
    yield env
    await env.shutdown()


@pytest.fixture
def documents(tmp_path, monkeypatch) -> DocumentStore:
    monkeypatch.setenv("PARTNERFLOW_DOCUMENTS_DIR", str(tmp_path / "documents"))
    return DocumentStore(tmp_path / "documents")


async def skip_to_next(env, months: set[int], at: time) -> datetime:
    """Runs the server's clock to the next `at` (UTC) on a day of one of `months`."""
    now = await env.get_current_time()
    day = now.date() + timedelta(days=1)
    while day.month not in months:
        day += timedelta(days=1)
    moment = datetime.combine(day, at, tzinfo=UTC)
    await env.sleep(moment - now)
    return moment


async def test_a_reduction_dated_today_in_berlin_just_after_midnight_is_accepted(clock_env, pool):
    moment = await skip_to_next(clock_env, WINTER, time(23, 30))
    berlin_today = business_today(moment, Family.CHANGE_ORDERS)
    assert berlin_today == moment.date() + timedelta(days=1)  # 00:30 in Berlin
    acc = await new_account(pool, licences={"Premium": 5, "Basic": 4})
    async with running_worker(clock_env.client, pool) as q:
        handle, answer = await start_process(
            clock_env.client,
            q,
            FastChangeOrder,
            FastChangeRequest(
                account_id=acc.id,
                pbx_id=acc.pbx_id,
                requested_by="staff",
                lines=[FastChangeLine(sku="Basic", quantity=2, start_date=berlin_today)],
            ),
        )
        assert not isinstance(answer, Exception), answer
        assert answer.stage == Stage.AWAITING_PARTNER
        # the UTC date is yesterday in Berlin: in the past for an increase
        _, refused = await start_process(
            clock_env.client,
            q,
            FastChangeOrder,
            FastChangeRequest(
                account_id=acc.id,
                pbx_id=acc.pbx_id,
                requested_by="staff",
                lines=[FastChangeLine(sku="Premium", quantity=6, start_date=moment.date())],
            ),
        )
        assert isinstance(refused, WorkflowUpdateFailedError)
        assert f"start date {moment.date()} is in the past" in refused.cause.message
        await handle.execute_update(
            FastChangeOrder.cancel, Cancellation(actor="staff", reason="test done")
        )
        await outcome(clock_env, handle)


@pytest.mark.parametrize(
    ("season", "offset"), [(WINTER, 1), (SUMMER, 2)], ids=["winter-CET", "summer-CEST"]
)
async def test_porting_goes_live_at_midnight_berlin(clock_env, pool, documents, season, offset):
    moment = await skip_to_next(clock_env, season, time(23, 30))
    async with running_worker(clock_env.client, pool) as q:
        handle, _, acc = await start(clock_env, q, pool, documents, licences={"Premium": 2})
        await both_documents(handle, documents)
        await handle.execute_update(ClassoundOrder.confirm, RESELLER)
        day: date = business_today(moment, Family.CLASSOUND) + timedelta(days=2)
        await handle.execute_update(ClassoundOrder.carrier_answer, date_answer(day))

        live_at = start_of_business_day(day, Family.CLASSOUND)
        assert live_at == datetime.combine(day, time(0), tzinfo=UTC) - timedelta(hours=offset)
        await clock_env.sleep(live_at - timedelta(minutes=1) - await clock_env.get_current_time())
        assert (await handle.query(ClassoundOrder.status)).stage == (
            ClassoundStage.PORTING_SCHEDULED
        )
        assert await pool.fetchval("SELECT count(*) FROM dids WHERE pbx_id = $1", acc.pbx_id) == 0
        result = await outcome(clock_env, handle)  # the timer fires at 00:00 Berlin
    assert result.stage == ClassoundStage.ACTIVE
    assert live_at <= result.since < live_at + timedelta(minutes=1), (
        f"activated at {result.since:%Y-%m-%d %H:%M} UTC, due {live_at:%Y-%m-%d %H:%M} UTC"
    )
    assert (
        await pool.fetchval(
            "SELECT activated_on FROM classound_orders WHERE process_id = $1", handle.id
        )
        == day
    )


def last_sunday(year: int, month: int) -> date:
    day = date(year, month + 1, 1) - timedelta(days=1)
    return day - timedelta(days=(day.weekday() + 1) % 7)


@pytest.mark.parametrize(
    ("month", "live_at_utc"),
    [(3, time(23, 0)), (10, time(22, 0))],
    ids=["march-clocks-forward", "october-clocks-back"],
)
async def test_porting_on_a_dst_sunday_goes_live_at_its_local_midnight(
    clock_env, pool, documents, month, live_at_utc
):
    """The Sunday itself begins before the change: in CET in March (23:00 UTC on Saturday),
    in CEST in October (22:00 UTC on Saturday)."""
    now = await clock_env.get_current_time()
    sunday = last_sunday(now.year, month)
    if sunday - timedelta(days=2) <= now.date():
        sunday = last_sunday(now.year + 1, month)
    moment = datetime.combine(sunday - timedelta(days=2), time(12, 0), tzinfo=UTC)
    await clock_env.sleep(moment - now)
    async with running_worker(clock_env.client, pool) as q:
        handle, _, _ = await start(clock_env, q, pool, documents, licences={"Basic": 1})
        await both_documents(handle, documents)
        await handle.execute_update(ClassoundOrder.confirm, RESELLER)
        await handle.execute_update(ClassoundOrder.carrier_answer, date_answer(sunday))
        live_at = datetime.combine(sunday - timedelta(days=1), live_at_utc, tzinfo=UTC)
        assert start_of_business_day(sunday, Family.CLASSOUND) == live_at
        await clock_env.sleep(live_at - timedelta(minutes=1) - await clock_env.get_current_time())
        assert (await handle.query(ClassoundOrder.status)).stage == (
            ClassoundStage.PORTING_SCHEDULED
        )
        result = await outcome(clock_env, handle)
    assert result.stage == ClassoundStage.ACTIVE
    assert live_at <= result.since < live_at + timedelta(minutes=1)

"""Every branch of the Dealbuilder renegotiation with the real activities and a real
PostgreSQL. Deadlines and reminders run on the time-skipping server; steps refused by an update
validator run on the dev server (the time-skipping server answers those with "not found")."""

import asyncio
import hashlib
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from activities.renegotiation import RenegotiationActivities
from domain.renegotiation import (
    Extension,
    add_months,
    business_date,
    close_date,
    reminder_at,
    signing_closes_at,
    signing_deadline,
)
from domain.renegotiation_models import (
    ClosingStep,
    RenegotiationRequest,
    RenegotiationStatus,
    SendingStep,
    SignatureStep,
    Stage,
    StepResult,
)
from domain.steps import Cancellation, StaffStep
from store.outbox import pending_link
from tests.records_partners import history_text
from tests.records_renegotiation import access_count, new_company, outbox
from tests.workflows.harness import outcome, running_worker, start_process
from workflows.renegotiation import Renegotiation

STAFF = "kari.kundesenter"
SIGNED = StaffStep(actor=STAFF)


def request(
    co,
    licences: int,
    price: str = "450",
    agreed_start: date | None = None,
    contact_id: str | None = None,
) -> RenegotiationRequest:
    return RenegotiationRequest(
        ticket_id=co.ticket_id,
        account_id=co.id,
        contact_id=contact_id or co.contact_id,
        original_contract_id=co.contract_id,
        licences=licences,
        price=Decimal(price),
        agreed_start=agreed_start,
        requested_by=STAFF,
    )


def new_id(co) -> str:
    return f"renegotiation-{co.id}-{uuid.uuid4().hex[:8]}"


async def start(
    env, queue, co, req, process_id: str | None = None
) -> tuple[WorkflowHandle, object]:
    return await start_process(
        env.client, queue, Renegotiation, req, process_id=process_id or new_id(co)
    )


async def status(handle) -> RenegotiationStatus:
    return await handle.query(Renegotiation.status)


async def stage_reached(handle, stage: Stage) -> RenegotiationStatus:
    """The timer has fired on the server; wait (10 s at most) until the worker has handled it."""
    for _ in range(200):
        s = await status(handle)
        if s.stage == stage:
            return s
        await asyncio.sleep(0.05)
    raise AssertionError(f"still {s.stage}: {s.waiting_for}")


async def now_on(env) -> datetime:
    return await env.get_current_time()


async def skip_to(env, moment: datetime) -> None:
    """Lets the time-skipping server's clock run to just after `moment`."""
    await env.sleep(moment - await now_on(env) + timedelta(minutes=5))


async def ticket(pool, ticket_id: int):
    return await pool.fetchrow("SELECT * FROM tickets WHERE id = $1", ticket_id)


# --- signed ---------------------------------------------------------------------------------


async def test_signed_early_the_seed_fields_and_the_records_on_signature(time_env, pool):
    co = await new_company(pool, licences=15, price="500")
    today = business_date(await now_on(time_env))
    async with running_worker(time_env.client, pool) as q:
        handle, answer = await start(time_env, q, co, request(co, 14, "450"))
        assert answer.stage == Stage.AWAITING_SIGNATURE
        assert "reduction 15 -> 14 licences (6.7 %)" in answer.notes[0]
        s = await status(handle)
        assert s.signing_deadline == signing_deadline(today) == today + timedelta(days=7)
        assert s.waiting_for.startswith(
            f"waiting for the customer to sign contract {s.contract_id}"
        )

        # 1. the ticket, enriched, and 4. "Sendt kontrakt"
        t = await ticket(pool, co.ticket_id)
        assert (t["subject"], t["account_id"], t["contact_id"], t["status"]) == (
            f"Reforhandling - {co.name}",
            co.id,
            co.contact_id,
            "Sendt kontrakt",
        )
        # 2. the deal
        deal = await pool.fetchrow("SELECT * FROM deals WHERE process_id = $1", handle.id)
        assert dict(deal) | {"created_at": None} == dict(deal) | {
            "id": s.deal_id,
            "ticket_id": co.ticket_id,
            "account_id": co.id,
            "name": f"{co.name} - REFORHANDLING",
            "pipeline": "Assist",
            "stage": "Venter på beslutning",
            "deal_type": "Tilleggslisenser / reforhandling",
            "close_date": close_date(today),
            "meeting_booker": STAFF,
            "owner": STAFF,
            "delivery_start_date": today,
            "currency": "NOK",
            "amount": 14,
            "contact_id": co.contact_id,
            "contact_email": "signatar@bedrift.example",
            "status": "open",
            "created_at": None,
        }
        # 3. the contract: the original's data but price and count, onboarding at 100 %
        k = await pool.fetchrow("SELECT * FROM contracts WHERE id = $1", s.contract_id)
        assert (
            k["template"],
            k["based_on"],
            k["licences"],
            k["price"],
            k["sender"],
            k["booker"],
            k["status"],
            k["signing_deadline"],
            k["start_date"],
        ) == (
            "Reforhandling av avtale om Avonova Assist",
            co.contract_id,
            14,
            Decimal("450.00"),
            "user non human",
            "kundesenter",
            "sent",
            s.signing_deadline,
            today,
        )
        original_terms = await pool.fetchval(
            "SELECT terms FROM contracts WHERE id = $1", co.contract_id
        )
        assert k["terms"] == original_terms and k["signatory_contact_id"] == co.contact_id
        lines = [
            tuple(r)
            for r in await pool.fetch(
                "SELECT kind, product, quantity, unit_price, discount_percent FROM contract_lines"
                " WHERE contract_id = $1 ORDER BY line_no",
                s.contract_id,
            )
        ]
        assert lines == [
            ("licence", "Avonova Assist", 14, Decimal("450.00"), Decimal("0.00")),
            ("onboarding", "Digital oppstart", 1, Decimal("4900.00"), Decimal("100.00")),
            ("other", "HMS-rådgivning", 2, Decimal("1200.00"), Decimal("5.00")),
        ]
        # 4. sent by e-mail and SMS to the signatory (by contact id: the outbox resolves it)
        assert await outbox(pool, handle.id) == [
            ("contact", co.contact_id, "contract_for_signing_email"),
            ("contact", co.contact_id, "contract_for_signing_sms"),
        ]
        # both carry the one-time signing link, until the relay sends them; the contract
        # keeps its hash; neither the link nor the addresses are in the history
        (link,) = {
            await pending_link(pool, r["id"])
            for r in await pool.fetch(
                "SELECT id FROM notifications WHERE process_id = $1", handle.id
            )
        }
        token = parse_qs(urlparse(link).query)["token"][0]
        assert (
            await pool.fetchval(
                "SELECT signing_token_sha256 FROM contracts WHERE id = $1", s.contract_id
            )
            == hashlib.sha256(token.encode()).hexdigest()
        )
        history = await history_text(handle)
        for secret_or_personal in (token, "signatar@bedrift.example", "+47 900 00 000"):
            assert secret_or_personal not in history

        signed = await handle.execute_update(Renegotiation.contract_signed, SIGNED)
        assert signed.stage == Stage.SIGNED
        assert signed.message == (
            f"contract {s.contract_id} signed: 14 licences at 450.00 NOK from {today}"
        )
        result = await outcome(time_env, handle)

    assert result.stage == Stage.SIGNED and result.reminders_sent == 0
    k = await pool.fetchrow("SELECT status, signed_on FROM contracts WHERE id = $1", s.contract_id)
    assert (k["status"], k["signed_on"]) == ("signed", today)
    original = await pool.fetchrow(
        "SELECT status, superseded_by FROM contracts WHERE id = $1", co.contract_id
    )
    assert (original["status"], original["superseded_by"]) == ("superseded", s.contract_id)
    deal = await pool.fetchrow("SELECT stage, status FROM deals WHERE id = $1", s.deal_id)
    assert (deal["stage"], deal["status"]) == ("Avsluttet vunnet", "won")
    # 6. access count, the customer card, the ticket to order/invoice
    assert await access_count(pool, co.id) == 14
    card = await pool.fetchrow(
        "SELECT licence_reduction, licence_reduction_percent,"
        " licence_reduction_on FROM accounts WHERE id = $1",
        co.id,
    )
    assert tuple(card) == (1, Decimal("6.67"), today)
    t = await ticket(pool, co.ticket_id)
    assert t["queue"] == "invoice_service"
    assert "price: 450.00 NOK per licence (was 500.00 NOK)" in t["body"]
    assert "licences: 14 (was 15)" in t["body"] and f"start date: {today}" in t["body"]
    assert "reduction: 1 licence(s) (6.7 %), invoice service handles it" in t["body"]
    assert t["body"].startswith("Kunden ønsker")  # the customer's text is kept
    assert (
        await pool.fetchval("SELECT count(*) FROM tickets WHERE process_id = $1", handle.id) == 0
    )  # no CSC ticket
    assert [n[2] for n in await outbox(pool, handle.id)] == [
        "contract_for_signing_email",
        "contract_for_signing_sms",
    ]  # no sales registration


async def test_reminder_before_the_deadline_then_signed(time_env, pool):
    co = await new_company(pool, licences=8)
    async with running_worker(time_env.client, pool) as q:
        handle, _ = await start(time_env, q, co, request(co, 8, "520"))
        s = await status(handle)
        await skip_to(time_env, reminder_at(s.signing_deadline))
        await handle.execute_update(Renegotiation.contract_signed, SIGNED)
        result = await outcome(time_env, handle)
    assert result.stage == Stage.SIGNED
    assert result.reminders_sent == 1 and result.deadlines_passed == 0
    assert await outbox(pool, handle.id) == [
        ("contact", co.contact_id, "contract_for_signing_email"),
        ("contact", co.contact_id, "contract_for_signing_sms"),
        ("contact", co.contact_id, "contract_signing_reminder"),
    ]


async def test_deadline_passes_staff_extend_the_timer_moves_then_signed(time_env, pool):
    co = await new_company(pool, licences=12)
    async with running_worker(time_env.client, pool) as q:
        handle, _ = await start(time_env, q, co, request(co, 12, "400"))
        first = (await status(handle)).signing_deadline
        await skip_to(time_env, signing_closes_at(first))
        waiting = await stage_reached(handle, Stage.AWAITING_DECISION)
        assert waiting.waiting_for == (
            f"signing deadline {first} passed without a signature: waiting for staff to extend "
            "the deadline (extend-signing-deadline) or cancel (cancel-renegotiation)"
        )
        assert (
            await pool.fetchval("SELECT status FROM contracts WHERE id = $1", waiting.contract_id)
            == "expired"
        )

        extended = await handle.execute_update(
            Renegotiation.extend_signing_deadline, Extension(actor=STAFF, days=7)
        )
        today = business_date(await now_on(time_env))
        assert extended.stage == Stage.AWAITING_SIGNATURE
        assert f"extended to {today + timedelta(days=7)} (it passed on {first})" in (
            extended.message
        )
        s = await status(handle)
        k = await pool.fetchrow(
            "SELECT status, signing_deadline FROM contracts WHERE id = $1", s.contract_id
        )
        assert (k["status"], k["signing_deadline"]) == ("sent", today + timedelta(days=7))
        # the timer moved: a new reminder before the new deadline, no second expiry yet
        await skip_to(time_env, reminder_at(s.signing_deadline))
        await handle.execute_update(Renegotiation.contract_signed, SIGNED)
        result = await outcome(time_env, handle)
    assert result.stage == Stage.SIGNED
    assert (result.reminders_sent, result.deadlines_passed, result.extensions) == (2, 1, 1)
    assert [n[2] for n in await outbox(pool, handle.id)] == [
        "contract_for_signing_email",
        "contract_for_signing_sms",
        "contract_signing_reminder",
        "renegotiation_signing_deadline_passed",
        "contract_signing_deadline_extended",
        "contract_signing_reminder",
    ]
    assert ("role", "customer_care", "renegotiation_signing_deadline_passed") in (
        await outbox(pool, handle.id)
    )


async def test_deadline_passes_staff_cancel_and_signing_is_then_refused(time_env, pool):
    co = await new_company(pool, licences=20)
    async with running_worker(time_env.client, pool) as q:
        handle, _ = await start(time_env, q, co, request(co, 25, "480"))
        s = await status(handle)
        await skip_to(time_env, signing_closes_at(s.signing_deadline))
        await stage_reached(handle, Stage.AWAITING_DECISION)
        cancelled = await handle.execute_update(
            Renegotiation.cancel, Cancellation(actor=STAFF, reason="kunden takket nei")
        )
        assert cancelled.stage == Stage.CANCELLED
        assert cancelled.message == (
            f"{handle.id} cancelled: deal {s.deal_id} lost, contract "
            f"{s.contract_id} withdrawn, ticket {co.ticket_id} closed"
        )
        result = await outcome(time_env, handle)
        with pytest.raises(Exception):  # noqa: B017 - the process has ended: any send fails
            await handle.execute_update(Renegotiation.contract_signed, SIGNED)
    assert result.stage == Stage.CANCELLED and result.cancelled_reason == "kunden takket nei"
    deal = await pool.fetchrow("SELECT * FROM deals WHERE id = $1", s.deal_id)
    assert (deal["stage"], deal["status"], deal["closed_reason"]) == (
        "Avsluttet tapt",
        "lost",
        "kunden takket nei",
    )
    k = await pool.fetchrow(
        "SELECT status, cancelled_reason FROM contracts WHERE id = $1", s.contract_id
    )
    assert tuple(k) == ("cancelled", "kunden takket nei")
    t = await ticket(pool, co.ticket_id)
    assert (t["status"], t["closed_reason"]) == ("closed", "kunden takket nei")
    assert await access_count(pool, co.id) == 20  # nothing changed on the product
    original = await pool.fetchval("SELECT status FROM contracts WHERE id = $1", co.contract_id)
    assert original == "signed"


# --- what a signature sets off --------------------------------------------------------------


@pytest.mark.parametrize(
    "before, after, route",
    [
        (9, 5, "invoice_service"),  # under 10 licences: invoice service, even at 44 %
        (10, 9, "invoice_service"),  # 10 or more, 10 %: under 20 %
        (10, 8, "csc"),  # 10 or more, 20 %: CSC
    ],
)
async def test_a_reduction_is_recorded_and_routed(time_env, pool, before, after, route):
    co = await new_company(pool, licences=before)
    async with running_worker(time_env.client, pool) as q:
        handle, _ = await start(time_env, q, co, request(co, after, "500"))
        await handle.execute_update(Renegotiation.contract_signed, SIGNED)
        result = await outcome(time_env, handle)
    assert result.route == route
    assert (
        await pool.fetchval("SELECT licence_reduction FROM accounts WHERE id = $1", co.id)
        == before - after
    )
    assert await access_count(pool, co.id) == after
    csc = await pool.fetch("SELECT * FROM tickets WHERE process_id = $1", handle.id)
    body = (await ticket(pool, co.ticket_id))["body"]
    if route == "csc":
        assert len(csc) == 1 and csc[0]["queue"] == "csc"
        assert csc[0]["subject"] == f"Nedjustering - {co.name}"
        assert csc[0]["contact_id"] == co.contact_id and csc[0]["account_id"] == co.id
        assert f"handed to CSC in ticket {csc[0]['id']}" in body
    else:
        assert csc == []
        assert "invoice service handles it" in body


async def test_an_increase_under_36_months_notifies_sales_registration(time_env, pool, monkeypatch):
    monkeypatch.setenv("PARTNERFLOW_SALES_REGISTRATION_ADDRESS", "salg@avonova.example")
    today = business_date(await now_on(time_env))
    co = await new_company(pool, licences=10, signed_on=add_months(today, -36) + timedelta(1))
    async with running_worker(time_env.client, pool) as q:
        handle, _ = await start(time_env, q, co, request(co, 13, "500"))
        await handle.execute_update(Renegotiation.contract_signed, SIGNED)
        result = await outcome(time_env, handle)
    assert result.credits_sales is True and result.route is None
    rows = await pool.fetch(
        "SELECT * FROM notifications WHERE process_id = $1 AND recipient_kind = 'role'", handle.id
    )
    assert [(r["recipient_id"], r["template"]) for r in rows] == [
        ("salg@avonova.example", "renegotiation_increase_for_sales_credit")
    ]
    assert rows[0]["payload"]["licences_before"] == 10
    assert rows[0]["payload"]["licences_after"] == 13
    assert (
        await pool.fetchval("SELECT licence_reduction FROM accounts WHERE id = $1", co.id) is None
    )
    assert await access_count(pool, co.id) == 13


async def test_an_increase_exactly_36_months_after_signing_is_not_reported(time_env, pool):
    today = business_date(await now_on(time_env))
    co = await new_company(pool, licences=10, signed_on=add_months(today, -36))
    async with running_worker(time_env.client, pool) as q:
        handle, answer = await start(time_env, q, co, request(co, 11, "500"))
        await handle.execute_update(Renegotiation.contract_signed, SIGNED)
        result = await outcome(time_env, handle)
    assert result.credits_sales is False
    assert any("not reported to sales registration" in n for n in result.notes)
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM notifications WHERE process_id = $1 AND recipient_kind = 'role'",
            handle.id,
        )
        == 0
    )
    assert await access_count(pool, co.id) == 11


async def test_a_new_price_for_the_same_count(time_env, pool):
    co = await new_company(pool, licences=15, price="500")
    today = business_date(await now_on(time_env))
    start_on = today + timedelta(days=20)
    async with running_worker(time_env.client, pool) as q:
        handle, answer = await start(
            time_env, q, co, request(co, 15, "425.50", agreed_start=start_on)
        )
        assert "licence count unchanged (15); new price 425.50 NOK" in answer.notes[0]
        await handle.execute_update(Renegotiation.contract_signed, SIGNED)
        result = await outcome(time_env, handle)
    assert (result.route, result.credits_sales) == (None, False)
    assert (
        await pool.fetchval(
            "SELECT delivery_start_date FROM deals WHERE process_id = $1", handle.id
        )
        == start_on
    )  # the agreed start, not the day sent
    body = (await ticket(pool, co.ticket_id))["body"]
    assert "price: 425.50 NOK per licence (was 500.00 NOK)" in body
    assert f"start date: {start_on}" in body and "reduction" not in body
    assert await access_count(pool, co.id) == 15
    assert (
        await pool.fetchval("SELECT count(*) FROM notifications WHERE process_id = $1", handle.id)
        == 2
    )  # e-mail and SMS, nothing else


async def test_contract_signed_sent_twice_is_applied_once(time_env, pool):
    co = await new_company(pool, licences=10)
    async with running_worker(time_env.client, pool) as q:
        handle, _ = await start(time_env, q, co, request(co, 7, "500"))
        first, other = await asyncio.gather(
            handle.execute_update(Renegotiation.contract_signed, SIGNED, id="signed-1"),
            handle.execute_update(
                Renegotiation.contract_signed, StaffStep(actor="ola.kundesenter"), id="signed-2"
            ),
        )
        again = await handle.execute_update(Renegotiation.contract_signed, SIGNED, id="signed-1")
        assert again == first
        assert sum("already recorded as signed" in a.message for a in (first, other)) == 1
        await outcome(time_env, handle)
    assert (
        await pool.fetchval("SELECT count(*) FROM tickets WHERE process_id = $1", handle.id) == 1
    )  # one CSC ticket (30 %)
    assert (await ticket(pool, co.ticket_id))["body"].count("Renegotiation signed") == 1
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE process_id = $1 AND step = 'record-signature'",
            handle.id,
        )
        == 1
    )


async def test_refused_at_start_names_every_problem_and_writes_nothing(time_env, pool):
    co = await new_company(pool, can_sign=False, phone="")
    async with running_worker(time_env.client, pool) as q:
        handle, answer = await start(time_env, q, co, request(co, 15, "500"))
        result = await outcome(time_env, handle)
    assert result.stage == Stage.REFUSED
    assert isinstance(answer, WorkflowUpdateFailedError)
    assert answer.cause.message == (
        f"contact {co.contact_id} has no signing authority (signaturrett); choose the person "
        f"who can sign for the company; contact {co.contact_id} has no mobile phone: the "
        f"contract is sent by e-mail and SMS; add it on the contact; nothing to renegotiate: "
        f"contract {co.contract_id} already has 15 licences at 500.00 NOK"
    )
    t = await ticket(pool, co.ticket_id)
    assert (t["subject"], t["account_id"], t["status"]) == ("Endring av avtale", None, "open")
    assert await pool.fetchval("SELECT count(*) FROM deals WHERE account_id = $1", co.id) == 0


async def test_a_second_renegotiation_of_the_same_ticket_is_refused(time_env, pool):
    co = await new_company(pool, licences=10)
    async with running_worker(time_env.client, pool) as q:
        first, _ = await start(time_env, q, co, request(co, 12))
        second, answer = await start(time_env, q, co, request(co, 11))
        await outcome(time_env, second)
        await first.execute_update(
            Renegotiation.cancel, Cancellation(actor=STAFF, reason="test over")
        )
        await outcome(time_env, first)
    assert isinstance(answer, WorkflowUpdateFailedError)
    assert answer.cause.message == (
        f"ticket {co.ticket_id} is already being renegotiated in {first.id}; contract "
        f"{co.contract_id} is already being renegotiated in {first.id}"
    )


# --- refusals by the update validators (dev server) -----------------------------------------


def held(real, step_type: type):
    """The real activity `real`, waiting for `release` once it has been entered."""
    entered, release = asyncio.Event(), asyncio.Event()

    async def hold(step) -> StepResult:
        entered.set()
        await release.wait()
        return await real(step)

    hold.__annotations__["step"] = step_type  # the payload's type, for the data converter
    name = real.__temporal_activity_definition.name
    return activity.defn(name=name)(hold), entered, release


async def refused(handle, update, arg) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(update, arg)
    return err.value.cause.message


async def test_steps_before_the_contract_is_sent_are_refused(dev_env, pool):
    co = await new_company(pool, licences=10)
    hold, entered, release = held(
        RenegotiationActivities(pool).send_contract_for_signing, SendingStep
    )
    async with running_worker(dev_env.client, pool, replace=[hold]) as q:
        process_id = new_id(co)
        starting = asyncio.create_task(start(dev_env, q, co, request(co, 12), process_id))
        await entered.wait()
        handle = dev_env.client.get_workflow_handle(process_id)
        assert "the contract has not been sent yet" in await refused(
            handle, Renegotiation.contract_signed, SIGNED
        )
        assert "still being prepared" in await refused(
            handle, Renegotiation.cancel, Cancellation(actor=STAFF, reason="too early")
        )
        assert "the contract has not been sent yet" in await refused(
            handle, Renegotiation.extend_signing_deadline, Extension(actor=STAFF)
        )
        release.set()
        handle, answer = await starting
        assert answer.stage == Stage.AWAITING_SIGNATURE
        await handle.execute_update(
            Renegotiation.cancel, Cancellation(actor=STAFF, reason="test over")
        )
        await outcome(dev_env, handle)


async def test_signing_while_it_is_being_cancelled_is_refused(dev_env, pool):
    co = await new_company(pool, licences=10)
    hold, entered, release = held(RenegotiationActivities(pool).cancel_renegotiation, ClosingStep)
    async with running_worker(dev_env.client, pool, replace=[hold]) as q:
        handle, _ = await start(dev_env, q, co, request(co, 12))
        cancelling = asyncio.create_task(
            handle.execute_update(
                Renegotiation.cancel, Cancellation(actor=STAFF, reason="kunden angret")
            )
        )
        await entered.wait()
        message = await refused(handle, Renegotiation.contract_signed, SIGNED)
        assert message == (
            "the renegotiation is being cancelled (kunden angret): contract "
            f"contract-{handle.id.removeprefix('renegotiation-')} is withdrawn and can no "
            "longer be signed; start a new renegotiation if the customer still wants the change"
        )
        assert "being cancelled" in await refused(
            handle, Renegotiation.extend_signing_deadline, Extension(actor=STAFF)
        )
        release.set()
        assert (await cancelling).stage == Stage.CANCELLED
        result = await outcome(dev_env, handle)
    assert result.stage == Stage.CANCELLED
    assert await access_count(pool, co.id) == 10


async def test_cancel_and_extend_after_the_signature_are_refused(dev_env, pool):
    co = await new_company(pool, licences=10)
    hold, entered, release = held(
        RenegotiationActivities(pool).record_contract_signature, SignatureStep
    )
    async with running_worker(dev_env.client, pool, replace=[hold]) as q:
        handle, _ = await start(dev_env, q, co, request(co, 12))
        signing = asyncio.create_task(handle.execute_update(Renegotiation.contract_signed, SIGNED))
        await entered.wait()
        assert "is signed: the renegotiation can no longer be cancelled" in await refused(
            handle, Renegotiation.cancel, Cancellation(actor=STAFF, reason="too late")
        )
        assert "is signed; there is no deadline to extend" in await refused(
            handle, Renegotiation.extend_signing_deadline, Extension(actor=STAFF)
        )
        release.set()
        assert (await signing).stage == Stage.SIGNED
        result = await outcome(dev_env, handle)
    assert result.stage == Stage.SIGNED
    assert await access_count(pool, co.id) == 12

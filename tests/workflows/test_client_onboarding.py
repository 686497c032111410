"""Every branch of client onboarding with the real activities and PostgreSQL. Steps refused
by an update validator run on the dev server (the time-skipping test server answers them
with "not found"); the rest run on the time-skipping server."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from temporalio.client import WorkflowUpdateFailedError

from domain.contracts import ContractTerms, PartChange, PaymentMethod
from domain.psa import (
    BillingInformationStep,
    ContractTermsStep,
    OnboardingRequest,
    OnboardingStage,
    PartChangesStep,
    onboarding_id,
)
from domain.steps import Cancellation, StaffStep
from tests.records_psa import (
    billing,
    give_active_contract,
    give_billing_information,
    new_client,
)
from tests.workflows.harness import outcome, running_worker, start_process
from workflows.client_onboarding import ClientOnboarding

Stage = OnboardingStage
D = Decimal
STAFF = StaffStep(actor="staff")


def terms(start: date = date(2026, 1, 1), **changes) -> ContractTermsStep:
    fields = dict(start_date=start, payment_method=PaymentMethod.BANK_TRANSFER)
    fields.update(changes)
    return ContractTermsStep(actor="staff", terms=ContractTerms(**fields))


def changes(*items: PartChange) -> PartChangesStep:
    return PartChangesStep(actor="staff", changes=list(items))


async def start(env, q, account_id: str):
    return await start_process(
        env.client,
        q,
        ClientOnboarding,
        OnboardingRequest(account_id=account_id, requested_by="staff"),
        process_id=f"{onboarding_id(account_id)}",
    )


async def refused(handle, update, arg) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(update, arg)
    return err.value.cause.message


def parts_of(status) -> list[tuple]:
    return [(p.sku, p.quantity, p.unit_price, p.source) for p in status.parts]


async def test_adding_adds_to_the_part_and_the_answer_shows_before_and_after(dev_env, pool):
    """The README's `change-parts --add Business=2@29.90` on a client with Business x3:
    five Business licences are billed, not two."""
    _, client = await new_client(pool, licences={"Premium": 5, "Business": 3})
    await give_billing_information(pool, client)
    async with running_worker(dev_env.client, pool) as q:
        handle, _ = await start(dev_env, q, client)
        await handle.execute_update(ClientOnboarding.contract_terms, terms())
        status = await handle.query(ClientOnboarding.status)
        assert [(p.sku, p.quantity, p.unit_price) for p in status.parts] == [
            ("Business", 3, D("29.90")),
            ("Premium", 5, D("19.90")),
        ]

        added = await handle.execute_update(
            ClientOnboarding.change_parts,
            changes(PartChange(sku="Business", add=2, unit_price=D("29.90"))),
        )
        assert added.message.startswith(
            "contract parts changed: Business x3 -> x5; 2 part(s), EUR 249.00 a month "
            "(was EUR 189.20); "
        )
        assert added.notes[:2] == [
            "parts before: Business x3 at 29.90, Premium x5 at 19.90",
            "parts after:  Business x5 at 29.90, Premium x5 at 19.90",
        ]
        status = await handle.query(ClientOnboarding.status)
        assert [(p.sku, p.quantity) for p in status.parts] == [("Business", 5), ("Premium", 5)]

        # Another price for some units of a part: refused with the reason, nothing changed.
        reason = await refused(
            handle,
            ClientOnboarding.change_parts,
            changes(PartChange(sku="Premium", add=1, unit_price=D("24.90"))),
        )
        assert reason == (
            "contract parts not changed: Premium: the contract bills 5 at 19.90; adding 1 at "
            "24.90 would bill one part at two prices. Add them at 19.90 (--add Premium=1), or "
            "change the price of all with --price Premium=24.90 and --quantity Premium=6"
        )
        # Replacing is its own flag, and only for parts the contract has.
        assert "Essential: not a part of the contract; add it with --add Essential=N" in (
            await refused(
                handle,
                ClientOnboarding.change_parts,
                changes(PartChange(sku="Essential", quantity=2)),
            )
        )
        replaced = await handle.execute_update(
            ClientOnboarding.change_parts,
            changes(
                PartChange(sku="Business", quantity=4, unit_price=D("27.00")),
                PartChange(sku="Essential", add=2),
            ),
        )
        assert replaced.message.startswith(
            "contract parts changed: Business x5 -> x4, price 29.90 -> 27.00; Essential x2 "
            "added at 14.90; 3 part(s), EUR 237.30 a month (was EUR 249.00); "
        )
    rows = await pool.fetch(
        "SELECT p.sku, p.quantity, p.unit_price FROM psa_contract_parts p"
        " JOIN psa_contracts c ON c.id = p.contract_id WHERE c.account_id = $1"
        " ORDER BY p.line_no",
        client,
    )
    assert [tuple(r) for r in rows] == [
        ("Business", 4, D("27.00")),
        ("Premium", 5, D("19.90")),
        ("Essential", 2, D("14.90")),
    ]


async def test_bad_billing_information_named_then_good_then_parts_changed_and_confirmed(
    dev_env, pool
):
    _, client = await new_client(
        pool, licences={"Basic": 2, "Premium": 3}, flats=1, hardware={"WP480G": 2}
    )
    async with running_worker(dev_env.client, pool) as q:
        handle, answer = await start(dev_env, q, client)
        assert answer.stage == Stage.AWAITING_BILLING
        assert "billing information and the contract terms" in answer.message
        status = await handle.query(ClientOnboarding.status)
        assert status.lacks == [
            "billing information",
            "contract terms (payment details, contract period)",
            "a contract with parts for its services",
        ]

        reason = await refused(
            handle,
            ClientOnboarding.billing_information,
            BillingInformationStep(
                actor="staff",
                info=billing(
                    billing_email="rechnung at muster",
                    currency="EURO",
                    tax_id="DE12",
                    legal_name="",
                ),
            ),
        )
        assert reason == (
            "billing information refused: legal name: missing; billing e-mail: not an e-mail "
            "address; currency: 'EURO' is not one we invoice in (ISO 4217: EUR, CHF, GBP, USD, "
            "SEK, NOK, DKK, ISK, PLN, CZK, HUF, RON, BGN, CAD, AUD, JPY); tax id: not a DE VAT "
            "number (DE and 9 digits)"
        )
        assert "rechnung" not in reason
        assert (
            await pool.fetchval(
                "SELECT count(*) FROM psa_billing_information WHERE account_id = $1", client
            )
            == 0
        )

        # The wizard's order: terms may come before the billing information.
        assert "the end (2025-12-01) must be after the start" in await refused(
            handle, ClientOnboarding.contract_terms, terms(end_date=date(2025, 12, 1))
        )
        noted = await handle.execute_update(ClientOnboarding.contract_terms, terms())
        assert noted.stage == Stage.AWAITING_BILLING and "contract terms noted" in noted.message
        assert "no contract draft" in await refused(
            handle, ClientOnboarding.change_parts, changes(PartChange(sku="Basic", quantity=3))
        )

        saved = await handle.execute_update(
            ClientOnboarding.billing_information,
            BillingInformationStep(actor="anna", info=billing()),
        )
        assert saved.stage == Stage.AWAITING_PRICES and "billing information saved" in saved.message
        assert saved.notes == ["still lacks: staff confirmation of the contract part prices"]
        status = await handle.query(ClientOnboarding.status)
        # defaulted from the services already assigned: licences and the flat, not hardware
        assert parts_of(status) == [
            ("Basic", 2, D("9.90"), "assigned"),
            ("Premium", 3, D("19.90"), "assigned"),
            ("CLASSOUND-FLAT", 1, D("12.00"), "assigned"),
        ]
        assert status.monthly_total == D("91.50")

        assert "Essential: not a part of the contract, nothing to remove" in await refused(
            handle, ClientOnboarding.change_parts, changes(PartChange(sku="Essential", remove=True))
        )
        assert "WP480G: capex is not billed monthly" in await refused(
            handle, ClientOnboarding.change_parts, changes(PartChange(sku="WP480G", add=1))
        )
        changed = await handle.execute_update(
            ClientOnboarding.change_parts,
            changes(
                PartChange(sku="Premium", unit_price=D("17.50")),
                PartChange(sku="CLASSOUND-FLAT", remove=True),
                PartChange(sku="Business", add=1),
            ),
        )
        assert "3 part(s), EUR 102.20 a month" in changed.message
        confirmed = await handle.execute_update(ClientOnboarding.confirm_contract, STAFF)
        assert confirmed.stage == Stage.ONBOARDED and "onboarded" in confirmed.message
        result = await outcome(dev_env, handle)

    assert result.stage == Stage.ONBOARDED and result.lacks == []
    contract = await pool.fetchrow("SELECT * FROM psa_contracts WHERE id = $1", result.contract_id)
    assert (contract["status"], contract["activated_by"], contract["currency"]) == (
        "active",
        "staff",
        "EUR",
    )
    rows = await pool.fetch(
        "SELECT sku, quantity, unit_price, source FROM psa_contract_parts"
        " WHERE contract_id = $1 ORDER BY line_no",
        result.contract_id,
    )
    assert [tuple(r) for r in rows] == [
        ("Basic", 2, D("9.90"), "assigned"),
        ("Premium", 3, D("17.50"), "assigned"),
        ("Business", 1, D("29.90"), "added"),
    ]
    info = await pool.fetchrow(
        "SELECT * FROM psa_billing_information WHERE account_id = $1", client
    )
    assert (info["tax_id"], info["provided_by"], info["process_id"]) == (
        "DE123456789",
        "anna",
        handle.id,
    )
    steps = [
        r["step"]
        for r in await pool.fetch(
            "SELECT step FROM audit_log WHERE process_id = $1 ORDER BY id", handle.id
        )
    ]
    # change-parts-1 was the refused WP480G change: it wrote nothing
    assert steps == ["billing-information", "draft-contract", "change-parts-2", "activate-contract"]


async def test_confirming_is_refused_while_a_part_has_no_price(dev_env, pool):
    _, client = await new_client(pool, licences={"Business": 2, "Premium": 1})
    await give_billing_information(pool, client, currency="CHF")  # no CHF price for Business
    async with running_worker(dev_env.client, pool) as q:
        handle, _ = await start(dev_env, q, client)
        await handle.execute_update(ClientOnboarding.contract_terms, terms())
        reason = await refused(handle, ClientOnboarding.confirm_contract, STAFF)
        assert reason.endswith(
            "no price yet for Business; set it with change-parts --price SKU=PRICE"
        )
        status = await handle.query(ClientOnboarding.status)
        assert status.lacks == [
            "prices for contract parts Business",
            "staff confirmation of the contract part prices",
        ]
        await handle.execute_update(
            ClientOnboarding.cancel, Cancellation(actor="staff", reason="test over")
        )


async def test_existing_billing_information_skips_that_step(time_env, pool):
    _, client = await new_client(pool, licences={"Business": 2, "Premium": 1})
    await give_billing_information(pool, client, currency="CHF")
    async with running_worker(time_env.client, pool) as q:
        handle, answer = await start(time_env, q, client)
        assert answer.stage == Stage.AWAITING_TERMS
        assert answer.notes == ["billing information already exists: that step is skipped"]
        already = await handle.execute_update(
            ClientOnboarding.billing_information, BillingInformationStep(actor="x", info=billing())
        )
        assert "already has billing information; nothing changed" in already.message

        drafted = await handle.execute_update(ClientOnboarding.contract_terms, terms())
        assert drafted.stage == Stage.AWAITING_PRICES
        assert "no price yet for Business" in drafted.message
        status = await handle.query(ClientOnboarding.status)
        assert parts_of(status) == [
            ("Business", 2, None, "assigned"),
            ("Premium", 1, D("19.50"), "assigned"),
        ]
        # terms change on the draft, prices are set, then confirmed
        await handle.execute_update(
            ClientOnboarding.contract_terms,
            terms(
                payment_method=PaymentMethod.DIRECT_DEBIT,
                mandate_reference="MNDT-77",
                end_date=date(2027, 12, 31),
            ),
        )
        await handle.execute_update(
            ClientOnboarding.change_parts,
            changes(PartChange(sku="Business", unit_price=D("28.00"))),
        )
        confirmed = await handle.execute_update(ClientOnboarding.confirm_contract, STAFF)
        assert "CHF 75.50 a month" in confirmed.message
        result = await outcome(time_env, handle)
    assert result.stage == Stage.ONBOARDED and result.monthly_total == D("75.50")
    contract = await pool.fetchrow("SELECT * FROM psa_contracts WHERE id = $1", result.contract_id)
    assert (
        contract["status"],
        contract["currency"],
        contract["payment_method"],
        contract["mandate_reference"],
        contract["end_date"],
    ) == ("active", "CHF", "direct-debit", "MNDT-77", date(2027, 12, 31))
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE process_id = $1 AND step = 'activate-contract'",
            handle.id,
        )
        == 1
    )


async def test_a_client_without_services_is_onboarded_by_its_billing_information(time_env, pool):
    _, client = await new_client(pool, licences={}, hardware={"WP480G": 1})
    async with running_worker(time_env.client, pool) as q:
        handle, answer = await start(time_env, q, client)
        assert "no services assigned to the client: it needs no contract" in answer.notes
        assert (await handle.query(ClientOnboarding.status)).lacks == ["billing information"]
        done = await handle.execute_update(
            ClientOnboarding.billing_information,
            BillingInformationStep(actor="anna", info=billing()),
        )
        assert done.stage == Stage.ONBOARDED
        result = await outcome(time_env, handle)
    assert result.contract_id is None
    assert "no services, so no contract" in result.waiting_for
    assert (
        await pool.fetchval("SELECT count(*) FROM psa_contracts WHERE account_id = $1", client) == 0
    )


async def test_an_onboarded_client_is_refused_and_an_unknown_one_too(time_env, pool):
    _, client = await new_client(pool)
    await give_billing_information(pool, client)
    contract = await give_active_contract(pool, client, [("Premium", 3, "19.90")])
    async with running_worker(time_env.client, pool) as q:
        handle, answer = await start(time_env, q, client)
        assert isinstance(answer, WorkflowUpdateFailedError)
        assert answer.cause.message == (
            f"client {client} is already onboarded (billing "
            f"information and active contract {contract})"
        )
        result = await outcome(time_env, handle)
        assert result.stage == Stage.ONBOARDED

        handle, answer = await start(time_env, q, "NO-SUCH-CLIENT")
        assert answer.cause.message == "unknown client 'NO-SUCH-CLIENT'"
        assert (await outcome(time_env, handle)).stage == Stage.REFUSED


async def test_cancelled_onboarding_cancels_the_draft_and_keeps_billing(time_env, pool):
    _, client = await new_client(pool)
    async with running_worker(time_env.client, pool) as q:
        handle, _ = await start(time_env, q, client)
        await handle.execute_update(
            ClientOnboarding.billing_information,
            BillingInformationStep(actor="anna", info=billing()),
        )
        await handle.execute_update(ClientOnboarding.contract_terms, terms(start=date(2026, 2, 1)))
        await time_env.sleep(timedelta(days=30))  # staff come back a month later
        answer = await handle.execute_update(
            ClientOnboarding.cancel, Cancellation(actor="staff", reason="client is leaving")
        )
        assert "draft contract" in answer.message and answer.stage == Stage.CANCELLED
        result = await outcome(time_env, handle)
    assert result.stage == Stage.CANCELLED
    assert (
        await pool.fetchval("SELECT status FROM psa_contracts WHERE id = $1", result.contract_id)
        == "cancelled"
    )
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM psa_billing_information WHERE account_id = $1", client
        )
        == 1
    )

"""Account changes against the real PostgreSQL: the activity run twice (a retry, a second
worker) writes once; the new pipeline creates account, project and contact all or none; the
overview lists what a change order on the account acts on."""

import asyncio
import uuid

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.accounts import AccountActivities
from domain.accounts import AccountChangeStep, NewPipeline, UpdateAccount
from domain.steps import StepKey
from store import accounts
from store.records import reading
from tests.records import new_account


def pipeline(tag: str, **overrides) -> NewPipeline:
    fields = dict(
        account_id=f"N{tag}",
        name=f"NewCo {tag} GmbH",
        partner_id=f"P-T{tag}",
        phone="+49 30 1234567",
        email="info@newco.example",
        invoice_email="rechnung@newco.example",
        project_id=f"PBX-N{tag}",
        project_name="NewCo Berlin",
        contact_id=f"C-N{tag}-1",
        contact_name="Nina Neu",
        contact_phone="+49 171 5550100",
    )
    return NewPipeline(**{**fields, **overrides})


def step(change, process_id: str | None = None) -> AccountChangeStep:
    return AccountChangeStep(
        key=StepKey(
            process_id=process_id or f"t-{uuid.uuid4().hex}", step=change.operation, actor="anna"
        ),
        change=change,
    )


async def rows(pool, account_id: str) -> tuple:
    return (
        await pool.fetchval("SELECT count(*) FROM accounts WHERE id = $1", account_id),
        await pool.fetchval("SELECT count(*) FROM pbxs WHERE account_id = $1", account_id),
        await pool.fetchval("SELECT count(*) FROM contacts WHERE account_id = $1", account_id),
    )


async def test_update_fills_in_the_mandatory_fields_once(pool):
    acc = await new_account(pool, missing=("phone", "invoice_email"))
    acts, env = AccountActivities(pool), ActivityEnvironment()
    s = step(
        UpdateAccount(
            account_id=acc.id,
            phone="0049 (0)30 1234567",
            invoice_email="rechnung@bergmann.example",
            email="a@test.example",
        )
    )
    results = await asyncio.gather(*(env.run(acts.change_account, s) for _ in range(4)))
    assert all(r == results[0] for r in results)
    assert (results[0].changed, results[0].unchanged, results[0].missing) == (
        ["phone", "invoice_email"],
        ["email"],
        [],
    )
    row = await pool.fetchrow("SELECT phone, invoice_email FROM accounts WHERE id = $1", acc.id)
    assert tuple(row) == ("+49 30 1234567", "rechnung@bergmann.example")
    audit = await pool.fetch(
        "SELECT actor, result FROM audit_log WHERE process_id = $1", s.key.process_id
    )
    assert len(audit) == 1 and audit[0]["actor"] == "anna"
    assert "rechnung" not in str(audit[0]["result"])  # field names, never values


async def test_update_of_an_unknown_account_or_with_a_bad_value_is_refused(pool):
    acts, env = AccountActivities(pool), ActivityEnvironment()
    with pytest.raises(ApplicationError, match="unknown account 'NOPE'"):
        await env.run(
            acts.change_account, step(UpdateAccount(account_id="NOPE", phone="+4930123456"))
        )
    acc = await new_account(pool)
    # the activity checks again: the starter is not the only possible caller
    with pytest.raises(ApplicationError, match="phone: no country code"):
        await env.run(
            acts.change_account, step(UpdateAccount(account_id=acc.id, phone="030 123456"))
        )
    assert await pool.fetchval("SELECT phone FROM accounts WHERE id = $1", acc.id) == (
        "+49 30 0000000"
    )


async def test_new_pipeline_creates_customer_project_and_contact_once(pool):
    acc = await new_account(pool)  # for its partner
    tag = acc.partner_id.removeprefix("P-T")
    acts, env = AccountActivities(pool), ActivityEnvironment()
    s = step(pipeline(tag, phone="+49 (0)30 1234567"))
    first, again = [await env.run(acts.change_account, s) for _ in range(2)]
    assert first == again
    assert first.created == ["account", f"project PBX-N{tag}", f"contact C-N{tag}-1"]
    assert await rows(pool, f"N{tag}") == (1, 1, 1)
    account = await pool.fetchrow("SELECT * FROM accounts WHERE id = $1", f"N{tag}")
    assert (account["partner_id"], account["phone"], account["invoice_email"]) == (
        acc.partner_id,
        "+49 30 1234567",
        "rechnung@newco.example",
    )
    assert await pool.fetchval("SELECT active FROM pbxs WHERE id = $1", f"PBX-N{tag}") is False

    # Another request for the same account: refused, nothing written.
    with pytest.raises(ApplicationError, match=f"account N{tag} exists already"):
        await env.run(acts.change_account, step(pipeline(tag)))
    assert await rows(pool, f"N{tag}") == (1, 1, 1)


async def test_new_pipeline_is_all_or_nothing(pool):
    acc = await new_account(pool)
    tag = acc.partner_id.removeprefix("P-T")
    acts, env = AccountActivities(pool), ActivityEnvironment()
    with pytest.raises(ApplicationError, match=f"project {acc.pbx_id} exists already"):
        await env.run(acts.change_account, step(pipeline(tag, project_id=acc.pbx_id)))
    with pytest.raises(ApplicationError, match="unknown partner 'P-NONE'"):
        await env.run(acts.change_account, step(pipeline(tag, partner_id="P-NONE")))
    assert await rows(pool, f"N{tag}") == (0, 0, 0)  # the account's insert was rolled back


async def test_overview_lists_pbxs_licences_products_flats_and_dids(pool, database_url):
    acc = await new_account(
        pool,
        licences={"Premium": 3, "Basic": 2},
        hardware={"WP480G": 2},
        flats=[("Premium", ["+4930111", "+4930112"]), ("Premium", [])],
        missing=("invoice_email",),
    )
    tag = acc.id.removeprefix("T")
    await pool.execute(
        "INSERT INTO dids (number, pbx_id) VALUES ($1, $2)", f"+4930199-{tag}", acc.pbx_id
    )  # on the PBX, linked to no flat
    async with reading(database_url) as conn:  # as staff read it: read-only
        o = await accounts.overview(conn, acc.id)
        missing = await accounts.overview(conn, "NOPE")
    assert (o.account.id, o.account.missing()) == (acc.id, ["invoice e-mail"])
    (pbx,) = o.pbxs
    assert (pbx.id, pbx.active, pbx.licence_totals()) == (
        acc.pbx_id,
        True,
        {"Basic": 2, "Premium": 3},
    )
    assert [(p.sku, p.quantity) for p in pbx.products] == [("WP480G", 2)]
    assert [(f.id, f.licence_type, f.dids) for f in pbx.flats] == [
        (acc.flat_ids[0], "Premium", [f"+4930111-{tag}", f"+4930112-{tag}"]),
        (acc.flat_ids[1], "Premium", []),
    ]
    assert [d.number for d in pbx.dids_without_flat] == [f"+4930199-{tag}"]

    assert (missing.account, missing.refused) == (None, "unknown account 'NOPE'")

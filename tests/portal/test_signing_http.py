"""The signing page over plain HTTP (httpx against the app in process), with the real
renegotiation workflow and activities on the time-skipping server and a real PostgreSQL:
what a forged or wrong request gets, the document hash checked again, the evidence kept
once, an expired link and an extension, a decline."""

import logging
import secrets
from datetime import timedelta

import httpx
import pytest

from activities.renegotiation import RenegotiationActivities
from domain.renegotiation import Extension, signing_closes_at
from domain.renegotiation_models import Case, SignatureStep, SigningEvidence, Stage
from domain.steps import Cancellation, StepKey
from portal.app import PortalSettings, create_app
from portal.routes.signing import _RedactTokens
from tests.portal.signing_helpers import (
    form_fields,
    path_of,
    request_for,
    signing_link,
    token_of,
)
from tests.records_renegotiation import new_company, outbox
from tests.workflows.harness import running_worker, start_process
from tests.workflows.test_renegotiation import new_id, skip_to, stage_reached, status
from workflows.renegotiation import Renegotiation

# one portal secret for the module: the forms' CSRF fields outlive one app instance
SECRET = secrets.token_hex(32)


def client_for(pool, temporal) -> httpx.AsyncClient:
    app = create_app(
        PortalSettings(secret_key=SECRET, secure_cookies=False), pool=pool, temporal=temporal
    )
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://sign.test",
        headers={"user-agent": "test-agent/1.0"},
    )


async def waiting_for_signature(env, pool, q, **company):
    co = await new_company(pool, **company)
    handle, answer = await start_process(
        env.client, q, Renegotiation, request_for(co), process_id=new_id(co)
    )
    assert answer.stage == Stage.AWAITING_SIGNATURE, answer
    return co, handle, await signing_link(pool, handle.id)


async def evidence_rows(pool, contract_id: str) -> list:
    return await pool.fetch(
        "SELECT * FROM contract_signing_evidence WHERE contract_id = $1", contract_id
    )


async def contract_status(pool, contract_id: str) -> str:
    return await pool.fetchval("SELECT status FROM contracts WHERE id = $1", contract_id)


async def test_a_wrong_token_or_unknown_contract_gets_one_page_that_tells_nothing(time_env, pool):
    async with running_worker(time_env.client, pool) as q:
        co, handle, link = await waiting_for_signature(time_env, pool, q)
        s = await status(handle)
        async with client_for(pool, time_env.client) as http:
            good = await http.get(path_of(link))
            assert good.status_code == 200 and co.name in good.text
            wrong = await http.get(path_of(link).replace(token_of(link), "x" * 43))
            unknown = await http.get("/sign?contract=K-NOPE&token=" + token_of(link))
            bare = await http.get("/sign")
            for page in (wrong, unknown, bare):
                assert page.status_code == 404
                assert "Lenken er ikke gyldig" in page.text
                for secret in (co.name, s.contract_id, "Kari Nordmann", co.id, token_of(link)):
                    assert secret not in page.text
            # the wrong token's page is the unknown contract's, word for word
            assert wrong.text == unknown.text == bare.text
            assert good.headers["referrer-policy"] == "no-referrer"
            assert good.headers["cache-control"] == "no-store"
            assert "frame-ancestors 'none'" in good.headers["content-security-policy"]


async def test_a_forged_post_without_the_bound_csrf_field_is_refused(time_env, pool):
    async with running_worker(time_env.client, pool) as q:
        co, handle, link = await waiting_for_signature(time_env, pool, q)
        _, other_handle, other_link = await waiting_for_signature(time_env, pool, q)
        s = await status(handle)
        async with client_for(pool, time_env.client) as http:
            fields = form_fields((await http.get(path_of(link))).text)
            other = form_fields((await http.get(path_of(other_link))).text)
            assert fields["csrf"] and fields["csrf"] != other["csrf"]
            signing = {**fields, "typed_name": "Kari Nordmann", "consent": "yes"}
            missing = {k: v for k, v in signing.items() if k != "csrf"}
            for forged in (
                missing,
                {**signing, "csrf": other["csrf"]},
                {**signing, "csrf": "0" * 64},
                {**signing, "csrf": "ø" * 64},
            ):
                page = await http.post("/sign", data=forged)
                assert page.status_code == 403, page.text
                assert "Skjemaet kunne ikke kontrolleres" in page.text
                declined = await http.post(
                    "/sign/decline", data={**forged, "reason": "forged elsewhere"}
                )
                assert declined.status_code == 403
            # nothing happened: still waiting, nothing kept, the link still opens the contract
            assert (await status(handle)).stage == Stage.AWAITING_SIGNATURE
            assert await contract_status(pool, s.contract_id) == "sent"
            assert await evidence_rows(pool, s.contract_id) == []
            assert (await http.get(path_of(link))).status_code == 200
        assert (await status(other_handle)).stage == Stage.AWAITING_SIGNATURE


async def test_signing_keeps_the_evidence_once_and_the_link_is_used(time_env, pool):
    async with running_worker(time_env.client, pool) as q:
        co, handle, link = await waiting_for_signature(time_env, pool, q)
        s = await status(handle)
        async with client_for(pool, time_env.client) as http:
            page = await http.get(path_of(link))
            fields = form_fields(page.text)
            # the name must be the signatory's, the consent given: else nothing is sent
            wrong_name = await http.post(
                "/sign", data={**fields, "typed_name": "Ola Hansen", "consent": "yes"}
            )
            assert wrong_name.status_code == 422
            assert "Navnet stemmer ikke med signataren i avtalen. Skriv Kari Nordmann." in (
                wrong_name.text
            )
            no_consent = await http.post("/sign", data={**fields, "typed_name": "kari  NORDMANN"})
            assert no_consent.status_code == 422 and "Kryss av" in no_consent.text
            assert (await status(handle)).stage == Stage.AWAITING_SIGNATURE

            signed = await http.post(
                "/sign", data={**fields, "typed_name": " kari  NORDMANN", "consent": "yes"}
            )
            assert signed.status_code == 200, signed.text
            assert "Takk! Du signerte avtalen" in signed.text
            again = await http.post(
                "/sign", data={**fields, "typed_name": "Kari Nordmann", "consent": "yes"}
            )
            assert "er allerede signert" in again.text
            used = await http.get(path_of(link))
            assert "er allerede signert" in used.text and 'name="csrf"' not in used.text

        final = await status(handle)
        assert final.stage == Stage.SIGNED
        (row,) = await evidence_rows(pool, s.contract_id)
        assert (
            row["decision"],
            row["contact_id"],
            row["typed_name"],
            row["ip"],
            row["user_agent"],
            row["document_sha256"],
            row["language"],
            row["step"],
        ) == (
            "signed",
            co.contact_id,
            "kari NORDMANN",
            "127.0.0.1",
            "test-agent/1.0",
            fields["document_sha256"],
            "nb",
            "record-signature",
        )
        audit = await pool.fetchrow(
            "SELECT actor, run FROM audit_log WHERE process_id = $1 AND step = $2",
            handle.id,
            "record-signature",
        )
        assert (audit["actor"], audit["run"]) == (co.contact_id, row["run"])
        # the same step again (a retried activity) finds its audit row and writes nothing
        step = SignatureStep(
            key=StepKey(
                process_id=handle.id, step="record-signature", actor=co.contact_id, run=row["run"]
            ),
            case=Case(**final.model_dump(include=set(Case.model_fields))),
            today=final.signed_on,
            delivery_start=final.delivery_start,
            evidence=SigningEvidence(
                contact_id=co.contact_id,
                typed_name="someone else",
                document_sha256="0" * 64,
                language="en",
                ip="10.0.0.9",
                user_agent="x",
                decided_at=row["decided_at"],
            ),
        )
        await RenegotiationActivities(pool).record_contract_signature(step)
        assert [dict(r) for r in await evidence_rows(pool, s.contract_id)] == [dict(row)]


async def test_a_contract_changed_after_it_was_shown_is_refused(time_env, pool):
    async with running_worker(time_env.client, pool) as q:
        co, handle, link = await waiting_for_signature(time_env, pool, q)
        s = await status(handle)
        async with client_for(pool, time_env.client) as http:
            fields = form_fields((await http.get(path_of(link))).text)
            await pool.execute(
                "UPDATE contract_lines SET quantity = quantity + 1"
                " WHERE contract_id = $1 AND line_no = 1",
                s.contract_id,
            )
            page = await http.post(
                "/sign", data={**fields, "typed_name": "Kari Nordmann", "consent": "yes"}
            )
            assert page.status_code == 409
            assert "Avtalen er endret etter at du åpnet den" in page.text
            assert form_fields(page.text)["document_sha256"] != fields["document_sha256"]
            declined = await http.post("/sign/decline", data={**fields, "reason": "for dyrt"})
            assert declined.status_code == 409
            odd = await http.post(
                "/sign",
                data={
                    **fields,
                    "document_sha256": "ø",
                    "typed_name": "Kari Nordmann",
                    "consent": "yes",
                },
            )
            assert odd.status_code == 409
        assert (await status(handle)).stage == Stage.AWAITING_SIGNATURE
        assert await evidence_rows(pool, s.contract_id) == []


async def test_declining_ends_the_process_and_tells_customer_care(time_env, pool):
    async with running_worker(time_env.client, pool) as q:
        co, handle, link = await waiting_for_signature(time_env, pool, q)
        s = await status(handle)
        async with client_for(pool, time_env.client) as http:
            fields = form_fields((await http.get(path_of(link) + "&lang=en")).text)
            assert fields["lang"] == "en"
            short = await http.post("/sign/decline", data={**fields, "reason": "no"})
            assert short.status_code == 422 and "Give a reason" in short.text
            page = await http.post(
                "/sign/decline", data={**fields, "reason": "Too expensive for us"}
            )
            assert page.status_code == 200 and "You declined the contract" in page.text
            used = await http.get(path_of(link) + "&lang=en")
            assert "was declined on" in used.text and 'name="csrf"' not in used.text
            signing = await http.post(
                "/sign", data={**fields, "typed_name": "Kari Nordmann", "consent": "yes"}
            )
            assert "was declined on" in signing.text
        final = await handle.result()
        assert final.stage == Stage.DECLINED and final.declined_reason == "Too expensive for us"
        (row,) = await evidence_rows(pool, s.contract_id)
        assert (row["decision"], row["reason"], row["typed_name"], row["language"]) == (
            "declined",
            "Too expensive for us",
            None,
            "en",
        )
        assert await contract_status(pool, s.contract_id) == "declined"
        assert await outbox(pool, handle.id) == [
            ("contact", co.contact_id, "contract_for_signing_email"),
            ("contact", co.contact_id, "contract_for_signing_sms"),
            ("role", "customer_care", "renegotiation_contract_declined"),
            ("contact", co.contact_id, "contract_declined_receipt"),
        ]
        notice = await pool.fetchval(
            "SELECT payload FROM notifications WHERE process_id = $1"
            " AND template = 'renegotiation_contract_declined'",
            handle.id,
        )
        assert notice["reason"] == "Too expensive for us"
        deal = await pool.fetchrow("SELECT status, stage FROM deals WHERE id = $1", s.deal_id)
        assert tuple(deal) == ("lost", "Avsluttet tapt")
        ticket = await pool.fetchrow(
            "SELECT queue, status, body FROM tickets WHERE id = $1", co.ticket_id
        )
        assert (ticket["queue"], ticket["status"]) == ("customer_care", "Kontrakt avslått")
        assert "Too expensive for us" in ticket["body"]
        # the process has ended: a second decline from the page only shows the outcome
        async with client_for(pool, time_env.client) as http:
            twice = await http.post("/sign/decline", data={**fields, "reason": "again"})
            assert "was declined on" in twice.text
        assert len(await evidence_rows(pool, s.contract_id)) == 1


async def test_the_link_expires_with_the_deadline_and_an_extension_opens_it(time_env, pool):
    async with running_worker(time_env.client, pool) as q:
        co, handle, link = await waiting_for_signature(time_env, pool, q)
        s = await status(handle)
        async with client_for(pool, time_env.client) as http:
            fields = form_fields((await http.get(path_of(link))).text)
            await skip_to(time_env, signing_closes_at(s.signing_deadline))
            await stage_reached(handle, Stage.AWAITING_DECISION)
            expired = await http.get(path_of(link))
            assert expired.status_code == 410
            assert "Lenken er utløpt" in expired.text
            assert (
                f"Ta kontakt med Forhandler {co.partner_id.removeprefix('P-R')} på p@test.example"
            ) in expired.text
            late = await http.post(
                "/sign", data={**fields, "typed_name": "Kari Nordmann", "consent": "yes"}
            )
            assert late.status_code == 410

            await handle.execute_update(
                Renegotiation.extend_signing_deadline, Extension(actor="kari.kundesenter", days=3)
            )
            reopened = await http.get(path_of(link))
            assert reopened.status_code == 200 and 'name="csrf"' in reopened.text
            new_deadline = (await status(handle)).signing_deadline
            assert new_deadline > s.signing_deadline + timedelta(days=3)
            signed = await http.post(
                "/sign",
                data={
                    **form_fields(reopened.text),
                    "typed_name": "Kari Nordmann",
                    "consent": "yes",
                },
            )
            assert "Takk! Du signerte avtalen" in signed.text
        assert (await status(handle)).stage == Stage.SIGNED


def test_the_access_log_never_carries_the_token(caplog):
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/sign?contract=K-1&token=SECRET-abc_1", "1.1", 200),
        None,
    )
    assert _RedactTokens().filter(record)
    assert "SECRET" not in record.getMessage()
    assert "/sign?contract=K-1&token=[redacted]" in record.getMessage()


@pytest.mark.parametrize("lang", ["nb", "en"])
async def test_the_pdf_is_the_contract(time_env, pool, lang):
    async with running_worker(time_env.client, pool) as q:
        co, handle, link = await waiting_for_signature(time_env, pool, q)
        async with client_for(pool, time_env.client) as http:
            pdf = await http.get(
                "/sign/contract.pdf?" + path_of(link).split("?")[1] + f"&lang={lang}"
            )
            assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
            assert pdf.content.startswith(b"%PDF-")
            wrong = await http.get("/sign/contract.pdf?contract=x&token=y")
            assert wrong.status_code == 404


async def test_a_contract_withdrawn_after_it_was_shown_says_so(time_env, pool):
    async with running_worker(time_env.client, pool) as q:
        co, handle, link = await waiting_for_signature(time_env, pool, q)
        async with client_for(pool, time_env.client) as http:
            fields = form_fields((await http.get(path_of(link))).text)
            await handle.execute_update(
                Renegotiation.cancel,
                Cancellation(actor="kari.kundesenter", reason="kunden ringte og trakk seg"),
            )
            for action, data in (
                ("/sign/decline", {"reason": "for dyrt"}),
                ("/sign", {"typed_name": "Kari Nordmann", "consent": "yes"}),
            ):
                page = await http.post(action, data={**fields, **data})
                assert page.status_code == 410
                assert "Avtalen er trukket tilbake" in page.text
            assert "trukket tilbake" in (await http.get(path_of(link))).text
        s = await status(handle)
        assert s.stage == Stage.CANCELLED
        assert await evidence_rows(pool, s.contract_id) == []

"""The signing page's hardening and the customer's proof, with the real renegotiation workflow
and activities (time-skipping server), a real PostgreSQL and a real SMTP server: malformed
links answer a page, never a 500; evidence must be this contract's; a refused replay is
logged once; after signing the customer gets the signed PDF with its evidence certificate
(the same as the used link's), after declining a confirmation."""

import email
import re
import zlib
from email import policy

import pytest
from temporalio.exceptions import ApplicationError

from activities.renegotiation import RenegotiationActivities
from domain.renegotiation_models import Case, DeclineStep, SigningEvidence, Stage
from domain.steps import StepKey
from relay import Relay
from relay.settings import Settings
from relay.sinks import MailCatcher
from tests.portal.signing_helpers import form_fields, path_of
from tests.portal.test_signing_http import (
    client_for,
    contract_status,
    evidence_rows,
    waiting_for_signature,
)
from tests.workflows.harness import running_worker
from tests.workflows.test_renegotiation import status

NUL = "\x00"


@pytest.fixture
async def mail():
    catcher = await MailCatcher().start()
    yield catcher
    await catcher.stop()


async def deliver(pool, mail: MailCatcher) -> None:
    relay = Relay(
        pool,
        Settings(smtp_host="127.0.0.1", smtp_port=mail.port, smtp_starttls=False, backoff_base=0),
    )
    while await relay.deliver_due():
        pass


async def refusals(pool, contract_id: str) -> list:
    return await pool.fetch(
        "SELECT * FROM security_log WHERE checked_in = 'signing' AND reason LIKE $1",
        f"contract {contract_id}:%",
    )


def pdf_text(data: bytes) -> str:
    """The text drawn on a PDF's pages (fpdf2 writes Latin-1 strings in compressed streams),
    page by page, separated by a form feed."""
    pages = []
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            content = zlib.decompress(raw)
        except zlib.error:
            continue
        words = re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", content)
        if words:
            pages.append(" ".join(w.decode("latin-1").replace("\\", "") for w in words))
    return "\f".join(pages)


async def test_malformed_links_answer_a_page_in_the_customers_language_never_a_500(time_env, pool):
    async with client_for(pool, time_env.client) as http:
        for path in ("/sign", "/sign/contract.pdf"):
            for query in (
                {"contract": NUL, "token": NUL},
                {"contract": "K-1" + NUL, "token": "a" * 43},
                {"contract": "K-1", "token": "\x1b[2J" + "a" * 40},
                {"contract": "x" * 5000, "token": "y" * 5000},
            ):
                page = await http.get(path, params=query)
                assert page.status_code == 404, (path, query, page.status_code)
                assert "Lenken er ikke gyldig" in page.text
            english = await http.get(path, params={"contract": NUL, "token": NUL, "lang": "en"})
            assert english.status_code == 404 and "This link is not valid" in english.text
        for path in ("/sign", "/sign/decline"):
            posted = await http.post(
                path,
                data={
                    "contract": NUL,
                    "token": NUL,
                    "csrf": NUL,
                    "document_sha256": NUL,
                    "typed_name": NUL,
                    "reason": NUL,
                    "lang": NUL,
                },
            )
            assert posted.status_code == 404 and "Lenken er ikke gyldig" in posted.text


async def test_nul_in_what_the_signer_types_is_refused_on_the_form(time_env, pool):
    async with running_worker(time_env.client, pool) as q:
        co, handle, link = await waiting_for_signature(time_env, pool, q)
        async with client_for(pool, time_env.client) as http:
            fields = form_fields((await http.get(path_of(link))).text)
            signed = await http.post(
                "/sign", data={**fields, "typed_name": "Kari" + NUL + "Nordmann", "consent": "yes"}
            )
            assert signed.status_code == 422 and "Navnet stemmer ikke" in signed.text
            declined = await http.post("/sign/decline", data={**fields, "reason": "for" + NUL})
            assert declined.status_code == 422 and "Skriv en begrunnelse" in declined.text
        assert (await status(handle)).stage == Stage.AWAITING_SIGNATURE


async def test_evidence_of_another_contract_is_refused_and_logged(time_env, pool):
    async with running_worker(time_env.client, pool) as q:
        co, handle, link = await waiting_for_signature(time_env, pool, q)
        _, other, other_link = await waiting_for_signature(time_env, pool, q)
        s = await status(handle)
        async with client_for(pool, time_env.client) as http:
            fields = form_fields((await http.get(path_of(link))).text)
            theirs = form_fields((await http.get(path_of(other_link))).text)
            assert theirs["document_sha256"] != fields["document_sha256"]
            page = await http.post(
                "/sign",
                data={
                    **fields,
                    "document_sha256": theirs["document_sha256"],
                    "typed_name": "Kari Nordmann",
                    "consent": "yes",
                },
            )
            assert page.status_code == 409
        assert len(await refusals(pool, s.contract_id)) == 1
        assert await evidence_rows(pool, s.contract_id) == []

        # the same evidence sent straight to the step (past the page): refused, logged,
        # nothing written
        final = await status(handle)
        step = DeclineStep(
            key=StepKey(process_id=handle.id, step="contract-declined", actor=co.contact_id),
            case=Case(**final.model_dump(include=set(Case.model_fields))),
            today=final.since.date(),
            reason="copied",
            evidence=SigningEvidence(
                contact_id=co.contact_id,
                typed_name=None,
                document_sha256=theirs["document_sha256"],
                language="nb",
                ip="10.0.0.9",
                user_agent="x",
                decided_at=final.since,
            ),
        )
        with pytest.raises(ApplicationError, match="not the hash of contract"):
            await RenegotiationActivities(pool).record_contract_declined(step)
        assert len(await refusals(pool, s.contract_id)) == 2
        assert await evidence_rows(pool, s.contract_id) == []
        assert await contract_status(pool, s.contract_id) == "sent"
        await handle.terminate("test done")
        await other.terminate("test done")


async def test_after_signing_the_customer_gets_the_signed_pdf_and_a_replay_is_logged_once(
    time_env, pool, mail
):
    async with running_worker(time_env.client, pool) as q:
        co, handle, link = await waiting_for_signature(time_env, pool, q)
        s = await status(handle)
        async with client_for(pool, time_env.client) as http:
            fields = form_fields((await http.get(path_of(link))).text)
            signed = await http.post(
                "/sign", data={**fields, "typed_name": "Kari Nordmann", "consent": "yes"}
            )
            assert signed.status_code == 200 and "Takk!" in signed.text
            assert await refusals(pool, s.contract_id) == []
            replay = await http.post(
                "/sign", data={**fields, "typed_name": "Kari Nordmann", "consent": "yes"}
            )
            assert "er allerede signert" in replay.text
            used_pdf = await http.get("/sign/contract.pdf?" + path_of(link).split("?")[1])
        assert len(await refusals(pool, s.contract_id)) == 1
    await deliver(pool, mail)
    # this contract's receipt (the database may hold other tests' messages, sent here too)
    (receipt,) = [
        m
        for m in mail.messages
        if m.subject.startswith("Kvittering") and s.contract_id in m.subject
    ]
    assert "Kari Nordmann" in receipt.text
    parsed = email.message_from_bytes(receipt.raw, policy=policy.default)
    (attached,) = [p for p in parsed.iter_attachments()]
    assert attached.get_content_type() == "application/pdf"
    assert attached.get_filename() == f"{s.contract_id}.pdf"
    pdf = attached.get_content()
    text = pdf_text(pdf)
    certificate = text.split("\f")[-1]  # the last page
    (row,) = await evidence_rows(pool, s.contract_id)
    for expected in (
        "Signeringsbevis",
        "Kari Nordmann",
        co.contact_id,
        "127.0.0.1",
        "test-agent/1.0",
        row["document_sha256"],
        "Sendt til signering",
        "Åpnet",
        "Signert",
        "CET",
    ):
        assert expected in certificate, (expected, certificate)
    # the used link gives the same document: the contract and the same certificate
    assert used_pdf.status_code == 200
    assert pdf_text(used_pdf.content) == text


async def test_after_declining_the_customer_gets_a_confirmation(time_env, pool, mail):
    async with running_worker(time_env.client, pool) as q:
        co, handle, link = await waiting_for_signature(time_env, pool, q)
        s = await status(handle)
        async with client_for(pool, time_env.client) as http:
            fields = form_fields((await http.get(path_of(link) + "&lang=en")).text)
            page = await http.post("/sign/decline", data={**fields, "reason": "Too expensive"})
            assert page.status_code == 200
        await handle.result()
    await deliver(pool, mail)
    # in the language the customer chose on the page
    (confirmation,) = [
        m
        for m in mail.messages
        if m.subject.startswith("Confirmation") and s.contract_id in m.subject
    ]
    assert "Too expensive" in confirmation.text
    assert confirmation.language == "en"


async def test_prices_carry_their_period_and_a_vat_note_and_english_terms_are_english(
    time_env, pool
):
    async with running_worker(time_env.client, pool) as q:
        co, handle, link = await waiting_for_signature(time_env, pool, q)
        async with client_for(pool, time_env.client) as http:
            nb = (await http.get(path_of(link))).text
            en = (await http.get(path_of(link) + "&lang=en")).text
            pdf = await http.get("/sign/contract.pdf?" + path_of(link).split("?")[1] + "&lang=en")
        await handle.terminate("test done")
    assert "per måned" in nb and "eksklusive merverdiavgift" in nb
    assert "per month" in en and "exclude VAT" in en
    assert "kvartalsvis" in nb and "kvartalsvis" not in en and "quarterly" in en
    assert "kvartalsvis" not in pdf_text(pdf.content) and "quarterly" in pdf_text(pdf.content)

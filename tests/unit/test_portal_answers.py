"""A process's answer, as a code with values, in the words of the portal's reader."""

import re
from pathlib import Path

import pytest

from portal.answers import ANSWERS, say, text_of
from portal.i18n import LANGUAGES, Words, language_of
from portal.steps import ENDED, Outcome

ROOT = Path(__file__).resolve().parents[2]


def codes_the_processes_send() -> set[str]:
    found: set[str] = set()
    for folder in ("workflows", "store", "activities"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            found |= set(re.findall(r'code="([a-z_]+\.[a-z_]+)"', text))
            found |= set(re.findall(r'"code": "([a-z_]+\.[a-z_]+)"', text))
            found |= set(re.findall(r'"code": "[a-z_.]+" if .* else "([a-z_]+\.[a-z_]+)"', text))
            found |= set(re.findall(r'"([a-z]+\.[a-z_]+)",\n\s+(?:kind|params)=', text))
    return found


def test_every_code_a_process_sends_has_words_in_every_language():
    sent = codes_the_processes_send()
    assert {"order.confirmed", "order.declined", "document.uploaded", "lead.converted"} <= sent
    for code in sent:
        assert set(ANSWERS[code]) == set(LANGUAGES), code


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_answer_renders_with_names_and_no_placeholder_left(language):
    words = Words(language)
    params = {
        "order": "order-1a2b",
        "lead": "L-5",
        "opportunity": "OPP-L-5",
        "stage": "proposal",
        "kind": "loa",
        "file": "LOA.pdf",
        "amount": "12500.50",
        "close_date": "2027-01-29",
    }
    for code in ANSWERS:
        said = say(words, code, params, {"account": "Acme GmbH", "company": "Hafenlogistik GmbH"})
        assert said and "{" not in said, (code, said)
        assert "OPP-L-5" not in said and "update-opportunity" not in said, (code, said)


def test_german_and_norwegian_say_the_stage_in_their_own_words():
    conv = {"lead": "L-5", "opportunity": "OPP-L-5", "stage": "proposal"}
    names = {"company": "Hafenlogistik GmbH"}
    assert say(Words("de"), "lead.converted", conv, names) == (
        "Hafenlogistik GmbH ist jetzt eine Verkaufschance (Angebot): Halten Sie sie unter "
        "„Meine Verkaufschancen“ aktuell."
    )
    assert "(Tilbud)" in (say(Words("nb"), "lead.converted", conv, names) or "")
    upd = {"opportunity": "OPP-L-5", "stage": "negotiation", "close_date": "2027-01-29"}
    assert say(Words("de"), "opportunity.updated", upd, names) == (
        "Verkaufschance Hafenlogistik GmbH aktualisiert: Phase Verhandlung, "
        "Abschlussdatum 29.01.2027."
    )


def test_outcomes_the_portal_words_itself_and_refusals_it_has_no_words_for():
    de = Words("de")
    assert text_of(de, Outcome(False, ENDED, own=True), {}) == (
        "error",
        "Der Vorgang ist beendet: Daran kann nichts mehr geändert werden.",
    )
    kind, text = text_of(de, Outcome(False, "order order-1 is confirmed"), {})
    assert (kind, text) == (
        "error",
        "Das Bestellsystem hat den Schritt abgelehnt: order order-1 is confirmed",
    )
    ok = Outcome(
        True,
        "LOA LOA.pdf recorded",
        code="document.uploaded",
        params={"kind": "loa", "file": "LOA.pdf"},
    )
    assert text_of(Words("nb"), ok, {}) == (
        "ok",
        "Utført: LOA (fullmakt til portering) LOA.pdf er lastet opp.",
    )


def test_norwegian_as_people_write_it_reads_bokmaal():
    assert language_of("no") == language_of("nn") == language_of("nb") == "nb"
    assert language_of("fr") == "en"


def test_a_refusal_with_a_code_is_said_in_the_readers_language_with_the_name():
    refused = Outcome(
        False,
        "there is no order to confirm: cancelled, nothing: cancelled by ops-anna: r",
        code="order.not_waiting",
        params={"stage": "cancelled"},
    )
    names = {"account": "Acme Logistik GmbH"}
    assert text_of(Words("de"), refused, names) == (
        "error",
        "Abgelehnt: Die Bestellung für Acme Logistik GmbH wartet nicht mehr auf Ihre "
        "Bestätigung (storniert).",
    )
    assert text_of(Words("nb"), refused, names)[1] == (
        "Avvist: bestillingen for Acme Logistik GmbH venter ikke lenger på din bekreftelse "
        "(kansellert)."
    )


def test_an_order_waiting_for_its_documents_names_them_in_the_readers_words_and_no_command():
    refused = Outcome(
        False,
        "the order cannot be confirmed yet: the quote contains CLASSOUND-FLAT, ... (upload with "
        "`starter.py upload change-order-ACME-1 --kind loa|last-invoice --file PATH`)",
        code="order.documents_missing",
        params={"missing": "loa,last-invoice"},
    )
    names = {"account": "Acme Logistik GmbH"}
    kind, said = text_of(Words("de"), refused, names)
    assert kind == "error" and "starter.py" not in said
    assert said == (
        "Abgelehnt: Die Bestellung für Acme Logistik GmbH kann bestätigt werden, sobald "
        "LOA (Portierungsauftrag), letzte Rechnung hochgeladen sind (Seite Unterlagen)."
    )
    assert "LOA (fullmakt til portering)" in text_of(Words("nb"), refused, names)[1]

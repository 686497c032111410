"""The contract a customer signs, as the signing page shows it: its words in Norwegian and
English, the view of a contract row (figures in the reader's locale, dates in Oslo), the text
whose hash the forms carry, and the same view as a PDF."""

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from fastapi.templating import Jinja2Templates

from domain.business_time import Family, zone
from domain.signing import LANGUAGES, LOCALES, document_sha256, line_total, priced_monthly

OSLO = zone(Family.RENEGOTIATION)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

# --- words ------------------------------------------------------------------------------------

TEXT: dict[str, dict[str, str]] = {
    "nb": {
        "title": "Signering av avtale",
        "contract_no": "Avtale nr.",
        "supplier": "Leverandør",
        "customer": "Kunde",
        "signatory": "Signatar",
        "replaces": "Denne avtalen erstatter avtale {original} signert {date}.",
        "replaces_undated": "Denne avtalen erstatter avtale {original}.",
        "lines": "Avtalens innhold",
        "product": "Produkt",
        "quantity": "Antall",
        "unit_price": "Pris per enhet",
        "discount": "Rabatt",
        "line_total": "Sum",
        "total": "Sum i alt",
        "start": "Oppstartsdato",
        "licences": "Antall lisenser",
        "price": "Pris per lisens",
        "terms": "Vilkår",
        "binding_months": "Bindingstid",
        "months": "{n} måneder",
        "invoicing": "Fakturering",
        "invoice_reference": "Fakturareferanse",
        "unchanged": "Øvrige vilkår er som i opprinnelig avtale.",
        "deadline": "Signeringsfrist: {date}.",
        "print": "Skriv ut",
        "pdf": "Last ned som PDF",
        "sign_heading": "Signer avtalen",
        "typed_name": "Skriv inn ditt fulle navn",
        "typed_name_hint": "Skriv navnet ditt slik det står i avtalen: {name}.",
        "consent": "Jeg har lest avtalen, godtar den og signerer den elektronisk på vegne av "
        "{company}.",
        "sign": "Signer avtalen",
        "decline_heading": "Vil du ikke signere?",
        "reason": "Hvorfor avslår du avtalen?",
        "reason_hint": "Kundesenteret får begrunnelsen og tar kontakt med deg.",
        "decline": "Avslå avtalen",
        "errors": "Skjemaet har feil",
        "name_mismatch": "Navnet stemmer ikke med signataren i avtalen. Skriv {name}.",
        "consent_missing": "Kryss av for at du har lest og godtar avtalen.",
        "reason_missing": "Skriv en begrunnelse (minst 3 tegn).",
        "changed": "Avtalen er endret etter at du åpnet den. Les den nye versjonen under før "
        "du signerer.",
        "signed_title": "Avtalen er signert",
        "signed_now": "Takk! Du signerte avtalen {contract} den {date}. Du trenger ikke gjøre "
        "noe mer.",
        "signed_before": "Avtalen {contract} er allerede signert den {date}. Lenken kan bare "
        "brukes én gang.",
        "declined_title": "Avtalen er avslått",
        "declined_now": "Du avslo avtalen {contract}. Kundesenteret har fått beskjed og tar "
        "kontakt med deg.",
        "declined_before": "Avtalen {contract} ble avslått den {date}. Lenken kan bare brukes "
        "én gang.",
        "expired_title": "Lenken er utløpt",
        "expired": "Signeringsfristen for avtalen {contract} gikk ut {date}. Avtalen kan ikke "
        "lenger signeres med denne lenken.",
        "withdrawn_title": "Avtalen er trukket tilbake",
        "withdrawn": "Avtalen {contract} er trukket tilbake og kan ikke signeres.",
        "invalid_title": "Lenken er ikke gyldig",
        "invalid": "Vi fant ingen avtale for denne lenken. Sjekk at du har brukt hele lenken "
        "fra e-posten eller SMS-en.",
        "contact": "Ta kontakt med {who} på {email} hvis du har spørsmål eller trenger en ny "
        "lenke.",
        "contact_plain": "Ta kontakt med kundesenteret hvis du har spørsmål.",
        "questions": "Ta kontakt med {who} på {email} hvis du har spørsmål.",
        "pdf_copy": "Last ned avtalen som PDF",
        "forged": "Skjemaet kunne ikke kontrolleres. Åpne lenken fra e-posten på nytt.",
        "busy_title": "Et øyeblikk",
        "busy": "Vi registrerer svaret ditt. Last inn siden på nytt om et øyeblikk.",
        "refused": "Avtalen kunne ikke oppdateres akkurat nå.",
        "language": "Språk",
        "other_language": "English",
        "per_month": "{price} per måned",
        "vat_note": "Alle priser er eksklusive merverdiavgift (mva).",
        "certificate_title": "Signeringsbevis",
        "certificate_intro": "Avtalen {contract} ble signert elektronisk på signeringssiden. "
        "SHA-256-summen er regnet av avtaleteksten slik den ble vist for signataren.",
        "cert_signer": "Signatar",
        "cert_typed_name": "Navn skrevet inn",
        "cert_signed_at": "Signert",
        "cert_ip": "IP-adresse",
        "cert_user_agent": "Nettleser",
        "cert_language": "Språk",
        "cert_sha256": "SHA-256 av dokumentet",
        "cert_trail": "Forløp",
        "cert_sent": "Sendt til signering",
        "cert_opened": "Åpnet",
        "cert_signed": "Signert",
    },
    "en": {
        "title": "Contract signing",
        "contract_no": "Contract no.",
        "supplier": "Supplier",
        "customer": "Customer",
        "signatory": "Signatory",
        "replaces": "This contract replaces contract {original} signed on {date}.",
        "replaces_undated": "This contract replaces contract {original}.",
        "lines": "What the contract covers",
        "product": "Product",
        "quantity": "Quantity",
        "unit_price": "Unit price",
        "discount": "Discount",
        "line_total": "Amount",
        "total": "Total",
        "start": "Start date",
        "licences": "Licences",
        "price": "Price per licence",
        "terms": "Terms",
        "binding_months": "Minimum term",
        "months": "{n} months",
        "invoicing": "Invoicing",
        "invoice_reference": "Invoice reference",
        "unchanged": "All other terms are as in the original contract.",
        "deadline": "Signing deadline: {date}.",
        "print": "Print",
        "pdf": "Download as PDF",
        "sign_heading": "Sign the contract",
        "typed_name": "Type your full name",
        "typed_name_hint": "Type your name as the contract gives it: {name}.",
        "consent": "I have read the contract, accept it and sign it electronically on behalf "
        "of {company}.",
        "sign": "Sign the contract",
        "decline_heading": "Not signing?",
        "reason": "Why do you decline the contract?",
        "reason_hint": "Customer care receives your reason and will contact you.",
        "decline": "Decline the contract",
        "errors": "There is a problem with the form",
        "name_mismatch": "The name does not match the contract's signatory. Type {name}.",
        "consent_missing": "Tick the box to confirm you have read and accept the contract.",
        "reason_missing": "Give a reason (at least 3 characters).",
        "changed": "The contract has changed since you opened it. Read the new version below "
        "before you sign.",
        "signed_title": "The contract is signed",
        "signed_now": "Thank you! You signed contract {contract} on {date}. There is nothing "
        "more to do.",
        "signed_before": "Contract {contract} was already signed on {date}. The link can be "
        "used only once.",
        "declined_title": "The contract was declined",
        "declined_now": "You declined the contract {contract}. Customer care has been told "
        "and will contact you.",
        "declined_before": "Contract {contract} was declined on {date}. The link can be used "
        "only once.",
        "expired_title": "The link has expired",
        "expired": "The signing deadline of contract {contract} was {date}. The contract can "
        "no longer be signed with this link.",
        "withdrawn_title": "The contract was withdrawn",
        "withdrawn": "Contract {contract} was withdrawn and cannot be signed.",
        "invalid_title": "This link is not valid",
        "invalid": "We found no contract for this link. Check that you used the whole link "
        "from the e-mail or text message.",
        "contact": "Contact {who} at {email} if you have questions or need a new link.",
        "contact_plain": "Contact customer care if you have questions.",
        "questions": "Contact {who} at {email} if you have questions.",
        "pdf_copy": "Download the contract as a PDF",
        "forged": "The form could not be verified. Open the link from the e-mail again.",
        "busy_title": "One moment",
        "busy": "We are recording your answer. Reload the page in a moment.",
        "refused": "The contract could not be updated just now.",
        "language": "Language",
        "other_language": "Norsk",
        "per_month": "{price} per month",
        "vat_note": "All prices exclude VAT.",
        "certificate_title": "Evidence of signature",
        "certificate_intro": "Contract {contract} was signed electronically on the signing "
        "page. The SHA-256 is computed from the contract's text as it was shown to the signer.",
        "cert_signer": "Signatory",
        "cert_typed_name": "Name typed",
        "cert_signed_at": "Signed",
        "cert_ip": "IP address",
        "cert_user_agent": "Browser",
        "cert_language": "Language",
        "cert_sha256": "SHA-256 of the document",
        "cert_trail": "Trail",
        "cert_sent": "Sent for signing",
        "cert_opened": "Opened",
        "cert_signed": "Signed",
    },
}


# Term values are written in the product's language (Norwegian); their words in English.
TERM_VALUES: dict[str, dict[str, str]] = {
    "en": {
        "månedlig": "monthly",
        "kvartalsvis": "quarterly",
        "halvårlig": "half-yearly",
        "årlig": "yearly",
    },
}


def long_time(moment: datetime | None, lang: str) -> str:
    """A moment with its zone (Oslo), in the reader's format."""
    if moment is None:
        return ""
    return format_datetime(moment, "long", tzinfo=OSLO, locale=LOCALES[lang])


def long_date(d: date | datetime | None, lang: str) -> str:
    if d is None:
        return ""
    if isinstance(d, datetime):
        d = d.astimezone(OSLO).date()
    return format_date(d, format="long", locale=LOCALES[lang])


def _money(amount: Decimal, currency: str, lang: str) -> str:
    """450,00 kr in Norwegian; NOK 450.00 in English (not babel's "NOK450.00")."""
    if lang == "nb":
        return format_currency(amount, currency, locale=LOCALES[lang])
    return format_currency(
        amount, currency, format="¤\u00a0#,##0.00", locale=LOCALES[lang], currency_digits=False
    )


def _number(n: Decimal | int, lang: str) -> str:
    return format_decimal(n, locale=LOCALES[lang])


# --- the document -----------------------------------------------------------------------------


def _terms(raw: Any) -> dict:
    if isinstance(raw, str):  # a pool without the JSON codecs
        return json.loads(raw or "{}")
    return dict(raw or {})


def contract_view(k: dict, lang: str) -> dict:
    """Everything the contract's text shows, formatted for `lang`: the HTML page and the PDF
    are made from it."""
    t = TEXT[lang]
    currency = k["currency"] or "NOK"
    lines, total = [], Decimal("0.00")
    for ln in k["lines"]:
        amount = line_total(ln["quantity"], ln["unit_price"], ln["discount_percent"])
        total += amount
        lines.append(
            {
                "product": ln["product"],
                "quantity": _number(ln["quantity"], lang),
                "unit_price": _priced(ln["kind"], _money(ln["unit_price"], currency, lang), t),
                "discount": f"{_number(ln['discount_percent'].normalize(), lang)} %"
                if ln["discount_percent"]
                else "",
                "amount": _money(amount, currency, lang),
            }
        )
    terms = []
    for key, value in sorted(_terms(k["terms"]).items()):
        if key == "binding_months":
            terms.append((t["binding_months"], t["months"].format(n=value)))
        elif key == "invoicing":
            terms.append((t[key], TERM_VALUES.get(lang, {}).get(str(value), str(value))))
        elif key == "invoice_reference":
            terms.append((t[key], str(value)))
        else:
            terms.append((key.replace("_", " ").capitalize(), str(value)))
    if k["based_on"]:
        replaces = (
            t["replaces"].format(
                original=k["based_on"], date=long_date(k["original_signed_on"], lang)
            )
            if k["original_signed_on"]
            else t["replaces_undated"].format(original=k["based_on"])
        )
    else:
        replaces = ""
    return {
        "t": t,
        "lang": lang,
        "contract_id": k["id"],
        "template": k["template"],
        "supplier": k["supplier"] or "",
        "company": k["company"],
        "signer_name": k["signer_name"] or "",
        "replaces": replaces,
        "licences": _number(k["licences"], lang),
        "price": t["per_month"].format(price=_money(k["price"], currency, lang)),
        "start": long_date(k["start_date"], lang),
        "lines": lines,
        "total": _money(total, currency, lang),
        "terms": terms,
        "vat_note": t["vat_note"],
    }


def _priced(kind: str, price: str, t: dict[str, str]) -> str:
    return t["per_month"].format(price=price) if priced_monthly(kind) else price


def render_document(k: dict, lang: str) -> str:
    """The contract's text as the page shows it: its SHA-256 is the evidence's."""
    return templates.get_template("signing/contract.html").render(contract_view(k, lang))


def contract_hashes(k: dict) -> set[str]:
    """The hashes of this contract's text in each language the page shows it in: evidence
    carries one of them, or it is not this contract's."""
    return {document_sha256(render_document(k, lang)) for lang in LANGUAGES}


def certificate_view(k: dict, evidence: dict, lang: str) -> dict:
    """The evidence certificate, the signed PDF's last page: who signed, what they typed,
    when (with the zone), from where, the hash of the text signed and the link's trail."""
    t = TEXT[lang]
    return {
        "title": t["certificate_title"],
        "intro": t["certificate_intro"].format(contract=k["id"]),
        "facts": [
            (t["cert_signer"], f"{k['signer_name'] or ''} ({evidence['contact_id']})"),
            (t["cert_typed_name"], evidence["typed_name"] or ""),
            (t["cert_signed_at"], long_time(evidence["decided_at"], lang)),
            (t["cert_ip"], evidence["ip"]),
            (t["cert_user_agent"], evidence["user_agent"]),
            (t["cert_language"], evidence["language"]),
            (t["cert_sha256"], evidence["document_sha256"]),
        ],
        "trail_title": t["cert_trail"],
        "trail": [
            (t["cert_sent"], long_time(k.get("sent_at"), lang)),
            (t["cert_opened"], long_time(k.get("opened_at"), lang)),
            (t["cert_signed"], long_time(evidence["decided_at"], lang)),
        ],
    }


def signed_contract_pdf(k: dict, evidence: dict, lang: str) -> bytes:
    """The signed contract: its text, then the evidence certificate."""
    return contract_pdf(contract_view(k, lang), certificate_view(k, evidence, lang))


def _latin1(text: str) -> str:
    text = text.replace("\u202f", "\u00a0").replace("\u2009", " ").replace("\u2212", "-")
    return text.encode("latin-1", "replace").decode("latin-1")


def contract_pdf(view: dict, certificate: dict | None = None) -> bytes:
    """The contract as a PDF (fpdf2, pure Python), from the same view as the page's text.
    Core fonts cover Latin-1, which has the Norwegian letters; others are replaced."""
    from fpdf import FPDF  # only when a PDF is asked for
    from fpdf.enums import XPos, YPos

    t = view["t"]
    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(f"{view['template']} {view['contract_id']}"))
    pdf.set_lang(view["lang"])
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 8, _latin1(view["template"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_font("Helvetica", size=11)
    facts = [(t["contract_no"], view["contract_id"])]
    if view["supplier"]:
        facts.append((t["supplier"], view["supplier"]))
    facts += [
        (t["customer"], view["company"]),
        (t["signatory"], view["signer_name"]),
        (t["licences"], view["licences"]),
        (t["price"], view["price"]),
        (t["start"], view["start"]),
    ]
    for name, value in facts:
        pdf.cell(50, 7, _latin1(name))
        pdf.cell(0, 7, _latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if view["replaces"]:
        pdf.ln(2)
        pdf.multi_cell(0, 6, _latin1(view["replaces"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, _latin1(t["lines"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=10)
    with pdf.table(
        col_widths=(60, 20, 35, 20, 35), text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT")
    ) as table:
        table.row(
            [
                _latin1(x)
                for x in (
                    t["product"],
                    t["quantity"],
                    t["unit_price"],
                    t["discount"],
                    t["line_total"],
                )
            ]
        )
        for ln in view["lines"]:
            table.row(
                [
                    _latin1(x)
                    for x in (
                        ln["product"],
                        ln["quantity"],
                        ln["unit_price"],
                        ln["discount"],
                        ln["amount"],
                    )
                ]
            )
        table.row([_latin1(t["total"]), "", "", "", _latin1(view["total"])])
    if view["terms"]:
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 8, _latin1(t["terms"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("Helvetica", size=11)
        for name, value in view["terms"]:
            pdf.cell(50, 7, _latin1(name))
            pdf.cell(0, 7, _latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    pdf.multi_cell(0, 6, _latin1(t["unchanged"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.multi_cell(0, 6, _latin1(view["vat_note"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if certificate is not None:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 16)
        pdf.cell(0, 10, _latin1(certificate["title"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("Helvetica", size=10)
        pdf.multi_cell(0, 6, _latin1(certificate["intro"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(3)
        for rows, heading in ((certificate["facts"], None), (certificate["trail"], "trail")):
            if heading:
                pdf.ln(3)
                pdf.set_font("Helvetica", "B", 12)
                pdf.cell(
                    0, 8, _latin1(certificate["trail_title"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT
                )
                pdf.set_font("Helvetica", size=10)
            for name, value in rows:
                pdf.cell(50, 6, _latin1(name))
                pdf.multi_cell(0, 6, _latin1(value or "-"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())

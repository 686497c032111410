"""Billing information of a PSA client ("Abrechnungsinformationen bereitstellen"):
legal name, address, billing e-mail, currency, payment terms and tax id. Without it a
client's ticket time cannot be approved and no sales item can be made for it.

`billing_information_problems` names every bad field at once, in the words staff see on
the form, and never repeats a value back: the billing e-mail is personal data, and a
refusal message may be logged."""

import re

from pydantic import BaseModel, ConfigDict, Field

# ISO 4217 codes we invoice in. A fixed list on purpose: a code outside it is far more
# likely a typo ("EUT") than a currency our accounting software expects.
CURRENCIES = (
    "EUR",
    "CHF",
    "GBP",
    "USD",
    "SEK",
    "NOK",
    "DKK",
    "ISK",
    "PLN",
    "CZK",
    "HUF",
    "RON",
    "BGN",
    "CAD",
    "AUD",
    "JPY",
)

# ISO 3166-1 alpha-2 countries of the address: Europe and the few other markets we bill.
COUNTRIES = frozenset(
    "AD AL AT BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GI GR HR HU IE IM IS IT LI LT LU LV "
    "MC MD ME MK MT NL NO PL PT RO RS SE SI SK SM UA VA XK US CA AU NZ JP".split()
)

# Net payment days: "due on receipt" (0) up to 90 days.
PAYMENT_TERMS_MAX_DAYS = 90

# Postal codes where the format is known; other countries: 2-10 letters, digits, space, -.
POSTAL_CODES = {
    "DE": r"\d{5}",
    "FR": r"\d{5}",
    "IT": r"\d{5}",
    "ES": r"\d{5}",
    "FI": r"\d{5}",
    "AT": r"\d{4}",
    "CH": r"\d{4}",
    "LI": r"\d{4}",
    "BE": r"\d{4}",
    "LU": r"(L-)?\d{4}",
    "DK": r"\d{4}",
    "NO": r"\d{4}",
    "NL": r"\d{4} ?[A-Z]{2}",
    "SE": r"\d{3} ?\d{2}",
    "PL": r"\d{2}-\d{3}",
    "US": r"\d{5}(-\d{4})?",
}
OTHER_POSTAL_CODE = r"[A-Z0-9][A-Z0-9 -]{0,8}[A-Z0-9]"

# The tax id is the VAT identification number with its country prefix. Known national
# formats are checked exactly (what the tax offices publish); any other prefix gets the
# generic EU shape, two letters and 2-13 letters or digits. Spaces, dots and hyphens
# are ignored ("DE 123.456.789", "CHE-123.456.789 MWST").
VAT_FORMATS = {
    "AT": (r"ATU\d{8}", "ATU and 8 digits"),
    "BE": (r"BE[01]\d{9}", "BE and 10 digits starting with 0 or 1"),
    "CH": (r"CHE\d{9}(MWST|TVA|IVA)?", "CHE and 9 digits, optionally MWST/TVA/IVA"),
    "DE": (r"DE\d{9}", "DE and 9 digits"),
    "DK": (r"DK\d{8}", "DK and 8 digits"),
    "ES": (r"ES[A-Z0-9]\d{7}[A-Z0-9]", "ES and 9 characters"),
    "FI": (r"FI\d{8}", "FI and 8 digits"),
    "FR": (r"FR[A-HJ-NP-Z0-9]{2}\d{9}", "FR, 2 characters and 9 digits"),
    "GB": (r"GB(\d{9}|\d{12}|GD\d{3}|HA\d{3})", "GB and 9 or 12 digits"),
    "IT": (r"IT\d{11}", "IT and 11 digits"),
    "LU": (r"LU\d{8}", "LU and 8 digits"),
    "NL": (r"NL\d{9}B\d{2}", "NL, 9 digits, B and 2 digits"),
    "NO": (r"NO\d{9}(MVA)?", "NO and 9 digits, optionally MVA"),
    "PL": (r"PL\d{10}", "PL and 10 digits"),
    "SE": (r"SE\d{10}01", "SE and 12 digits ending in 01"),
}
GENERIC_VAT = r"[A-Z]{2}[A-Z0-9]{2,13}"

# Deliberately plain: one @, no spaces, a dotted domain. Deliverability is the mail
# server's business; this catches typos and pasted names.
EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


class BillingInformation(BaseModel):
    """As staff typed it. Lengths are bounded here (payload size); every business rule is
    in `billing_information_problems`, so one refusal can name every bad field."""

    model_config = ConfigDict(frozen=True)

    legal_name: str = Field(default="", max_length=200)
    street: str = Field(default="", max_length=200)
    postal_code: str = Field(default="", max_length=20)
    city: str = Field(default="", max_length=200)
    country: str = Field(default="", max_length=10)
    billing_email: str = Field(default="", max_length=254)
    currency: str = Field(default="", max_length=10)
    payment_terms_days: int | None = Field(default=None, ge=-100_000, le=100_000)
    tax_id: str = Field(default="", max_length=40)


def normalised_tax_id(tax_id: str) -> str:
    return re.sub(r"[\s.\-]", "", tax_id).upper()


def normalised(info: BillingInformation) -> BillingInformation:
    """Trimmed, codes upper-cased, the tax id without separators: what the store keeps."""
    return BillingInformation(
        legal_name=" ".join(info.legal_name.split()),
        street=" ".join(info.street.split()),
        postal_code=" ".join(info.postal_code.split()).upper(),
        city=" ".join(info.city.split()),
        country=info.country.strip().upper(),
        billing_email=info.billing_email.strip(),
        currency=info.currency.strip().upper(),
        payment_terms_days=info.payment_terms_days,
        tax_id=normalised_tax_id(info.tax_id),
    )


def _tax_id_problem(tax_id: str) -> str | None:
    if not tax_id:
        return "tax id: missing (the VAT number with its country prefix, e.g. DE123456789)"
    known = VAT_FORMATS.get(tax_id[:2])
    if known:
        pattern, words = known
        if not re.fullmatch(pattern, tax_id):
            return f"tax id: not a {tax_id[:2]} VAT number ({words})"
        return None
    if not re.fullmatch(GENERIC_VAT, tax_id):
        return "tax id: not a VAT number (country prefix, then 2 to 13 letters or digits)"
    return None


def _address_problems(i: BillingInformation) -> list[str]:
    """Street, a known country, a postal code of that country's shape, city."""
    problems = []
    if not i.street:
        problems.append("address: street missing")
    if i.country not in COUNTRIES:
        problems.append(
            "address: country missing"
            if not i.country
            else "address: country must be an ISO 3166 code such as DE, AT or CH"
        )
    if not i.postal_code:
        problems.append("address: postal code missing")
    elif i.country in COUNTRIES and not re.fullmatch(
        POSTAL_CODES.get(i.country, OTHER_POSTAL_CODE), i.postal_code
    ):
        problems.append(f"address: postal code is not a postal code of {i.country}")
    if not i.city:
        problems.append("address: city missing")
    return problems


def billing_information_problems(info: BillingInformation) -> list[str]:
    """Every bad field, each named once; empty when the billing information is complete."""
    i = normalised(info)
    problems = []
    if len(i.legal_name) < 2:
        problems.append("legal name: missing")
    problems += _address_problems(i)
    if not i.billing_email:
        problems.append("billing e-mail: missing")
    elif not EMAIL.fullmatch(i.billing_email):
        problems.append("billing e-mail: not an e-mail address")
    if i.currency not in CURRENCIES:
        problems.append(
            (
                "currency: missing"
                if not i.currency
                else f"currency: {i.currency[:10]!r} is not one we invoice in"
            )
            + f" (ISO 4217: {', '.join(CURRENCIES)})"
        )
    if i.payment_terms_days is None:
        problems.append(f"payment terms: missing (0 to {PAYMENT_TERMS_MAX_DAYS} days net)")
    elif not 0 <= i.payment_terms_days <= PAYMENT_TERMS_MAX_DAYS:
        problems.append(
            f"payment terms: {i.payment_terms_days} days; give 0 (due on receipt) "
            f"to {PAYMENT_TERMS_MAX_DAYS} days net"
        )
    if problem := _tax_id_problem(i.tax_id):
        problems.append(problem)
    return problems


def refusal_reason(problems: list[str]) -> str:
    return "billing information refused: " + "; ".join(problems)

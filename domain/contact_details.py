"""Phone numbers and e-mail addresses of accounts and contacts (phone, e-mail and invoice
e-mail are the account's mandatory fields).

Each `normalise_*` returns the form we store, or raises ValueError with a sentence that
says what form is expected. The sentences never repeat the value: it is personal data and
a refusal may be logged."""

import re

from email_validator import EmailNotValidError, validate_email

PHONE_EXAMPLE = "+49 30 1234567"
EMAIL_EXAMPLE = "name@company.example"

# E.164: a country code (never starting with 0) and at most 15 digits in all. The shortest
# numbers in use (small territories) have 7 digits with the country code.
PHONE_MIN_DIGITS, PHONE_MAX_DIGITS = 7, 15
PHONE_MAX_LENGTH = 40
# What people type between digit groups: spaces, hyphens, dots, slashes, brackets.
_SEPARATORS = re.compile(r"[\s\-./()]+")
_PHONE_CHARS = re.compile(r"[0-9\s\-./()]*")
# "+49 (0)30 ...": the national trunk prefix in brackets is not dialled from abroad.
_TRUNK_PREFIX = re.compile(r"\(\s*0\s*\)")


def normalise_phone(text: str) -> str:
    """An international number, stored as "+" and the digit groups as typed, one space
    between groups: "+49 (0)30 123-4567" -> "+49 30 123 4567". "00" counts as "+"."""
    value = text.strip()
    expected = f"expected an international number with its country code, e.g. {PHONE_EXAMPLE}"
    if not value:
        raise ValueError(f"empty; {expected}")
    if len(value) > PHONE_MAX_LENGTH:
        raise ValueError(f"longer than {PHONE_MAX_LENGTH} characters; {expected}")
    if value.startswith("00"):
        value = "+" + value[2:]
    if not value.startswith("+"):
        raise ValueError(f"no country code (it must start with + or 00); {expected}")
    rest = _TRUNK_PREFIX.sub(" ", value[1:])
    if not _PHONE_CHARS.fullmatch(rest):
        raise ValueError(
            "only digits, spaces and - . / ( ) may follow the +; "
            f"{expected} (no extension, no letters)"
        )
    groups = [g for g in _SEPARATORS.split(rest) if g]
    digits = "".join(groups)
    if not digits:
        raise ValueError(f"no digits after the +; {expected}")
    if digits[0] == "0":
        raise ValueError(f"a country code never starts with 0; {expected}")
    if not PHONE_MIN_DIGITS <= len(digits) <= PHONE_MAX_DIGITS:
        raise ValueError(
            f"{len(digits)} digits; an international number has "
            f"{PHONE_MIN_DIGITS} to {PHONE_MAX_DIGITS}; {expected}"
        )
    return "+" + " ".join(groups)


def normalise_email(text: str) -> str:
    """A deliverable-looking address by the rules of email-validator (the library pydantic's
    EmailStr uses), without asking DNS: syntax, a dotted public domain, no special-use names.
    The domain is lower-cased; an ASCII local part is required (invoice systems choke on
    others)."""
    value = text.strip()
    expected = f"expected an e-mail address like {EMAIL_EXAMPLE}"
    if not value:
        raise ValueError(f"empty; {expected}")
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as e:
        raise ValueError(f"not an e-mail address ({e}); {expected}") from None
    return checked.normalized


def normalise_name(text: str) -> str:
    """A company, project or person name: printable, 2 to 200 characters, spaces collapsed."""
    value = " ".join(text.split())
    if len(value) < 2:
        raise ValueError('empty or a single character; expected a name, e.g. "NewCo GmbH"')
    if len(value) > 200:
        raise ValueError("longer than 200 characters; expected a name")
    if not value.isprintable():
        raise ValueError("contains control characters; expected a name on one line")
    return value

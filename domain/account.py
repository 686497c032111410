"""The account rules that make a quote rejectable: a mandatory field missing."""

from pydantic import BaseModel, ConfigDict


class MandatoryFields(BaseModel):
    """Which of the three mandatory account fields are filled. Carries no values: they are
    personal data and must not enter workflow history."""

    model_config = ConfigDict(frozen=True)

    phone: bool
    email: bool
    invoice_email: bool


FIELD_NAMES = {"phone": "phone", "email": "e-mail", "invoice_email": "invoice e-mail"}
OPTIONS = {"phone": "--phone", "email": "--email", "invoice_email": "--invoice-email"}


def missing_mandatory_fields(fields: MandatoryFields) -> list[str]:
    """The mandatory fields still empty, in the words staff see on the account."""
    return [label for name, label in FIELD_NAMES.items() if not getattr(fields, name)]


def rejection_reason(fields: MandatoryFields) -> str | None:
    missing = missing_mandatory_fields(fields)
    if not missing:
        return None
    options = " ".join(f"{OPTIONS[name]} …" for name in FIELD_NAMES if not getattr(fields, name))
    return (
        f"the account is missing its mandatory {', '.join(missing)}; "
        f"fill {'it' if len(missing) == 1 else 'them'} in on the account "
        f"(`starter.py update-account {options}`) and mark the quote complete again"
    )

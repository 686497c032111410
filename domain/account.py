"""The account rules that make a quote rejectable (seed 000 §3, §4)."""

from pydantic import BaseModel, ConfigDict


class MandatoryFields(BaseModel):
    """Which of the three mandatory account fields are filled. Carries no values: they are
    personal data and must not enter workflow history."""

    model_config = ConfigDict(frozen=True)

    phone: bool
    email: bool
    invoice_email: bool


FIELD_NAMES = {"phone": "phone", "email": "e-mail", "invoice_email": "invoice e-mail"}


def missing_mandatory_fields(fields: MandatoryFields) -> list[str]:
    """The mandatory fields still empty, in the words staff see on the account."""
    return [label for name, label in FIELD_NAMES.items() if not getattr(fields, name)]


def rejection_reason(fields: MandatoryFields) -> str | None:
    missing = missing_mandatory_fields(fields)
    if not missing:
        return None
    return (
        f"the account is missing its mandatory {', '.join(missing)}; "
        "fill them in on the account (`starter.py update-account`) and mark the quote "
        "complete again"
    )

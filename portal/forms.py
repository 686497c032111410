"""Reading the fields of an opportunity (stage, amount, close date) from a form, with the
words for each field that is wrong."""

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.leads import OPPORTUNITY_STAGES
from portal.i18n import Words


def parse_amount(text: str, language: str) -> Decimal:
    """ "12.500,50" (German) or "12,500.50" (English) or plain "12500.5"."""
    cleaned = text.replace(" ", "").replace("\u00a0", "")
    if language == "de":
        cleaned = cleaned.replace(".", "").replace(",", ".")
    else:
        cleaned = cleaned.replace(",", "")
    value = Decimal(cleaned)
    if value < 0 or value != value.quantize(Decimal("0.01")):
        raise ValueError(text)
    return value


def opportunity_fields(form: Any, words: Words, prefix: str) -> tuple[dict, dict]:
    """The fields given, and the errors by field name (`<prefix>-<field>`)."""
    fields: dict[str, Any] = {}
    errors: dict[str, str] = {}
    stage = str(form.get("stage", "")).strip()
    if stage:
        if stage not in OPPORTUNITY_STAGES:
            errors[f"{prefix}-stage"] = words("Stage")
        fields["stage"] = stage
    amount = str(form.get("amount", "")).strip()
    if amount:
        try:
            fields["amount"] = parse_amount(amount, words.language)
        except (InvalidOperation, ValueError):
            errors[f"{prefix}-amount"] = words("Use an amount such as 12500 or 12500,50.")
    close = str(form.get("close_date", "")).strip()
    if close:
        try:
            fields["close_date"] = date.fromisoformat(close)
        except ValueError:
            errors[f"{prefix}-close_date"] = words("Use a date.")
    return fields, errors

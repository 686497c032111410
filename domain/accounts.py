"""Customer accounts: filling in or correcting an account's fields, which is
how a quote rejected for a missing mandatory field is fixed, and the "new pipeline" that
records customer (account), project (PBX) and contact in one step. Also the overview of an
account that staff read before a change order: its PBXs, licences, products, flats, DIDs.

The models that cross into Temporal carry plain strings: the rules (`checked`) run at the
edge, in the starter, and again in the activity before anything is written. Workflow
inputs are not re-validated on replay, so a stricter rule later never breaks a history."""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, Field

from domain.account import FIELD_NAMES, MandatoryFields, missing_mandatory_fields
from domain.contact_details import normalise_email, normalise_name, normalise_phone
from domain.errors import Refused
from domain.steps import Actor, StepKey

# Account, project (PBX), contact and partner ids: ASCII, they end up in workflow ids.
RecordId = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class AccountKind(StrEnum):
    ACCOUNT_CHANGE = "account-change"


class AccountStage(StrEnum):
    CHANGING = "changing"
    DONE = "done"
    REFUSED = "refused"


FINAL_STAGES = frozenset({AccountStage.DONE, AccountStage.REFUSED})


# --- the changes staff make -----------------------------------------------------------------


class UpdateAccount(BaseModel):
    """Fill in or correct fields of an account; a field left out (None) stays as it is."""

    operation: Literal["update-account"] = "update-account"
    account_id: str = RecordId
    name: str | None = Field(default=None, max_length=400)
    phone: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=400)
    invoice_email: str | None = Field(default=None, max_length=400)


class NewPipeline(BaseModel):
    """Customer, project and contact in one step ("neue Pipeline"), with the
    three mandatory fields filled in. The project is the customer's PBX, not active until
    it is delivered: change orders act on active PBXs only."""

    operation: Literal["new-pipeline"] = "new-pipeline"
    account_id: str = RecordId
    name: str = Field(max_length=400)
    partner_id: str = RecordId
    phone: str = Field(max_length=100)
    email: str = Field(max_length=400)
    invoice_email: str = Field(max_length=400)
    project_id: str = RecordId
    project_name: str = Field(max_length=400)
    contact_id: str = RecordId
    contact_name: str = Field(max_length=400)
    contact_email: str = Field(default="", max_length=400)  # "" = not given
    contact_phone: str = Field(default="", max_length=100)


AccountOperation = Annotated[UpdateAccount | NewPipeline, Field(discriminator="operation")]

# What each field must look like; optional fields of a contact may be "" (not given).
_RULES = {
    "name": normalise_name,
    "phone": normalise_phone,
    "email": normalise_email,
    "invoice_email": normalise_email,
    "project_name": normalise_name,
    "contact_name": normalise_name,
    "contact_email": normalise_email,
    "contact_phone": normalise_phone,
}
_OPTIONAL = {"contact_email", "contact_phone"}
LABELS = {
    **FIELD_NAMES,
    "name": "name",
    "project_name": "project name",
    "contact_name": "contact name",
    "contact_email": "contact e-mail",
    "contact_phone": "contact phone",
}


class InvalidFields(Refused):
    """Every bad field at once, by field name, with the form that is expected."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{LABELS.get(f, f)}: {m}" for f, m in problems.items()))


Change = TypeVar("Change", "UpdateAccount", "NewPipeline")


def checked(change: Change) -> Change:
    """The change with every given field in its stored form; InvalidFields names each bad
    one. An update must change something."""
    problems: dict[str, str] = {}
    values: dict[str, str] = {}
    for field, rule in _RULES.items():
        value = getattr(change, field, None)
        if value is None or (field in _OPTIONAL and not value.strip()):
            continue
        try:
            values[field] = rule(value)
        except ValueError as e:
            problems[field] = str(e)
    if problems:
        raise InvalidFields(problems)
    if isinstance(change, UpdateAccount) and not values:
        raise Refused("nothing to change: give at least one of name, phone, e-mail, invoice e-mail")
    return change.model_copy(update=values)


class AccountChangeRequest(BaseModel):
    actor: str = Actor
    change: AccountOperation


class AccountChangeStep(BaseModel):
    key: StepKey
    change: AccountOperation


class AccountChanged(BaseModel):
    """What the store did. Field names only, never their values (this is kept in the audit
    log and in the process's status)."""

    account_id: str
    partner_id: str
    changed: list[str] = []  # field names whose value changed
    unchanged: list[str] = []  # given, but already so
    created: list[str] = []  # "account", "project PBX-X", "contact C-X"
    missing: list[str] = []  # mandatory fields still empty, in staff's words


def change_message(operation: str, done: AccountChanged) -> str:
    """One sentence for staff, naming fields, never their values."""
    if operation == "new-pipeline":
        head = f"new pipeline for {done.account_id}: created {', '.join(done.created)}"
    elif done.changed:
        head = f"account {done.account_id}: {', '.join(LABELS[f] for f in done.changed)} changed"
        if done.unchanged:
            head += f" ({', '.join(LABELS[f] for f in done.unchanged)} already so)"
    else:
        head = f"account {done.account_id}: nothing changed, the values were already so"
    if done.missing:
        return (
            f"{head}; still missing: {', '.join(done.missing)} (quotes are rejected "
            "until they are filled in)"
        )
    return f"{head}; the mandatory phone, e-mail and invoice e-mail are filled in"


class AccountChangeStatus(BaseModel):
    process_id: str
    kind: str = AccountKind.ACCOUNT_CHANGE.value
    stage: AccountStage
    waiting_for: str
    since: datetime
    revision: int = 0
    operation: str
    account_id: str | None = None
    partner_id: str | None = None
    message: str = ""
    changed: list[str] = []
    created: list[str] = []
    missing: list[str] = []
    notes: list[str] = []  # what every process status says besides its stage


# --- the overview of an account -------------------------------------------------------------


class AccountLookup(BaseModel):
    account_id: str = RecordId


class LicenceBlock(BaseModel):
    licence_type: str
    quantity: int
    start_date: date


class ProductView(BaseModel):
    sku: str
    name: str
    kind: str
    quantity: int
    start_date: date


class FlatView(BaseModel):
    id: int
    licence_type: str | None
    start_date: date
    dids: list[str] = []


class DidView(BaseModel):
    number: str
    status: str


class PbxView(BaseModel):
    id: str
    name: str
    active: bool
    licences: list[LicenceBlock] = []
    products: list[ProductView] = []
    flats: list[FlatView] = []
    dids_without_flat: list[DidView] = []

    def licence_totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for block in self.licences:
            totals[block.licence_type] = totals.get(block.licence_type, 0) + block.quantity
        return totals


class ContactView(BaseModel):
    id: str
    name: str
    email: str
    phone: str


class AccountCard(BaseModel):
    id: str
    name: str
    partner_id: str
    partner_name: str
    phone: str
    email: str
    invoice_email: str

    def missing(self) -> list[str]:
        return missing_mandatory_fields(
            MandatoryFields(
                phone=bool(self.phone),
                email=bool(self.email),
                invoice_email=bool(self.invoice_email),
            )
        )


class AccountOverview(BaseModel):
    """What a change order on the account will act on. `refused` says why there is none."""

    account: AccountCard | None = None
    contacts: list[ContactView] = []
    pbxs: list[PbxView] = []
    refused: str | None = None

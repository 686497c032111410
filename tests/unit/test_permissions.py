"""The permission table (domain/permissions.py) as a table: every row, allowed and refused,
and a row for every step of every workflow (a new update cannot be added without one)."""

import inspect
import re
from pathlib import Path

import pytest

from domain.leads import LEAD_STEP_KINDS
from domain.permissions import (
    PERMISSIONS,
    PROCESSES,
    SYSTEM_ACTOR,
    Facts,
    Person,
    Role,
    Who,
    decide,
)
from worker import workflow_classes
from workflows.process import Process

WORKFLOWS = workflow_classes()  # an unversioned worker's, as the tests run


ROOT = Path(__file__).resolve().parents[2]

NORD = Facts(partner_ids=["P-NORDTEL"], account_id="ACME")
STAFF = {r: Person(id=f"x-{r.value}", staff_status="active", roles=[r.value]) for r in Role}
NORD_USER = Person(id="C-NORD-1", partner_id="P-NORDTEL", partner_status="active")
ALP_USER = Person(id="C-ALP-1", partner_id="P-ALPCOM", partner_status="active")
INVITED = Person(id="C-NORD-2", partner_id="P-NORDTEL", partner_status="invited")
GONE = Person(id="C-NORD-3", partner_id="P-NORDTEL", partner_status="deactivated")
SIGNER = Person(id="C-ACME-1", signer_for=["ACME"])
OTHER_SIGNER = Person(id="C-FJORD-1", signer_for=["FJORDBYGG"])
FORMER = Person(id="ex-eva", staff_status="deactivated", roles=["channel_manager"])


def _rows() -> list:
    return [
        pytest.param(permission, allowed, id=permission)
        for permission, allowed in sorted(PERMISSIONS.items())
    ]


@pytest.mark.parametrize("permission,allowed", _rows())
def test_every_row_allows_exactly_whom_it_names(permission, allowed):
    if Who.ANYONE in allowed:
        assert decide(permission, "mallory", None, NORD) is None
        return
    # staff: each role is allowed iff the row names it (or any staff member may)
    for role, person in STAFF.items():
        reason = decide(permission, person.id, person, NORD)
        if role in allowed or Who.ANY_STAFF in allowed:
            assert reason is None, (permission, role, reason)
        else:
            assert reason and f"{person.id} has {role.value}" in reason, (permission, reason)
    # a partner user of this process's partner; of another partner
    own = decide(permission, NORD_USER.id, NORD_USER, NORD)
    mine = Facts(partner_ids=["P-NORDTEL"], owner="C-NORD-1")
    if Who.PARTNER_USER in allowed or Who.INVITED_USER in allowed:
        assert own is None
    elif Who.OWN_LEAD in allowed:
        assert decide(permission, NORD_USER.id, NORD_USER, mine) is None
        theirs = decide(
            permission,
            NORD_USER.id,
            NORD_USER,
            Facts(partner_ids=["P-NORDTEL"], owner="C-NORD-2", lead_id="L-1"),
        )
        assert theirs == (
            "only the owner converts lead L-1: it belongs to C-NORD-2"
            if "convert" in permission
            else "only the owner answers for lead L-1: it belongs to C-NORD-2"
        )
    else:
        assert own and "not staff" in own
    other = decide(permission, ALP_USER.id, ALP_USER, mine)
    assert other is not None
    if allowed & {Who.PARTNER_USER, Who.OWN_LEAD, Who.INVITED_USER}:
        assert other == (
            "C-ALP-1 is a user of partner P-ALPCOM; this "
            f"{other.split('; this ')[1].split(' is for')[0]} is for P-NORDTEL"
        )
    # a signer of this customer; of another customer
    signer = decide(permission, SIGNER.id, SIGNER, NORD)
    assert (signer is None) == (Who.SIGNER in allowed)
    assert decide(permission, OTHER_SIGNER.id, OTHER_SIGNER, NORD) is not None
    # nobody, a deactivated member, the system's own name
    assert "not in the people directory" in decide(permission, "intern-joe", None, NORD)
    assert decide(permission, FORMER.id, FORMER, NORD) is not None
    system = decide(permission, SYSTEM_ACTOR, None, NORD)
    assert (system is None) == (Who.SYSTEM in allowed)


def test_the_issues_impersonations_are_refused_with_a_reason():
    assert decide("FastChangeOrder.confirm", "C-ALP-1", ALP_USER, NORD) == (
        "C-ALP-1 is a user of partner P-ALPCOM; this order is for P-NORDTEL"
    )
    assert "not staff" in decide(
        "PartnerOnboarding.start", "C-ALP-1", ALP_USER, Facts(partner_ids=["P-NORDTEL"])
    )
    assert "signs for FJORDBYGG" in decide(
        "Renegotiation.contract_signed", "C-FJORD-1", OTHER_SIGNER, Facts(account_id="ACME")
    )
    assert "not in the people directory" in decide(
        "PartnerManagement.start", "intern-joe", None, Facts()
    )
    assert "not staff" in decide("ChangeOrder.publish", "C-NORD-1", NORD_USER, NORD)
    assert (
        decide("PartnerManagement.start", "cm-eva", STAFF[Role.CHANNEL_MANAGER], Facts())
        == "start takes the role admin; cm-eva has channel_manager"
    )
    assert "processes' own name" in decide("FastChangeOrder.confirm", SYSTEM_ACTOR, None, NORD)


def test_partner_users_who_are_not_active_do_nothing_but_log_in():
    assert "invited, not active" in decide("FastChangeOrder.confirm", INVITED.id, INVITED, NORD)
    assert (
        decide(
            "PartnerOnboarding.partner_login", INVITED.id, INVITED, Facts(partner_ids=["P-NORDTEL"])
        )
        is None
    )
    assert (
        decide("PartnerOnboarding.partner_login", GONE.id, GONE, Facts(partner_ids=["P-NORDTEL"]))
        is not None
    )
    assert (
        decide(
            "PartnerOnboarding.partner_login",
            ALP_USER.id,
            ALP_USER,
            Facts(partner_ids=["P-NORDTEL"]),
        )
        is not None
    )


def test_the_steps_the_portal_and_the_signing_page_send_stay_allowed():
    """CONTRACT.md: what partner users and signers must be able to do."""
    for permission in (
        "FastChangeOrder.confirm",
        "ChangeOrder.confirm",
        "ClassoundOrder.upload",
        "ChangeOrder.upload",
        "LeadStep.claim",
    ):
        assert Who.PARTNER_USER in PERMISSIONS[permission], permission
    for permission in (
        "LeadStep.not-interested",
        "LeadStep.accept",
        "LeadStep.convert",
        "LeadStep.update-opportunity",
    ):
        assert Who.OWN_LEAD in PERMISSIONS[permission], permission
    assert Who.INVITED_USER in PERMISSIONS["PartnerOnboarding.partner_login"]
    for permission in ("Renegotiation.contract_signed", "Renegotiation.contract_declined"):
        assert Who.SIGNER in PERMISSIONS[permission], permission


def _update_names(cls) -> set[str]:
    return set(cls.__temporal_workflow_definition.updates) - {None}


@pytest.mark.parametrize("cls", WORKFLOWS, ids=lambda c: c.__temporal_workflow_definition.name)
def test_every_update_of_every_workflow_has_a_row(cls):
    name = cls.__temporal_workflow_definition.name
    missing = {f"{name}.{u}" for u in _update_names(cls)} - set(PERMISSIONS)
    assert not missing, f"add rows to domain/permissions.py for {sorted(missing)}"
    if issubclass(cls, Process):
        assert name in PROCESSES
        assert f"{name}.start" in PERMISSIONS
        assert f"{name}.cancel" in PERMISSIONS  # the kernel's cancel, needs attention


def test_every_update_handler_asks_before_it_writes():
    """Each update handler with an actor calls self._authorize with its own name before any
    write or change of state (a key, an activity, a decision). A handler checked in its own
    step (`_checked_in_step`) asks there only for its answers without a write; that its
    write refuses in the transaction, nothing changed, is tests/workflows/
    test_permissions.py's."""
    for cls in WORKFLOWS:
        for update, defn in cls.__temporal_workflow_definition.updates.items():
            if update in ("started", "answer") or update is None:
                continue
            source = inspect.getsource(defn.fn)
            asks = re.search(rf'await self\._authorize\("{update}", \w+\.actor', source)
            assert asks, f"{cls.__name__}.{update} does not ask the directory"
            writes = re.search(
                r"self\._(key|act\w*|decisions\.append|close)\(|"
                r"self\.\w+ = ",
                source,
            )
            assert writes is None or asks.start() < writes.start(), (
                f"{cls.__name__}.{update} writes before it asks"
            )


def test_every_lead_step_kind_has_a_row():
    assert {f"LeadStep.{k}" for k in LEAD_STEP_KINDS} <= set(PERMISSIONS)


def test_every_start_asks_the_directory():
    for cls in WORKFLOWS:
        if issubclass(cls, Process):
            source = inspect.getsource(cls.run)
            assert "self._refused_start(" in source, cls.__name__


def test_the_docs_explain_the_security_model_with_every_role():
    docs = (ROOT / "docs" / "security.md").read_text()
    section = docs.split("## Who may do what", 1)[1].split("\n## ", 1)[0]
    assert "domain/permissions.py" in section
    for role in Role:
        assert f"`{role.value}`" in section, role

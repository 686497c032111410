"""Who may do what: one table, for every step of every process, and the pure rule
that applies it to a person of the directory and the facts of one process.

A permission is `<workflow type>.<step>`: the step is the update's name, `start` for starting
the process, and for a lead step (workflows/lead_step.py, one short process per step) the
step's kind. The workflow checks it before anything is written (Process._authorize, a local
activity reading the directory) and the store checks it again inside the step's transaction
(store/steps.py once()); both call `decide` below."""

from enum import StrEnum

from pydantic import BaseModel

SYSTEM_ACTOR = "partnerflow"  # the processes' own name for timer steps (workflows/process.py)


class Role(StrEnum):
    SALES_OPS = "sales_ops"
    CUSTOMER_CARE = "customer_care"
    INVOICE_SERVICE = "invoice_service"
    CSC = "csc"
    CHANNEL_MANAGER = "channel_manager"
    FINANCE = "finance"
    ADMIN = "admin"


class Who(StrEnum):
    """Who may do a step besides a staff role."""

    PARTNER_USER = "a partner user of this process's partner"
    INVITED_USER = "the invited partner user (of this partner) themself"
    OWN_LEAD = "the claimant's own lead"
    SIGNER = "a signer of this customer"
    ANY_STAFF = "any active staff member"
    SYSTEM = "the system"
    ANYONE = "anyone who may reach the process (no actor: a read)"


Allowed = frozenset[Role | Who]


def _a(*who: Role | Who) -> Allowed:
    return frozenset(who)


R = Role
SALES, CARE, INVOICE, CSC, CM, FIN, ADMIN = (
    R.SALES_OPS,
    R.CUSTOMER_CARE,
    R.INVOICE_SERVICE,
    R.CSC,
    R.CHANNEL_MANAGER,
    R.FINANCE,
    R.ADMIN,
)

# Every business process (a workflows/process.py Process): `retry` and `cancel` while a step
# needs attention are ops work any staff member may do; `started` is the starter's answer.
PROCESSES = (
    "AccountChange",
    "ChangeOrder",
    "ClassoundOrder",
    "ClientOnboarding",
    "FastChangeOrder",
    "InvoicingRun",
    "LeadQueueRouter",
    "OnboardingCampaign",
    "PartnerManagement",
    "PartnerOnboarding",
    "Renegotiation",
)

PERMISSIONS: dict[str, Allowed] = {
    # Fast change order: sales ops start it; the partner confirms, or sales ops
    # for a partner who phoned (recorded as the staff member).
    "FastChangeOrder.start": _a(SALES, CARE),
    "FastChangeOrder.confirm": _a(Who.PARTNER_USER, SALES),
    "FastChangeOrder.decline": _a(Who.PARTNER_USER, SALES),
    "FastChangeOrder.cancel": _a(SALES, CARE),
    "FastChangeOrder.reminder": _a(Who.SYSTEM),
    # Change order (quote based)
    "ChangeOrder.start": _a(SALES),
    "ChangeOrder.mark_primary": _a(SALES),
    "ChangeOrder.publish": _a(SALES),
    "ChangeOrder.revise": _a(SALES),
    "ChangeOrder.mark_complete": _a(SALES),
    "ChangeOrder.upload": _a(Who.PARTNER_USER, SALES),
    "ChangeOrder.confirm": _a(Who.PARTNER_USER, SALES),
    "ChangeOrder.decline": _a(Who.PARTNER_USER, SALES),
    "ChangeOrder.cancel": _a(SALES, CARE),
    "ChangeOrder.reminder": _a(Who.SYSTEM),
    # CLASSOUND order: porting is sales ops' work; the reseller uploads
    "ClassoundOrder.start": _a(SALES),
    "ClassoundOrder.upload": _a(Who.PARTNER_USER, SALES),
    "ClassoundOrder.confirm": _a(SALES),
    "ClassoundOrder.extend": _a(SALES, CARE),
    "ClassoundOrder.carrier_answer": _a(SALES),
    "ClassoundOrder.cancel": _a(SALES, CARE),
    "ClassoundOrder.activate": _a(Who.SYSTEM),
    # Accounts, service desk and sales items
    "AccountChange.start": _a(SALES, CARE),
    "RecordChange.start": _a(CARE, SALES, INVOICE),
    # Renegotiation: customer care and CSC; the customer's signer signs (the
    # signing page), or customer care for a signature that came by post
    "Renegotiation.start": _a(CARE, CSC),
    "Renegotiation.contract_signed": _a(Who.SIGNER, CARE),
    "Renegotiation.contract_declined": _a(Who.SIGNER, CARE),
    "Renegotiation.extend_signing_deadline": _a(CARE, CSC),
    "Renegotiation.cancel": _a(CARE, CSC),
    "Renegotiation.deadline-passed": _a(Who.SYSTEM),
    # PSA: the invoice service onboards; finance confirms prices and numbering
    "ClientOnboarding.start": _a(INVOICE),
    "ClientOnboarding.billing_information": _a(INVOICE),
    "ClientOnboarding.contract_terms": _a(INVOICE),
    "ClientOnboarding.change_parts": _a(INVOICE),
    "ClientOnboarding.confirm_contract": _a(INVOICE, FIN),
    "ClientOnboarding.cancel": _a(INVOICE),
    "OnboardingCampaign.start": _a(INVOICE),
    "InvoicingRun.start": _a(INVOICE, FIN),
    "InvoicingRun.review_numbering": _a(FIN),
    # Partner management: enabling is irreversible and company-wide: admin
    "PartnerManagement.start": _a(ADMIN),
    "PartnerOnboarding.start": _a(CM),
    "PartnerOnboarding.invite_partner_user": _a(CM),
    "PartnerOnboarding.deactivate": _a(CM),
    "PartnerOnboarding.partner_login": _a(Who.INVITED_USER),
    # Lead queues and the lead steps; the queue's own check (a channel
    # manager of *this* queue, the owner of *this* lead) stays in the store
    "LeadQueueRouter.start": _a(CM),
    "LeadQueueRouter.add_queue_partners": _a(CM),
    "LeadQueueRouter.add_leads": _a(CM, SALES),
    "LeadQueueRouter.add_assignment_rule": _a(CM),
    "LeadStep.claim": _a(Who.PARTNER_USER, CM),
    "LeadStep.accept": _a(Who.OWN_LEAD, CM),
    "LeadStep.not-interested": _a(Who.OWN_LEAD, CM),
    "LeadStep.convert": _a(Who.OWN_LEAD, CM),
    "LeadStep.update-opportunity": _a(Who.OWN_LEAD, CM),
    "LeadStep.assign": _a(CM),
    "LeadStep.reassign": _a(CM),
    "LeadStep.answer": _a(Who.ANYONE),
    "LeadStep.service-level": _a(Who.SYSTEM),
}
for _process in PROCESSES:
    PERMISSIONS[f"{_process}.retry"] = _a(Who.ANY_STAFF)
    PERMISSIONS.setdefault(f"{_process}.cancel", _a(Who.ANY_STAFF))  # while it needs attention
    PERMISSIONS[f"{_process}.started"] = _a(Who.ANYONE)

# What a process is, in a refusal's words ("this order is for P-NORDTEL").
NOUN = {
    "FastChangeOrder": "order",
    "ChangeOrder": "order",
    "ClassoundOrder": "order",
    "PartnerOnboarding": "partner account",
    "LeadQueueRouter": "lead queue",
    "LeadStep": "lead queue",
    "Renegotiation": "contract",
    "ClientOnboarding": "onboarding",
    "InvoicingRun": "invoicing run",
    "AccountChange": "account",
}

PARTNER_STATES = {"invited": "invited", "active": "active", "inactive": "deactivated"}


class Person(BaseModel):
    """One id as the directory knows it: staff, partner user, signer (or several)."""

    id: str
    staff_status: str | None = None  # active / deactivated; None: not staff
    roles: list[str] = []
    partner_id: str | None = None  # a partner user's partner
    partner_status: str | None = None  # invited / active / deactivated (words)
    signer_for: list[str] = []  # accounts the contact signs for

    @property
    def active_staff(self) -> bool:
        return self.staff_status == "active"

    @property
    def known(self) -> bool:
        return bool(self.staff_status or self.partner_id or self.signer_for)


class Facts(BaseModel):
    """What the rule needs to know of the process."""

    partner_ids: list[str] = []  # the process's partner (a queue: its partners)
    account_id: str | None = None  # the customer
    owner: str | None = None  # the lead's (or opportunity's) owner
    # a lead step's queue, lead, opportunity: the store finds partners and owner from them
    queue_id: str | None = None
    lead_id: str | None = None
    opportunity_id: str | None = None


def allowed_for(permission: str) -> Allowed:
    try:
        return PERMISSIONS[permission]
    except KeyError:
        raise KeyError(
            f"no permission row for {permission}: add it to domain/permissions.py"
        ) from None


def describe(allowed: Allowed) -> str:
    roles = sorted(str(w) for w in allowed if isinstance(w, Role))
    others = sorted(str(w) for w in allowed if not isinstance(w, Role))
    words = ([f"the role {' or '.join(roles)}"] if roles else []) + others
    return "; or ".join(words)


def not_the_owner(step: str, facts: Facts) -> str:
    """In the store's words (store/leads.py), which say the same when it checks again."""
    if facts.opportunity_id and not facts.lead_id:
        return f"opportunity {facts.opportunity_id} belongs to {facts.owner or 'nobody'}"
    verb = "converts" if step.startswith("convert") else "answers for"
    whose = f"it belongs to {facts.owner}" if facts.owner else "it is owned by nobody"
    return f"only the owner {verb} lead {facts.lead_id}: {whose}"


def decide(permission: str, actor: str, person: Person | None, facts: Facts) -> str | None:
    """None when `actor` may do the step; else why not, in words a person can act on."""
    allowed = allowed_for(permission)
    step = permission.split(".", 1)[1]
    if Who.ANYONE in allowed:
        return None
    if actor == SYSTEM_ACTOR:
        if Who.SYSTEM in allowed:
            return None
        return f"{actor} is the processes' own name; no person does {step} under it"
    if person is None or not person.known:
        return (
            f"{actor} is not in the people directory: staff are added by an admin "
            f"(`starter.py staff add`), partner users by invitation"
        )
    if _grants(allowed, actor, person, facts):
        return None
    return _refusal(permission, allowed, actor, person, facts)


def _grants(allowed: Allowed, actor: str, person: Person, facts: Facts) -> bool:
    """Whether one of the rows allowed lets this person (known to the directory) do it."""
    if person.active_staff and (
        Who.ANY_STAFF in allowed or any(r in allowed for r in person.roles)
    ):
        return True
    in_partner = person.partner_id is not None and person.partner_id in facts.partner_ids
    if (
        in_partner
        and Who.INVITED_USER in allowed
        and person.partner_status in ("invited", "active")
    ):
        return True
    if in_partner and person.partner_status == "active":
        if Who.PARTNER_USER in allowed:
            return True
        if Who.OWN_LEAD in allowed and facts.owner == actor:
            return True
    return bool(
        person.signer_for and Who.SIGNER in allowed and facts.account_id in person.signer_for
    )


def _refusal(permission: str, allowed: Allowed, actor: str, person: Person, facts: Facts) -> str:
    """Why a known person is refused: the most telling reason first."""
    step = permission.split(".", 1)[1]
    noun = NOUN.get(permission.split(".", 1)[0], "process")
    if person.staff_status == "deactivated":
        return f"{actor} is deactivated in the people directory"
    pu = person.partner_id is not None
    if pu and allowed & {Who.PARTNER_USER, Who.OWN_LEAD, Who.INVITED_USER}:
        why = _partner_refusal(step, noun, allowed, actor, person, facts)
        if why is not None:
            return why
    if person.signer_for and Who.SIGNER in allowed:
        return (
            f"{actor} signs for {', '.join(person.signer_for)}; this {noun} is for "
            f"{facts.account_id}"
        )
    if pu and not person.active_staff:
        return (
            f"{actor} is a user of partner {person.partner_id}, not staff: {step} takes "
            f"{describe(allowed)}"
        )
    if person.active_staff:
        has = ", ".join(sorted(person.roles)) or "no role"
        return f"{step} takes {describe(allowed)}; {actor} has {has}"
    return f"{step} takes {describe(allowed)}; {actor} is not one"


def _partner_refusal(
    step: str, noun: str, allowed: Allowed, actor: str, person: Person, facts: Facts
) -> str | None:
    """A partner user refused a step partner users may do: another partner, not active
    yet, or not the lead's owner. None when none of these is why."""
    if person.partner_id not in facts.partner_ids:
        partner_words = " or ".join(facts.partner_ids) or "no partner"
        return (
            f"{actor} is a user of partner {person.partner_id}; this {noun} is for {partner_words}"
        )
    if person.partner_status != "active" and Who.INVITED_USER not in allowed:
        return (
            f"{actor} is a partner user of {person.partner_id} who is "
            f"{person.partner_status}, not active"
        )
    if Who.OWN_LEAD in allowed:
        return not_the_owner(step, facts)
    return None

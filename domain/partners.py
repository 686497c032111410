"""Partner relationship management ("Activation de la gestion des relations avec les
partenaires", "Création de comptes et de contacts partenaires", and the partner seller's
first login). Pure rules and the models that cross into Temporal history.

Nothing here carries personal data: partner users are named by their contact id, and the
login credentials only ever appear as digests (see `token_digest`, `hash_password`)."""

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, Field

from domain.steps import Actor, StepAnswer, StepKey

__all__ = ["StepAnswer", "StepKey"]  # re-exported for callers

Id = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")


class PartnerKind(StrEnum):
    PARTNER_MANAGEMENT = "partner-management"
    PARTNER_ACCOUNT = "partner-account"


class PartnerStage(StrEnum):
    VALIDATING = "validating"
    REFUSED = "refused"
    ENABLED = "enabled"
    ALREADY_ENABLED = "already-enabled"
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


MANAGEMENT_FINAL = frozenset(
    {PartnerStage.REFUSED, PartnerStage.ENABLED, PartnerStage.ALREADY_ENABLED}
)
ACCOUNT_FINAL = frozenset({PartnerStage.REFUSED, PartnerStage.DEACTIVATED})

NOT_ENABLED = (
    "partner management is not enabled: run `starter.py enable-partner-management` "
    "first (it cannot be undone)"
)
DISABLE_REFUSED = (
    "partner management cannot be disabled: enabling it is irreversible "
    "(« Cette action n'est pas réversible »)"
)


def partner_account_process_id(partner_id: str) -> str:
    return f"{PartnerKind.PARTNER_ACCOUNT.value}-{partner_id}"


# --- the first login --------------------------------------------------------------------------
# The invitation e-mail carries a one-time login link (a random token, see store/partners.py);
# PostgreSQL keeps only the token's SHA-256. At first login the partner user chooses a
# password; the portal (or the starter) hashes it (argon2id) and sends the hash and the token's
# digest, so neither the token nor the password ever enters Temporal history or a log line.

LOGIN_LINK_VALID = timedelta(days=7)
MIN_PASSWORD_LENGTH = 12
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
# argon2-cffi's defaults (RFC 9106, the low-memory profile: 64 MiB, 3 passes, 4 lanes): a
# well-kept library and its recommended parameters, not our own.
PASSWORDS = PasswordHasher()


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def password_problems(password: str, user_id: str) -> list[str]:
    """Why a chosen password is not good enough (empty: it is)."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"needs at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip() != password:
        problems.append("must not start or end with a space")
    if user_id.lower() in password.lower():
        problems.append(f"must not contain the user name {user_id}")
    if len(set(password)) < 5:
        problems.append("needs at least 5 different characters")
    return problems


def hash_password(password: str, salt: bytes | None = None) -> str:
    """argon2id (argon2-cffi), in its standard encoded form `$argon2id$v=19$m=...`. The salt is
    random unless given (tests give one to be repeatable)."""
    if salt is None:
        return PASSWORDS.hash(password)
    return PASSWORDS.hash(password, salt=salt)


def scrypt_hash(password: str, salt: bytes) -> str:
    """The hash users who logged in before argon2 still have: `scrypt$n$r$p$salt$hash`
    (base64). Verified (and replaced by argon2 at the next login), never made for new ones."""
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        again = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(again, base64.b64decode(digest))


def verify_password(password: str, stored: str) -> bool:
    """True only for the password of `stored` (argon2id, or a legacy scrypt hash)."""
    if stored.startswith("$argon2"):
        try:
            return PASSWORDS.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
    return _verify_scrypt(password, stored)


def needs_rehash(stored: str) -> bool:
    """A hash to replace at the next successful login: a legacy scrypt one, or argon2 with
    parameters older than today's."""
    if not stored.startswith("$argon2"):
        return True
    try:
        return PASSWORDS.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def is_password_hash(value: str) -> bool:
    """An argon2 hash as argon2-cffi encodes it, or a legacy scrypt one: never a clear
    password sent by mistake."""
    if value.startswith("$argon2"):
        try:
            extract_parameters(value)
        except InvalidHashError:
            return False
        return True
    parts = value.split("$")
    return len(parts) == 6 and parts[0] == "scrypt" and all(parts[1:])


UserStatus = Literal["invited", "active", "inactive"]


def first_login_refusal(
    status: UserStatus,
    stored_digest: str | None,
    expires_at: datetime | None,
    given_digest: str,
    now: datetime,
) -> str | None:
    """Why a first login is refused, or None. A wrong link and an expired link say so."""
    if status == "inactive":
        return "this partner user is deactivated; ask your channel manager"
    if status == "active":
        return None  # a repeat: answered "already logged in", nothing changes
    if stored_digest is None or not hmac.compare_digest(stored_digest, given_digest):
        return (
            "the login link is not valid (a newer invitation replaces older links); use "
            "the link of the latest invitation e-mail"
        )
    if expires_at is None or now >= expires_at:
        return (
            f"the login link has expired (valid {LOGIN_LINK_VALID.days} days); ask your "
            "channel manager to invite you again"
        )
    return None


# --- who may receive leads --------------------------------------------------------------------


class PartnerRoster(BaseModel):
    """A partner account's users as a lead queue sees them. `version` grows with every change
    in PostgreSQL, so an older snapshot never overwrites a newer one."""

    partner_id: str
    version: int
    active: bool
    users: dict[str, UserStatus] = {}


def lead_refusal(user_id: str, roster: PartnerRoster | None) -> str | None:
    """Only an active partner user who has logged in (set a password with the link) can
    claim or be given leads (« déjà activé et connecté au moins une fois »)."""
    if roster is None or user_id not in roster.users:
        return f"{user_id} is not a user of any partner of this queue"
    if not roster.active:
        return f"partner account {roster.partner_id} is deactivated"
    status = roster.users[user_id]
    if status == "invited":
        return (
            f"{user_id} has not logged in yet: the login e-mail's one-time link sets "
            "the password at the first login (partner-login)"
        )
    if status == "inactive":
        return f"{user_id} is deactivated"
    return None


def eligible_users(roster: PartnerRoster) -> list[str]:
    """The users that can receive leads, in a fixed order (round-robin turns follow it)."""
    if not roster.active:
        return []
    return sorted(u for u, status in roster.users.items() if status == "active")


# --- process inputs, steps, status ------------------------------------------------------------


class PartnerManagementRequest(BaseModel):
    action: Literal["enable", "disable"]
    requested_by: str = Actor


class PartnerAccountRequest(BaseModel):
    partner_id: str = Id
    channel_manager: str = Actor
    name: str | None = Field(default=None, min_length=2, max_length=120)
    requested_by: str = Actor
    carried: "PartnerAccountStatus | None" = None  # continue-as-new


class Invitation(BaseModel):
    actor: str = Actor
    contact_id: str = Id


class FirstLogin(BaseModel):
    """Sent by the starter's `partner-login`: digests only, never the token or password."""

    actor: str = Actor  # the partner user (its contact id)
    token_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    password_hash: str = Field(min_length=20, max_length=300)


class Deactivation(BaseModel):
    actor: str = Actor
    reason: str = Field(min_length=3, max_length=500)


class PartnerUserView(BaseModel):
    user_id: str
    status: UserStatus
    invitations: int = 0
    link_expires_at: datetime | None = None
    first_login_at: datetime | None = None


class PartnerManagementStatus(BaseModel):
    process_id: str
    kind: PartnerKind = PartnerKind.PARTNER_MANAGEMENT
    stage: PartnerStage
    waiting_for: str
    since: datetime
    revision: int = 0
    account_id: str | None = None
    partner_id: str | None = None
    enabled_at: datetime | None = None
    enabled_by: str | None = None
    notes: list[str] = []


class PartnerAccountStatus(BaseModel):
    process_id: str
    kind: PartnerKind = PartnerKind.PARTNER_ACCOUNT
    stage: PartnerStage
    waiting_for: str
    since: datetime
    revision: int = 0
    account_id: str | None = None
    partner_id: str
    channel_manager: str
    users: dict[str, PartnerUserView] = {}
    steps: int = 0  # numbers the step keys, across continue-as-new
    notes: list[str] = []


# --- activity inputs and outputs --------------------------------------------------------------


class ManagementEnabling(BaseModel):
    key: StepKey


class ManagementSetting(BaseModel):
    already: bool
    enabled_at: datetime
    enabled_by: str


class AccountOpening(BaseModel):
    key: StepKey
    partner_id: str
    channel_manager: str
    name: str | None = None


class InvitationWrite(BaseModel):
    key: StepKey
    partner_id: str
    contact_id: str
    expires_at: datetime


class QueueRosterChange(BaseModel):
    """Signal to a lead queue: a partner's users changed (and leads went back to it)."""

    roster: PartnerRoster
    returned: list[str] = []


class RosterChange(BaseModel):
    """What a change of a partner's users means to the lead queues the partner is in:
    sent to each of them, with the open leads that went back to that queue."""

    roster: PartnerRoster
    queues: list[str] = []
    returned: dict[str, list[str]] = {}  # queue id -> lead ids returned to it


class InvitationOutcome(BaseModel):
    user: PartnerUserView
    change: RosterChange


class FirstLoginWrite(BaseModel):
    key: StepKey
    partner_id: str
    user_id: str
    token_digest: str
    password_hash: str
    now: datetime


class FirstLoginOutcome(BaseModel):
    user: PartnerUserView
    change: RosterChange
    already: bool = False


class DeactivationWrite(BaseModel):
    key: StepKey
    partner_id: str
    reason: str


class DeactivationOutcome(BaseModel):
    change: RosterChange
    users: list[str]


PartnerAccountRequest.model_rebuild()

"""Commands of partner management and partner accounts (and a partner user's first login)."""

import getpass
import sys
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from cli.common import FORMATTERS, Commands, send, start, waiting_line
from cli.forms import CODE, USER, validated
from client.failures import BadInput
from domain.partners import (
    Deactivation,
    FirstLogin,
    Invitation,
    PartnerAccountRequest,
    PartnerAccountStatus,
    PartnerKind,
    PartnerManagementRequest,
    hash_password,
    partner_account_process_id,
    password_problems,
    token_digest,
)
from workflows.partner_onboarding import PartnerManagement, PartnerOnboarding


async def cmd_management(args) -> int:
    action = "enable" if args.cmd == "enable-partner-management" else "disable"
    request = validated(PartnerManagementRequest, action=action, requested_by=args.actor)
    # Each request is its own short process (who asked, when): enabling twice is answered
    # "already enabled", disabling is refused; the setting itself is one row in PostgreSQL.
    process_id = f"{PartnerKind.PARTNER_MANAGEMENT.value}-{action}-{uuid.uuid4().hex[:8]}"
    return await start(
        args,
        PartnerManagement,
        request,
        process_id=process_id,
        kind=PartnerKind.PARTNER_MANAGEMENT.value,
        account_id=None,
        summary=f"{action.capitalize()} partner relationship management"
        + (" (irreversible)" if action == "enable" else ""),
    )


async def cmd_create_account(args) -> int:
    request = validated(
        PartnerAccountRequest,
        partner_id=args.partner,
        channel_manager=args.channel_manager or args.actor,
        name=args.name,
        requested_by=args.actor,
    )
    return await start(
        args,
        PartnerOnboarding,
        request,
        process_id=partner_account_process_id(request.partner_id),
        kind=PartnerKind.PARTNER_ACCOUNT.value,
        account_id=None,
        summary=f"Partner account {request.partner_id}, owned by channel "
        f"manager {request.channel_manager}",
    )


def _on_account(args) -> None:
    args.process_id = partner_account_process_id(args.partner)


async def cmd_invite(args) -> int:
    _on_account(args)
    return await send(
        args,
        PartnerOnboarding.invite_partner_user,
        validated(Invitation, actor=args.actor, contact_id=args.contact),
    )


def read_new_password(args) -> str:
    """From --password-file, a pipe, or asked twice on the terminal; never an argument (it
    would show in the process list and the shell history)."""
    if args.password_file:
        try:
            return Path(args.password_file).read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as e:
            raise BadInput(
                f"cannot read {args.password_file} as UTF-8 text: "
                f"{getattr(e, 'strerror', None) or e.__class__.__name__}"
            ) from None
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("new password: ")
    if getpass.getpass("new password again: ") != first:
        raise BadInput("the two passwords differ")
    return first


def login_token(value: str) -> str:
    """The token, or the whole link from the login e-mail."""
    if "://" in value:
        tokens = parse_qs(urlparse(value).query).get("token")
        if not tokens:
            raise BadInput("the link has no token; paste the link from the login e-mail")
        return tokens[0]
    return value.strip()


async def cmd_partner_login(args) -> int:
    """The first login: the temporary credential (the e-mail's one-time link) is exchanged
    for the user's own password. Only digests leave this process: the token's SHA-256 and the
    password's argon2id hash, so neither enters Temporal history or a log."""
    _on_account(args)
    token = login_token(args.token)
    password = read_new_password(args)
    problems = password_problems(password, args.user)
    if problems:
        # "choose another password: it needs at least 12 characters; it must not contain ..."
        raise BadInput("choose another password: it " + "; it ".join(problems))
    step = validated(
        FirstLogin,
        actor=args.user,
        token_digest=token_digest(token),
        password_hash=hash_password(password),
    )
    return await send(args, PartnerOnboarding.partner_login, step)


async def cmd_deactivate(args) -> int:
    _on_account(args)
    return await send(
        args,
        PartnerOnboarding.deactivate,
        validated(Deactivation, actor=args.actor, reason=args.reason),
    )


def show_account(raw: dict) -> str:
    s = PartnerAccountStatus.model_validate(raw)
    lines = [
        s.process_id,
        f"  stage:       {s.stage.value}",
        waiting_line(s),
        f"  partner:     {s.partner_id}   channel manager: {s.channel_manager}",
    ]
    for u in s.users.values():
        when = (
            f"logged in {u.first_login_at:%Y-%m-%d}"
            if u.first_login_at
            else f"link valid until {u.link_expires_at:%Y-%m-%d %H:%M}"
            if u.link_expires_at
            else ""
        )
        lines.append(f"  user:        {u.user_id} {u.status} {when}".rstrip())
    return "\n".join(lines)


FORMATTERS[PartnerKind.PARTNER_ACCOUNT.value] = show_account


def register(commands: Commands) -> None:
    commands.add(
        "enable-partner-management",
        "enable partner relationship management (irreversible; again: no change)",
        cmd_management,
    )
    commands.add(
        "disable-partner-management",
        "refused: partner management cannot be disabled once enabled",
        cmd_management,
    )

    c = commands.add(
        "create-partner-account",
        "enable a partner as partner account, owned by a channel manager",
        cmd_create_account,
    )
    c.add_argument("--partner", required=True, type=CODE, help="partner id, e.g. P-NORDTEL")
    c.add_argument("--channel-manager", type=USER, help="who owns the account (default: --as)")
    c.add_argument("--name", help="the partner's name, to create a partner not yet on record")

    c = commands.add(
        "invite-partner-user",
        "make a partner's contact a partner user: login e-mail with a one-time "
        "link (again before the first login: a new link)",
        cmd_invite,
        step=True,
    )
    c.add_argument("--partner", required=True, type=CODE)
    c.add_argument(
        "--contact", required=True, type=CODE, help="the contact id; it becomes the user id"
    )

    c = commands.add(
        "partner-login",
        "first login of a partner user: set a password with the one-time link "
        "from the login e-mail",
        cmd_partner_login,
        step=True,
    )
    c.add_argument("--partner", required=True, type=CODE)
    c.add_argument("--user", required=True, type=USER, help="the partner user (contact id)")
    c.add_argument(
        "--token", required=True, help="the token, or the whole link, from the login e-mail"
    )
    c.add_argument(
        "--password-file", help="read the new password from this file (else from a pipe, or asked)"
    )

    c = commands.add(
        "deactivate-partner-account",
        "deactivate a partner account: its users too, their open leads go back to their queues",
        cmd_deactivate,
        step=True,
    )
    c.add_argument("--partner", required=True, type=CODE)
    c.add_argument("--reason", required=True)

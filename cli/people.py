"""The people directory for staff: `staff add|grant|revoke|deactivate|list`, and
`security-log`, the steps that were refused. Like the outbox, these read and write PostgreSQL
directly (the directory is records, not a process). Only an active admin changes staff; each
change is one audited step (audit_log, process `people-directory`), refused ones are in the
security log."""

import logging
import sys
import uuid
from datetime import datetime

import structlog

from cli.common import Commands, database_dsn, emit
from cli.forms import USER, whole
from client.failures import OK, REFUSED, SETUP, Failure
from domain.errors import Refused
from domain.permissions import Role
from store import people
from store.db import connect, create_pool
from store.steps import once

DIRECTORY = "people-directory"  # the audit log's process id of staff changes
ROLES = ", ".join(r.value for r in Role)


def _dsn() -> str:
    dsn = database_dsn()
    if not dsn:
        raise Failure(
            SETUP,
            "DATABASE_URL is not set: the people directory is in PostgreSQL "
            "(./run's banner shows the URL)",
        )
    return dsn


def _quiet_store_log() -> None:
    """The store's step log goes to stderr, warnings only: stdout is the command's answer."""
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    )


async def _change(args, what: str, write) -> int:
    """One audited step: the admin check and the change in one transaction."""
    _quiet_store_log()
    pool = await create_pool(_dsn(), min_size=1, max_size=1)
    step = f"staff-{what}-{args.request_id or uuid.uuid4().hex[:16]}"

    async def guarded(conn) -> dict:
        await people.require_admin(conn, args.actor, what)
        return await write(conn)

    try:
        done = await once(
            pool,
            process_id=DIRECTORY,
            step=step,
            actor=args.actor,
            action=f"staff {what}",
            write=guarded,
        )
    except Refused as e:
        if str(e).startswith(people.ADMIN_ONLY):  # logged outside the rolled-back step
            async with pool.acquire() as conn:
                await people.record_refusal(
                    conn,
                    actor=args.actor,
                    permission=f"staff.{what}",
                    process_id=DIRECTORY,
                    reason=str(e),
                    checked_in="store",
                    quiet=True,
                )
        raise Failure(REFUSED, str(e)) from None
    finally:
        await pool.close()
    emit(args, True, done["message"], done)
    return OK


async def cmd_add(args) -> int:
    return await _change(
        args,
        "add",
        lambda c: people.add_staff(c, args.actor, args.user, args.name, args.email, args.role),
    )


async def cmd_grant(args) -> int:
    return await _change(args, "grant", lambda c: people.grant(c, args.actor, args.user, args.role))


async def cmd_revoke(args) -> int:
    return await _change(
        args, "revoke", lambda c: people.revoke(c, args.actor, args.user, args.role)
    )


async def cmd_deactivate(args) -> int:
    return await _change(args, "deactivate", lambda c: people.deactivate(c, args.actor, args.user))


async def cmd_list(args) -> int:
    conn = await connect(_dsn())
    try:
        rows = await people.list_staff(conn)
    finally:
        await conn.close()
    text = "\n".join(
        f"{r['id']:<16} {r['status']:<12} {', '.join(r['roles']) or '-':<40} "
        f"{r['name']} <{r['email']}>"
        for r in rows
    )
    emit(args, True, text or "no staff yet: `python -m store first-admin ID NAME EMAIL`", rows)
    return OK


async def cmd_security_log(args) -> int:
    conn = await connect(_dsn())
    try:
        rows = await people.security_log(conn, args.since, args.limit)
    finally:
        await conn.close()
    text = "\n".join(
        f"{r['at']:%Y-%m-%d %H:%M:%S} {r['actor']:<16} {r['permission']:<36} "
        f"{r['process_id']} ({r['checked_in']}): {r['reason']}"
        for r in rows
    )
    emit(args, True, text or "nothing refused", rows)
    return OK


def _since(text: str) -> datetime:
    import argparse
    from datetime import UTC

    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"use YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC), not {text!r}"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _role(text: str) -> str:
    import argparse

    if text not in {r.value for r in Role}:
        raise argparse.ArgumentTypeError(f"one of {ROLES} (not {text!r})")
    return text


def register(commands: Commands) -> None:
    staff = commands.sub.add_parser(
        "staff",
        help="the people directory's staff (admins change it)",
        description="the people directory's staff",
    )
    sub = staff.add_subparsers(dest="staff_cmd", required=True, metavar="STAFF_COMMAND")
    inner = Commands(sub, commands.common)
    c = inner.add("add", "a new staff member with roles (admin)", cmd_add, step=True)
    c.add_argument("--user", type=USER, required=True, help="their id, e.g. ops-anna")
    c.add_argument("--name", required=True)
    c.add_argument("--email", required=True)
    c.add_argument("--role", type=_role, action="append", default=[], help=ROLES)
    for name, fn, help_ in (
        ("grant", cmd_grant, "give roles (admin)"),
        ("revoke", cmd_revoke, "take roles away (admin)"),
    ):
        c = inner.add(name, help_, fn, step=True)
        c.add_argument("--user", type=USER, required=True)
        c.add_argument("--role", type=_role, action="append", required=True, help=ROLES)
    c = inner.add(
        "deactivate",
        "every step they send is refused from now on (admin)",
        cmd_deactivate,
        step=True,
    )
    c.add_argument("--user", type=USER, required=True)
    inner.add("list", "staff with their status and roles", cmd_list)
    c = commands.add(
        "security-log",
        "steps refused by the permission check: who, what, which process, when, why (newest first)",
        cmd_security_log,
    )
    c.add_argument("--since", type=_since, help="YYYY-MM-DD[THH:MM] (UTC)")
    c.add_argument("--limit", type=whole(1, 10_000), default=100)

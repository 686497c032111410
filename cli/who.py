"""Who acts: `--as`, else the configured identity, and the check that it names an active
staff member of the people directory (the starter is the staff's tool)."""

import argparse
import asyncio
from typing import Any

import config
from cli.common import acting_as
from cli.forms import USER
from client.failures import BAD_INPUT, REFUSED, Failure


def identity(args: argparse.Namespace, settings: config.Settings) -> None:
    """`--as`, else the configured identity; without either nothing is sent (exit 2)."""
    if getattr(args, "actor", "unset") is None:
        args.actor = settings.default_actor()
        if args.actor is None:
            raise Failure(
                BAD_INPUT,
                f"--as: who are you? pass --as with your staff id, or set "
                f"{config.ACTOR_ENV} (the people directory's id, e.g. ops-anna)",
            )
        try:
            args.actor = USER(args.actor)
        except argparse.ArgumentTypeError as e:
            raise Failure(BAD_INPUT, f"{config.ACTOR_ENV}: {e}") from None
    acting_as(getattr(args, "actor", None))  # signed with this person's own key


def staff_refusal(who: Any, actor: str) -> str | None:
    """Why `--as` may not act as staff, or None."""
    if who is None:
        return (
            f"--as {actor}: not in the people directory; staff act under their "
            "own id (`starter.py staff list`; an admin adds staff)"
        )
    if who.staff_status == "deactivated":
        return f"--as {actor}: deactivated in the people directory"
    if not who.active_staff and who.partner_id:
        return (
            f"--as {actor}: a user of partner {who.partner_id}, not staff; "
            "partners act through the partner portal, staff for a partner under "
            "their own id"
        )
    if not who.active_staff:
        return f"--as {actor}: a customer's signer, not staff; customers sign on the signing page"
    return None


async def check_staff(args: argparse.Namespace, settings: config.Settings) -> None:
    """The starter is the staff's tool: `--as` names an active staff member of the directory.
    A partner user's id or a name nobody knows is refused here (exit 1), before anything is
    sent, and logged. Where the starter has no database to ask (staff reaching only Temporal),
    the workflow and the store decide on the step as they always do."""
    from store import people
    from store.db import connect as connect_db

    dsn = settings.database_dsn()
    if not dsn:
        return
    try:
        conn = await asyncio.wait_for(connect_db(dsn), timeout=5)
    except Exception:  # noqa: BLE001 - the workflow and the store still decide
        return
    try:
        reason = staff_refusal(await people.person(conn, args.actor), args.actor)
        if reason is not None:
            await people.record_refusal(
                conn,
                actor=args.actor,
                permission=f"starter.{args.cmd}",
                process_id=getattr(args, "process_id", None) or "-",
                reason=reason,
                checked_in="starter",
                quiet=True,
            )
            raise Failure(REFUSED, reason)
    finally:
        await conn.close()

"""`starter.py inbox`: what waits for me or my roles, oldest first, each with the command to
run next (domain/inbox.py). The records are read from PostgreSQL read-only (cli/records.py
`reading`), the processes that need attention from Temporal's list; neither starts anything."""

import argparse
import json
from datetime import UTC, datetime

from temporalio.service import RPCError

from cli.common import Commands, database_dsn, emit, temporal, to_stderr
from cli.records import reading
from client.failures import OK, REFUSED, Failure, failure_of
from domain import inbox
from domain.inbox import Item
from domain.permissions import Role
from store import inbox as store
from store import people
from store.db import connect
from workflows.visibility import PROCESS_KIND, STAGE

ROLES = sorted(r.value for r in Role)


async def needing_attention() -> list[Item]:
    query = f"{STAGE.name} = {json.dumps('needs-attention')} AND ExecutionStatus = 'Running'"
    found = []
    async for wf in (await temporal()).list_workflows(query, limit=store.LIMIT):
        kind = wf.typed_search_attributes.get(PROCESS_KIND) or "process"
        found.append(inbox.needs_attention(wf.id, kind, wf.start_time))
    return found


async def log_refusal(args: argparse.Namespace, reason: str) -> None:
    """Out of the read-only transaction: the refusal is written like every other one."""
    dsn = database_dsn()
    if not dsn:
        return
    conn = await connect(dsn)
    try:
        await people.record_refusal(
            conn,
            actor=args.actor,
            permission="starter.inbox",
            process_id="-",
            reason=reason,
            checked_in="starter",
            quiet=True,
        )
    finally:
        await conn.close()


def show(items: list[Item], now: datetime) -> str:
    if not items:
        return "nothing waits for you"
    lines = []
    for i in items:
        due = ""
        if i.due is not None:
            due = f", {'overdue since' if i.due < now else 'due'} {i.due:%Y-%m-%d %H:%M} UTC"
        lines.append(f"{i.since:%Y-%m-%d %H:%M}  {i.waits.value}  {i.process_id}")
        lines.append(f"    {i.what}{due} (for {', '.join(i.roles)})")
        if i.why:
            lines.append(f"    why:  {i.why}")
        lines.append(f"    next: {i.next}")
    return "\n".join(lines)


async def cmd_inbox(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    async with reading("your work list") as conn:
        me = await people.person(conn, args.actor)
        roles = list(me.roles) if me is not None else []
        refused = inbox.role_refusal(args.actor, args.role, roles)
        if refused is None:
            items = await store.waiting(conn, now)
            queues = await store.queues_managed_by(conn, args.actor)
    if refused is not None:
        await log_refusal(args, refused)
        raise Failure(REFUSED, refused)
    if args.role:
        roles = [args.role]
    try:
        items += await needing_attention()
    except (Failure, RPCError) as e:
        to_stderr(f"note: processes that need attention not shown: {failure_of(e)}")
    mine = inbox.waiting_for(items, roles, queues)
    emit(args, True, show(mine, now), [i.model_dump(mode="json") for i in mine])
    return OK


def register(commands: Commands) -> None:
    c = commands.add(
        "inbox",
        "what waits for you or your roles, oldest first, with the command to run next",
        cmd_inbox,
    )
    c.add_argument("--role", choices=ROLES, help="only what waits for this role of yours")

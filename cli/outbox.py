"""The outbox for staff: `outbox` lists the messages and their delivery status,
`resend` queues one again (audited). These read PostgreSQL (DATABASE_URL) directly: the
messages are records, not a process, and no Temporal is needed to read them."""

from cli.common import Commands, emit, settings
from cli.forms import whole
from client.failures import OK, REFUSED, SETUP, Failure
from domain.errors import Refused
from store import outbox
from store.db import connect

MESSAGE_ID = whole(1, 2**63 - 1)


async def _conn():
    dsn = settings().database_dsn()
    if not dsn:
        raise Failure(
            SETUP,
            "DATABASE_URL is not set: the outbox is read from PostgreSQL "
            "(./run's banner shows the URL)",
        )
    return await connect(dsn)


def _line(r: dict) -> str:
    to = r["address"] or f"{r['recipient_kind']} {r['recipient_id']}"
    status = r["status"].replace("_", " ")
    when = r["sent_at"] or r["created_at"]
    line = (
        f"{r['id']:>7} {when:%Y-%m-%d %H:%M} {status:<9} {r['template']:<40} -> {to}"
        f"  ({r['process_id']})"
    )
    if r["status"] in ("failed", "given_up"):
        retry = f", next try {r['next_attempt_at']:%H:%M:%S}" if r["status"] == "failed" else ""
        line += f"\n{'':>8}attempt {r['attempts']}{retry}: {r['last_error']}"
    return line


async def cmd_outbox(args) -> int:
    conn = await _conn()
    try:
        rows = await outbox.listing(conn, failed_only=args.failed, limit=args.limit)
    finally:
        await conn.close()
    empty = "no failed messages" if args.failed else "the outbox is empty"
    emit(args, True, "\n".join(_line(r) for r in rows) or empty, rows)
    return OK


async def cmd_resend(args) -> int:
    conn = await _conn()
    try:
        async with conn.transaction():
            done = await outbox.resend(conn, args.message_id, args.actor)
    except Refused as e:
        raise Failure(REFUSED, str(e)) from None
    finally:
        await conn.close()
    emit(
        args,
        True,
        f"message {done['id']} ({done['was'].replace('_', ' ')}) queued again "
        f"by {args.actor}: the relay sends it shortly, as a new message",
        done,
    )
    return OK


def register(commands: Commands) -> None:
    c = commands.add(
        "outbox",
        "messages (e-mail, SMS) and their delivery status: queued, "
        "sent, failed (with the provider's answer), given up",
        cmd_outbox,
    )
    c.add_argument(
        "--failed", action="store_true", help="only messages that failed or were given up"
    )
    c.add_argument("--limit", type=whole(1, 10_000), default=50)
    c = commands.add(
        "resend", "queue a failed, given-up or sent message again (audited)", cmd_resend
    )
    c.add_argument(
        "message_id",
        metavar="ID",
        type=MESSAGE_ID,
        help="the message's number, as `outbox` shows it",
    )

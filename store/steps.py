"""Exactly-once business writes. Every write an activity makes is one *step* of one
process: its audit row, keyed by (process_id, run, step), is claimed in the same
transaction as the write. A retried or repeated step finds the row and returns the result
it stored the first time, writing nothing. `run` is the process's run chain (the first run
id of its workflow): a process id started again after it ended has steps of its own."""

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from domain.errors import NotPermitted
from domain.notifications import secret_digest
from domain.permissions import Facts
from store import outbox, people

log = structlog.get_logger("partnerflow.store")

Write = Callable[[Any], Awaitable[dict]]


async def once(
    pool: Any,
    *,
    process_id: str,
    step: str,
    actor: str,
    action: str,
    write: Write,
    run: str = "",
    permission: str = "",
    facts: Facts | None = None,
) -> dict:
    """`permission`: what the actor needs for this write; checked against the
    directory inside the step's transaction, so a step that bypassed the workflow's check
    still writes nothing. A refusal is recorded in the security log, outside the rolled-back
    transaction, and raised."""
    async with pool.acquire() as conn:
        try:
            return await _once(conn, process_id, step, actor, action, write, run, permission, facts)
        except _NotAllowed as refused:
            await people.record_refusal(
                conn,
                actor=actor,
                permission=permission,
                process_id=process_id,
                reason=str(refused),
                checked_in="store",
            )
            raise NotPermitted(str(refused)) from None


class _NotAllowed(Exception):
    pass


async def _once(
    conn: Any,
    process_id: str,
    step: str,
    actor: str,
    action: str,
    write: Write,
    run: str,
    permission: str,
    facts: Facts | None,
) -> dict:
    async with conn.transaction():
        if permission:
            reason = await people.allowed(
                conn, permission=permission, actor=actor, facts=facts or Facts()
            )
            if reason is not None:
                raise _NotAllowed(reason)
        # The outbox and ticket rows the write makes take their run from here (a column
        # default), so the store functions need not carry it.
        await conn.execute("SELECT set_config('partnerflow.step_run', $1, true)", run)
        claimed = await conn.fetchval(
            "INSERT INTO audit_log (process_id, run, step, actor, action)"
            " VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (process_id, run, step) DO NOTHING RETURNING id",
            process_id,
            run,
            step,
            actor,
            action,
        )
        if claimed is None:
            log.info(
                "step already done, nothing written",
                action=action,
                step=step,
                actor=actor,
                process_id=process_id,
                run=run,
            )
            return await stored_result(conn, process_id, step, run)
        result = await write(conn)
        await conn.execute(
            "UPDATE audit_log SET detail = $2, result = $2 WHERE id = $1", claimed, result
        )
        log.info(
            "step written", action=action, step=step, actor=actor, process_id=process_id, run=run
        )
        return result


async def stored_result(conn: Any, process_id: str, step: str, run: str = "") -> dict:
    """What a step done before answered, from its audit row."""
    stored = await conn.fetchval(
        "SELECT result FROM audit_log WHERE process_id = $1 AND run = $2 AND step = $3",
        process_id,
        run,
        step,
    )
    return stored or {}


async def notify(
    conn: Any,
    *,
    process_id: str,
    step: str,
    recipient_kind: str,
    recipient_id: str,
    template: str,
    payload: dict,
    secret: str | None = None,
) -> None:
    """An outbox row, written inside the step's transaction; relay/ delivers it. A one-time
    link (login, signing) goes in `secret`, never in the payload, sealed with the key ring
    under the row's id (store/outbox.py; the clear link is never written): the row keeps it
    only until the message is sent (then it is blanked), and its SHA-256 for good."""
    row_id = await conn.fetchval(
        "INSERT INTO notifications (process_id, step, recipient_kind, recipient_id, template,"
        " payload, secret_sha256) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (process_id, run, step) DO NOTHING RETURNING id",
        process_id,
        step,
        recipient_kind,
        recipient_id,
        template,
        payload,
        secret_digest(secret) if secret is not None else None,
    )
    if row_id is not None and secret is not None:
        await outbox.store_link(conn, row_id, secret)


async def open_ticket(
    conn: Any,
    *,
    process_id: str,
    step: str,
    queue: str,
    account_id: str | None,
    subject: str,
    body: str,
) -> int:
    return await conn.fetchval(
        "INSERT INTO tickets (process_id, step, queue, account_id, subject, body)"
        " VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (process_id, run, step) DO UPDATE SET subject = EXCLUDED.subject"
        " RETURNING id",
        process_id,
        step,
        queue,
        account_id,
        subject,
        body,
    )

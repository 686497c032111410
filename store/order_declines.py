"""A partner declines an order it was asked to confirm: the order ends declined with the
partner's reason, its open quotes are cancelled, and staff are told."""

from typing import Any

from domain import notices
from domain.errors import Refused
from store.notices import tell

Conn = Any  # an asyncpg connection
STAFF_TEAM = "ops"  # who hears of a declined order (PARTNERFLOW_TEAM_ADDRESSES role)


async def decline(
    conn: Conn,
    process_id: str,
    step: str,
    order_id: str,
    reason: str,
    declined_by: str,
    quote_ids: list[str],
) -> dict:
    # Under the row lock, as confirming and closing take it: an order ends once.
    row = await conn.fetchrow(
        "SELECT status, account_id, partner_id FROM orders WHERE id = $1 FOR UPDATE", order_id
    )
    if row is None:
        raise Refused(f"there is no order {order_id}")
    if row["status"] != "awaiting_partner_confirmation":
        raise Refused(
            f"order {order_id} is already {row['status'].replace('_', ' ')}; "
            "it can no longer be declined"
        )
    await conn.execute(
        "UPDATE orders SET status = 'declined', closed_reason = $2 WHERE id = $1",
        order_id,
        reason,
    )
    if quote_ids:
        await conn.execute(
            "UPDATE quotes SET status = 'cancelled', is_primary = false"
            " WHERE id = ANY($1::text[]) AND status <> 'accepted'",
            quote_ids,
        )
    await tell(
        conn,
        notices.OrderDeclined(
            order_id=order_id,
            account_id=row["account_id"],
            partner_id=row["partner_id"],
            declined_by=declined_by,
            reason=reason,
        ),
        process_id=process_id,
        step=step,
        recipient_kind="role",
        recipient_id=STAFF_TEAM,
    )
    return {"status": "declined", "order": order_id, "reason": reason}

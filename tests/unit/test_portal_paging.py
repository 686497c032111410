"""The partner's orders to confirm are read a page at a time, the oldest first: a page reads
only the orders it shows (each costs a few reads for its figures)."""

from datetime import UTC, datetime, timedelta

from store import portal
from tests.records import new_account
from tests.records_partners import new_partner


async def test_orders_to_confirm_come_a_page_at_a_time_the_oldest_first(pool):
    partner = await new_partner(pool)
    account = await new_account(pool, licences={"Premium": 2})
    await pool.execute("UPDATE accounts SET partner_id = $2 WHERE id = $1", account.id, partner.id)
    since = datetime.now(UTC) - timedelta(hours=1)
    ids = [f"O-{partner.id}-{i}" for i in range(3)]
    await pool.copy_records_to_table(
        "orders",
        records=[
            (
                order_id,
                f"paging-{order_id}",
                "fast_change",
                account.id,
                account.pbx_id,
                partner.id,
                "awaiting_partner_confirmation",
                since + timedelta(minutes=i),
            )
            for i, order_id in enumerate(ids)
        ],
        columns=[
            "id",
            "process_id",
            "kind",
            "account_id",
            "pbx_id",
            "partner_id",
            "status",
            "created_at",
        ],
    )
    async with pool.acquire() as conn:
        first = await portal.orders_awaiting_confirmation(conn, partner.id, 2, 0)
        second = await portal.orders_awaiting_confirmation(conn, partner.id, 2, 2)
        every = await portal.orders_awaiting_confirmation(conn, partner.id)
    assert [o["id"] for o in first] == ids[:2]
    assert [o["id"] for o in second] == ids[2:]
    assert [o["id"] for o in every] == ids

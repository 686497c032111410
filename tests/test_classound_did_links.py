"""Migration 006 links the DIDs of CLASSOUND activations made before DIDs were linked to their
flats, by the same rule as activations now (domain/classound.py numbers_per_flat), so a
later licence reduction lists them for customer care."""

import uuid
from importlib import resources

from domain.classound import numbers_per_flat
from tests.records import new_account
from tests.records_classound import fresh_numbers

MIGRATION = resources.files("store") / "migrations" / "006_classound_dids_to_flats.sql"


async def activated_before_the_fix(
    pool, acc, numbers: list[str], own_flats: int, kind: str = "activation"
) -> tuple[str, list[int]]:
    """An active CLASSOUND order as the old activation left it: its flats booked, its DIDs
    live (one typed by hand, with spaces) but linked to no flat."""
    process_id = f"classound-order-{acc.id}-{uuid.uuid4().hex[:8]}"
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO classound_orders (process_id, kind, account_id, pbx_id, partner_id,"
            " numbers, status, requested_by) VALUES ($1, $2, $3, $4, $5, $6, 'active', 'test')",
            process_id,
            kind,
            acc.id,
            acc.pbx_id,
            acc.partner_id,
            len(numbers),
        )
        await conn.executemany(
            "INSERT INTO classound_numbers (process_id, position, number) VALUES ($1, $2, $3)",
            [(process_id, i, n) for i, n in enumerate(numbers, 1)],
        )
        flats = [
            await conn.fetchval(
                "INSERT INTO pbx_products (pbx_id, sku, quantity, licence_type, start_date,"
                " order_id) VALUES ($1, 'CLASSOUND-FLAT', 1, 'Premium', '2026-03-01', $2)"
                " RETURNING id",
                acc.pbx_id,
                process_id,
            )
            for _ in range(own_flats)
        ]
        spelled = [f"{n[:3]} {n[3:5]} {n[5:]}" if i == 0 else n for i, n in enumerate(numbers)]
        await conn.executemany(
            "INSERT INTO dids (number, pbx_id) VALUES ($1, $2)", [(n, acc.pbx_id) for n in spelled]
        )
    return process_id, flats


async def links(pool, pbx_id: str) -> dict[str, int | None]:
    return {
        r["n"]: r["flat_id"]
        for r in await pool.fetch(
            "SELECT regexp_replace(number, '[^0-9+]', '', 'g') AS n, flat_id FROM dids"
            " WHERE pbx_id = $1",
            pbx_id,
        )
    }


async def test_old_activations_get_their_dids_linked_like_new_ones(pool):
    acc = await new_account(pool, licences={"Premium": 3})
    numbers = fresh_numbers(5)
    _, flats = await activated_before_the_fix(pool, acc, numbers, own_flats=3)
    ordering = await new_account(
        pool, licences={"Premium": 2}, flats=[("Premium", []), ("Premium", [])]
    )
    more = fresh_numbers(3)
    await activated_before_the_fix(pool, ordering, more, own_flats=0, kind="ordering")
    assert set((await links(pool, acc.pbx_id)).values()) == {None}

    sql = MIGRATION.read_text()
    await pool.execute(sql)
    assert await links(pool, acc.pbx_id) == numbers_per_flat(numbers, flats)
    assert await links(pool, ordering.pbx_id) == numbers_per_flat(more, ordering.flat_ids)

    await pool.execute(sql)  # again: nothing changes
    assert await links(pool, acc.pbx_id) == numbers_per_flat(numbers, flats)

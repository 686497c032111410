"""A SKU as people type it: the PBX snapshot finds `premium` as Premium, and for a
misspelt one it brings the whole catalogue, so that the refusal names the closest products
instead of "known products: none"."""

from datetime import date

import pytest

from domain.errors import Refused
from domain.order_lines import FastChangeLine, plan_fast_change
from store.change_orders import pbx_snapshot
from tests.records import new_account


async def test_any_case_finds_the_product_and_a_typo_gets_suggestions(pool):
    acc = await new_account(pool)
    async with pool.acquire() as conn:
        found = await pbx_snapshot(conn, acc.id, acc.pbx_id, ["premium", "WP480G"])
        assert set(found.catalogue) == {"Premium", "WP480G"}
        typo = await pbx_snapshot(conn, acc.id, acc.pbx_id, ["Premum"])
    assert {"Basic", "Premium", "WP480G", "CLASSOUND-FLAT"} <= set(typo.catalogue)
    with pytest.raises(
        Refused,
        match=r"'Premum' \(did you mean Premium\?\); known products: "
        "Basic, ",
    ):
        plan_fast_change(
            [FastChangeLine(sku="Premum", quantity=6)],
            typo.licences,
            typo.catalogue,
            date(2026, 12, 2),
        )

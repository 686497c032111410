"""The run command's demo data loads into a fresh database, and loading it again changes
nothing."""

from store import demo
from store.db import connect
from tests.conftest import new_database


async def test_demo_data_loads_once(postgres_admin_dsn):
    dsn = await new_database(postgres_admin_dsn, "partnerflow_demo")
    conn = await connect(dsn)
    try:
        assert await demo.load(conn) is True
        tables = (
            "accounts",
            "pbxs",
            "licences",
            "pbx_products",
            "dids",
            "contracts",
            "tickets",
            "contacts",
            "psa_list_prices",
            "psa_billing_information",
        )
        counts = {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in tables}
        assert await demo.load(conn) is False
        assert {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in tables} == counts
        # what the README promises of it
        assert await conn.fetchval("SELECT active FROM pbxs WHERE id = 'PBX-CORVUS'") is False
        bergmann = await conn.fetchrow(
            "SELECT phone, invoice_email FROM accounts WHERE id = 'BERGMANN'"
        )
        assert bergmann["phone"] == "" and bergmann["invoice_email"] == ""
        types = {
            r["licence_type"]
            for r in await conn.fetch(
                "SELECT DISTINCT licence_type FROM licences WHERE pbx_id = 'PBX-ACME'"
            )
        }
        assert types == {"Basic", "Essential", "Premium", "Business"}
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM dids d JOIN pbx_products f"
                " ON f.id = d.flat_id WHERE f.pbx_id = 'PBX-ACME'"
            )
            == 3
        )
    finally:
        await conn.close()

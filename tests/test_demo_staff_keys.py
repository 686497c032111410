"""Under ./run each demo person has their own signing key: made at start when missing (0600),
enrolled, never overwritten; a key an admin revoked stays revoked at the next start."""

from store import demo
from store.db import connect
from store.staff_keys import keys, revoke
from tests.conftest import new_database


async def test_demo_staff_keys_made_once_and_revocation_kept(postgres_admin_dsn, tmp_path):
    dsn = await new_database(postgres_admin_dsn, "partnerflow_demo_keys")
    folder = tmp_path / "staff-keys"
    conn = await connect(dsn)
    try:
        await demo.load(conn)
        made = await demo.staff_keys(conn, folder)
        assert made == [user for user, _, _ in demo.STAFF]
        files = {p.name: p.read_bytes() for p in folder.iterdir()}
        assert {p.stat().st_mode & 0o777 for p in folder.iterdir()} == {0o600}
        (ben,) = await keys(conn, "ops-ben")
        await revoke(conn, holder="ops-ben", revoked_by="admin-ida")

        assert await demo.staff_keys(conn, folder) == []  # started again
        assert {p.name: p.read_bytes() for p in folder.iterdir()} == files
        (again,) = await keys(conn, "ops-ben")
        assert again["key_id"] == ben["key_id"] and again["revoked_at"] is not None
    finally:
        await conn.close()

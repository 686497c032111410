"""`--as` names only the holder of the key: worker.py and starter.py against the dev server and
the real PostgreSQL. With the shared key ring but not ops-ben's key, the starter acting as
ops-ben is refused (start and step), logged; ops-ben with the key an admin enrolled acts;
once the admin revoked it, he no longer does."""

import asyncio

import pytest

from tests.e2e.cli import starter, worker
from tests.records import new_account

pytestmark = pytest.mark.e2e


async def refusals(pool, process_id: str, expected: int) -> list:
    """The worker's refusal rows of the process once `expected` are written (beside the
    workflow, a few milliseconds after the refusal), or what there is after 20 s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        rows = await pool.fetch(
            "SELECT reason FROM security_log WHERE process_id = $1 AND checked_in = 'workflow'",
            process_id,
        )
        if len(rows) >= expected or loop.time() > deadline:
            return rows
        await asyncio.sleep(0.05)


def fast_change(acc, premium: int) -> list[str]:
    return ["fast-change", "--account", acc.id, "--pbx", acc.pbx_id, "--set", f"Premium={premium}"]


async def test_as_names_only_the_holder_of_the_key(cli_env, pool, tmp_path):
    ring_only = {k: v for k, v in cli_env.items() if k != "PARTNERFLOW_STAFF_KEY"}
    ben_key = tmp_path / "ops-ben.key"
    as_ben = {**ring_only, "PARTNERFLOW_STAFF_KEY": str(ben_key)}
    acc, other = [await new_account(pool, licences={"Premium": 5}) for _ in range(2)]
    async with worker(cli_env):
        made = await starter(
            cli_env,
            *("staff-key", "new", "--user", "ops-ben", "--out", str(ben_key)),
            *("--as", "staff-e2e"),
        )
        assert made.code == 0, made.text
        assert ben_key.stat().st_mode & 0o777 == 0o600

        forged = await starter(ring_only, *fast_change(other, 7), "--as", "ops-ben")
        assert forged.code != 0 and "not signed with ops-ben's own key" in forged.text
        # nothing of it was written
        assert (
            await pool.fetchval(
                "SELECT count(*) FROM audit_log WHERE actor = 'ops-ben' AND process_id LIKE $1",
                f"%{other.id}%",
            )
            == 0
        )

        started = await starter(as_ben, *fast_change(acc, 7), "--as", "ops-ben")
        assert started.code == 0, started.text
        pid = started.body["data"]["process_id"]
        assert started.body["data"]["stage"] == "awaiting-partner-confirmation"

        step = await starter(ring_only, "confirm", pid, "--as", "ops-ben")
        assert step.code != 0 and "not signed with ops-ben's own key" in step.text

        revoked = await starter(
            cli_env, "staff-key", "revoke", "--user", "ops-ben", "--as", "staff-e2e"
        )
        assert revoked.code == 0, revoked.text
        assert made.body["data"]["key_id"] in revoked.body["data"]["revoked"]
        late = await starter(as_ben, "confirm", pid, "--as", "ops-ben")
        assert late.code != 0 and "revoked" in late.text
        assert len(await refusals(pool, pid, 2)) == 2
        status = await starter(cli_env, "status", pid)
        assert status.body["data"]["stage"] == "awaiting-partner-confirmation"


async def test_a_key_made_on_ones_own_machine_acts_once_an_admin_enrolled_it(
    cli_env, pool, tmp_path
):
    own_key = tmp_path / "ben.key"
    as_ben = {**cli_env, "PARTNERFLOW_STAFF_KEY": str(own_key)}
    acc = await new_account(pool, licences={"Premium": 5})
    made = await starter(as_ben, "staff-key", "make", "--out", str(own_key), "--as", "ben")
    assert made.code == 0, made.text
    assert own_key.stat().st_mode & 0o777 == 0o600
    public = made.body["data"]["public_key"]
    async with worker(cli_env):
        early = await starter(as_ben, *fast_change(acc, 6), "--as", "ben")
        assert early.code != 0 and "a key the people directory does not know" in early.text
        enrolled = await starter(
            cli_env,
            *("staff-key", "enrol", "--user", "ben", "--public-key", public),
            *("--as", "staff-e2e"),
        )
        assert enrolled.code == 0, enrolled.text
        assert enrolled.body["data"]["key_id"] == made.body["data"]["key_id"]
        started = await starter(as_ben, *fast_change(acc, 7), "--as", "ben")
        assert started.code == 0, started.text
    again = await starter(as_ben, "staff-key", "make", "--out", str(own_key), "--as", "ben")
    assert again.code != 0 and "never overwritten" in again.text

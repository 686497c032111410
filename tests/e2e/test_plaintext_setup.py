"""A starter that chose plaintext (PARTNERFLOW_ALLOW_PLAINTEXT=1) against a worker that
encrypts is not set up for it: every command that sends a payload or reads one says so with
exit 7 (not 8, which is for a failing worker) — starts and steps, and the status of a process
whose payloads it cannot read."""

import pytest

from tests.e2e.cli import starter, worker
from tests.e2e.test_edge_cli import without_keys
from tests.records import new_account

pytestmark = pytest.mark.e2e


async def test_every_kind_of_command_says_not_set_up(cli_env, pool):
    plain = without_keys(cli_env, PARTNERFLOW_ALLOW_PLAINTEXT="1")
    acc = await new_account(pool, licences={"Premium": 1})
    async with worker(cli_env):
        started = await starter(
            cli_env, "fast-change", "--account", acc.id, "--pbx", acc.pbx_id, "--set", "Premium=2"
        )
        assert started.code == 0, started.text
        pid = started.body["data"]["process_id"]
        answers = {
            "start": await starter(
                plain, "fast-change", "--account", acc.id, "--pbx", acc.pbx_id, "--set", "Premium=3"
            ),
            "step": await starter(plain, "confirm", pid),
            "status": await starter(plain, "status", pid),
        }
    codes = {what: a.code for what, a in answers.items()}
    assert codes == dict.fromkeys(answers, 7), {w: a.text for w, a in answers.items()}
    for a in answers.values():
        assert "PARTNERFLOW_ENCRYPTION_KEYS" in a.body["message"], a.text

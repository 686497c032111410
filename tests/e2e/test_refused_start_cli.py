"""A start refused for a business reason: the worker logs it as one line, without
a traceback, and ops find it by its stage (`list --stage refused`, the Stage column of the UI),
apart from the processes that are done."""

import asyncio
import json
import uuid

import pytest

from tests.e2e.cli import environment, starter, worker

pytestmark = pytest.mark.e2e


async def test_a_refused_start_is_one_log_line_and_a_stage_of_its_own(dev_env, demo_db):  # noqa: F811
    address = dev_env.client.service_client.config.target_host
    env = environment(address, demo_db, f"e2e-{uuid.uuid4().hex[:8]}")
    ref = uuid.uuid4().hex[:8]
    async with worker(env) as w:
        # a typo of an account: well-formed, so the process itself refuses it (its activity)
        refused = await starter(
            env,
            "fast-change",
            "--account",
            "CORVSU",
            "--pbx",
            "PBX-CORVUS",
            "--set",
            "Basic=5",
            "--ref",
            ref,
        )
        assert refused.code == 1, refused.text
        assert "unknown account 'CORVSU'" in refused.body["message"]
        process_id = f"fast-change-order-CORVSU-{ref}"
        for _ in range(50):  # visibility is eventually consistent
            listed = await starter(env, "list", "--stage", "refused", "--account", "CORVSU")
            if any(r["process_id"] == process_id for r in listed.body["data"]):
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"{process_id} not listed as refused: {listed.text}")
        await asyncio.sleep(0.5)  # the worker's last lines of this process reach its log
    about = [line for line in w.lines if process_id in line]
    assert about, "".join(w.lines)
    assert not any(
        "Traceback" in line or "exc_info" in line or "exception" in json.loads(line)
        for line in about
        if line.startswith("{")
    ), "".join(about)
    warnings = [
        line for line in about if '"level": "warning"' in line or '"level": "error"' in line
    ]
    assert len(warnings) <= 1, "".join(warnings)

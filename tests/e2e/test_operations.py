"""What ops rely on, checked on a real worker.py: payloads encrypted in Temporal's history,
Prometheus metrics (SDK and ours), health/readiness, and log lines that name the process
step and its actor."""

import json
import socket
import urllib.request

import pytest
from temporalio.client import Client

from codec import ENCODING, new_key_entry
from tests.e2e.cli import starter, worker
from tests.records import new_account

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


async def test_encrypted_payloads_metrics_health_and_step_logs(cli_env, pool):
    metrics_port, health_port = free_port(), free_port()
    env = dict(
        cli_env,
        PARTNERFLOW_ENCRYPTION_KEYS=new_key_entry("k1"),
        PARTNERFLOW_METRICS_ADDRESS=f"127.0.0.1:{metrics_port}",
        PARTNERFLOW_HEALTH_PORT=str(health_port),
    )
    acc = await new_account(pool, licences={"Premium": 1})
    async with worker(env) as running:
        assert get(f"http://127.0.0.1:{health_port}/healthz")[0] == 200
        status, body = get(f"http://127.0.0.1:{health_port}/readyz")
        assert status == 200 and json.loads(body)["status"] == "ready", body

        started = await starter(
            env, "fast-change", "--account", acc.id, "--pbx", acc.pbx_id, "--set", "Premium=2"
        )
        pid = started.body["data"]["process_id"]
        assert (await starter(env, "confirm", pid, "--as", "partner-dee")).code == 0
        refused = await starter(env, "confirm", "--as", "partner-dee", pid)
        assert refused.code == 3  # ended: refused before it reaches the worker

        metrics = get(f"http://127.0.0.1:{metrics_port}/metrics")[1]
        status_in_status = await starter(env, "status", pid)
        assert status_in_status.body["data"]["stage"] == "applied"  # decrypted for staff
        lines = [json.loads(line) for line in running.lines if line.startswith("{")]

    assert "partnerflow_steps_received{" in metrics and 'step="confirm"' in metrics
    assert "partnerflow_processes_completed{" in metrics and 'stage="applied"' in metrics
    assert "temporal_workflow_completed" in metrics  # the SDK runtime's own

    # Without the key, Temporal's history holds only ciphertext.
    plain = await Client.connect(cli_env["TEMPORAL_ADDRESS"])
    history = await plain.get_workflow_handle(pid).fetch_history()
    started_event = history.events[0].workflow_execution_started_event_attributes
    (request,) = started_event.input.payloads
    assert request.metadata["encoding"] == ENCODING
    assert acc.pbx_id.encode() not in request.data

    (confirm,) = [
        ln for ln in lines if ln.get("event") == "step received" and ln.get("step") == "confirm"
    ]
    assert confirm["process_id"] == pid and confirm["run_id"]
    assert confirm["actor"] == "partner-dee"
    written = [ln for ln in lines if ln.get("event") == "step written"]
    assert {ln["step"] for ln in written} >= {"create-order", "apply-order"}
    assert all(ln["process_id"] == pid and ln.get("run_id") for ln in written)

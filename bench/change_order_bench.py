"""Throughput of the quote-based change order against its no-op twin (bench/change_twin.py).

    .venv/bin/python bench/change_order_bench.py [--n 30] [--rounds 3] [--concurrency 10]

As bench/fast_change_bench.py: one run starts PostgreSQL, the dev server and one in-process
worker, then rounds of N change orders and N twins (order alternating). Each process runs as
staff and the partner run it: start (update-with-start `started`), mark primary, publish,
mark complete (accepted: an order for the partner), confirm, result."""

import asyncio
import sys
import uuid
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from temporalio.client import Client  # noqa: E402

from bench.change_twin import ACTIVITIES as TWIN_ACTIVITIES  # noqa: E402
from bench.change_twin import NoopChangeTwin  # noqa: E402
from bench.common import run  # noqa: E402
from bench.fast_change_bench import applied, confirmed_to_the_end, start  # noqa: E402
from bench.ratio import Kind, compare, parser  # noqa: E402
from domain.change_order import ChangeOrderRequest, QuoteStep, StaffStep, Stage  # noqa: E402
from domain.order_lines import QuoteLine  # noqa: E402
from telemetry import logs  # noqa: E402
from tests.records import new_account  # noqa: E402
from workflows.change_order import ChangeOrder  # noqa: E402

STAFF = StaffStep(actor="bench-staff")
LINES = [QuoteLine(sku="Premium", quantity=2), QuoteLine(sku="WP480G", quantity=1)]


def through_quote(workflow, kind: str):
    async def run_one(client: Client, queue: str, request) -> str:
        process_id, answer, handle = await start(client, queue, workflow, kind, request)
        if answer.stage != Stage.QUOTE_DRAFT:
            raise RuntimeError(f"{process_id} started in stage {answer.stage}: {answer.message}")
        quote = (
            answer.message.rsplit(" ", 1)[-1]
            if workflow is NoopChangeTwin
            else (f"quote-{process_id.removeprefix(kind + '-')}-v1")
        )
        step = QuoteStep(actor=STAFF.actor, quote_id=quote)
        await handle.execute_update(workflow.mark_primary, step)
        await handle.execute_update(workflow.publish, step)
        done = await handle.execute_update(workflow.mark_complete, STAFF)
        if done.stage != Stage.AWAITING_PARTNER:
            raise RuntimeError(f"{process_id} mark complete: {done.stage} {done.message}")
        await confirmed_to_the_end(handle, workflow, process_id)
        return process_id

    return run_one


async def change_requests(pool, n: int) -> list[ChangeOrderRequest]:
    accounts = [await new_account(pool, licences={"Premium": 2}) for _ in range(n)]
    return [
        ChangeOrderRequest(
            account_id=a.id, pbx_id=a.pbx_id, lines=LINES, requested_by="bench-staff"
        )
        for a in accounts
    ]


async def twin_requests(pool, n: int) -> list[ChangeOrderRequest]:
    tags = [uuid.uuid4().hex[:6].upper() for _ in range(n)]
    return [
        ChangeOrderRequest(
            account_id=f"N{t}", pbx_id=f"PBX-N{t}", lines=LINES, requested_by="bench-staff"
        )
        for t in tags
    ]


OURS = Kind("change-order", change_requests, through_quote(ChangeOrder, "change-order"), applied)
TWIN = Kind("noop-change-twin", twin_requests, through_quote(NoopChangeTwin, "noop-change-twin"))


def main() -> int:
    p = parser(__doc__)
    p.set_defaults(n=30)
    args = p.parse_args()
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    logs.configure("WARNING")
    return asyncio.run(compare(args, OURS, TWIN, [NoopChangeTwin], TWIN_ACTIVITIES))


if __name__ == "__main__":
    run(main)

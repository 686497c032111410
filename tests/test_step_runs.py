"""Step keys carry the run chain: the same step of the same run is
written once, also its outbox and ticket rows; the same step of a run started again under
the same process id is a step of its own."""

import uuid

from store.steps import notify, once, open_ticket


async def write_step(pool, process_id: str, run: str, calls: list[str]) -> dict:
    async def write(conn) -> dict:
        calls.append(run)
        await notify(
            conn,
            process_id=process_id,
            step="remind",
            recipient_kind="role",
            recipient_id="ops",
            template="reminder",
            payload={},
        )
        ticket = await open_ticket(
            conn,
            process_id=process_id,
            step="remind",
            queue="customer_care",
            account_id=None,
            subject="chase",
            body="chase the carrier",
        )
        return {"ticket": ticket}

    return await once(
        pool,
        process_id=process_id,
        step="remind",
        actor="tests",
        action="reminded",
        write=write,
        run=run,
    )


async def test_one_step_per_run_with_its_own_outbox_and_ticket_rows(pool):
    process_id = f"runs-{uuid.uuid4().hex[:8]}"
    calls: list[str] = []
    first = await write_step(pool, process_id, "run-1", calls)
    again = await write_step(pool, process_id, "run-1", calls)  # a retry: nothing written
    second = await write_step(pool, process_id, "run-2", calls)  # started again
    assert calls == ["run-1", "run-2"]
    assert again == first and second != first
    for table in ("audit_log", "notifications", "tickets"):
        rows = await pool.fetch(
            f"SELECT run FROM {table} WHERE process_id = $1 ORDER BY id", process_id
        )
        assert [r["run"] for r in rows] == ["run-1", "run-2"], table
    # writes outside a step (a ticket from outside) belong to no run
    outside = await pool.fetchval(
        "INSERT INTO tickets (queue, subject, body) VALUES"
        " ('customer_care', 'x', 'y') RETURNING run"
    )
    assert outside == ""

"""Reads are not processes: the starter's reads (`account`, `status` with its lead cards,
`contacts`, `inbox`) and every page of the portal a browser GETs leave Temporal's list as it
was. Counted on the real stack: the namespace's workflows before and after."""

import uuid

import httpx
import pytest
from temporalio.client import Client

from portal.routes import documents, leads, login, opportunities, orders, signing
from tests.e2e.cli import client_for, starter
from tests.portal.test_portal_http import browser, first_login

pytestmark = pytest.mark.e2e


async def every_workflow(client: Client) -> set[str]:
    return {wf.id async for wf in client.list_workflows()}


async def listed_until_the_marker(client: Client, marker: str) -> set[str]:
    """The namespace's workflows once `marker`, started after the reads, is listed: what the
    reads started (started before it) is listed by then too."""
    for _ in range(100):
        ids = await every_workflow(client)
        if marker in ids:
            return ids
        await client.get_workflow_handle(marker).describe()  # one round trip, no sleep
    raise AssertionError(f"{marker} never appeared in the list")


def portal_pages() -> list[str]:
    """Every page of the portal a browser GETs, from its routers."""
    pages = []
    for area in (login, orders, documents, leads, opportunities, signing):
        pages += [
            r.path
            for r in area.router.routes
            if "GET" in getattr(r, "methods", set()) and "{" not in r.path
        ]
    return pages


async def test_reads_of_the_starter_and_the_portal_add_no_workflow(stack):
    client = await client_for(stack.env)
    async with browser(stack) as c:
        assert (await first_login(stack, c, "C-NORD-1")).status_code == 303
        before = await every_workflow(client)
        assert stack.made["nord-order"] in before

        for args in (
            ("account", "ACME"),
            ("status", stack.made["nord-order"]),
            ("status", "lead-queue-fair"),  # the lead cards beside it are read too
            ("contacts", "--account", "ACME"),
            ("inbox",),
        ):
            answer = await starter(stack.env, *args)
            assert answer.code == 0, answer.text
        status = await starter(stack.env, "status", "lead-queue-fair")
        assert status.body["data"]["lead_cards"], status.text  # the read did read

        pages = portal_pages()
        assert {"/orders", "/documents", "/leads", "/my-leads", "/opportunities"} <= set(pages)
        for page in pages:
            got = await c.get(
                page, params={"contract": "x", "token": "x"} if "sign" in page else {}
            )
            assert got.status_code < 500, (page, got.status_code)
        # the same pages as someone not logged in
        async with httpx.AsyncClient(base_url=stack.url) as anonymous:
            for page in pages:
                await anonymous.get(page)

    marker = f"marker-{uuid.uuid4().hex[:8]}"
    await client.start_workflow("Marker", id=marker, task_queue=f"nobody-{marker}")
    try:
        after = await listed_until_the_marker(client, marker)
    finally:
        await client.get_workflow_handle(marker).terminate("the count is taken")
    assert after - before == {marker}, sorted(after - before)

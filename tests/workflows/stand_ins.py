"""Stand-in workflows for tests of the workflow runner, the rollout and the patching policy.
A module of their own that imports little besides the SDK: the sandbox imports a workflow's
module again for each run, and a test module imports half the project."""

import random
from datetime import datetime, timedelta

from temporalio import workflow

from workflows.rollout import continue_as_new_on_current_version

PATCH_ID = "first-change-after-1-0"
POLICY = "PatchingPolicy"


@workflow.defn(name=POLICY)
class Release10:
    """1.0: a wait (here a timer), then the end."""

    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(timedelta(minutes=1))  # the behaviour the change drops
        return "old"


@workflow.defn(name=POLICY)
class Patched:
    """The change ships behind its patch id: runs from before replay the old branch."""

    @workflow.run
    async def run(self) -> str:
        if workflow.patched(PATCH_ID):
            return "new"
        await workflow.sleep(timedelta(minutes=1))
        return "old"


@workflow.defn(name=POLICY)
class Deprecated:
    """No run from before the change is left: the old branch goes, the marker stays."""

    @workflow.run
    async def run(self) -> str:
        workflow.deprecate_patch(PATCH_ID)
        return "new"


@workflow.defn(name=POLICY)
class NewOnly:
    """No run with the plain marker is left: the new code alone."""

    @workflow.run
    async def run(self) -> str:
        return "new"


@workflow.defn(name="ReadsTheClock")
class ReadsTheClock:
    """What a workflow must never do: its replay would see another time."""

    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()  # the point of the test


@workflow.defn(name="DrawsAtRandom")
class DrawsAtRandom:
    @workflow.run
    async def run(self) -> float:
        return random.random()


@workflow.defn(name="RolloutChain")
class Chain:
    """Continues as new twice, as a partner account does after a long life."""

    @workflow.run
    async def run(self, generation: int) -> int:
        if generation < 2:
            continue_as_new_on_current_version(generation + 1)
        return generation

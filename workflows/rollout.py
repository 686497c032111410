"""Worker versioning (docs/deployment.md "Rolling out a new version"): which code each process runs
while old and new workers run side by side.

- PINNED: the process finishes on the worker version it started on; it never meets new
  code, so a change to it needs no patch. For processes that end within a working day.
- AUTO_UPGRADE: the process moves to the current version at its next step; a change to its
  commands needs `workflow.patched`. For processes that wait days or weeks for people.
- Partner accounts are pinned per run and continue as new onto the current version when one
  appears (upgrade on continue-as-new): no patch ever, and no history to keep compatible.

Whether the worker serves a deployment version is a worker setting fixed at deployment, not
something a workflow reads: worker.workflow_classes declares it (`declare_versioned`) before
it imports the workflow classes, and the worker passes this module through the sandbox, so
that the classes the sandbox imports again for each run declare the same behaviour.
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.common import VersioningBehavior
from temporalio.workflow import ContinueAsNewVersioningBehavior

PINNED, AUTO_UPGRADE = VersioningBehavior.PINNED, VersioningBehavior.AUTO_UPGRADE

# read-only: the kernel is imported once and shared by every run (worker.KERNEL)
BEHAVIOUR: Mapping[str, VersioningBehavior] = MappingProxyType(
    {
        # one step or a batch, over within minutes to hours
        "AccountChange": PINNED,
        "RecordChange": PINNED,
        "PartnerManagement": PINNED,
        "OnboardingCampaign": PINNED,  # its clients' onboardings are processes of their own
        # pinned per run, continues as new onto a new version (see continue_as_new_on_current)
        "PartnerOnboarding": PINNED,
        # wait for partners, customers, carriers or staff: days, weeks, up to a porting date
        "FastChangeOrder": AUTO_UPGRADE,  # up to 10 days for the partner's confirmation
        "ChangeOrder": AUTO_UPGRADE,
        "ClassoundOrder": AUTO_UPGRADE,  # 30 days for documents, then the porting date
        "Renegotiation": AUTO_UPGRADE,  # until the signing deadline, extensions included
        "ClientOnboarding": AUTO_UPGRADE,
        "InvoicingRun": AUTO_UPGRADE,  # waits for the numbering review by a person
        # indefinitely; its continue-as-new may later move to upgrade on continue-as-new
        "LeadQueueRouter": AUTO_UPGRADE,  # lives as long as the queue
        "LeadStep": AUTO_UPGRADE,  # a claim's service-level timer may wait up to 30 days
    }
)


class _Worker:
    """This process's answer, given once: None until a worker declares it or the first
    workflow class asks (then unversioned: the tests, replay, tools)."""

    versioned: bool | None = None


def declare_versioned(versioned: bool) -> None:
    """worker.workflow_classes, before it imports them: whether this worker serves a
    deployment version. The server refuses a workflow task that names a versioning behaviour
    from a worker without one ("versioning behavior cannot be specified without deployment
    options"), and the SDK sends the behaviour declared in @workflow.defn; so it is declared
    only in a versioned worker's process."""
    if _Worker.versioned is not None and _Worker.versioned != versioned:
        raise RuntimeError(
            "workflow classes were imported before the worker declared whether it serves a "
            "deployment version: declare it first"
        )
    _Worker.versioned = versioned


def versioning(workflow_type: str) -> VersioningBehavior:
    """The behaviour for @workflow.defn(versioning_behavior=...)."""
    if _Worker.versioned is None:
        _Worker.versioned = False
    return BEHAVIOUR[workflow_type] if _Worker.versioned else VersioningBehavior.UNSPECIFIED


def new_version_available() -> bool:
    """A new worker version became current (or ramping) since this run started: time to
    continue as new onto it. False on an unversioned worker and while replaying."""
    return workflow.info().is_target_worker_deployment_version_changed()


def continue_as_new_on_current_version(arg: Any) -> NoReturn:
    """Continue as new; the next run starts on the current worker version, not on this run's
    pinned one. An unversioned worker (./run, the tests) continues as new as before: the
    server refuses a versioning behaviour from a worker without a deployment version."""
    version = workflow.info().get_current_deployment_version()
    versioned = version is not None and bool(version.deployment_name)  # else a bare build id
    workflow.continue_as_new(
        arg,
        initial_versioning_behavior=(
            ContinueAsNewVersioningBehavior.AUTO_UPGRADE if versioned else None
        ),
    )

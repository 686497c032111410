"""Worker versioning settings: the worker's deployment version from the environment, and the
versioning behaviour of every workflow type (docs/deployment.md "Rolling out a new version")."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.common import VersioningBehavior

import config
from worker import workflow_classes
from workflows.rollout import BEHAVIOUR

WORKFLOWS = workflow_classes()  # an unversioned worker's, as the tests run

ROOT = Path(__file__).resolve().parents[2]
VERSION_VARIABLES = ("PARTNERFLOW_DEPLOYMENT_NAME", "PARTNERFLOW_BUILD_ID")


@pytest.fixture
def env(monkeypatch):
    for name in VERSION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_without_a_deployment_the_worker_is_unversioned(env):
    assert config.worker_deployment() is None


def test_deployment_name_and_build_id_make_a_versioned_worker(env):
    env.setenv("PARTNERFLOW_DEPLOYMENT_NAME", "partnerflow")
    env.setenv("PARTNERFLOW_BUILD_ID", "2026-12-02-eac82f8")
    deployment = config.worker_deployment()
    assert deployment.use_worker_versioning
    assert deployment.version.to_canonical_string() == "partnerflow.2026-12-02-eac82f8"
    # no default: the SDK refuses a worker whose workflow types do not all declare one
    assert deployment.default_versioning_behavior == VersioningBehavior.UNSPECIFIED


@pytest.mark.parametrize(
    "given, missing",
    [
        ("PARTNERFLOW_DEPLOYMENT_NAME", "PARTNERFLOW_BUILD_ID"),
        ("PARTNERFLOW_BUILD_ID", "PARTNERFLOW_DEPLOYMENT_NAME"),
    ],
)
def test_one_without_the_other_is_refused_naming_the_missing_one(env, given, missing):
    env.setenv(given, "x1")
    with pytest.raises(config.NotConfigured, match=f"^{missing} is not set"):
        config.worker_deployment()


def test_a_dot_in_the_deployment_name_is_refused(env):
    env.setenv("PARTNERFLOW_DEPLOYMENT_NAME", "partner.flow")
    env.setenv("PARTNERFLOW_BUILD_ID", "b1")
    with pytest.raises(config.NotConfigured, match="no '.' in a deployment name"):
        config.worker_deployment()


def test_every_workflow_type_has_a_behaviour():
    names = {wf.__temporal_workflow_definition.name for wf in WORKFLOWS}
    assert set(BEHAVIOUR) == names
    assert VersioningBehavior.UNSPECIFIED not in BEHAVIOUR.values()


def test_an_unversioned_worker_process_declares_no_behaviour():
    """The dev server refuses a workflow task naming a behaviour from an unversioned worker:
    ./run and the tests would hang at every process's first step."""
    assert not any(os.environ.get(name) for name in VERSION_VARIABLES)
    declared = {wf.__temporal_workflow_definition.versioning_behavior for wf in WORKFLOWS}
    assert declared == {VersioningBehavior.UNSPECIFIED}


def test_a_versioned_worker_process_declares_the_policy():
    """What worker.py registers when it runs with a deployment version."""
    code = (
        "import json, worker\n"
        "defns = [w.__temporal_workflow_definition for w in worker.workflow_classes(True)]\n"
        "print(json.dumps({d.name: d.versioning_behavior.name for d in defns}))"
    )
    env = {**os.environ, "PARTNERFLOW_DEPLOYMENT_NAME": "partnerflow", "PARTNERFLOW_BUILD_ID": "b1"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert json.loads(out.strip().splitlines()[-1]) == {
        name: behaviour.name for name, behaviour in BEHAVIOUR.items()
    }


def test_a_worker_that_declares_its_versioning_after_the_classes_is_refused():
    """The behaviour is fixed when a workflow class is declared: a worker process that
    imported one before saying it serves a deployment version would run it unversioned."""
    code = (
        "import workflows.fast_change_order\n"
        "from workflows import rollout\n"
        "rollout.declare_versioned(True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "declare it first" in done.stderr

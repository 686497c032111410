"""The saved histories include processes of every kind started under the release now in
production (tests/histories/previous-release.yaml, release 1.0): the processes that will
meet the next release's code. Together
with tests/test_replay.py (which replays them all), an incompatible change without a patch
fails CI for every workflow type, not only for those with a history recorded today."""

import hashlib
from pathlib import Path

import yaml

from tests.test_replay import workflow_type
from worker import workflow_classes

WORKFLOWS = workflow_classes()  # an unversioned worker's, as the tests run


HISTORIES = Path(__file__).parent / "histories"
RELEASE = yaml.safe_load((HISTORIES / "previous-release.yaml").read_text())


def test_every_workflow_type_has_a_history_from_the_previous_release():
    types = {wf.__temporal_workflow_definition.name for wf in WORKFLOWS}
    recorded = {workflow_type(HISTORIES / name) for name in RELEASE["histories"]}
    new = set(RELEASE["new_since"])
    assert recorded | new == types, (
        f"no history from the previous release: {sorted(types - recorded - new)}; record one "
        "on the previous release's code, or list the type under new_since if it is new"
    )
    assert not recorded & new, "a type with a history of the previous release is not new"


def test_the_previous_release_histories_were_not_re_recorded():
    """Re-recorded on today's code, a history no longer shows what running processes did."""
    for name, digest in RELEASE["histories"].items():
        assert hashlib.sha256((HISTORIES / name).read_bytes()).hexdigest() == digest, name

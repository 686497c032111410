"""Worker settings from the environment (docs/performance.md)."""

import pytest

import config
import worker

NAMES = (
    "PARTNERFLOW_MAX_CACHED_WORKFLOWS",
    "PARTNERFLOW_WORKFLOW_TASK_SLOTS",
    "PARTNERFLOW_ACTIVITY_SLOTS",
    "PARTNERFLOW_DB_POOL_SIZE",
)


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)


def test_defaults_without_settings():
    assert config.worker_settings() == config.WORKER_DEFAULTS


def test_each_setting_is_read(monkeypatch):
    for name, value in zip(NAMES, ("250", "8", "30", "12"), strict=True):
        monkeypatch.setenv(name, value)
    assert config.worker_settings() == config.WorkerSettings(
        max_cached_workflows=250, workflow_task_slots=8, activity_slots=30, pool_size=12
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PARTNERFLOW_DB_POOL_SIZE", "ten"),
        ("PARTNERFLOW_DB_POOL_SIZE", "0"),
        ("PARTNERFLOW_WORKFLOW_TASK_SLOTS", "1"),
        ("PARTNERFLOW_MAX_CACHED_WORKFLOWS", "-1"),
    ],
)
def test_a_bad_value_stops_the_worker_with_its_name(monkeypatch, capsys, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        worker.settings()
    assert stopped.value.code == worker.NOT_CONFIGURED  # not restarted by a supervisor
    assert name in capsys.readouterr().err


def test_the_worker_gets_them(monkeypatch):
    monkeypatch.setenv("PARTNERFLOW_MAX_CACHED_WORKFLOWS", "123")
    monkeypatch.setenv("PARTNERFLOW_ACTIVITY_SLOTS", "7")
    seen = {}

    class Recorder:
        def __init__(self, client, **kwargs):
            seen.update(kwargs)

    monkeypatch.setattr(worker, "Worker", Recorder)
    worker.build_worker(object(), pool=None)
    assert seen["max_cached_workflows"] == 123
    assert seen["max_concurrent_activities"] == 7
    assert seen["max_concurrent_workflow_tasks"] == config.WORKER_DEFAULTS.workflow_task_slots


def test_the_settings_are_those_of_the_environment_given(tmp_path):
    env = {
        "PARTNERFLOW_TASK_QUEUE": "q-1",
        "PARTNERFLOW_DATA_DIR": str(tmp_path),
        "TEMPORAL_PROFILE": "cloud",
        "PARTNERFLOW_ACTOR": "ops-anna",
        "PARTNERFLOW_STARTER_WAIT": "90",
    }
    s = config.Settings.from_environment(env)
    assert (s.task_queue, s.data_dir, s.actor, s.starter_wait) == (
        "q-1",
        tmp_path,
        "ops-anna",
        "90",
    )
    assert s.temporal_chosen and s.temporal_address is None
    assert s.documents_dir == tmp_path / "documents"
    bare = config.Settings.from_environment({})
    assert (bare.task_queue, bare.data_dir) == (config.DEFAULT_TASK_QUEUE, config.DEFAULT_DATA_DIR)


def test_the_endpoints_are_read_when_asked_and_a_bad_port_is_named():
    from telemetry.metrics import Endpoints

    assert Endpoints.from_environment({}) == Endpoints()
    chosen = Endpoints.from_environment(
        {"PARTNERFLOW_METRICS_ADDRESS": "127.0.0.1:0", "PARTNERFLOW_HEALTH_PORT": "0"}
    )
    assert (chosen.metrics_address, chosen.health_port) == ("127.0.0.1:0", 0)
    with pytest.raises(config.NotConfigured, match="PARTNERFLOW_HEALTH_PORT"):
        Endpoints.from_environment({"PARTNERFLOW_HEALTH_PORT": "eighty"})

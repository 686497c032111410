"""No Docker engine runs here, so CI checks docker-compose.yml's structure against what the
docs/deployment.md promises: the services, their images, start order, health checks and settings."""

import re
from pathlib import Path

import pytest
import yaml

from workflows.visibility import ALL as SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def depends(service: str) -> dict[str, str]:
    return {name: spec["condition"] for name, spec in SERVICES[service]["depends_on"].items()}


def test_the_services_of_a_production_setup():
    assert set(SERVICES) == {
        "postgresql",
        "temporal-schema",
        "temporal",
        "temporal-search-attributes",
        "temporal-ui",
        "migrate",
        "worker",
        "worker-next",
        "worker-version",
        "codec-server",
        "reconcile",
        "portal",
    }


def test_temporal_images_are_current_not_the_deprecated_auto_setup():
    images = {name: s.get("image", "") for name, s in SERVICES.items()}
    assert not any("auto-setup" in image for image in images.values())
    assert images["temporal"].startswith("temporalio/server:")
    assert images["temporal-ui"].startswith("temporalio/ui:")
    assert images["temporal-schema"].startswith("temporalio/admin-tools:")
    assert images["temporal-search-attributes"].startswith("temporalio/admin-tools:")
    assert images["postgresql"].startswith("postgres:")


def test_start_order_waits_for_health_and_one_shot_jobs():
    assert depends("temporal-schema") == {"postgresql": "service_healthy"}
    assert depends("temporal") == {"temporal-schema": "service_completed_successfully"}
    assert depends("temporal-search-attributes") == {"temporal": "service_healthy"}
    assert depends("temporal-ui") == {"temporal": "service_healthy"}
    assert depends("migrate") == {"postgresql": "service_healthy"}
    assert depends("portal") == {
        "migrate": "service_completed_successfully",
        "temporal": "service_healthy",
    }
    assert depends("worker") == {
        "migrate": "service_completed_successfully",
        "temporal-search-attributes": "service_completed_successfully",
        "temporal": "service_healthy",
    }


@pytest.mark.parametrize("service", ["postgresql", "temporal", "worker", "worker-next", "portal"])
def test_long_running_services_have_health_checks(service):
    assert SERVICES[service]["healthcheck"]["test"]


def test_worker_scales_with_docker_compose_scale():
    worker = SERVICES["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert "/readyz" in " ".join(worker["healthcheck"]["test"])


def test_app_services_share_the_settings_the_docs_document():
    for name in ("migrate", "worker", "codec-server", "portal"):
        env = SERVICES[name]["environment"]
        for key in (
            "DATABASE_URL",
            "TEMPORAL_ADDRESS",
            "TEMPORAL_NAMESPACE",
            "PARTNERFLOW_ENCRYPTION_KEYS",
        ):
            assert key in env, (name, key)
    docs = (ROOT / "docs" / "deployment.md").read_text()
    for key in (
        "PARTNERFLOW_ENCRYPTION_KEYS",
        "PARTNERFLOW_CODEC_TOKEN",
        "docker compose up",
        "--scale worker=",
    ):
        assert key in docs
    assert "documents:/var/lib/partnerflow/documents" in SERVICES["worker"]["volumes"]
    assert SERVICES["migrate"]["command"] == ["python", "-m", "store", "migrate"]
    assert SERVICES["worker"]["command"] == ["python", "worker.py"]


def test_the_search_attribute_job_registers_ours():
    script = (ROOT / "deploy" / "search-attributes.sh").read_text()
    names = set(re.search(r"for name in ([A-Za-z ]+); do", script)[1].split())
    assert names == {key.name for key in SEARCH_ATTRIBUTES}


def test_mounted_scripts_exist_and_the_image_holds_every_package():
    for name in ("temporal-schema", "temporal-search-attributes"):
        script = SERVICES[name]["entrypoint"][-1].removeprefix("/deploy/")
        assert (ROOT / "deploy" / script).exists()
    dockerfile = (ROOT / "Dockerfile").read_text()
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    copied = set(re.findall(r"^COPY (\w+) \1$", dockerfile, re.M))
    assert packages <= copied, packages - copied


# --- rolling upgrade (docs/deployment.md "Rolling out a new version") -----------------------


def test_old_and_new_workers_run_side_by_side_as_two_versions_of_one_deployment():
    old, new = SERVICES["worker"], SERVICES["worker-next"]
    assert old["environment"]["PARTNERFLOW_DEPLOYMENT_NAME"] == "partnerflow"
    assert new["environment"]["PARTNERFLOW_DEPLOYMENT_NAME"] == "partnerflow"
    assert old["environment"]["PARTNERFLOW_BUILD_ID"].startswith("${PARTNERFLOW_BUILD_ID:?")
    assert new["environment"]["PARTNERFLOW_BUILD_ID"].startswith("${PARTNERFLOW_NEXT_BUILD_ID")
    # each version its own image, so the old code keeps running beside the new
    assert old["image"].startswith("partnerflow:${PARTNERFLOW_BUILD_ID")
    assert new["image"].startswith("partnerflow:${PARTNERFLOW_NEXT_BUILD_ID")
    # the next version only during a rollout; otherwise the same worker
    assert new["profiles"] == ["rollout"] and "profiles" not in old
    for key in ("command", "depends_on", "healthcheck", "stop_grace_period", "volumes"):
        assert new[key] == old[key], key


def test_a_first_start_makes_the_first_version_current_once():
    job = SERVICES["worker-version"]
    assert job["command"] == ["python", "-m", "deploy.versions", "first-version"]
    assert depends("worker-version") == {"worker": "service_healthy"}
    assert (
        job["environment"]["PARTNERFLOW_BUILD_ID"]
        == (SERVICES["worker"]["environment"]["PARTNERFLOW_BUILD_ID"])
    )


def test_the_docs_walk_through_a_rolling_upgrade():
    docs = (ROOT / "docs" / "deployment.md").read_text()
    section = docs[docs.index("## Rolling out a new version") :]
    section = section[: section.index("\n## ", 1)]
    for step in (
        "PARTNERFLOW_NEXT_BUILD_ID=",
        "--profile rollout up -d",
        "worker-next",
        "temporal worker deployment set-current-version",
        "TemporalWorkerDeploymentVersion",
        "move_to_current_version",
        "PARTNERFLOW_BUILD_ID=",
        "docker compose up -d worker",
        "--profile rollout stop worker-next",
        "### Patching policy",
        "workflow.deprecate_patch",
        "tests/workflows/test_patching.py",
    ):
        assert step in section, step


# --- hardening (docs/security.md "Hardening") -----------------------------------------------


def published(service: str) -> list[str]:
    return [str(p) for p in SERVICES[service].get("ports", [])]


def test_temporal_and_postgresql_are_not_published_outside_the_compose_network():
    for name, service in SERVICES.items():
        for port in published(name):
            assert not re.search(r"(^|:)(7233|7234|7235|7239|5432)(:|$)", port), (name, port)
        assert "network_mode" not in service, name  # host networking would publish everything
    assert "ports" not in SERVICES["temporal"] and "ports" not in SERVICES["postgresql"]


def test_what_is_published_listens_on_the_hosts_loopback_only():
    ports = {name: published(name) for name in SERVICES if published(name)}
    assert ports, "the UI and the codec server are reached from the host"
    for name, mappings in ports.items():
        for port in mappings:
            assert port.startswith("127.0.0.1:"), (name, port)


def test_the_reconciliation_job_runs_after_the_migration():
    job = SERVICES["reconcile"]
    assert job["command"] == ["python", "-m", "store", "reconcile", "--every", "300"]
    assert depends("reconcile") == {
        "migrate": "service_completed_successfully",
        "temporal": "service_healthy",
    }
    assert job["restart"] == "unless-stopped"
    for key in ("DATABASE_URL", "TEMPORAL_ADDRESS", "PARTNERFLOW_ENCRYPTION_KEYS"):
        assert key in job["environment"], key


def test_the_codec_token_is_not_handed_to_the_ui_server():
    # The UI serves its codec endpoint to every browser that opens it (token included).
    ui = SERVICES["temporal-ui"]["environment"]
    assert not any("CODEC_TOKEN" in str(v) for v in ui.values()), ui


def test_the_docs_say_how_to_turn_on_temporals_own_authorization():
    docs = (ROOT / "docs" / "security.md").read_text()
    section = docs[docs.index("## Hardening") :]
    section = section[: section.index("\n## ", 1)]
    for fact in (
        "requireClientAuth",
        "clientCaFiles",
        "global:",
        "authorization:",
        "authorizer: default",
        "claimMapper: default",
        "jwtKeyProvider",
        "keySourceURIs",
        "permissionsClaimName",
        "TEMPORAL_API_KEY",
        "TEMPORAL_TLS_CLIENT_CERT_PATH",
        "python -m store reconcile",
    ):
        assert fact in section, fact


def test_outsiders_reach_the_portal_and_the_ui_never_temporal():
    published = {name: s["ports"] for name, s in SERVICES.items() if s.get("ports")}
    assert set(published) == {"portal", "temporal-ui", "codec-server"}, published
    assert "ports" not in SERVICES["temporal"]
    portal = SERVICES["portal"]
    assert portal["command"] == ["python", "-m", "portal"]
    assert "/healthz" in " ".join(portal["healthcheck"]["test"])
    assert "PARTNERFLOW_PORTAL_SECRET" in portal["environment"]
    # the links the workers e-mail open the portal
    assert "PARTNERFLOW_PARTNER_PORTAL_URL" in SERVICES["worker"]["environment"]
    assert "COPY portal portal" in (ROOT / "Dockerfile").read_text()

import uuid

import pytest

from tests.e2e.cli import environment


@pytest.fixture
def cli_env(dev_env, database_url, pool) -> dict[str, str]:
    """Environment for worker.py and starter.py: the dev server, the test database and a
    task queue of this test's own. (`pool` loads the catalogue.)"""
    address = dev_env.client.service_client.config.target_host
    return environment(address, database_url, f"e2e-{uuid.uuid4().hex[:8]}")

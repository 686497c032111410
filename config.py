"""Settings from the environment, with the embedded defaults of the run command."""

import os
from pathlib import Path

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from codec import codec_from_environment, data_converter

TASK_QUEUE = os.environ.get("PARTNERFLOW_TASK_QUEUE", "partnerflow")
DATA_DIR = Path(os.environ.get("PARTNERFLOW_DATA_DIR", Path(__file__).parent / ".data"))
DEFAULT_TEMPORAL_ADDRESS = "localhost:7233"


def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit(
            "DATABASE_URL is not set: point it at PostgreSQL, or start everything with ./run"
        )
    return url


async def connect_temporal(runtime: Runtime | None = None) -> Client:
    """Address, namespace, TLS and API key from TEMPORAL_* variables or a config profile
    (temporalio.envconfig), so the same code reaches the dev server or Temporal Cloud.
    With PARTNERFLOW_ENCRYPTION_KEYS set, payloads are encrypted (codec.py)."""
    settings = dict(ClientConfig.load_client_connect_config())
    settings.setdefault("target_host", DEFAULT_TEMPORAL_ADDRESS)
    return await Client.connect(
        **settings, data_converter=data_converter(codec_from_environment()), runtime=runtime
    )

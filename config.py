"""Settings from the environment, with the embedded defaults of the run command."""

import os
from pathlib import Path

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from codec import (
    EncryptionCodec,
    KeyRingError,
    codec_from_environment,
    data_converter,
    parse_key_ring,
)

TASK_QUEUE = os.environ.get("PARTNERFLOW_TASK_QUEUE", "partnerflow")
DATA_DIR = Path(os.environ.get("PARTNERFLOW_DATA_DIR", Path(__file__).parent / ".data"))
DEFAULT_TEMPORAL_ADDRESS = "localhost:7233"


def sales_registration_address() -> str:
    """Where an increase within 36 months of the original signing is reported so that the
    sale is credited (seed 001): a role address, never a person's."""
    return os.environ.get("PARTNERFLOW_SALES_REGISTRATION_ADDRESS",
                          "sales-registration@partnerflow.example")


def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit(
            "DATABASE_URL is not set: point it at PostgreSQL, or start everything with ./run"
        )
    return url


def documents_dir() -> Path:
    """Where uploaded documents (LOA, invoices) and number lists are kept, outside Temporal:
    PARTNERFLOW_DOCUMENTS_DIR, else `documents/` in the data folder. The starter writes there
    and the workers read there: in a cluster, a volume both can reach."""
    configured = os.environ.get("PARTNERFLOW_DOCUMENTS_DIR")
    return Path(configured) if configured else DATA_DIR / "documents"


def partner_portal_url() -> str:
    """Where partner users log in: the login e-mail's one-time link points there."""
    return os.environ.get("PARTNERFLOW_PARTNER_PORTAL_URL", "https://partners.partnerflow.example")


def signing_url() -> str:
    """Where a customer signs a contract: the one-time signing link of the contract e-mail and
    SMS points there."""
    return os.environ.get("PARTNERFLOW_SIGNING_URL", "https://sign.partnerflow.example")


ALLOW_PLAINTEXT = "PARTNERFLOW_ALLOW_PLAINTEXT"
PLAINTEXT_WARNING = (f"{ALLOW_PLAINTEXT}=1: Temporal payloads are NOT encrypted; billing "
                     "e-mails, addresses, tax ids and phone numbers are stored in the clear in "
                     "Temporal's history. Set PARTNERFLOW_ENCRYPTION_KEYS for real data.")


class NotConfigured(RuntimeError):
    """Refusing to run: the setting named in the message is missing or wrong."""


def plaintext_allowed() -> bool:
    return os.environ.get(ALLOW_PLAINTEXT, "").strip() == "1"


def encryption_codec() -> EncryptionCodec | None:
    """PARTNERFLOW_ENCRYPTION_KEYS, else the key ring `./run` keeps in the data folder, so
    the starter in another terminal reads what the local worker wrote. Fails closed: no key
    ring is NotConfigured unless PARTNERFLOW_ALLOW_PLAINTEXT=1 (then None: no encryption,
    and the caller warns loudly)."""
    try:
        codec = codec_from_environment()
        local = DATA_DIR / "encryption-keys"
        if codec is None and local.exists():
            codec = EncryptionCodec(parse_key_ring(local.read_text()),
                                    accept_plaintext=accept_plaintext_history())
    except KeyRingError as e:
        raise NotConfigured(f"PARTNERFLOW_ENCRYPTION_KEYS: {e}") from None
    if codec is None and not plaintext_allowed():
        raise NotConfigured(
            "no key ring: set PARTNERFLOW_ENCRYPTION_KEYS (a new one: `python codec.py "
            "new-key k1`, the same on every worker and starter), or use ./run, which makes "
            f"one. Without it, personal data would enter Temporal's history in the clear; to "
            f"run unencrypted anyway (a test system), set {ALLOW_PLAINTEXT}=1")
    return codec


def accept_plaintext_history() -> bool:
    return os.environ.get("PARTNERFLOW_ACCEPT_PLAINTEXT_HISTORY", "").strip() == "1"


async def connect_temporal(runtime: Runtime | None = None) -> Client:
    """Address, namespace, TLS and API key from TEMPORAL_* variables or a config profile
    (temporalio.envconfig), so the same code reaches the dev server or Temporal Cloud.
    Payloads are encrypted with the key ring (codec.py); without one this raises
    NotConfigured unless plaintext was chosen (PARTNERFLOW_ALLOW_PLAINTEXT=1)."""
    settings = dict(ClientConfig.load_client_connect_config())
    settings.setdefault("target_host", DEFAULT_TEMPORAL_ADDRESS)
    return await Client.connect(
        **settings, data_converter=data_converter(encryption_codec()), runtime=runtime
    )

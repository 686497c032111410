"""Settings from the environment, with the embedded defaults of the run command.

Nothing is read at import: each process's main() builds `Settings` once and passes it down.
The functions below that take no settings read the environment when they are called (the
activities' few settings: where documents live, the links in messages)."""

import fcntl
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime
from temporalio.worker import WorkerDeploymentConfig

from codec import (
    EncryptionCodec,
    KeyRingError,
    client_interceptors,
    codec_from_environment,
    data_converter,
    parse_key_ring,
)
from codec.signing import load_signer
from domain import business_time

DEFAULT_TASK_QUEUE = "partnerflow"
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / ".data"
DEFAULT_TEMPORAL_ADDRESS = "localhost:7233"
# Any of these names the Temporal to reach; without them, the ./run of this clone is used.
TEMPORAL_CHOICES = ("TEMPORAL_ADDRESS", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE")


@dataclass(frozen=True)
class Settings:
    """What a process reads from its environment, read once by its main() and passed down:
    the task queue, the data folder of ./run, how to reach Temporal and PostgreSQL, who the
    starter acts as, and how loud the logs are."""

    task_queue: str = DEFAULT_TASK_QUEUE
    data_dir: Path = DEFAULT_DATA_DIR
    temporal_address: str | None = None  # TEMPORAL_ADDRESS as set
    temporal_chosen: bool = False  # an address, profile or config file was set
    database_url: str | None = None
    actor: str | None = None  # PARTNERFLOW_ACTOR
    documents: Path | None = None  # PARTNERFLOW_DOCUMENTS_DIR
    starter_wait: str = ""  # PARTNERFLOW_STARTER_WAIT, checked by the starter that uses it
    debug: bool = False  # PARTNERFLOW_DEBUG: tracebacks and raw errors
    log_level: str = "INFO"
    environment: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        documents = env.get("PARTNERFLOW_DOCUMENTS_DIR")
        return cls(
            task_queue=env.get("PARTNERFLOW_TASK_QUEUE") or DEFAULT_TASK_QUEUE,
            data_dir=Path(env.get("PARTNERFLOW_DATA_DIR") or DEFAULT_DATA_DIR),
            temporal_address=env.get("TEMPORAL_ADDRESS") or None,
            temporal_chosen=any(env.get(name) for name in TEMPORAL_CHOICES),
            database_url=env.get("DATABASE_URL") or None,
            actor=env.get(ACTOR_ENV) or None,
            documents=Path(documents) if documents else None,
            starter_wait=env.get("PARTNERFLOW_STARTER_WAIT", "").strip(),
            debug=bool(env.get("PARTNERFLOW_DEBUG")),
            log_level=env.get("LOG_LEVEL") or "INFO",
            environment=env,
        )

    @property
    def documents_dir(self) -> Path:
        return self.documents or self.data_dir / "documents"

    def running_stack(self) -> dict[str, Any] | None:
        return running_stack(self.data_dir)

    def default_actor(self) -> str | None:
        """PARTNERFLOW_ACTOR, else the identity ./run names in its run file (never the login
        name: $USER is not a directory identity)."""
        return self.actor or (self.running_stack() or {}).get("actor") or None

    def database_dsn(self) -> str | None:
        """DATABASE_URL, else ./run's (its file in the data folder, else its run file)."""
        local = self.data_dir / "database-url"  # written by ./run
        if self.database_url:
            return self.database_url
        if local.exists():
            return local.read_text().strip() or None
        return (self.running_stack() or {}).get("database_url")


def _data_dir() -> Path:
    return Path(os.environ.get("PARTNERFLOW_DATA_DIR") or DEFAULT_DATA_DIR)


@dataclass(frozen=True)
class WorkerSettings:
    """How much one worker process holds and runs at once (docs/performance.md
    "Worker settings": the figures these defaults were chosen from)."""

    max_cached_workflows: int  # processes kept in memory between steps; others replay
    workflow_task_slots: int  # workflow tasks run at once
    activity_slots: int  # activities run at once; each holds a pool connection at most
    pool_size: int  # asyncpg connections to PostgreSQL


WORKER_DEFAULTS = WorkerSettings(
    max_cached_workflows=2000, workflow_task_slots=20, activity_slots=20, pool_size=10
)


def _whole(name: str, default: int, lo: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise NotConfigured(f"{name}={raw!r}: a whole number is needed") from None
    if value < lo:
        raise NotConfigured(f"{name}={value}: at least {lo}")
    return value


def worker_settings() -> WorkerSettings:
    """PARTNERFLOW_MAX_CACHED_WORKFLOWS, PARTNERFLOW_WORKFLOW_TASK_SLOTS,
    PARTNERFLOW_ACTIVITY_SLOTS, PARTNERFLOW_DB_POOL_SIZE; unset: WORKER_DEFAULTS."""
    d = WORKER_DEFAULTS
    return WorkerSettings(
        max_cached_workflows=_whole("PARTNERFLOW_MAX_CACHED_WORKFLOWS", d.max_cached_workflows, 0),
        # the SDK needs two slots when it caches workflows
        workflow_task_slots=_whole("PARTNERFLOW_WORKFLOW_TASK_SLOTS", d.workflow_task_slots, 2),
        activity_slots=_whole("PARTNERFLOW_ACTIVITY_SLOTS", d.activity_slots, 1),
        pool_size=_whole("PARTNERFLOW_DB_POOL_SIZE", d.pool_size, 1),
    )


DEPLOYMENT_NAME = "PARTNERFLOW_DEPLOYMENT_NAME"
BUILD_ID = "PARTNERFLOW_BUILD_ID"


def worker_deployment() -> WorkerDeploymentConfig | None:
    """Worker versioning (docs/deployment.md "Rolling out a new version"): with
    PARTNERFLOW_DEPLOYMENT_NAME and PARTNERFLOW_BUILD_ID the worker serves that one version of
    the deployment, and each workflow type keeps the versioning behaviour it declares (no
    default: a type without one is refused by the SDK at worker start). Without both, the worker
    is unversioned, as `./run` and the tests run it: every worker serves every process, on the
    newest code."""
    name = os.environ.get(DEPLOYMENT_NAME, "").strip()
    build_id = os.environ.get(BUILD_ID, "").strip()
    if not name and not build_id:
        return None
    if not name or not build_id:
        missing = DEPLOYMENT_NAME if not name else BUILD_ID
        raise NotConfigured(
            f"{missing} is not set: worker versioning needs both "
            f"{DEPLOYMENT_NAME} and {BUILD_ID} (or neither, unversioned)"
        )
    if "." in name:  # the server's canonical form is <deployment>.<build id>
        raise NotConfigured(f"{DEPLOYMENT_NAME}={name!r}: no '.' in a deployment name")
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment_name=name, build_id=build_id),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.UNSPECIFIED,
    )


def sales_registration_address() -> str:
    """Where an increase within 36 months of the original signing is reported so that the
    sale is credited: a role address, never a person's."""
    return os.environ.get(
        "PARTNERFLOW_SALES_REGISTRATION_ADDRESS", "sales-registration@partnerflow.example"
    )


def database_url() -> str:
    """DATABASE_URL, else the database of the `./run` running in this clone (its run file)."""
    url = os.environ.get("DATABASE_URL") or (running_stack() or {}).get("database_url")
    if not url:
        raise SystemExit(
            "DATABASE_URL is not set: point it at PostgreSQL, or start everything with ./run"
        )
    return url


# `./run` holds an advisory lock on <data>/run.lock while it runs (the kernel drops it when the
# process ends, however it ends) and says in <data>/run.json what it started: a second ./run
# in the clone and the clone's tools find it; a stale file after a crash counts for nothing.
RUN_LOCK, RUN_FILE = "run.lock", "run.json"


def claim_run(data_dir: Path) -> IO | None:
    """The clone's run lock, held as long as the returned file is open; None: taken."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = open(data_dir / RUN_LOCK, "a")  # noqa: SIM115 - held for the life of ./run
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return lock


def write_run_file(data_dir: Path, settings: dict[str, Any]) -> None:
    """What ./run started (pid, ports, DATABASE_URL): only its user may read it."""
    path = data_dir / RUN_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(settings, indent=2))
    tmp.chmod(0o600)
    tmp.replace(path)


def running_stack(data_dir: Path | None = None) -> dict[str, Any] | None:
    """The settings of the ./run running in this clone, {} while it is still starting; None
    when none runs."""
    data_dir = data_dir or _data_dir()
    if not (data_dir / RUN_LOCK).exists():
        return None
    with open(data_dir / RUN_LOCK, "a") as lock:
        try:  # a shared lock is granted only while no ./run holds the clone
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return None
        except BlockingIOError:
            pass
    try:
        return json.loads((data_dir / RUN_FILE).read_text())
    except (OSError, ValueError):
        return {}


ACTOR_ENV = "PARTNERFLOW_ACTOR"
DEMO_ACTOR = "ops-anna"  # ./run's identity for the starter: the demo data's operations lead


def documents_dir() -> Path:
    """Where uploaded documents (LOA, invoices) and number lists are kept, outside Temporal:
    PARTNERFLOW_DOCUMENTS_DIR, else `documents/` in the data folder. The starter writes there
    and the workers read there: in a cluster, a volume both can reach."""
    configured = os.environ.get("PARTNERFLOW_DOCUMENTS_DIR")
    return Path(configured) if configured else _data_dir() / "documents"


DEFAULT_PARTNER_PORTAL_URL = "https://partners.partnerflow.example"


def partner_portal_url() -> str:
    """Where partner users log in: the login e-mail's one-time link points there."""
    return os.environ.get("PARTNERFLOW_PARTNER_PORTAL_URL", DEFAULT_PARTNER_PORTAL_URL)


def signing_url() -> str:
    """Where a customer signs a contract: the one-time signing link of the contract e-mail and
    SMS points there."""
    return os.environ.get("PARTNERFLOW_SIGNING_URL", "https://sign.partnerflow.example")


ALLOW_PLAINTEXT = "PARTNERFLOW_ALLOW_PLAINTEXT"
PLAINTEXT_WARNING = (
    f"{ALLOW_PLAINTEXT}=1: Temporal payloads are NOT encrypted; billing "
    "e-mails, addresses, tax ids and phone numbers are stored in the clear in "
    "Temporal's history. Set PARTNERFLOW_ENCRYPTION_KEYS for real data."
)


class NotConfigured(RuntimeError):
    """Refusing to run: the setting named in the message is missing or wrong."""


def use_business_zones(settings: Settings) -> None:
    """Fixes this program's business time zones from its settings, once at its start and
    before any date is computed: the worker, the starter and the portal must agree on them."""
    try:
        zones = business_time.parse_zones(settings.environment.get(business_time.SETTING))
    except ValueError as e:
        raise NotConfigured(str(e)) from None
    business_time.use_zones(zones)


def plaintext_allowed() -> bool:
    return os.environ.get(ALLOW_PLAINTEXT, "").strip() == "1"


def encryption_codec(data_dir: Path | None = None) -> EncryptionCodec | None:
    """PARTNERFLOW_ENCRYPTION_KEYS, else the key ring `./run` keeps in the data folder, so
    the starter in another terminal reads what the local worker wrote. Fails closed: no key
    ring is NotConfigured unless PARTNERFLOW_ALLOW_PLAINTEXT=1 (then None: no encryption,
    and the caller warns loudly)."""
    try:
        codec = codec_from_environment()
        local = (data_dir or _data_dir()) / "encryption-keys"
        if codec is None and local.exists():
            codec = EncryptionCodec(
                parse_key_ring(local.read_text()), accept_plaintext=accept_plaintext_history()
            )
    except KeyRingError as e:
        raise NotConfigured(f"PARTNERFLOW_ENCRYPTION_KEYS: {e}") from None
    if codec is None and not plaintext_allowed():
        raise NotConfigured(
            "no key ring: set PARTNERFLOW_ENCRYPTION_KEYS (a new one: `python -m codec "
            "new-key k1`, the same on every worker and starter), or use ./run, which makes "
            f"one. Without it, personal data would enter Temporal's history in the clear; to "
            f"run unencrypted anyway (a test system), set {ALLOW_PLAINTEXT}=1"
        )
    return codec


def key_ring(data_dir: Path | None = None) -> dict[str, bytes] | None:
    """The payload key ring (PARTNERFLOW_ENCRYPTION_KEYS, else ./run's in the data folder), or
    None on a system without one (tests; PARTNERFLOW_ALLOW_PLAINTEXT=1). The outbox seals
    its one-time links with it (store/outbox.py)."""
    text = os.environ.get("PARTNERFLOW_ENCRYPTION_KEYS", "").strip()
    local = (data_dir or _data_dir()) / "encryption-keys"
    if not text and local.exists():
        text = local.read_text().strip()
    return parse_key_ring(text) if text else None


def accept_plaintext_history() -> bool:
    return os.environ.get("PARTNERFLOW_ACCEPT_PLAINTEXT_HISTORY", "").strip() == "1"


STAFF_KEY_ENV = "PARTNERFLOW_STAFF_KEY"


def staff_key_path(actor: str | None, data_dir: Path | None = None) -> Path | None:
    """The key the steps of `actor` are signed with: PARTNERFLOW_STAFF_KEY, else the demo
    person's under ./run (`<data>/staff-keys/<actor>.key`), else the person's own
    (`~/.config/partnerflow/<actor>.key`); None: steps go unsigned (a worker refuses them
    when they name staff)."""
    chosen = os.environ.get(STAFF_KEY_ENV, "").strip()
    if chosen:
        return Path(chosen).expanduser()
    if not actor:
        return None
    for path in (
        (data_dir or _data_dir()) / "staff-keys" / f"{actor}.key",
        Path.home() / ".config" / "partnerflow" / f"{actor}.key",
    ):
        if path.exists():
            return path
    return None


async def connect_temporal(
    runtime: Runtime | None = None,
    *,
    address: str | None = None,
    data_dir: Path | None = None,
    key: Path | None = None,
) -> Client:
    """Address, namespace, TLS and API key from TEMPORAL_* variables or a config profile
    (temporalio.envconfig), so the same code reaches the dev server or Temporal Cloud;
    `address` overrides the address only. Payloads are encrypted with the key ring (codec/);
    without one this raises NotConfigured unless plaintext was chosen
    (PARTNERFLOW_ALLOW_PLAINTEXT=1)."""
    connect: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    connect.setdefault("target_host", DEFAULT_TEMPORAL_ADDRESS)
    if address:
        connect["target_host"] = address
    codec = encryption_codec(data_dir)
    if codec is not None and key is not None:
        try:
            codec.signer = load_signer(key)
        except (OSError, ValueError) as e:
            raise NotConfigured(f"signing key {key}: {e}") from None
    return await Client.connect(
        **connect,
        data_converter=data_converter(codec),
        interceptors=client_interceptors(codec),
        runtime=runtime,
    )

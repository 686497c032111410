"""What `./run` prints once everything is up: where each piece listens, and what to try."""

import os
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import config
from devstack.ports import LOOPBACK, Ports, portal_url
from devstack.ui_front import ready_view_path
from ops.identity import login_token


def without_password(dsn: str) -> str:
    parts = urlsplit(dsn)
    if not parts.password:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def login_link(ui_port: int, key: str) -> str:
    """Opens the ready view in the UI after a one-time login that lets this browser read
    payloads and the Messages page (ops/identity.py)."""
    return (
        f"http://localhost:{ui_port}/codec/login?once={login_token(key)}"
        f"&next={quote('/partnerflow/ready')}"
    )


BANNER = """
partnerflow is running; everything it started listens on {ip} only.
  Open first     {link}
                 (once per browser, within the hour: logs this browser in to read the \
decrypted payloads in the UI and the Messages page, then shows the open processes by stage; \
another link: .venv/bin/python -m devstack link)
  Temporal UI    http://localhost:{p.ui}  (open processes: http://localhost:{p.ui}{ready})
  Temporal       {ip}:{p.temporal}  (task queue {queue}; HTTP API {p.temporal_http}, \
server metrics {p.temporal_metrics}; log {data}/temporal.log)
  PostgreSQL     {dsn}{pg_note}
  Codec server   http://localhost:{p.codec}  (payloads are encrypted, key ring in \
{data}/encryption-keys; the UI decodes through http://localhost:{p.ui}/codec once the \
browser opened the link above)
  Worker         metrics http://{ip}:{p.metrics}/metrics, readiness http://{ip}:{p.health}/readyz
  Reconciliation every {every} s (python -m store reconcile): closes the records of \
processes whose workflow was cancelled, terminated, timed out, failed or is gone
  Partner portal {portal}  (partner users log in with the link of their invitation e-mail; \
customers sign there; log {data}/portal.log)
{messages}A worker, reconciliation job, codec server or portal that exits is restarted (after \
1 s, doubling up to 30 s while it keeps crashing); if Temporal or PostgreSQL dies, everything \
stops and says why.

Try, in another terminal:
  {env}.venv/bin/python starter.py fast-change --account ACME --pbx PBX-ACME --set Premium=10
  {env}.venv/bin/python starter.py list --open
  {env}.venv/bin/python starter.py confirm <process id>  (for a partner who phoned)
Ctrl-C stops everything.
"""


MESSAGES = """\
  Messages       http://localhost:{p.messages}  (every e-mail and SMS the relay sent: SMTP \
catcher {ip}:{p.smtp}, SMS sink; kept in {data}/messages, readable by you only; \
for this browser after the link above; status: starter.py outbox)
"""


def banner(
    ports: Ports,
    dsn: str,
    data_dir: Path,
    embedded: bool,
    local_messages: bool = False,
    reconcile_every: int = 300,
    task_queue: str = config.DEFAULT_TASK_QUEUE,
    link: str = "",
) -> str:
    env = "" if ports.temporal == 7233 else f"TEMPORAL_ADDRESS={LOOPBACK}:{ports.temporal} "
    messages = (
        MESSAGES.format(ip=LOOPBACK, p=ports, data=data_dir)
        if local_messages
        else f"  Messages       sent through {os.environ.get('PARTNERFLOW_SMTP_HOST')}"
        " (PARTNERFLOW_SMTP_HOST); status: starter.py outbox\n"
    )
    return BANNER.format(
        ip=LOOPBACK,
        p=ports,
        queue=task_queue,
        messages=messages,
        every=reconcile_every,
        portal=portal_url(ports),
        dsn=without_password(dsn),
        data=data_dir,
        env=env,
        link=link or "(.venv/bin/python -m devstack link)",
        ready=ready_view_path(),
        pg_note="  (embedded: a Unix socket, no TCP port)" if embedded else "",
    )

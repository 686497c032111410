"""The local stack's ports: each from its setting, 0 for any free port; all on loopback."""

import socket
from collections.abc import Mapping
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A port nothing listens on now (the OS picks it); used for settings given as 0."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Ports:
    temporal: int
    ui: int
    temporal_http: int
    temporal_metrics: int
    codec: int
    metrics: int
    health: int
    smtp: int
    messages: int
    portal: int


PORT_SETTINGS = {  # field: (variable, default); 0 means "any free port"
    "temporal": ("PARTNERFLOW_TEMPORAL_PORT", 7233),
    "ui": ("PARTNERFLOW_UI_PORT", 8233),
    "temporal_http": ("PARTNERFLOW_TEMPORAL_HTTP_PORT", 0),
    "temporal_metrics": ("PARTNERFLOW_TEMPORAL_METRICS_PORT", 0),
    "codec": ("PARTNERFLOW_CODEC_PORT", 8234),
    "metrics": ("PARTNERFLOW_METRICS_PORT", 9464),
    "health": ("PARTNERFLOW_HEALTH_PORT", 8081),
    # the local mail catcher (SMTP) and the page + SMS sink (HTTP) of relay/sinks.py
    "smtp": ("PARTNERFLOW_SMTP_CATCHER_PORT", 1025),
    "messages": ("PARTNERFLOW_MESSAGES_PORT", 8025),
    # the partner portal (and the customers' signing page): the only page outsiders open
    "portal": ("PARTNERFLOW_PORTAL_PORT", 8040),
}


def ports_from(environ: Mapping[str, str]) -> Ports:
    given: dict[str, int] = {}
    for name, (variable, default) in PORT_SETTINGS.items():
        text = environ.get(variable, str(default))
        try:
            port = int(text)
        except ValueError:
            raise SystemExit(
                f"{variable}={text!r}: give a port number (0: any free port)"
            ) from None
        if not 0 <= port <= 65535:
            raise SystemExit(f"{variable}={port}: a port is 0 to 65535 (0: any free port)")
        given[name] = port
    # each setting given as 0 gets a free port of its own: the OS may hand out the port it
    # gave a moment ago (the probe's socket is closed), so a port already taken is asked again
    taken = {port for port in given.values() if port}
    chosen = {}
    for name, port in given.items():
        if not port:
            while not port or port in taken:
                port = free_port()
            taken.add(port)
        chosen[name] = port
    return Ports(**chosen)


def portal_url(ports: Ports) -> str:
    return f"http://localhost:{ports.portal}"


def holder(port: int) -> str | None:
    """The process listening on `port`, when the system lets us see it (psutil, a dev
    dependency; another user's process may stay hidden)."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return None
    for c in connections:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
            try:
                return f"{psutil.Process(c.pid).name()} (pid {c.pid})"
            except psutil.Error:
                return f"pid {c.pid}"
    return None


def in_use(port: int) -> bool:
    """True when a server could not listen on `port` on loopback now. SO_REUSEADDR as the
    servers use it, so a closed connection's TIME_WAIT does not count."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return True
    return False


def taken(ports: Ports, environ: Mapping[str, str]) -> list[str]:
    """One line per port that cannot be used, naming its variable (and its holder); the
    ports given as 0 were picked free a moment ago."""
    problems: list[str] = []
    seen: dict[int, str] = {}
    for name, (variable, default) in PORT_SETTINGS.items():
        port = getattr(ports, name)
        if port in seen:
            problems.append(
                f"port {port} is given twice: {seen[port]} and {variable}; give each its own"
            )
            continue
        seen[port] = variable
        if environ.get(variable, str(default)) == "0" or not in_use(port):
            continue
        who = holder(port)
        problems.append(
            f"port {port} ({variable}) is taken{f' by {who}' if who else ''}: stop that, "
            f"or set {variable} to a free port (0: any free port)"
        )
    return problems

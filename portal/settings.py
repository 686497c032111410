"""The portal's settings, read once by `python -m portal` (or by create_app when it is
served as a factory) and passed in."""

from dataclasses import dataclass
from pathlib import Path

import config


@dataclass(frozen=True)
class PortalSettings:
    secret_key: str  # signs the known-device cookies and the signing page's forms
    secure_cookies: bool
    database_url: str | None = None  # None: the common settings' (DATABASE_URL, ./run's)
    documents_dir: Path | None = None  # None: the common settings'
    common: config.Settings | None = None  # None: the environment's, read by create_app
    host: str = "127.0.0.1"
    port: int = 8040
    # where the links it e-mails itself (a forgotten password) lead
    portal_url: str = config.DEFAULT_PARTNER_PORTAL_URL
    # the reverse proxies whose X-Forwarded-For names the client (login limits per address);
    # none: the connection's own address
    trusted_proxies: str = ""
    # the portal's own signing key (a service key: it acts for partner users and customers'
    # signers, never as staff); made and enrolled at its first start
    service_key: Path | None = None


def settings_from_environment(common: config.Settings | None = None) -> PortalSettings:
    """PARTNERFLOW_PORTAL_SECRET signs the known-device cookies and the signing page's forms
    (sessions themselves are rows in PostgreSQL): the same on every portal process (one made
    per data folder under ./run). Secure cookies follow the portal's URL (https),
    unless PARTNERFLOW_PORTAL_SECURE_COOKIES=0/1 says otherwise. PARTNERFLOW_PORTAL_HOST and
    PARTNERFLOW_PORTAL_PORT say where it listens. PARTNERFLOW_PORTAL_TRUSTED_PROXIES (addresses,
    comma-separated) are the reverse proxies in front of it, whose X-Forwarded-For is believed:
    without it, every partner behind the proxy would share the proxy's address."""
    common = common or config.Settings.from_environment()
    env = common.environment
    secret = env.get("PARTNERFLOW_PORTAL_SECRET", "").strip()
    if len(secret) < 32:
        raise config.NotConfigured(
            "PARTNERFLOW_PORTAL_SECRET is not set (at least 32 characters, the same on every "
            "portal process; e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
        )
    chosen = env.get("PARTNERFLOW_PORTAL_SECURE_COOKIES", "").strip()
    portal_url = env.get("PARTNERFLOW_PARTNER_PORTAL_URL", config.DEFAULT_PARTNER_PORTAL_URL)
    secure = (chosen == "1") if chosen in ("0", "1") else portal_url.startswith("https://")
    port = env.get("PARTNERFLOW_PORTAL_PORT", "").strip() or "8040"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise config.NotConfigured(f"PARTNERFLOW_PORTAL_PORT={port!r}: a port number is needed")
    return PortalSettings(
        secret_key=secret,
        secure_cookies=secure,
        common=common,
        host=env.get("PARTNERFLOW_PORTAL_HOST", "").strip() or "127.0.0.1",
        port=int(port),
        portal_url=portal_url,
        trusted_proxies=env.get("PARTNERFLOW_PORTAL_TRUSTED_PROXIES", "").strip(),
        service_key=Path(
            env.get("PARTNERFLOW_PORTAL_KEY", "").strip()
            or common.data_dir / "staff-keys" / "portal.key"
        ),
    )

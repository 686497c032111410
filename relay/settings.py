"""The relay's settings: the SMTP server and the SMS gateway, the teams' addresses, the
retries; read from the environment by the process that runs the relay."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from config import DEFAULT_PARTNER_PORTAL_URL


def _team_addresses(text: str) -> dict[str, str]:
    """PARTNERFLOW_TEAM_ADDRESSES: `role=address,role=address`."""
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {k.strip(): v.strip() for k, v in pairs}


DEFAULT_TEAMS = {
    "customer_care": "kundesenter@partnerflow.example",
    "carrier-porting": "porting@partnerflow.example",
    "ops": "ops@partnerflow.example",
}


@dataclass
class Settings:
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_starttls: bool | None = None  # None: if the server offers it; True: required
    smtp_tls: bool = False  # implicit TLS (port 465)
    smtp_user: str | None = None
    smtp_password: str | None = None
    sender: str = "partnerflow <noreply@partnerflow.example>"
    sms_url: str | None = None
    sms_token: str | None = None
    team_addresses: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TEAMS))
    message_domain: str = "partnerflow.example"
    # where a partner's e-mail links to (the portal's address as partners reach it)
    portal_url: str = DEFAULT_PARTNER_PORTAL_URL
    max_attempts: int = 8
    backoff_base: float = 30.0  # seconds: 30 s, 1 min, 2 min … at most backoff_cap
    backoff_cap: float = 3600.0
    poll_seconds: float = 5.0  # a new row wakes the relay at once; this catches retries
    timeout: float = 30.0

    @property
    def enabled(self) -> bool:
        return bool(self.smtp_host or self.sms_url)

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> "Settings":
        source: Mapping[str, str] = os.environ if env is None else env
        starttls = source.get("PARTNERFLOW_SMTP_STARTTLS", "auto").strip().lower()
        teams = dict(DEFAULT_TEAMS)
        teams.update(_team_addresses(source.get("PARTNERFLOW_TEAM_ADDRESSES", "")))
        return cls(
            smtp_host=source.get("PARTNERFLOW_SMTP_HOST") or None,
            smtp_port=int(source.get("PARTNERFLOW_SMTP_PORT", "25")),
            smtp_starttls={"auto": None, "on": True, "required": True, "off": False}[starttls],
            smtp_tls=source.get("PARTNERFLOW_SMTP_TLS", "") == "1",
            smtp_user=source.get("PARTNERFLOW_SMTP_USER") or None,
            smtp_password=source.get("PARTNERFLOW_SMTP_PASSWORD") or None,
            sender=source.get("PARTNERFLOW_MAIL_FROM", cls.sender),
            sms_url=source.get("PARTNERFLOW_SMS_URL") or None,
            sms_token=source.get("PARTNERFLOW_SMS_TOKEN") or None,
            team_addresses=teams,
            message_domain=source.get("PARTNERFLOW_MESSAGE_DOMAIN", cls.message_domain),
            portal_url=source.get("PARTNERFLOW_PARTNER_PORTAL_URL", cls.portal_url),
            max_attempts=int(source.get("PARTNERFLOW_RELAY_MAX_ATTEMPTS", "8")),
            backoff_base=float(source.get("PARTNERFLOW_RELAY_BACKOFF", "30")),
            poll_seconds=float(source.get("PARTNERFLOW_RELAY_POLL", "5")),
        )

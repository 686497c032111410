"""What the relay sends: a message composed from a template, and the two ways a delivery
fails (given up at once, or tried again)."""

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    select_autoescape,
)

from domain.notifications import locale_of, zone_of

TEMPLATES = Path(__file__).parent / "templates"


def portal_link(portal_url: str, payload: dict) -> str | None:
    """The link of a notice's item in the partner portal, through its login: a reader who is
    logged in goes straight on, one who is not logs in first and lands on the item."""
    path = payload.get("portal_path")
    if not path:
        return None
    return f"{portal_url.rstrip('/')}/login?next={quote(path, safe='')}"


def message_context(
    payload: dict,
    *,
    recipient_name: str,
    link: str | None,
    process_id: str,
    language: str,
    portal_url: str,
) -> dict:
    """What a template reads: the payload its step wrote, and what the relay adds at sending
    time (the reader's name and language, the one-time link, the link into the portal)."""
    return {
        **payload,
        "recipient_name": recipient_name,
        "link": link,
        "process_id": process_id,
        "language": language,
        "portal_link": portal_link(portal_url, payload),
    }


def local_datetime(value: str, language: str) -> str:
    """An ISO time as the reader reads it: in their zone, in their language's format, with
    the zone named (`14. Dezember 2026, 10:31 MEZ`)."""
    moment = datetime.fromisoformat(value).astimezone(ZoneInfo(zone_of(language)))
    return format_datetime(moment, "long", tzinfo=moment.tzinfo, locale=locale_of(language))


def local_date(value: str | None, language: str) -> str:
    if not value:
        return ""
    return format_date(date.fromisoformat(value), "long", locale=locale_of(language))


class Undeliverable(Exception):
    """Nothing to send it to, or nothing to send: given up at once, with this reason."""


class DeliveryFailed(Exception):
    """The provider refused or could not be reached: the provider's answer; tried again."""


@dataclass(frozen=True)
class Attachment:
    file_name: str
    content_type: str  # e.g. application/pdf
    data: bytes


@dataclass
class Message:
    channel: str
    address: str
    language: str
    subject: str
    text: str
    html: str | None
    message_id: str
    attachments: list[Attachment] = field(default_factory=list)


def _nothing_for_none(value: object) -> object:
    return "" if value is None else value


class Templates:
    """relay/templates/<language>/<kind>.j2: blocks `subject` and `text`; the HTML part comes
    from _layout.j2 (or the template's own `html` block). Autoescaped HTML, plain text as is."""

    def __init__(self, folder: Path = TEMPLATES) -> None:
        loader = FileSystemLoader(folder)
        # a value that is not there (a row written before its notice named its portal page)
        # prints as nothing, never as "None"
        self.html_env = Environment(
            loader=loader,
            undefined=StrictUndefined,
            autoescape=select_autoescape(default=True),
            finalize=_nothing_for_none,
        )
        self.text_env = Environment(
            loader=loader, undefined=StrictUndefined, autoescape=False, finalize=_nothing_for_none
        )
        for env in (self.html_env, self.text_env):
            env.filters["local_datetime"] = local_datetime
            env.filters["local_date"] = local_date
        self.languages = {p.name for p in folder.iterdir() if p.is_dir()}
        self.folder = folder
        self._available: dict[str, set[str]] = {}

    def available(self, kind: str) -> set[str]:
        if kind not in self._available:
            self._available[kind] = {
                lang for lang in self.languages if (self.folder / lang / f"{kind}.j2").exists()
            }
        return self._available[kind]

    def render(self, kind: str, language: str, context: dict) -> tuple[str, str, str]:
        name = f"{language}/{kind}.j2"
        try:
            text_t = self.text_env.get_template(name)
            html_t = self.html_env.get_template(name)
        except TemplateNotFound:
            raise Undeliverable(f"no template for {kind!r} in {language!r}") from None
        try:
            text_ctx = text_t.new_context(context)
            subject = " ".join("".join(text_t.blocks["subject"](text_ctx)).split())
            text = "".join(text_t.blocks["text"](text_ctx)).strip() + "\n"
            html = html_t.render(context).strip() + "\n"
        except TemplateError as e:  # a payload without what the template needs
            raise Undeliverable(f"template {name}: {e}") from None
        return subject, text, html

"""What the relay sends: a message composed from a template, and the two ways a delivery
fails (given up at once, or tried again)."""

from dataclasses import dataclass
from pathlib import Path

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    select_autoescape,
)

TEMPLATES = Path(__file__).parent / "templates"


class Undeliverable(Exception):
    """Nothing to send it to, or nothing to send: given up at once, with this reason."""


class DeliveryFailed(Exception):
    """The provider refused or could not be reached: the provider's answer; tried again."""


@dataclass
class Message:
    channel: str
    address: str
    language: str
    subject: str
    text: str
    html: str | None
    message_id: str


class Templates:
    """relay/templates/<language>/<kind>.j2: blocks `subject` and `text`; the HTML part comes
    from _layout.j2 (or the template's own `html` block). Autoescaped HTML, plain text as is."""

    def __init__(self, folder: Path = TEMPLATES) -> None:
        loader = FileSystemLoader(folder)
        self.html_env = Environment(
            loader=loader, undefined=StrictUndefined, autoescape=select_autoescape(default=True)
        )
        self.text_env = Environment(loader=loader, undefined=StrictUndefined, autoescape=False)
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

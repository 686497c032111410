"""Every word of the portal's doors (login, first login, a forgotten password, their refusals)
is in German and Norwegian: a page in the reader's language has no English left in it."""

import re
from pathlib import Path

import pytest

from portal.i18n import CATALOGUES
from portal.routes import login

TEMPLATES = Path(login.__file__).resolve().parents[1] / "templates"
PAGES = ["login.html", "first_login.html", "reset_request.html", "reset_password.html"]
SAID = [
    login.LINK_NOT_VALID,
    login.RESET_NOT_VALID,
    "The user name or the password is wrong.",
    "Too many attempts from your address: wait a minute and try again.",
    "Too many failed attempts: wait {seconds} second(s) and try again.",
    "Your new password is set: log in with it.",
    "Give your user name or your e-mail address.",
    "Bad request",
    "The request could not be read: please try again.",
    "There is no such page.",
]


def words_of(page: str) -> list[str]:
    return re.findall(r'_\("((?:[^"\\]|\\.)*)"', (TEMPLATES / page).read_text())


@pytest.mark.parametrize("language", ["de", "nb"])
def test_every_word_of_the_doors_is_translated(language):
    words = [w for page in PAGES for w in words_of(page)] + SAID
    assert len(words) > 20
    missing = [w for w in words if w not in CATALOGUES[language]]
    assert missing == []

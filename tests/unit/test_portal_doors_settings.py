"""The portal's settings for its doors: the links it mails itself, the proxies it believes."""

import config
from portal.settings import settings_from_environment

SECRET = "s" * 40


def settings(**env: str):
    return settings_from_environment(
        config.Settings.from_environment({"PARTNERFLOW_PORTAL_SECRET": SECRET, **env})
    )


def test_the_portal_mails_links_to_its_own_address():
    assert settings(PARTNERFLOW_PARTNER_PORTAL_URL="https://p.example").portal_url == (
        "https://p.example"
    )


def test_the_clients_address_comes_from_the_named_proxies_only():
    assert settings().trusted_proxies == ""  # none named: the connection's own address
    named = settings(PARTNERFLOW_PORTAL_TRUSTED_PROXIES=" 10.0.0.5,10.0.0.6 ")
    assert named.trusted_proxies == "10.0.0.5,10.0.0.6"

"""In the compose deployment the UI decodes with no manual step: it is given the codec
endpoint (no secret in it) and sends the browser's credentials; the codec server answers
CORS for the UI's published origin only and makes one-time login links."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import yaml

from ops.identity import OneTimeLinks

ROOT = Path(__file__).resolve().parents[1]
SERVICES = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_the_ui_is_given_the_codec_endpoint_and_sends_credentials():
    ui = SERVICES["temporal-ui"]
    env = ui["environment"]
    (published,) = ui["ports"]
    ui_origin = f"http://localhost:{published.split(':')[1]}"
    codec = SERVICES["codec-server"]
    (codec_port,) = codec["ports"]
    assert env["TEMPORAL_CODEC_ENDPOINT"] == f"http://localhost:{codec_port.split(':')[1]}"
    assert str(env["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"]).lower() == "true"
    assert "CODEC_TOKEN" not in str(env) and "$" not in env["TEMPORAL_CODEC_ENDPOINT"]
    assert codec["environment"]["PARTNERFLOW_CODEC_CORS_ORIGIN"] == ui_origin


def test_the_codec_server_makes_a_one_time_link_to_its_login():
    token = "a-codec-token-of-enough-length"
    made = subprocess.run(
        [sys.executable, "-m", "codec.server", "link"],
        cwd=ROOT,
        env=dict(
            os.environ,
            PARTNERFLOW_CODEC_TOKEN=token,
            PARTNERFLOW_CODEC_PUBLIC_URL="http://localhost:8234",
            PARTNERFLOW_CODEC_CORS_ORIGIN="http://localhost:8080",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    url = urlsplit(made.stdout.strip())
    assert (url.scheme, url.netloc, url.path) == ("http", "localhost:8234", "/login")
    query = parse_qs(url.query)
    assert query["next"] == ["http://localhost:8080/"] and token not in made.stdout
    links = OneTimeLinks(token)
    assert links.redeem(query["once"][0]) and not links.redeem(query["once"][0])

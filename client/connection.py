"""The Temporal connection of a door: made only once the input has been checked (bad input
never reaches Temporal), with the key ring (nothing is sent without one, unless plaintext was
chosen), and every way it can fail said in words."""

import asyncio
from collections.abc import Callable
from pathlib import Path

from temporalio.client import Client

import config
from client.failures import SETUP, UNREACHABLE, Failure, connect_error_in_words


def address_of(settings: config.Settings) -> str:
    """Where the door connects: the chosen Temporal, else the ./run of this clone's data
    folder (on whatever port it started), else the default."""
    if not settings.temporal_chosen:
        running = (settings.running_stack() or {}).get("temporal")
        if running:
            return str(running)
    return settings.temporal_address or config.DEFAULT_TEMPORAL_ADDRESS


async def connect(
    settings: config.Settings,
    *,
    within: float,
    warn: Callable[[str], None],
    actor: str | None = None,
    key: Path | None = None,
) -> Client:
    """A client, or a Failure: no key ring or an unusable signing key (exit 7), no Temporal
    in `within` seconds or none at the address (exit 4). `warn` hears that payloads go
    unencrypted. Steps are signed with `key`, else `actor`'s own key where there is one
    (config.staff_key_path): a worker takes a staff step only signed by its actor."""
    try:
        codec = config.encryption_codec(settings.data_dir)
    except config.NotConfigured as e:
        raise Failure(SETUP, str(e)) from None
    if codec is None:
        warn(config.PLAINTEXT_WARNING)
    address = address_of(settings)
    # an address the settings did not choose overrides the envconfig default
    override = None if settings.temporal_chosen else address
    try:
        return await asyncio.wait_for(
            config.connect_temporal(
                address=override,
                data_dir=settings.data_dir,
                key=key or config.staff_key_path(actor, settings.data_dir),
            ),
            within,
        )
    except config.NotConfigured as e:
        raise Failure(SETUP, str(e)) from None
    except TimeoutError:
        raise Failure(
            UNREACHABLE,
            f"cannot reach Temporal at {address}: no answer in {within:.0f} s; nothing was sent",
        ) from None
    except Exception as e:  # noqa: BLE001 - any connection failure reads the same to staff
        raise Failure(
            UNREACHABLE,
            f"cannot reach Temporal at {address}: {connect_error_in_words(e, settings.debug)}",
        ) from None

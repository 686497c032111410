"""The relay: delivers the outbox. E-mail over SMTP (aiosmtplib; STARTTLS,
implicit TLS and authentication configurable), SMS through one HTTP gateway (URL + token;
only the recipient and the body go there).

Runs inside every worker as an asyncio task (worker.py), or alone: `python -m relay`. Each
row is claimed with FOR UPDATE SKIP LOCKED and its lock held while the message goes out,
then stamped sent / failed (with the provider's answer, tried again with back-off) / given
up, in the same transaction. Replicas share the rows and never send one twice; a relay that
dies mid-send leaves its row due again, and the resend carries the same Message-ID."""

import asyncio
import contextlib
import os
import socket
import time
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import aiohttp
import aiosmtplib
import structlog

from domain.notifications import (
    GIVEN_UP,
    KINDS,
    backoff,
    channel_of,
    language_for,
    message_id,
    needs_signing_authority,
)
from relay.attachments import attachments_for
from relay.messages import DeliveryFailed, Message, Templates, Undeliverable, message_context
from relay.settings import Settings
from store import outbox
from telemetry.metrics import NotificationMetrics

log = structlog.get_logger("partnerflow.relay")

WAKE_CHANNEL = "partnerflow_outbox"
SMTP_IDLE = 30.0  # seconds a kept-open SMTP connection may idle before it is renewed


class Relay:
    def __init__(
        self, pool: Any, settings: Settings, *, meter: Any = None, name: str | None = None
    ) -> None:
        self.pool, self.settings = pool, settings
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.templates = Templates()
        self._smtp: aiosmtplib.SMTP | None = None
        self._smtp_used = 0.0
        self._http: aiohttp.ClientSession | None = None
        self._wake = asyncio.Event()
        self.sent = self.failed = 0
        # telemetry.metrics.NotificationMetrics over the worker runtime's meter
        self._metrics = NotificationMetrics(meter) if meter is not None else None

    # --- one message ------------------------------------------------------------------------

    async def deliver_one(self) -> bool:
        """Claims, sends and stamps the oldest due row; False when nothing is due."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await outbox.claim_next(conn)
            if row is None:
                return False
            kind, channel = row["template"], channel_of(row["template"])
            try:
                message = await self._compose(conn, row)
                await self._send(message)
            except Undeliverable as e:
                await outbox.mark_failed(conn, row["id"], reason=str(e), retry_in=None)
                self._count("given_up", kind, channel)
                log.warning("message given up", id=row["id"], kind=kind, reason=str(e))
                return True
            except Exception as e:  # noqa: BLE001 - DeliveryFailed, or a fault of ours
                if not isinstance(e, DeliveryFailed):
                    # a bug must not stall the queue behind this row: retried with back-off
                    log.exception("message could not be prepared", id=row["id"], kind=kind)
                    e = DeliveryFailed(f"internal error: {type(e).__name__}: {e}")
                attempts = row["attempts"] + 1
                retry = (
                    backoff(attempts, self.settings.backoff_base, self.settings.backoff_cap)
                    if attempts < self.settings.max_attempts
                    else None
                )
                status = await outbox.mark_failed(
                    conn, row["id"], reason=str(e), retry_in=retry, channel=channel
                )
                self.failed += 1
                self._count("failed", kind, channel)
                if status == GIVEN_UP:
                    self._count("given_up", kind, channel)
                log.warning(
                    "message not delivered",
                    id=row["id"],
                    kind=kind,
                    status=status,
                    attempts=attempts,
                    reason=str(e),
                )
                return True
            await outbox.mark_sent(
                conn,
                row["id"],
                channel=message.channel,
                address=message.address,
                language=message.language,
                subject=message.subject,
            )
            self.sent += 1
            self._count("sent", kind, channel)
            log.info(
                "message sent",
                id=row["id"],
                kind=kind,
                channel=channel,
                message_id=message.message_id,
            )
            return True

    def _count(self, outcome: str, kind: str, channel: str) -> None:
        if self._metrics is not None:
            self._metrics.count(outcome, kind, channel)

    async def _compose(self, conn: Any, row: Any) -> Message:
        kind = row["template"]
        if kind not in KINDS:
            raise Undeliverable(f"unknown notification kind {kind!r}")
        channel = channel_of(kind)
        who = await outbox.recipient(conn, row["recipient_kind"], row["recipient_id"])
        if row["recipient_kind"] == "role":
            role = row["recipient_id"]
            address = role if "@" in role else self.settings.team_addresses.get(role)
            # a person named as a role (rows written before staff rows had their own kind)
            who = None if address else await outbox.recipient(conn, "staff", role)
            if not address and who is None:
                raise Undeliverable(
                    f"no address configured for team {role!r} (PARTNERFLOW_TEAM_ADDRESSES)"
                )
            if address:
                who = {
                    "name": role,
                    "email": address,
                    "phone": "",
                    "language": None,
                    "can_sign": False,
                }
        if who is None:
            raise Undeliverable(f"{row['recipient_kind']} {row['recipient_id']} not found")
        if needs_signing_authority(kind) and not who["can_sign"]:
            raise Undeliverable(f"contact {row['recipient_id']} has no signing authority")
        address = who["phone"] if channel == "sms" else who["email"]
        if not address:
            raise Undeliverable(
                f"{row['recipient_kind']} {row['recipient_id']} has no "
                f"{'phone number' if channel == 'sms' else 'e-mail address'}"
            )
        # the language the reader chose for this very exchange (the signing page's), else theirs
        preferred = (row["payload"] or {}).get("reader_language") or who["language"]
        language = language_for(kind, preferred, self.templates.available(kind))
        context = message_context(
            row["payload"] or {},
            recipient_name=who["name"],
            link=outbox.open_link(row["secret"], row["id"]),
            process_id=row["process_id"],
            language=language,
            portal_url=self.settings.portal_url,
        )
        if row["secret_sha256"] and not row["secret"]:
            raise Undeliverable("its one-time link was blanked: it was sent once already")
        subject, text, html = self.templates.render(kind, language, context)
        mid = message_id(
            row["id"],
            row["process_id"],
            row["run"],
            row["step"],
            row["resent"],
            self.settings.message_domain,
        )
        return Message(
            channel,
            address,
            language,
            subject,
            text,
            html if channel == "email" else None,
            mid,
            await attachments_for(conn, row["payload"] or {}, language),
        )

    async def _send(self, m: Message) -> None:
        if m.channel == "sms":
            await self._send_sms(m)
        else:
            await self._send_mail(m)

    async def _send_mail(self, m: Message) -> None:
        s = self.settings
        if not s.smtp_host:
            raise DeliveryFailed("no SMTP server configured (PARTNERFLOW_SMTP_HOST)")
        mail = EmailMessage()
        mail["From"] = s.sender
        mail["To"] = m.address
        mail["Subject"] = m.subject
        mail["Message-ID"] = m.message_id
        mail["Date"] = formatdate(localtime=False)
        mail.set_content(m.text)
        mail.add_alternative(m.html, subtype="html")
        for a in m.attachments:
            main, _, sub = a.content_type.partition("/")
            mail.add_attachment(a.data, maintype=main, subtype=sub, filename=a.file_name)
        # after add_alternative, which moves Content-* headers into the first part
        mail["Content-Language"] = m.language
        if self._smtp is not None and time.monotonic() - self._smtp_used > SMTP_IDLE:
            await self._drop_smtp()  # servers close idle connections: start afresh
        try:
            if self._smtp is None or not self._smtp.is_connected:
                self._smtp = aiosmtplib.SMTP(
                    hostname=s.smtp_host,
                    port=s.smtp_port,
                    use_tls=s.smtp_tls,
                    start_tls=s.smtp_starttls,
                    username=s.smtp_user,
                    password=s.smtp_password,
                    timeout=s.timeout,
                )
                await self._smtp.connect()
            await self._smtp.send_message(mail)
            self._smtp_used = time.monotonic()
        except aiosmtplib.SMTPRecipientsRefused as e:
            await self._drop_smtp()
            answers = "; ".join(f"{r.code} {r.message}" for r in e.recipients)
            raise DeliveryFailed(f"SMTP {s.smtp_host}: recipient refused: {answers}") from None
        except aiosmtplib.SMTPResponseException as e:
            await self._drop_smtp()
            raise DeliveryFailed(f"SMTP {s.smtp_host}: {e.code} {e.message}") from None
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as e:
            await self._drop_smtp()
            raise DeliveryFailed(
                f"SMTP {s.smtp_host}:{s.smtp_port}: {type(e).__name__}: {e}"
            ) from None

    async def _drop_smtp(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            with contextlib.suppress(Exception):
                smtp.close()

    async def _send_sms(self, m: Message) -> None:
        s = self.settings
        if not s.sms_url:
            raise DeliveryFailed("no SMS gateway configured (PARTNERFLOW_SMS_URL)")
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=s.timeout))
        headers = {"Idempotency-Key": m.message_id}
        if s.sms_token:
            headers["Authorization"] = f"Bearer {s.sms_token}"
        try:
            async with self._http.post(
                s.sms_url, json={"to": m.address, "body": m.text}, headers=headers
            ) as answer:
                if answer.status >= 300:
                    body = (await answer.text())[:300]
                    raise DeliveryFailed(f"SMS gateway: HTTP {answer.status}: {body}")
        except (TimeoutError, aiohttp.ClientError) as e:
            raise DeliveryFailed(f"SMS gateway: {type(e).__name__}: {e}") from None

    # --- the loop ---------------------------------------------------------------------------

    async def deliver_due(self, limit: int = 100) -> int:
        """Up to `limit` due rows, one transaction each; how many were handled."""
        done = 0
        while done < limit and await self.deliver_one():
            done += 1
        return done

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: deliver what is due; sleep until a new row (LISTEN) or the poll."""
        log.info(
            "relay started",
            relay=self.name,
            smtp=self.settings.smtp_host,
            sms=bool(self.settings.sms_url),
        )
        listener = None
        failures = 0
        try:
            while not stop.is_set():
                try:
                    if listener is None:
                        listener = await self.pool.acquire()
                        await listener.add_listener(WAKE_CHANNEL, self._woken)
                    self._wake.clear()
                    if await self.deliver_due() == 100:
                        continue
                    failures = 0
                except Exception as e:  # noqa: BLE001 - the database may be away: wait, retry
                    failures += 1
                    log.warning("relay cannot reach the outbox", error=str(e))
                    if listener is not None:
                        with contextlib.suppress(Exception):
                            await self.pool.release(listener)
                        listener = None
                    await _sleep_or_stop(stop, min(60.0, 2.0**failures))
                    continue
                waits = [
                    asyncio.ensure_future(self._wake.wait()),
                    asyncio.ensure_future(stop.wait()),
                ]
                await asyncio.wait(
                    waits, timeout=self.settings.poll_seconds, return_when=asyncio.FIRST_COMPLETED
                )
                for w in waits:
                    w.cancel()
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.remove_listener(WAKE_CHANNEL, self._woken)
                    await self.pool.release(listener)
            await self.close()
            log.info("relay stopped", sent=self.sent, failed=self.failed)

    def _woken(self, *_: Any) -> None:
        self._wake.set()

    async def close(self) -> None:
        await self._drop_smtp()
        if self._http is not None:
            await self._http.close()
            self._http = None


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)

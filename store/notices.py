"""A notice written to the outbox from its model (domain/notices.py): the template is the
model's kind and the payload its fields, so a step cannot write a payload its template does
not read."""

from typing import Any

from domain.notices import Notice
from store.steps import notify


async def tell(
    conn: Any,
    notice: Notice,
    *,
    process_id: str,
    step: str,
    recipient_kind: str,
    recipient_id: str,
    secret: str | None = None,
) -> None:
    await notify(
        conn,
        process_id=process_id,
        step=step,
        recipient_kind=recipient_kind,
        recipient_id=recipient_id,
        template=notice.template,
        payload=notice.payload(),
        secret=secret,
    )

"""The rows behind a staff member's work list (domain/inbox.py decides what they mean): read
only, through store/records.py `reading`. Processes that need attention are Temporal's to say
(their stage), not the records': the starter adds them."""

from datetime import UTC, datetime, time
from typing import Any

from domain import inbox
from domain.account import MandatoryFields
from domain.inbox import Item

Conn = Any
LIMIT = 500  # of each kind: a work list longer than this needs a filter, not a screen

_QUOTES_REJECTED = """
SELECT q.process_id, q.account_id, coalesce(q.rejection_reason, '') AS reason,
       coalesce(q.published_at, q.created_at) AS since,
       a.phone <> '' AS phone, a.email <> '' AS email, a.invoice_email <> '' AS invoice_email
  FROM (SELECT DISTINCT ON (process_id) * FROM quotes ORDER BY process_id, version DESC) q
  JOIN accounts a ON a.id = q.account_id
 WHERE q.status = 'rejected'
   AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.process_id = q.process_id)
 ORDER BY since LIMIT $1
"""

# Both documents in, the reseller's part done: the order waits for sales ops to confirm it.
_READY_TO_CONFIRM = """
SELECT o.process_id, o.account_id, o.partner_id, max(d.uploaded_at) AS since
  FROM classound_orders o
  JOIN documents d ON d.process_id = o.process_id AND d.is_current
 WHERE o.status = 'awaiting_reseller'
 GROUP BY o.process_id
HAVING count(DISTINCT d.kind) = 2
 ORDER BY since LIMIT $1
"""

_RESELLER_DEADLINES = """
SELECT process_id, account_id, partner_id, created_at AS since, expires_at
  FROM classound_orders
 WHERE status IN ('awaiting_reseller', 'carrier_refused') AND expires_at <= $1
 ORDER BY since LIMIT $2
"""

_CONFIRMATIONS_DUE = """
SELECT process_id, id AS order_id, account_id, partner_id, created_at AS since
  FROM orders
 WHERE status = 'awaiting_partner_confirmation' AND created_at <= $1
 ORDER BY since LIMIT $2
"""

# A contract sent for signature (or past its deadline) of a renegotiation still open.
_SIGNATURES_DUE = """
SELECT c.process_id, c.id AS contract_id, c.account_id,
       coalesce(c.sent_at, c.created_at) AS since, c.signing_deadline
  FROM contracts c JOIN deals d ON d.id = c.deal_id AND d.status = 'open'
 WHERE c.process_id IS NOT NULL AND c.status IN ('sent', 'expired')
   AND c.signing_deadline <= $1
 ORDER BY since LIMIT $2
"""

# A claimed lead not worked within its queue's service level goes back to the queue.
_LEADS_DUE_BACK = """
SELECT q.process_id, c.queue_id, c.lead_id, c.user_id, c.started_at AS since,
       c.started_at + make_interval(mins => q.work_within_minutes) AS due
  FROM claims c
  JOIN leads l ON l.id = c.lead_id AND l.status = 'owned'
  JOIN lead_queues q ON q.id = c.queue_id AND q.work_within_minutes IS NOT NULL
 WHERE c.ended_at IS NULL
   AND c.started_at + make_interval(mins => q.work_within_minutes) <= $1
 ORDER BY since LIMIT $2
"""


async def waiting(conn: Conn, now: datetime) -> list[Item]:
    """Everything the records say waits for staff, whoever it waits for."""
    soon = now + inbox.SOON
    items = [
        inbox.quote_rejected(
            r["process_id"],
            r["account_id"],
            r["since"],
            r["reason"],
            MandatoryFields(phone=r["phone"], email=r["email"], invoice_email=r["invoice_email"]),
        )
        for r in await conn.fetch(_QUOTES_REJECTED, LIMIT)
    ]
    items += [
        inbox.ready_to_confirm(r["process_id"], r["account_id"], r["partner_id"], r["since"])
        for r in await conn.fetch(_READY_TO_CONFIRM, LIMIT)
    ]
    items += [
        inbox.reseller_deadline(
            r["process_id"], r["account_id"], r["partner_id"], r["since"], r["expires_at"]
        )
        for r in await conn.fetch(_RESELLER_DEADLINES, soon, LIMIT)
    ]
    items += [
        inbox.confirmation_due(
            r["process_id"], r["order_id"], r["account_id"], r["partner_id"], r["since"]
        )
        for r in await conn.fetch(_CONFIRMATIONS_DUE, inbox.confirmation_waits_since(now), LIMIT)
    ]
    items += [
        inbox.signature_due(
            r["process_id"],
            r["contract_id"],
            r["account_id"],
            r["since"],
            # the customer may sign all of the deadline's day
            datetime.combine(r["signing_deadline"], time.max, UTC),
        )
        for r in await conn.fetch(_SIGNATURES_DUE, soon.date(), LIMIT)
    ]
    items += [
        inbox.lead_due_back(
            r["process_id"], r["queue_id"], r["lead_id"], r["user_id"], r["since"], r["due"]
        )
        for r in await conn.fetch(_LEADS_DUE_BACK, soon, LIMIT)
    ]
    return items


async def queues_managed_by(conn: Conn, actor: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT id FROM lead_queues WHERE $1 = ANY (channel_managers) ORDER BY id", actor
    )
    return [r["id"] for r in rows]

"""Reads for people (domain/records.py), for the read-only RecordsRead workflow."""

from temporalio import activity

from activities.common import StepActivities, refusals_are_final
from domain.records import Records, RecordsLookup
from store import records


class RecordActivities(StepActivities):
    @activity.defn
    async def read_records(self, lookup: RecordsLookup) -> Records:
        async with refusals_are_final(), self.pool.acquire() as conn:
            if lookup.what == "lead-cards":
                return await records.lead_cards(conn, lookup.queue_id or "", lookup.lead_ids)
            if lookup.what == "invoice":
                return await records.invoices(conn, lookup.invoice_number or "", lookup.partner_id)
            return await records.contacts(conn, lookup.account_id, lookup.partner_id)

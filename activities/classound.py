"""Activities of the CLASSOUND order: each runs one store write as one idempotent step (see
activities/common.py). The document store is read here, never in the workflow: the workflow
sees references, the activities check them against the stored bytes."""

import asyncio
from typing import Any

from temporalio import activity

import config
from activities.common import StepActivities, refusals_are_final
from domain.catalogue import LicenceType
from domain.classound import flats_to_order, numbers_per_flat
from domain.classound_billing import billing_plan
from domain.classound_steps import (
    Activated,
    Activation,
    CarrierAnswerRecord,
    CarrierChase,
    ClassoundClosure,
    DeadlineChange,
    DocumentRecord,
    Escalation,
    OrderPlacement,
    PlacedOrder,
    PortingSubmission,
    RecordedDocument,
    ResellerReminder,
    SubmittedPorting,
)
from domain.errors import Refused
from domain.porting_numbers import NumberListError, parse_number_list
from store import classound as orders
from store import porting
from store.documents import DocumentStore
from store.pbx import flat_totals, licence_totals, refuse_missing_pbx


class ClassoundActivities(StepActivities):
    def __init__(self, pool: Any, documents: DocumentStore | None = None) -> None:
        super().__init__(pool)
        self.documents = documents or DocumentStore(config.documents_dir())

    async def _number_list(self, p: OrderPlacement) -> list[str]:
        data = await asyncio.to_thread(self.documents.read, p.numbers.sha256)
        try:
            numbers = parse_number_list(data.decode("ascii"))
        except (UnicodeDecodeError, NumberListError) as e:
            raise Refused(
                f"the stored number list is not valid ({e}); start the order again"
            ) from None
        if len(numbers) != p.numbers.count:
            raise Refused(
                f"the stored number list has {len(numbers)} numbers, the order says "
                f"{p.numbers.count}; start the order again"
            )
        return numbers

    @activity.defn
    async def place_classound_order(self, p: OrderPlacement) -> PlacedOrder:
        """Checks the PBX and the numbers, then writes the order and asks the reseller for
        the documents, in one step."""
        async with refusals_are_final():
            numbers = await self._number_list(p)

        async def write(conn) -> dict:
            pbx = await orders.pbx_state(conn, p.account_id, p.pbx_id)
            if pbx is None:
                await refuse_missing_pbx(conn, p.account_id, p.pbx_id)
            if not pbx["active"]:
                raise Refused(
                    f"PBX {p.pbx_id} is not active: CLASSOUND can only be ordered for an active PBX"
                )
            flats = flats_to_order(
                p.pbx_id, p.flats, pbx["licences"], pbx["flats"], p.existing_customer
            )
            if flats and await orders.flat_sku(conn) is None:
                raise Refused(
                    "the catalogue has no CLASSOUND-FLAT product; ask product management to add it"
                )
            taken = await orders.numbers_in_use(conn, numbers, p.key.process_id)
            if taken:
                entries = ", ".join(map(str, taken))
                raise Refused(
                    f"{len(taken)} of the {len(numbers)} numbers are already active "
                    f"on a PBX or being ported by another order (entries {entries} "
                    "of the number list); remove them and order again"
                )
            ticket_id = await orders.create_order(
                conn, p, partner_id=pbx["partner_id"], flats=flats, numbers=numbers
            )
            return {
                "partner_id": pbx["partner_id"],
                "ticket_id": ticket_id,
                "numbers": len(numbers),
                "flats": {t.value: n for t, n in flats.items()},
            }

        return PlacedOrder(**await self._once(p.key, "CLASSOUND order placed", write))

    @activity.defn
    async def record_document(self, r: DocumentRecord) -> RecordedDocument:
        """Re-checks the stored file (checksum, size, type) before it counts for the order."""
        async with refusals_are_final():
            stored = await asyncio.to_thread(self.documents.verify, r.document)
        result = await self._once(
            r.key,
            f"{r.document.label} uploaded",
            lambda c: orders.record_document(
                c, r.key.process_id, r.document, r.key.actor, stored.relative_path
            ),
        )
        return RecordedDocument(**result)

    @activity.defn
    async def remind_reseller(self, r: ResellerReminder) -> None:
        await self._once(
            r.key,
            "reseller reminded",
            lambda c: orders.remind_reseller(
                c, r.key.process_id, r.key.step, r.partner_id, r.reminder_no, r.waiting_for
            ),
        )

    @activity.defn
    async def escalate_to_customer_care(self, e: Escalation) -> int:
        result = await self._once(
            e.key,
            "escalated to customer care",
            lambda c: orders.escalate(
                c, e.key.process_id, e.key.step, e.account_id, e.pbx_id, e.waiting_for, e.days
            ),
        )
        return result["ticket_id"]

    @activity.defn
    async def move_classound_deadlines(self, d: DeadlineChange) -> None:
        await self._once(
            d.key,
            f"deadlines extended by {d.days} days",
            lambda c: orders.move_deadlines(
                c, d.key.process_id, d.escalates_at, d.expires_at, d.days
            ),
        )

    @activity.defn
    async def submit_porting_request(self, s: PortingSubmission) -> SubmittedPorting:
        result = await self._once(
            s.key,
            "porting request submitted",
            lambda c: porting.submit_porting(c, s.key.process_id, s),
        )
        return SubmittedPorting(**result)

    @activity.defn
    async def chase_carrier(self, c: CarrierChase) -> int:
        result = await self._once(
            c.key,
            "carrier chased",
            lambda conn: porting.chase_carrier(
                conn, c.key.process_id, c.key.step, c.account_id, c.pbx_id, c.attempt, c.days
            ),
        )
        return result["ticket_id"]

    @activity.defn
    async def record_carrier_answer(self, a: CarrierAnswerRecord) -> int | None:
        result = await self._once(
            a.key,
            "carrier refused the porting" if a.refused else "porting date set",
            lambda c: porting.record_carrier_answer(c, a),
        )
        return result["ticket_id"]

    @activity.defn
    async def activate_classound(self, a: Activation) -> Activated:
        """Porting day: the DIDs active on the PBX, the flats, a billing plan per licence."""

        async def write(conn) -> dict:
            pid = a.key.process_id
            licences = await licence_totals(conn, a.pbx_id)
            have = await flat_totals(conn, a.pbx_id)
            # Licences may have been reduced since the order: one flat per seat still holds.
            added, notes = {}, []
            for licence, wanted in a.flats.items():
                room = max(0, licences.get(licence, 0) - have.get(licence, 0))
                added[licence] = min(wanted, room)
                if added[licence] < wanted:
                    notes.append(
                        f"{wanted - added[licence]} {licence.value} CLASSOUND-FLAT(s) "
                        f"not added: only {room} {licence.value} licence(s) without a "
                        "flat are left on the PBX"
                    )
            added = {t: n for t, n in added.items() if n}
            sku = await orders.flat_sku(conn)
            flat_ids = []
            if added and sku:
                flat_ids = await porting.add_flats(conn, pid, a.pbx_id, sku, added, a.porting_date)
            # The numbers belong to the flats this order books; Classound ordering without
            # new flats adds numbers to the PBX's flats. Linked, a reduction that cancels a
            # flat lists its DIDs for customer care.
            flat_ids = flat_ids or await porting.active_flat_ids(conn, a.pbx_id)
            numbers = await orders.numbers_of(conn, pid)
            flat_of = numbers_per_flat(numbers, flat_ids)
            dids = await porting.activate_numbers(conn, a.pbx_id, numbers, flat_of)
            if len(flat_of) < dids:
                notes.append(
                    f"{dids - len(flat_of)} ported number(s) belong to no "
                    "CLASSOUND-FLAT (the PBX has none): a licence reduction will not "
                    "list them for customer care"
                )
            plans = [billing_plan(t) for t in LicenceType if t in licences]
            await porting.record_billing_plans(conn, pid, a.pbx_id, plans, a.porting_date)
            await porting.complete_order(
                conn, pid, a.key.step, a.attempt, a.partner_id, a.porting_date, numbers
            )
            linked = (
                f", linked to {len(set(flat_of.values()))} CLASSOUND-FLAT(s)" if flat_of else ""
            )
            records = [f"{dids} DID(s) active on {a.pbx_id} from {a.porting_date}{linked}"]
            records += [f"{sku} x{n} ({t.value}) from {a.porting_date}" for t, n in added.items()]
            return {
                "dids": dids,
                "flats": {t.value: n for t, n in added.items()},
                "plans": [p.model_dump(mode="json") for p in plans],
                "records": records,
                "notes": notes,
            }

        return Activated(**await self._once(a.key, "CLASSOUND active", write))

    @activity.defn
    async def close_classound_order(self, c: ClassoundClosure) -> int | None:
        result = await self._once(
            c.key,
            f"CLASSOUND order {c.status}",
            lambda conn: orders.close(
                conn,
                c.key.process_id,
                c.key.step,
                c.status,
                c.reason,
                c.account_id,
                c.pbx_id,
                c.partner_id,
                c.withdraw_attempt,
            ),
        )
        return result["ticket_id"]

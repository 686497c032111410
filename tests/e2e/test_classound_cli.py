"""The CLASSOUND order end to end as resellers and staff use it: worker.py and starter.py as
subprocesses, the real dev server and PostgreSQL, real PDF/PNG/JPEG files on disk."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from codec import EncryptionCodec, parse_key_ring
from domain.business_time import Family, business_today
from tests.e2e.cli import client_for, starter, worker
from tests.records import new_account
from tests.records_classound import fresh_numbers, jpeg_bytes, pdf_bytes, png_bytes

pytestmark = pytest.mark.e2e


async def decoded_payloads(node, codec) -> list[str]:
    """Every payload of a history, decrypted with the key ring and readable (the JSON form
    keeps them in base64)."""
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("data"), str) and isinstance(node.get("metadata"), dict):
            (plain,) = await codec.decode([json_format.ParseDict(node, Payload())])
            return [plain.data.decode("utf-8", "replace")]
        for value in node.values():
            found += await decoded_payloads(value, codec)
    elif isinstance(node, list):
        for item in node:
            found += await decoded_payloads(item, codec)
    return found


async def test_classound_activation_with_real_files_from_start_to_active(
    cli_env, dev_env, pool, tmp_path
):
    acc = await new_account(pool, licences={"Premium": 2, "Basic": 1})
    numbers = fresh_numbers(2)
    number_file = tmp_path / "numbers.txt"
    number_file.write_text(
        "# Acme block, from the LOA\n" + "".join(f"{n[:3]} {n[3:5]} {n[5:]}\n" for n in numbers)
    )
    loa, invoice, late = tmp_path / "LOA signed.pdf", tmp_path / "rechnung.jpg", tmp_path / "x.png"
    loa.write_bytes(pdf_bytes())
    invoice.write_bytes(jpeg_bytes())
    late.write_bytes(png_bytes())
    not_a_pdf = tmp_path / "LOA.pdf"
    not_a_pdf.write_text("I promise this is a PDF")
    documents = Path(cli_env["PARTNERFLOW_DATA_DIR"]) / "documents"

    async with worker(cli_env):
        started = await starter(
            cli_env,
            "classound-order",
            "--account",
            acc.id,
            "--pbx",
            acc.pbx_id,
            "--numbers",
            str(number_file),
        )
        assert started.code == 0, started.text
        pid = started.body["data"]["process_id"]
        assert pid.startswith(f"classound-order-{acc.id}-")
        assert started.body["data"]["stage"] == "awaiting-documents"

        refused = await starter(cli_env, "confirm", pid, "--as", "reseller-anna")
        assert refused.code == 1
        assert "waiting for: LOA, last invoice" in refused.body["message"]
        bad = await starter(cli_env, "upload", pid, "--kind", "loa", "--file", str(not_a_pdf))
        assert bad.code == 2 and "is not a PDF, PNG or JPEG file" in bad.body["message"]

        got = await starter(
            cli_env,
            "upload",
            pid,
            "--kind",
            "last-invoice",
            "--file",
            str(invoice),
            "--as",
            "reseller-anna",
        )
        assert got.code == 0, got.text
        assert "waiting for: LOA" in got.body["message"]
        again = await starter(
            cli_env,
            "upload",
            pid,
            "--kind",
            "last-invoice",
            "--file",
            str(invoice),
            "--as",
            "reseller-anna",
        )
        assert again.code == 0 and again.body["message"].startswith("already uploaded")
        got = await starter(
            cli_env, "upload", pid, "--kind", "loa", "--file", str(loa), "--as", "reseller-anna"
        )
        assert got.body["data"]["stage"] == "awaiting-confirmation"

        status = await starter(cli_env, "status", pid)
        assert [d["file_name"] for d in status.body["data"]["documents"]] == [
            "LOA signed.pdf",
            "rechnung.jpg",
        ]
        confirmed = await starter(cli_env, "confirm", pid, "--as", "reseller-anna")
        assert confirmed.code == 0, confirmed.text
        assert confirmed.body["data"]["stage"] == "porting-requested"

        locked = await starter(cli_env, "upload", pid, "--kind", "loa", "--file", str(late))
        assert locked.code == 1 and "with the carrier" in locked.body["message"]

        today = business_today(datetime.now(UTC), Family.CLASSOUND)  # Berlin's day
        scheduled = await starter(
            cli_env,
            "carrier-answer",
            pid,
            "--porting-date",
            today.isoformat(),
            "--as",
            "staff-porting",
        )
        assert scheduled.code == 0, scheduled.text
        handle = (await client_for(cli_env)).get_workflow_handle(pid)
        await handle.result()  # the porting day is today: live at once
        final = await starter(cli_env, "status", pid)

    assert final.body["data"]["stage"] == "active"
    assert "billing:     Premium: 3,000 free minutes per user per month" in final.body["message"]
    dids = {
        r["number"]: r["status"]
        for r in await pool.fetch("SELECT number, status FROM dids WHERE pbx_id = $1", acc.pbx_id)
    }
    assert dids == {n: "active" for n in numbers}
    rows = await pool.fetch("SELECT * FROM documents WHERE process_id = $1 ORDER BY id", pid)
    assert [(r["kind"], r["content_type"], r["uploaded_by"]) for r in rows] == [
        ("last-invoice", "image/jpeg", "reseller-anna"),
        ("loa", "application/pdf", "reseller-anna"),
    ]
    stored = sorted(p.name for p in documents.rglob("*") if p.is_file())
    assert stored == sorted(
        [r["sha256"] for r in rows]
        + [
            await pool.fetchval(
                "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')",
                "".join(f"{n}\n" for n in numbers),
            )
        ]
    )  # and not the refused PNG

    # No phone number anywhere in Temporal: history, summary, search attributes.
    history = json.loads((await handle.fetch_history()).to_json())
    codec = EncryptionCodec(parse_key_ring(cli_env["PARTNERFLOW_ENCRYPTION_KEYS"]))
    payloads = "\n".join(await decoded_payloads(history, codec))
    assert "rechnung.jpg" in payloads  # the decoding works
    for n in numbers:
        assert n not in payloads and n[5:] not in payloads
    summary = await (await handle.describe()).static_summary()
    assert "2 number(s) to port" in summary
    assert not any(n[5:] in summary for n in numbers)


async def test_classound_order_extended_then_cancelled(cli_env, pool, tmp_path):
    acc = await new_account(pool, licences={"Business": 3}, flats=[("Business", [])])
    async with worker(cli_env):
        started = await starter(
            cli_env,
            "classound-order",
            "--account",
            acc.id,
            "--pbx",
            acc.pbx_id,
            "--existing-customer",
            "--flat",
            "Business=2",
            *(a for n in fresh_numbers(2) for a in ("--number", n)),
        )
        assert started.code == 0, started.text
        pid = started.body["data"]["process_id"]
        extended = await starter(cli_env, "extend", pid, "--days", "7", "--as", "staff-lea")
        assert extended.code == 0 and "deadlines moved by 7 days" in extended.body["message"]
        bad = await starter(cli_env, "extend", pid, "--days", "0")
        assert bad.code == 2
        cancelled = await starter(cli_env, "cancel", pid, "--reason", "customer stays put")
        assert cancelled.code == 0 and cancelled.body["data"]["stage"] == "cancelled"
        loa = tmp_path / "LOA.pdf"
        loa.write_bytes(pdf_bytes())
        late = await starter(cli_env, "upload", pid, "--kind", "loa", "--file", str(loa))
        assert late.code == 3 and "has ended" in late.body["message"]

    order = await pool.fetchrow("SELECT * FROM classound_orders WHERE process_id = $1", pid)
    assert (order["kind"], order["status"], order["flats"]) == (
        "ordering",
        "cancelled",
        {"Business": 2},
    )
    assert order["expires_at"] - order["created_at"] > order["escalates_at"] - order["created_at"]
    assert not list((Path(cli_env["PARTNERFLOW_DATA_DIR"]) / "documents").rglob("*.pdf"))

"""Documents at every edge: the document store (content-addressed, atomic), the starter's
check of a file before anything is sent, and the activity's check of what it is asked to
record. A refused file leaves nothing behind."""

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

import starter
from activities.classound import ClassoundActivities
from client.failures import BAD_INPUT, NO_PROCESS, Failure
from codec import new_key_entry
from domain.classound_steps import DocumentRecord, OrderPlacement
from domain.documents import MAX_DOCUMENT_BYTES, DocumentRef
from domain.errors import Refused
from domain.porting_numbers import NumberListRef, canonical_list
from domain.steps import StepKey
from store.documents import DocumentStore, read_upload, sha256_of
from tests.records import new_account
from tests.records_classound import fresh_numbers, jpeg_bytes, pdf_bytes, png_bytes


@pytest.fixture
def store(tmp_path) -> DocumentStore:
    return DocumentStore(tmp_path / "documents")


def files_in(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*")) if root.exists() else []


# --- the document store ---------------------------------------------------------------------


def test_put_stores_once_by_content_and_reads_back(store):
    data = pdf_bytes()
    first = store.put(data)
    assert first.created and first.relative_path == f"{first.sha256[:2]}/{first.sha256}"
    assert first.sha256 == sha256_of(data) and first.size == len(data)
    assert stat.S_IMODE(store.path_of(first.sha256).stat().st_mode) == 0o640
    again = store.put(data)
    assert not again.created and again.sha256 == first.sha256
    assert store.read(first.sha256, expected_size=len(data)) == data
    assert files_in(store.root) == [store.path_of(first.sha256).parent, store.path_of(first.sha256)]


def test_a_failed_write_leaves_nothing_behind(store, monkeypatch):
    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        store.put(png_bytes())
    assert files_in(store.root) == []  # no half file, no temporary, no empty folder


def test_a_failed_write_keeps_what_was_there(store, monkeypatch):
    kept = store.put(pdf_bytes("kept"))
    monkeypatch.setattr(os, "replace", lambda a, b: (_ for _ in ()).throw(OSError("boom")))
    with pytest.raises(OSError):
        store.put(pdf_bytes("new"))
    assert files_in(store.root) == [store.path_of(kept.sha256).parent, store.path_of(kept.sha256)]


def test_discard_removes_the_file_and_its_empty_folder(store):
    stored = store.put(jpeg_bytes())
    store.discard(stored.sha256)
    assert files_in(store.root) == []
    store.discard(stored.sha256)  # already gone: nothing to do


def test_read_proves_the_bytes_are_the_referenced_ones(store):
    stored = store.put(pdf_bytes())
    with pytest.raises(Refused, match="has .* the upload said"):
        store.read(stored.sha256, expected_size=stored.size + 1)
    store.path_of(stored.sha256).write_bytes(pdf_bytes("forged!"))
    with pytest.raises(Refused, match="does not match its checksum"):
        store.read(stored.sha256)
    with pytest.raises(Refused, match="no stored file with checksum"):
        store.read("f" * 64)


def test_verify_checks_the_type_from_the_stored_bytes(store):
    data = png_bytes()
    stored = store.put(data)
    lie = DocumentRef(
        kind="loa",
        file_name="LOA.pdf",
        content_type="application/pdf",
        size=len(data),
        sha256=stored.sha256,
    )
    with pytest.raises(Refused, match="LOA.pdf is image/png by its content"):
        store.verify(lie)
    truth = lie.model_copy(update={"content_type": "image/png"})
    assert store.verify(truth).relative_path == stored.relative_path


# --- the file a person wants to upload ------------------------------------------------------


def test_read_upload_accepts_pdf_png_jpeg(tmp_path):
    for name, data in (("a.pdf", pdf_bytes()), ("b.png", png_bytes()), ("c.jpg", jpeg_bytes())):
        (tmp_path / name).write_bytes(data)
        assert read_upload(tmp_path / name) == data


def bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Each kind of bad file, with what the refusal says."""
    (tmp_path / "empty.pdf").write_bytes(b"")
    (tmp_path / "notes.pdf").write_text("not really a PDF\n")
    with (tmp_path / "huge.pdf").open("wb") as f:  # sparse: costs no disk
        f.write(b"%PDF-1.4\n")
        f.truncate(MAX_DOCUMENT_BYTES + 1)
    (tmp_path / "folder.pdf").mkdir()
    return {
        "missing": (tmp_path / "nope.pdf", "nope.pdf: no such file"),
        "empty": (tmp_path / "empty.pdf", "empty.pdf is empty"),
        "wrong type": (tmp_path / "notes.pdf", "notes.pdf is not a PDF, PNG or JPEG file"),
        "oversized": (tmp_path / "huge.pdf", "huge.pdf is 10.0 MB; the limit is 10.0 MB"),
        "not a file": (tmp_path / "folder.pdf", "folder.pdf is not a file"),
    }


def test_read_upload_refuses_bad_files_with_a_clear_message(tmp_path):
    for path, message in bad_files(tmp_path).values():
        with pytest.raises(Refused, match=message.replace(".", r"\.")):
            read_upload(path)


def test_read_upload_refuses_an_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "locked.pdf"
    path.write_bytes(pdf_bytes())

    def denied(self, *a, **kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", denied)  # root reads any file: simulate the refusal
    with pytest.raises(Refused, match="cannot read .*locked.pdf: Permission denied"):
        read_upload(path)


# --- at the starter: refused before Temporal is contacted, nothing stored -------------------


@pytest.fixture
def offline_starter(tmp_path, monkeypatch) -> DocumentStore:
    """The starter in this process, with its own document store and a Temporal address
    nothing listens on: a command that tried to connect would exit 4, not 2."""
    monkeypatch.setenv("PARTNERFLOW_DOCUMENTS_DIR", str(tmp_path / "documents"))
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
    monkeypatch.setenv("PARTNERFLOW_ENCRYPTION_KEYS", new_key_entry("t1"))  # fails closed
    monkeypatch.setenv("PARTNERFLOW_DATA_DIR", str(tmp_path / "data"))
    return DocumentStore(tmp_path / "documents")


async def run_starter(*argv: str) -> Failure:
    with pytest.raises(Failure) as failure:
        await starter.run([*argv, "--json"])
    return failure.value


async def test_bad_files_are_refused_by_the_starter_and_nothing_is_stored(
    tmp_path, offline_starter
):
    for what, (path, message) in bad_files(tmp_path).items():
        failure = await run_starter(
            "upload", "classound-order-ACME-x", "--kind", "loa", "--file", str(path)
        )
        assert (failure.code, what) == (BAD_INPUT, what)
        assert message in str(failure)
    assert files_in(offline_starter.root) == []


async def test_a_bad_number_list_is_refused_by_the_starter(tmp_path, offline_starter):
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("+49 30 5550100\n030 5550101\n")
    failure = await run_starter(
        "classound-order", "--account", "ACME", "--pbx", "PBX-ACME", "--numbers", str(numbers)
    )
    assert failure.code == BAD_INPUT
    assert str(failure) == (
        f"{numbers}: line 2 is not a phone number with country code (write it like +49 30 1234567)"
    )
    failure = await run_starter("classound-order", "--account", "ACME", "--pbx", "PBX-ACME")
    assert failure.code == BAD_INPUT and "give the numbers to port" in str(failure)
    failure = await run_starter(
        "classound-order",
        "--account",
        "ACME",
        "--pbx",
        "PBX-ACME",
        "--number",
        "+49 30 5550100",
        "--number",
        "0049 30 5550100",
    )
    assert failure.code == BAD_INPUT
    assert str(failure) == "--number 2 repeats the number of --number 1"
    failure = await run_starter(
        "classound-order",
        "--account",
        "ACME",
        "--pbx",
        "PBX-ACME",
        "--number",
        "+49 30 5550100",
        "--flat",
        "Gold=1",
    )
    assert failure.code == BAD_INPUT and "'Gold' is not a licence type" in str(failure)
    assert files_in(offline_starter.root) == []


async def test_a_carrier_refusal_with_a_phone_number_is_refused_by_the_starter(offline_starter):
    failure = await run_starter(
        "carrier-answer",
        "classound-order-ACME-x",
        "--refused",
        "+49 30 5550100 belongs to someone else",
    )
    assert failure.code == BAD_INPUT and "phone or customer number" in str(failure)
    failure = await run_starter(
        "carrier-answer", "classound-order-ACME-x", "--porting-date", "3.12.2026"
    )
    assert failure.code == BAD_INPUT and str(failure) == (
        "--porting-date: use YYYY-MM-DD, e.g. 2026-12-31 (not '3.12.2026')"
    )


async def test_a_good_file_for_no_such_process_is_not_stored(
    tmp_path, offline_starter, dev_env, monkeypatch
):
    monkeypatch.setenv("TEMPORAL_ADDRESS", dev_env.client.service_client.config.target_host)
    loa = tmp_path / "LOA.pdf"
    loa.write_bytes(pdf_bytes())
    failure = await run_starter(
        "upload", "classound-order-NOBODY-0", "--kind", "loa", "--file", str(loa)
    )
    assert failure.code == NO_PROCESS
    assert files_in(offline_starter.root) == []


# --- at the activity: the stored file is checked again --------------------------------------


def key(process_id: str, step: str) -> StepKey:
    return StepKey(process_id=process_id, step=step, actor="reseller-anna")


async def refusal_of(coro) -> str:
    with pytest.raises(ApplicationError) as err:
        await coro
    assert err.value.type == "Refused" and err.value.non_retryable
    return err.value.message


async def test_the_activity_refuses_what_the_store_does_not_prove(pool, store):
    acts, env = ClassoundActivities(pool, store), ActivityEnvironment()
    pid = "classound-order-DOCS-edge"
    data = png_bytes()
    ref = DocumentRef(
        kind="last-invoice",
        file_name="invoice.png",
        content_type="image/png",
        size=len(data),
        sha256=sha256_of(data),
    )

    message = await refusal_of(
        env.run(acts.record_document, DocumentRecord(key=key(pid, "upload-1"), document=ref))
    )
    assert "no stored file with checksum" in message  # the starter never stored it

    store.put(data)
    lie = ref.model_copy(update={"content_type": "application/pdf"})
    message = await refusal_of(
        env.run(acts.record_document, DocumentRecord(key=key(pid, "upload-2"), document=lie))
    )
    assert "invoice.png is image/png by its content, not application/pdf" in message

    store.path_of(ref.sha256).write_bytes(png_bytes((9, 9, 9)))
    message = await refusal_of(
        env.run(acts.record_document, DocumentRecord(key=key(pid, "upload-3"), document=ref))
    )
    assert "does not match its checksum" in message

    for table in ("documents", "audit_log"):
        assert await pool.fetchval(f"SELECT count(*) FROM {table} WHERE process_id = $1", pid) == 0


async def test_the_activity_records_a_document_once(pool, store):
    acts, env = ClassoundActivities(pool, store), ActivityEnvironment()
    pid = "classound-order-DOCS-once"
    data = pdf_bytes()
    stored = store.put(data)
    ref = DocumentRef(
        kind="loa",
        file_name="LOA.pdf",
        content_type="application/pdf",
        size=len(data),
        sha256=stored.sha256,
    )
    first = await env.run(
        acts.record_document, DocumentRecord(key=key(pid, "upload-1"), document=ref)
    )
    retried = await env.run(
        acts.record_document, DocumentRecord(key=key(pid, "upload-1"), document=ref)
    )
    same_file = await env.run(
        acts.record_document, DocumentRecord(key=key(pid, "upload-2"), document=ref)
    )
    assert retried == first and not first.already
    assert same_file.already and same_file.document_id == first.document_id
    row = await pool.fetchrow("SELECT * FROM documents WHERE process_id = $1", pid)
    assert (
        row["kind"],
        row["file_name"],
        row["content_type"],
        row["size"],
        row["sha256"],
        row["storage_path"],
        row["uploaded_by"],
        row["is_current"],
    ) == (
        "loa",
        "LOA.pdf",
        "application/pdf",
        len(data),
        stored.sha256,
        stored.relative_path,
        "reseller-anna",
        True,
    )


async def test_the_order_is_placed_only_from_a_proven_number_list(pool, store):
    acc = await new_account(pool, licences={"Premium": 1})
    acts, env = ClassoundActivities(pool, store), ActivityEnvironment()
    numbers = fresh_numbers(2)
    listing = canonical_list(numbers)
    now = datetime.now(UTC)

    def placement(step: str, ref: NumberListRef) -> OrderPlacement:
        return OrderPlacement(
            key=key(f"classound-order-{acc.id}-p", step),
            account_id=acc.id,
            pbx_id=acc.pbx_id,
            existing_customer=False,
            flats={},
            numbers=ref,
            escalates_at=now + timedelta(days=10),
            expires_at=now + timedelta(days=30),
        )

    ref = NumberListRef(sha256=sha256_of(listing), count=2)
    message = await refusal_of(env.run(acts.place_classound_order, placement("p1", ref)))
    assert "no stored file with checksum" in message
    store.put(listing)
    message = await refusal_of(
        env.run(acts.place_classound_order, placement("p2", ref.model_copy(update={"count": 3})))
    )
    assert "has 2 numbers, the order says 3" in message
    placed = await env.run(acts.place_classound_order, placement("p3", ref))
    assert (placed.numbers, placed.flats, placed.partner_id) == (2, {"Premium": 1}, acc.partner_id)
    stored = [
        r["number"]
        for r in await pool.fetch(
            "SELECT number FROM classound_numbers WHERE process_id = $1 ORDER BY position",
            f"classound-order-{acc.id}-p",
        )
    ]
    assert stored == numbers

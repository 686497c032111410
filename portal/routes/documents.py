"""The documents CLASSOUND orders and change orders still need (LOA, last invoice), and
uploading one: checked as the starter checks it, kept in the document store, and only its
reference sent to the process. Then what happens next to the partner's CLASSOUND orders
(staff confirm, porting requested, the porting date, the numbers active), and downloading
the documents the partner uploaded."""

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from domain import ids
from domain.documents import (
    MAX_DOCUMENT_BYTES,
    SNIFF_BYTES,
    DocumentKind,
    DocumentRef,
    clean_file_name,
    human_size,
    missing_documents,
    sniff_content_type,
)
from domain.errors import Refused
from portal import answers, steps
from portal.deps import (
    CurrentUser,
    NotYours,
    Pool,
    PortalUser,
    Steps,
    form_with_csrf,
    page,
)
from portal.i18n import Words
from portal.routes.home import menu_counts
from store import portal as db
from store.documents import DocumentStore, sha256_of

router = APIRouter()
KINDS = [k.value for k in DocumentKind]


@router.get("/documents", response_class=HTMLResponse)
async def documents(request: Request, user: CurrentUser, pool: Pool) -> Response:
    return await documents_page(request, pool, user)


async def documents_page(
    request: Request, pool, user: PortalUser, status: int = 200, errors: dict | None = None
) -> HTMLResponse:
    async with pool.acquire() as conn:
        rows = await db.classound_orders_awaiting_documents(conn, user.partner_id)
        rows += [
            {**r, "source": "change_order"}
            for r in await db.change_orders_awaiting_documents(conn, user.partner_id)
        ]
        under_way = await db.classound_orders_under_way(conn, user.partner_id)
        said = await answers.taken(conn, user, request.query_params.get("answer"))
        counts = await menu_counts(conn, user)
    words = Words(user.language)
    for r in rows:
        r["missing"] = missing_documents({DocumentKind(d["kind"]) for d in r["documents"]})
        r["missing_words"] = ", ".join(words(m) for m in r["missing"])
    return page(
        request,
        "documents.html",
        user=user,
        nav="documents",
        orders=rows,
        under_way=under_way,
        answers=said,
        counts=counts,
        kinds=KINDS,
        status=status,
        errors=errors or {},
    )


def check_refusal(words: Words, name: str, size: int, head: bytes) -> str | None:
    """The document rules (domain/documents.py: not empty, at most 10 MB, a PDF, PNG or JPEG
    by its bytes) in the reader's words."""
    if size <= 0:
        return words("{name} is empty: upload the scanned or exported document.", name=name)
    if size > MAX_DOCUMENT_BYTES:
        limit = human_size(MAX_DOCUMENT_BYTES)
        return words(
            "{name} is larger than {limit}: scan it at a lower resolution.", name=name, limit=limit
        )
    if sniff_content_type(head) is None:
        return words(
            "{name} is not a PDF, PNG or JPEG file (judged by its content, not its name): "
            "export or scan the document as PDF or image.",
            name=name,
        )
    return None


@router.post("/documents/{process_id}/upload")
async def upload(
    request: Request, process_id: str, user: CurrentUser, pool: Pool, processes: Steps
) -> Response:
    words = Words(user.language)
    field = f"{process_id}-file"
    length = int(request.headers.get("content-length") or 0)
    if length > MAX_DOCUMENT_BYTES + 64 * 1024:  # refused before a byte is read
        # nothing is read, stored or sent: the answer is only a page
        too_big = str(check_refusal(words, "upload", length, b""))
        return await documents_page(request, pool, user, 413, {field: too_big})
    form = await form_with_csrf(request, max_files=1, max_fields=10)
    async with pool.acquire() as conn:
        if not (
            ids.PROCESS.matches(process_id)
            and await db.classound_order_of_partner(conn, process_id, user.partner_id)
        ):
            raise NotYours()
    kind = str(form.get("kind", ""))
    file = form.get("file")
    if kind not in KINDS:
        errors = {f"{process_id}-kind": words("Choose LOA or last invoice.")}
        return await documents_page(request, pool, user, 400, errors)
    if not isinstance(file, UploadFile) or not file.filename:
        errors = {field: words("Choose a file to upload.")}
        return await documents_page(request, pool, user, 400, errors)
    data = await file.read(MAX_DOCUMENT_BYTES + 1)
    name = clean_file_name(str(file.filename))
    refusal = check_refusal(words, name, len(data), data[:SNIFF_BYTES])
    if refusal:  # the starter's checks: nothing stored, nothing sent
        return await documents_page(request, pool, user, 400, {field: refusal})
    ref = DocumentRef(
        kind=DocumentKind(kind),
        file_name=name,
        content_type=sniff_content_type(data[:SNIFF_BYTES]),
        size=len(data),
        sha256=sha256_of(data),
    )
    store: DocumentStore = request.app.state.documents
    stored = await asyncio.to_thread(store.put, data)
    rid = steps.request_id(str(form.get("request")))
    result = await steps.upload_document(processes, process_id, user.id, ref, rid)
    if not result.ok and not result.unknown and stored.created:
        await asyncio.to_thread(store.discard, stored.sha256)  # refused: not kept
    return await answers.answered(request, pool, user, "/documents", result)


@router.get("/documents/{process_id}/{kind}")
async def download(
    request: Request, process_id: str, kind: str, user: CurrentUser, pool: Pool
) -> Response:
    """A document uploaded to one of the partner's orders (the current one of its kind)."""
    async with pool.acquire() as conn:
        doc = (
            await db.document_of_partner(conn, process_id, kind, user.partner_id)
            if ids.PROCESS.matches(process_id) and kind in KINDS
            else None
        )
    if doc is None:
        raise NotYours()
    store: DocumentStore = request.app.state.documents
    try:
        data = await asyncio.to_thread(store.read, doc["sha256"], expected_size=doc["size"])
    except Refused:
        raise NotYours() from None  # the file is gone from the store: nothing to give
    quoted = doc["file_name"].replace('"', "").encode("ascii", "replace").decode()
    return Response(
        data,
        media_type=doc["content_type"],
        headers={"Content-Disposition": f'attachment; filename="{quoted}"'},
    )

"""Files and records for CLASSOUND tests: small but real PDF, PNG and JPEG files, phone
numbers no other test uses, and requests whose number list is in the document store, as the
starter puts it there."""

import random
import struct
import uuid
import zlib

from domain.classound import ClassoundRequest
from domain.documents import DocumentKind, DocumentRef, sniff_content_type
from domain.porting_numbers import NumberListRef, canonical_list
from store.documents import DocumentStore


def pdf_bytes(text: str = "Letter of authorisation") -> bytes:
    """A one-page PDF that readers open (they rebuild the missing xref table)."""
    content = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode()
    return b"\n".join(
        [
            b"%PDF-1.4",
            b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj",
            b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj",
            b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R"
            b" /Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica"
            b" >> >> >> >> endobj",
            b"4 0 obj << /Length %d >> stream" % len(content),
            content,
            b"endstream endobj",
            b"trailer << /Root 1 0 R >>",
            b"%%EOF",
            b"",
        ]
    )


def png_bytes(colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A 1x1 RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + bytes(colour))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def jpeg_bytes() -> bytes:
    """A 1x1 grey baseline JPEG: one Huffman code per table, one block of zeros."""
    jfif = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    dqt = b"\xff\xdb\x00\x43\x00" + b"\x01" * 64
    sof = b"\xff\xc0\x00\x0b\x08\x00\x01\x00\x01\x01\x01\x11\x00"
    counts = b"\x01" + b"\x00" * 15
    dht = b"\xff\xc4\x00\x14\x00" + counts + b"\x00" + b"\xff\xc4\x00\x14\x10" + counts + b"\x00"
    sos = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    scan = b"\x3f"  # DC difference 0, end of block, padded with ones
    return b"\xff\xd8" + jfif + dqt + sof + dht + sos + scan + b"\xff\xd9"


def fresh_numbers(n: int) -> list[str]:
    """Numbers no other test of the session uses (E.164, Berlin)."""
    rng = random.Random(uuid.uuid4().int)
    return [f"+4930{rng.randrange(10**8):08d}" for _ in range(n)]


def store_numbers(documents: DocumentStore, numbers: list[str]) -> NumberListRef:
    stored = documents.put(canonical_list(numbers))
    return NumberListRef(sha256=stored.sha256, count=len(numbers))


def stored_document(
    documents: DocumentStore, kind: DocumentKind | str, data: bytes, file_name: str
) -> DocumentRef:
    """A document as the starter hands it to the process: stored, then referenced."""
    stored = documents.put(data)
    return DocumentRef(
        kind=DocumentKind(kind),
        file_name=file_name,
        content_type=sniff_content_type(data),
        size=len(data),
        sha256=stored.sha256,
    )


def classound_request(acc, numbers: NumberListRef, **fields) -> ClassoundRequest:
    return ClassoundRequest(
        account_id=acc.id, pbx_id=acc.pbx_id, numbers=numbers, requested_by="staff", **fields
    )

"""What an uploaded document must be, judged by its bytes: PDF, PNG or JPEG, not empty, at
most 10 MB; and what travels in its place."""

import pytest
from pydantic import ValidationError

from domain.documents import (
    MAX_DOCUMENT_BYTES,
    DocumentKind,
    DocumentRef,
    check_document,
    clean_file_name,
    human_size,
    missing_documents,
    sniff_content_type,
)
from domain.errors import Refused
from tests.records_classound import jpeg_bytes, pdf_bytes, png_bytes

SHA = "0" * 64


@pytest.mark.parametrize(
    "data, content_type",
    [
        (pdf_bytes(), "application/pdf"),
        (png_bytes(), "image/png"),
        (jpeg_bytes(), "image/jpeg"),
        (b"%PDF-", "application/pdf"),  # the magic alone is enough to name the type
        (b"\xff\xd8\xff\xe1 exif jpeg", "image/jpeg"),
    ],
)
def test_type_from_the_bytes(data, content_type):
    assert sniff_content_type(data[:8]) == content_type


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"%PDF",
        b"%pdf-1.4",
        b"\x89PNG\r\n",
        b"\xff\xd8",
        b"GIF89a",
        b"PK\x03\x04 docx",
        b"<html>",
        b" %PDF-1.4",
    ],
)
def test_anything_else_is_not_a_document(data):
    assert sniff_content_type(data) is None


def test_size_limit_is_10_mb_inclusive():
    assert check_document("a.pdf", MAX_DOCUMENT_BYTES, b"%PDF-1.7") == "application/pdf"
    with pytest.raises(Refused, match=r"a.pdf is 10.0 MB; the limit is 10.0 MB"):
        check_document("a.pdf", MAX_DOCUMENT_BYTES + 1, b"%PDF-1.7")


def test_one_byte_is_not_empty_zero_is():
    with pytest.raises(Refused, match="is not a PDF, PNG or JPEG"):
        check_document("x", 1, b"%")
    with pytest.raises(Refused, match="x is empty"):
        check_document("x", 0, b"")


def test_the_name_does_not_decide_the_type():
    with pytest.raises(Refused, match="judged by its content, not its name"):
        check_document("scan.pdf", 100, b"GIF89a")


@pytest.mark.parametrize(
    "name, clean",
    [
        ("LOA.pdf", "LOA.pdf"),
        ("/home/anna/scans/LOA.pdf", "LOA.pdf"),
        ("C:\\Users\\anna\\Rechnung März.pdf", "Rechnung März.pdf"),
        ("a\x00b\nc.png", "a\x00b\nc.png"),  # kept, for check_document to refuse
        ("", "document"),
        ("dir/", "document"),
        ("x" * 300 + ".pdf", "x" * 200),
    ],
)
def test_clean_file_name(name, clean):
    assert clean_file_name(name) == clean


def test_a_reference_obeys_the_same_limits():
    ok = dict(kind="loa", file_name="LOA.pdf", content_type="application/pdf", size=10, sha256=SHA)
    assert DocumentRef(**ok).label == "LOA"
    assert DocumentRef(**{**ok, "kind": "last-invoice"}).label == "last invoice"
    for bad in (
        {"size": 0},
        {"size": MAX_DOCUMENT_BYTES + 1},
        {"content_type": "image/gif"},
        {"sha256": "A" * 64},
        {"sha256": "0" * 63},
        {"file_name": "../LOA.pdf"},
        {"file_name": ""},
        {"kind": "contract"},
    ):
        with pytest.raises(ValidationError):
            DocumentRef(**{**ok, **bad})


def test_missing_documents_in_the_resellers_words_loa_first():
    assert missing_documents(set()) == ["LOA", "last invoice"]
    assert missing_documents({DocumentKind.LAST_INVOICE}) == ["LOA"]
    assert missing_documents({DocumentKind.LOA}) == ["last invoice"]
    assert missing_documents({DocumentKind.LOA, DocumentKind.LAST_INVOICE}) == []


def test_human_size():
    assert human_size(999) == "999 bytes"
    assert human_size(2048) == "2.0 KB"
    assert human_size(12 * 1024 * 1024 + 1) == "12.0 MB"

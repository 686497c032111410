"""File names that read as something else than they are are refused at upload, by the one
rule every door applies (domain/documents.py)."""

import pytest

from domain.documents import DocumentRef, check_document, clean_file_name, file_name_problem
from domain.errors import Refused

PDF = b"%PDF-1.7"


@pytest.mark.parametrize(
    "name",
    [
        "rechnung\u202efdp.exe",  # shown as "rechnungexe.pdf"
        "LOA\u202a.pdf",
        "LOA\u202b.pdf",
        "LOA\u202c.pdf",
        "LOA\u202d.pdf",
        "LOA\u2066.pdf",
        "LOA\u2067.pdf",
        "LOA\u2068.pdf",
        "LOA\u2069.pdf",
        "LOA\u200f.pdf",
        "\x1b]0;pwned\x07LOA.pdf",  # a terminal's title
        "\x1b[2JLOA.pdf",
        "LOA\x00.pdf",
        "LOA\n.pdf",
        "LOA\x7f.pdf",
        "LOA\x9b.pdf",  # C1 control
    ],
)
def test_a_name_with_control_or_direction_characters_is_refused_with_a_clear_message(name):
    cleaned = clean_file_name(name)
    with pytest.raises(Refused) as refused:
        check_document(cleaned, len(PDF), PDF)
    said = str(refused.value)
    assert "control or text-direction characters" in said and "rename the file" in said
    # the message shows the characters by their code, never raw
    assert all(ord(c) >= 0x20 and c not in "\u202e\u2066\x7f" for c in said)
    assert "U+" in said


@pytest.mark.parametrize("name", ["LOA.pdf", "Rechnung März.pdf", "Fakturа №5.pdf", "請求書.pdf"])
def test_ordinary_names_in_any_script_pass(name):
    assert file_name_problem(name) is None
    assert check_document(clean_file_name(name), len(PDF), PDF) == "application/pdf"


def test_a_reference_never_carries_such_a_name():
    with pytest.raises(ValueError):
        DocumentRef(
            kind="loa",
            file_name="a\x1bb.pdf",
            content_type="application/pdf",
            size=10,
            sha256="0" * 64,
        )


def test_a_reference_never_carries_a_direction_override_either():
    with pytest.raises(ValueError):
        DocumentRef(
            kind="loa",
            file_name="rechnung\u202efdp.exe",
            content_type="application/pdf",
            size=10,
            sha256="0" * 64,
        )

"""The documents a CLASSOUND order needs before porting: the signed letter of
authorisation (LOA) and the last invoice of the old carrier. Real files, PDF or image, kept
outside Temporal; a workflow only ever sees a `DocumentRef` (kind, name, type, size, sha256).

What a file *is* comes from its bytes, never from its name: a PDF starts with `%PDF-`, a PNG
with its 8-byte signature, a JPEG with `FF D8 FF`."""

import re
import unicodedata
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.errors import Refused

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024  # 10 MB: a scanned multi-page LOA fits, a video does not

ContentType = Literal["application/pdf", "image/png", "image/jpeg"]

MAGIC: list[tuple[bytes, ContentType]] = [
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
]
SNIFF_BYTES = max(len(m) for m, _ in MAGIC)


class DocumentKind(StrEnum):
    LOA = "loa"
    LAST_INVOICE = "last-invoice"


# In the words of the reseller's ticket.
KIND_LABELS = {DocumentKind.LOA: "LOA", DocumentKind.LAST_INVOICE: "last invoice"}
REQUIRED_KINDS = (DocumentKind.LOA, DocumentKind.LAST_INVOICE)


def sniff_content_type(head: bytes) -> ContentType | None:
    """The content type the first bytes prove, or None for anything else."""
    for magic, content_type in MAGIC:
        if head.startswith(magic):
            return content_type
    return None


def human_size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def check_document(name: str, size: int, head: bytes) -> ContentType:
    """The rules every uploaded file obeys, wherever it is checked (starter and activity):
    a name without control or direction characters, not empty, at most 10 MB, a PDF, PNG or
    JPEG by its bytes. Returns its content type."""
    problem = file_name_problem(name)
    if problem:
        raise Refused(problem)
    if size <= 0:
        raise Refused(f"{name} is empty; upload the scanned or exported document")
    if size > MAX_DOCUMENT_BYTES:
        raise Refused(
            f"{name} is {human_size(size)}; the limit is "
            f"{human_size(MAX_DOCUMENT_BYTES)} (scan at a lower resolution)"
        )
    content_type = sniff_content_type(head)
    if content_type is None:
        raise Refused(
            f"{name} is not a PDF, PNG or JPEG file (judged by its content, not its "
            "name); export or scan the document as PDF or image"
        )
    return content_type


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")
# Characters that change how the name reads, not what it is: right-to-left overrides and
# isolates make "rechnung\u202Efdp.exe" show as "rechnungexe.pdf"; control characters move a
# terminal's cursor or retitle its window.
_DIRECTION = set("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def file_name_problem(name: str) -> str | None:
    """Why a file name is refused (control or direction characters), or None. Refused, not
    cleaned: a name that says something else than it shows is a trick, not a typo."""
    bad = [c for c in name if c in _DIRECTION or unicodedata.category(c) in ("Cc", "Cf")]
    if not bad:
        return None
    shown = "".join(f"U+{ord(c):04X}" if c in bad else c for c in name)[:240]
    codes = ", ".join(sorted({f"U+{ord(c):04X}" for c in bad}))
    return (
        f"the file name {shown} contains control or text-direction characters ({codes}), "
        "which can make a file look like another; rename the file and upload it again"
    )


def clean_file_name(name: str) -> str:
    """The name as the reseller gave it, without any folder. Control and direction characters
    stay, for `check_document` to refuse."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base.strip()[:200] or "document"


class DocumentRef(BaseModel):
    """What travels through Temporal instead of the bytes."""

    model_config = ConfigDict(frozen=True)

    kind: DocumentKind
    file_name: str = Field(min_length=1, max_length=200)
    content_type: ContentType
    size: int = Field(gt=0, le=MAX_DOCUMENT_BYTES)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("file_name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        if _UNSAFE.search(v) or file_name_problem(v):
            raise ValueError("a file name without folders, control or direction characters")
        return v

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def short_sha(self) -> str:
        return self.sha256[:12]


def missing_documents(present: set[DocumentKind]) -> list[str]:
    """The required documents not yet uploaded, in the reseller's words, LOA first."""
    return [KIND_LABELS[k] for k in REQUIRED_KINDS if k not in present]

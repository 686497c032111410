"""The document store: uploaded files (LOA, invoices) and number lists, kept outside Temporal
and outside PostgreSQL, in a folder (config.documents_dir()).

Content-addressed: a file lives at `<root>/<sha[:2]>/<sha256>`, so the same bytes are stored
once and a reference (the sha256) can always be checked against what is stored. Written
atomically (a temporary file in the same folder, flushed, then renamed): a reader never sees
half a file and a failed write leaves nothing behind. No database here: the rows that say who
uploaded what for which process are written by the activities (store/classound.py)."""

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from domain.documents import (
    MAX_DOCUMENT_BYTES,
    SNIFF_BYTES,
    DocumentRef,
    check_document,
    human_size,
)
from domain.errors import Refused

FILE_MODE, DIR_MODE = 0o640, 0o750  # personal data: not world-readable


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    relative_path: str  # what the documents table keeps: the root may move
    created: bool  # False when the same bytes were already stored


def read_upload(path: Path) -> bytes:
    """The bytes of a file a person wants to upload, checked before anything else happens:
    it exists, is a readable regular file, not empty, at most 10 MB, a PDF, PNG or JPEG."""
    shown = str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise Refused(f"{shown}: no such file") from None
    except OSError as e:
        raise Refused(f"cannot read {shown}: {e.strerror}") from None
    if not path.is_file():
        raise Refused(f"{shown} is not a file")
    if info.st_size > MAX_DOCUMENT_BYTES:  # before reading it into memory
        check_document(shown, info.st_size, b"")
    try:
        with path.open("rb") as f:
            data = f.read(MAX_DOCUMENT_BYTES + 1)  # a file growing while we read stays capped
    except OSError as e:
        raise Refused(f"cannot read {shown}: {e.strerror}") from None
    check_document(shown, len(data), data[:SNIFF_BYTES])
    return data


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class DocumentStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def relative_path(self, sha256: str) -> str:
        return f"{sha256[:2]}/{sha256}"

    def path_of(self, sha256: str) -> Path:
        return self.root / self.relative_path(sha256)

    def put(self, data: bytes) -> StoredFile:
        """Stores the bytes (once per content) and says where."""
        sha = sha256_of(data)
        target = self.path_of(sha)
        stored = StoredFile(sha, len(data), self.relative_path(sha), created=False)
        if target.is_file() and target.stat().st_size == len(data):
            return stored
        folder_existed = target.parent.is_dir()
        target.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, FILE_MODE)
            os.replace(tmp, target)  # atomic: the file is there whole, or not at all
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            if not folder_existed:
                _remove_empty(target.parent)
            raise
        return StoredFile(sha, len(data), self.relative_path(sha), created=True)

    def discard(self, sha256: str) -> None:
        """Removes a file this upload created, when the process refused it. Only call it for
        a file `put` reported as created: other references may share stored bytes."""
        target = self.path_of(sha256)
        target.unlink(missing_ok=True)
        _remove_empty(target.parent)

    def read(self, sha256: str, *, expected_size: int | None = None) -> bytes:
        """The stored bytes, proven to be the ones referenced (checksum and size)."""
        target = self.path_of(sha256)
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            raise Refused(
                f"no stored file with checksum {sha256[:12]}… in the document "
                f"store ({self.root}); upload it again"
            ) from None
        if expected_size is not None and len(data) != expected_size:
            raise Refused(
                f"the stored file {sha256[:12]}… has {human_size(len(data))}, the "
                f"upload said {human_size(expected_size)}; upload it again"
            )
        if sha256_of(data) != sha256:
            raise Refused(
                f"the stored file {sha256[:12]}… does not match its checksum (it was "
                "changed or damaged); upload it again"
            )
        return data

    def verify(self, ref: DocumentRef) -> StoredFile:
        """The activity's own check of an upload it is asked to record: the stored bytes are
        the referenced ones and obey the same rules as at the starter."""
        data = self.read(ref.sha256, expected_size=ref.size)
        content_type = check_document(ref.file_name, len(data), data[:SNIFF_BYTES])
        if content_type != ref.content_type:
            raise Refused(
                f"{ref.file_name} is {content_type} by its content, not "
                f"{ref.content_type}; upload it again"
            )
        return StoredFile(ref.sha256, ref.size, self.relative_path(ref.sha256), created=False)


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty, or already gone

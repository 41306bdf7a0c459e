"""The corpus folder as editors change it: checked uploads, written atomically.

Why a module of its own: the corpus folder plus its metadata file stay the source of
truth (``assistant ingest --rebuild`` must rebuild the same index from the files alone),
so an edit made through the admin API is nothing but a change of those files, followed
by an ordinary ingest. Everything here is about making that change safe:

* an upload is checked completely *before* anything is written: its name (no ``../``,
  drive letters, NUL), type, size, that it is not empty, that it can be read as text
  (a broken or encrypted PDF, a docx decompression bomb, binary data in a ``.txt``);
  a refused upload changes nothing, so the previous version keeps answering;
* files and the metadata file are written to a temporary name and renamed
  (``os.replace``), so a reader (an ingest, a crash) never sees half a file;
* one lock serialises every change of this folder within the process.

Messages are Swedish first, with the English in parentheses, like the CLI's.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from assistant.errors import ApiError, LoadError
from assistant.ingest.loaders import (
    SUPPORTED_SUFFIXES,
    LoadedDocument,
    check_docx_zip,
    load_document,
)
from assistant.ingest.metadata import read_sidecar

__all__ = [
    "META_FIELDS",
    "Corpus",
    "Upload",
    "check_docx_zip",
    "content_hash",
    "safe_name",
    "swedish_reason",
]

# What an editor may set per document; the same keys as metadata.json's entries.
META_FIELDS = ("title", "municipality", "date", "url")
MAX_NAME_CHARS = 120
META_MAX_CHARS = 500
_UNSAFE_CHARS = re.compile(r"[^\w.\- ]", re.UNICODE)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LOCK = threading.Lock()

# The loaders' English reasons, in Swedish first (the English stays in parentheses).
_REASONS = (
    ("empty", "Filen är tom"),
    ("binary file", "Filen är inte text (binära data)"),
    ("encrypted PDF", "PDF-filen är krypterad eller lösenordsskyddad"),
    ("corrupt or truncated PDF", "PDF-filen är trasig eller avkortad"),
    ("no text in PDF", "PDF-filen har ingen text (en skannad bild utan textlager?)"),
    ("corrupt DOCX", "Word-filen är trasig (inte en giltig .docx)"),
    ("docx decompression bomb", "Word-filen packas upp till orimligt mycket data "
                                "(en dekomprimeringsbomb)"),
    ("unsupported file type", "Filtypen stöds inte"),
    ("no main text", "Sidan har ingen brödtext"),
)


def swedish_reason(reason: str) -> str:
    """A loader's reason as an editor reads it: Swedish, then the original."""
    for start, swedish in _REASONS:
        if reason.startswith(start) or start in reason:
            return f"{swedish} ({reason})."
    return f"Filen kunde inte läsas ({reason})."


def content_hash(data: bytes) -> str:
    """The upload's bytes, hashed: what the audit log and "unchanged" compare."""
    return hashlib.sha256(data).hexdigest()


def safe_name(raw: str) -> str:
    """A file name an upload may be stored under, or a 400.

    Directories and drive letters are dropped (``../../etc/x.txt`` → ``x.txt``,
    ``C:\\Users\\a.txt`` → ``a.txt``: a browser sends what the user picked, and only
    the last part is the name); a NUL or another control character, a hidden name, or
    nothing left is refused; other unusual characters become ``_``.
    """
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise ApiError(400, "Filnamnet innehåller otillåtna tecken (a file name with "
                            "control characters is not allowed).")
    name = re.split(r"[\\/]", raw)[-1]
    name = re.sub(r"^[A-Za-z]:", "", name).strip()
    name = _UNSAFE_CHARS.sub("_", name)
    if not name or name.startswith(".") or name in (".", ".."):
        raise ApiError(400, "Filnamnet saknas eller är inte tillåtet (the file name is "
                            "missing or not allowed).")
    if len(name) > MAX_NAME_CHARS:
        stem, suffix = os.path.splitext(name)
        name = stem[: MAX_NAME_CHARS - len(suffix)] + suffix
    return name


def clean_meta(values: Mapping[str, object]) -> dict[str, str | None]:
    """The metadata an editor sent, checked: known fields, plain one-line text, a date
    as YYYY-MM-DD, a link as http(s). Empty means unknown (``None``)."""
    meta: dict[str, str | None] = {}
    for key in META_FIELDS:
        value = values.get(key)
        if value is None:
            continue
        text = " ".join(str(value).split())
        if len(text) > META_MAX_CHARS:
            raise ApiError(422, f"Fältet {key} är för långt (högst {META_MAX_CHARS} tecken).")
        if key == "date" and text and not _DATE.fullmatch(text):
            raise ApiError(422, "Datumet ska skrivas ÅÅÅÅ-MM-DD (the date must be "
                                "YYYY-MM-DD).")
        if key == "url" and text and not text.lower().startswith(("http://", "https://")):
            raise ApiError(422, "Länken ska börja med http:// eller https:// (the link must "
                                "be http or https).")
        meta[key] = text or None
    return meta


@dataclass(frozen=True)
class Upload:
    """One checked upload: its safe name, bytes, what the loader read, its hash."""

    name: str
    data: bytes
    loaded: LoadedDocument
    sha256: str


def _atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, flush it to disk, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Corpus:
    """The corpus folder and its metadata file, as the admin API changes them."""

    def __init__(self, folder: Path, metadata_name: str, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.metadata_name = metadata_name
        self.max_bytes = max_bytes
        self.lock = _LOCK
        self._hashes: dict[str, tuple[tuple[int, int], str]] = {}

    # -- reading --------------------------------------------------------------------

    def metadata(self) -> dict[str, dict[str, str | None]]:
        return read_sidecar(self.folder, self.metadata_name)

    def path_of(self, doc_id: str) -> Path:
        """The file of a document id, never outside the folder (a 404 otherwise)."""
        rel = PurePosixPath(doc_id)
        if rel.is_absolute() or ".." in rel.parts or not doc_id or "\x00" in doc_id:
            raise ApiError(404, "Dokumentet finns inte.")
        return self.folder / rel

    def file_hash(self, doc_id: str) -> str | None:
        """The file's SHA-256, or ``None`` without a file. Kept per (size, mtime), so
        listing a large corpus again reads only the files that changed."""
        path = self.path_of(doc_id)
        try:
            stat = path.stat()
        except OSError:
            return None
        if not path.is_file():
            return None
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        cached = self._hashes.get(key[0])
        if cached is not None and cached[0] == key[1:]:
            return cached[1]
        digest = content_hash(path.read_bytes())
        self._hashes[key[0]] = (key[1:], digest)
        return digest

    # -- checking -------------------------------------------------------------------

    def check(self, filename: str, data: bytes) -> Upload:
        """The upload, checked as described in the module docstring; an
        :class:`ApiError` (4xx, Swedish) says what is wrong."""
        name = safe_name(filename)
        suffix = Path(name).suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            raise ApiError(422, f"Filtypen {suffix or '(ingen)'} stöds inte: ladda upp .txt, "
                                ".md, .html, .pdf eller .docx (unsupported file type).")
        if name == self.metadata_name:
            raise ApiError(400, f"Filnamnet {name} är reserverat för metadatafilen.")
        if len(data) > self.max_bytes:
            raise ApiError(413, f"Filen är för stor ({len(data)} byte, högst {self.max_bytes}; "
                                "ASSISTANT_MAX_UPLOAD_BYTES) (the file is too large).")
        if not data.strip():
            raise ApiError(422, "Filen är tom (the file is empty).")
        try:
            loaded = self._load(name, data)
        except LoadError as exc:
            raise ApiError(422, swedish_reason(exc.reason)) from None
        return Upload(name, data, loaded, content_hash(data))

    def _load(self, name: str, data: bytes) -> LoadedDocument:
        """Read it with the ingest's own loaders, from a hidden staging folder (the
        ingest skips hidden names), so what passes here is what the ingest will read."""
        staging = self.folder / ".staging"
        staging.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=Path(name).suffix.lower(), dir=staging)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            return load_document(Path(tmp))
        finally:
            Path(tmp).unlink(missing_ok=True)

    # -- writing (call with ``self.lock`` held) -------------------------------------

    def write(self, doc_id: str, data: bytes) -> None:
        _atomic_write(self.path_of(doc_id), data)

    def set_meta(self, doc_id: str, meta: Mapping[str, str | None] | None) -> None:
        """Replace (or with ``None`` remove) a document's entry in the metadata file;
        the whole file is written again under a temporary name and renamed."""
        data = self.metadata()
        if meta is None:
            data.pop(doc_id, None)
        else:
            data[doc_id] = {k: meta.get(k) for k in META_FIELDS}
        text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        _atomic_write(self.folder / self.metadata_name, text.encode("utf-8"))

    def remove(self, doc_id: str) -> None:
        self.path_of(doc_id).unlink(missing_ok=True)

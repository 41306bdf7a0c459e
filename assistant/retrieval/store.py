"""The Chroma side of the index: chunk vectors plus a per-document manifest.

The manifest lives in Chroma too (a small second collection), so app replicas that
share one ``chroma run`` server see the same committed state without sharing files.

Why a manifest at all: ingest writes a changed document's new chunks *before* it
commits the document's new hash and only then deletes the old chunks. Readers only
trust chunks whose ``doc_hash`` matches the manifest, so an ingest killed at any
point leaves the previous index answering, and the next run converges on exactly
the chunk set an uninterrupted run would have produced.

This is the only module that knows Chroma (a test holds every other module to it):
callers get typed methods (chunks, sentence vectors, the manifest, filters translated by
:func:`chroma_where`, the id formats of :func:`chunk_id` and :class:`SentenceRecord`),
never a collection, so a change of vector store or schema stays in this file.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from assistant.errors import IndexMismatchError, IndexUnavailableError, StoreUnavailableError
from assistant.retrieval.filters import Filters
from assistant.types import Chunk

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

    from assistant.config import Settings

SCHEMA_VERSION = 1
_PAGE = 500
# Characters of the document hash inside chunk and sentence ids: enough to tell versions
# apart, short enough to keep ids readable.
ID_HASH_CHARS = 12


def chunk_id(doc_id: str, doc_hash: str, ordinal: int) -> str:
    """Deterministic ids make re-runs idempotent and crash recovery exact."""
    return f"{doc_id}#{doc_hash[:ID_HASH_CHARS]}-{ordinal:04d}"


@dataclass(frozen=True)
class DocRecord:
    """A committed document: its content hash and what a citation shows."""

    doc_id: str
    doc_hash: str
    n_chunks: int
    title: str
    municipality: str | None = None
    date: str | None = None
    url: str | None = None
    source: str = ""
    format: str = ""

    def to_metadata(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class SentenceRecord:
    """A sentence vector lets the extractive answerer rank sentences without embedding
    them at question time (tens of sentences would cost seconds on a CPU)."""

    doc_id: str
    doc_hash: str
    start: int  # offsets into the cleaned document text, as for chunks
    end: int
    text: str

    @property
    def sentence_id(self) -> str:
        return f"{self.doc_id}#{self.doc_hash[:ID_HASH_CHARS]}@{self.start}-{self.end}"

    @staticmethod
    def parse_id(sentence_id: str) -> tuple[str, str]:
        """(doc_id, hash prefix) of a :attr:`sentence_id`; doc ids may contain ``#``."""
        doc_id, _, rest = sentence_id.rpartition("#")
        return doc_id, rest[:ID_HASH_CHARS]

    def to_metadata(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "doc_hash": self.doc_hash, "start": self.start,
                "end": self.end}


def make_client(settings: Settings) -> ClientAPI:
    """Embedded persistent Chroma by default; a Chroma server when a URL is set."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        if not url.hostname:
            raise IndexUnavailableError(
                f"ASSISTANT_CHROMA_URL={settings.chroma_url!r} is not a URL; "
                "use e.g. http://127.0.0.1:8000"
            )
        try:
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        except Exception as exc:  # chromadb says "Could not connect …" as a ValueError
            raise StoreUnavailableError(
                f"Chroma-servern på {settings.chroma_url} svarar inte. Starta den "
                "(chroma run --path INDEXKATALOG) eller rätta ASSISTANT_CHROMA_URL."
            ) from exc
    path = Path(settings.index_dir) / "chroma"
    try:
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:  # read-only or missing directory, a broken database file
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise IndexUnavailableError(
            f"Indexkatalogen {path} går inte att öppna ({reason}). Kontrollera att den "
            "finns och är skrivbar, sätt ASSISTANT_INDEX_DIR, eller bygg om: assistant ingest"
        ) from exc


def _unreachable(exc: BaseException) -> bool:
    """Whether an exception means the store did not answer (as opposed to a bug): a
    connection or timeout error on the way to a Chroma server, or Chroma's own report
    of an internal failure (a locked or failing disk under the embedded index)."""
    import httpx
    from chromadb.errors import InternalError

    return isinstance(exc, (httpx.TransportError, ConnectionError, TimeoutError,
                            InternalError))


@contextlib.contextmanager
def reachable() -> Iterator[None]:
    """Turn "the store does not answer" into :class:`StoreUnavailableError` (503 and a
    readable message upstream), whichever call it happens in."""
    try:
        yield
    except IndexUnavailableError:
        raise
    except Exception as exc:
        if _unreachable(exc):
            raise StoreUnavailableError() from exc
        raise


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with reachable():
            return method(*args, **kwargs)

    return wrapper


class ChromaStore:
    """The index in Chroma. Every public method that talks to Chroma raises
    :class:`StoreUnavailableError` when it does not answer."""

    def __init__(self, client: ClientAPI, name: str) -> None:
        self._client = client
        self.name = name
        self._chunks: Collection | None = None
        self._docs: Collection | None = None
        self._sentences: Collection | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ChromaStore:
        return cls(make_client(settings), settings.collection)

    # -- collections -----------------------------------------------------------------

    def heartbeat(self) -> None:
        """Raise :class:`StoreUnavailableError` unless the store answers right now."""
        with reachable():
            self._client.heartbeat()

    def _names(self) -> set[str]:
        return {c if isinstance(c, str) else c.name for c in self._client.list_collections()}

    def _existing(self, name: str, names: set[str] | None = None) -> Collection | None:
        """``names`` saves the listing round-trip when several collections are looked up."""
        if name not in (self._names() if names is None else names):
            return None
        return self._client.get_collection(name, embedding_function=None)

    @property
    def docs_name(self) -> str:
        return f"{self.name}-docs"

    @property
    def sentences_name(self) -> str:
        return f"{self.name}-sentences"

    def exists(self) -> bool:
        return self._existing(self.name) is not None

    def open(self, model: str) -> None:
        """Open an existing index for reading, refusing one built with another model."""
        names = self._names()
        chunks = self._existing(self.name, names)
        docs = self._existing(self.docs_name, names)
        sentences = self._existing(self.sentences_name, names)
        if chunks is None or docs is None or sentences is None:
            raise IndexUnavailableError("Indexet saknas. Bygg det med: assistant ingest")
        self._check_model(chunks, model)
        self._chunks, self._docs, self._sentences = chunks, docs, sentences

    def create_or_open(self, model: str, dimension: Callable[[], int]) -> None:
        """Open for writing; a fresh index records the model and dimension it holds.

        ``dimension`` is only called for a new index: probing costs an embedding call,
        and a re-run over an unchanged corpus must embed nothing.
        """
        chunks = self._existing(self.name)
        if chunks is not None:
            self._check_model(chunks, model)
        else:
            dim = dimension()
            chunks = self._client.create_collection(
                self.name,
                embedding_function=None,  # never Chroma's downloader
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embedding_model": model, "embedding_dim": dim,
                          "schema": SCHEMA_VERSION},
            )
        self._chunks = chunks
        self._docs = self._client.get_or_create_collection(
            self.docs_name, embedding_function=None
        )
        self._sentences = self._client.get_or_create_collection(
            self.sentences_name, embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
        )

    def drop(self) -> None:
        existing = self._names()
        for name in (self.name, self.docs_name, self.sentences_name):
            if name in existing:
                self._client.delete_collection(name)
        self._chunks = self._docs = self._sentences = None

    def _check_model(self, chunks: Collection, model: str) -> None:
        meta = chunks.metadata or {}
        have_model, have_dim = meta.get("embedding_model"), meta.get("embedding_dim")
        if have_model != model:
            raise IndexMismatchError(
                f"Indexet byggdes med {have_model} ({have_dim} dim) men inställningen är "
                f"{model}. Bygg om indexet: assistant ingest --rebuild"
            )

    # Raw collections stay inside this class: callers get typed methods below.

    @staticmethod
    def _opened(collection: Collection | None) -> Collection:
        if collection is None:
            raise IndexUnavailableError("Indexet är inte öppnat.")
        return collection

    @property
    def _chunk_col(self) -> Collection:
        return self._opened(self._chunks)

    @property
    def _doc_col(self) -> Collection:
        return self._opened(self._docs)

    @property
    def _sentence_col(self) -> Collection:
        return self._opened(self._sentences)

    def index_info(self) -> dict[str, Any]:
        """What the index records about itself: ``embedding_model``, ``embedding_dim``,
        ``schema``."""
        return dict(self._chunk_col.metadata or {})

    @property
    def model(self) -> str:
        return str(self.index_info().get("embedding_model"))

    # -- manifest --------------------------------------------------------------------

    def manifest(self) -> dict[str, DocRecord]:
        got = self._doc_col.get(include=["metadatas"])
        records: dict[str, DocRecord] = {}
        for doc_id, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
            fields = {k: meta.get(k) for k in DocRecord.__dataclass_fields__}
            fields["doc_id"] = doc_id
            records[doc_id] = DocRecord(**fields)  # type: ignore[arg-type]
        return records

    def commit_doc(self, record: DocRecord) -> None:
        # Chroma needs a vector per record; the manifest is looked up by id only.
        self._doc_col.upsert(ids=[record.doc_id], embeddings=np.ones((1, 1), dtype=np.float32),
                         metadatas=[record.to_metadata()])

    def forget_doc(self, doc_id: str) -> None:
        self._doc_col.delete(ids=[doc_id])

    # -- chunks ----------------------------------------------------------------------

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """The chunk ids among ``ids`` that the index holds."""
        return _existing(self._chunk_col, ids)

    def existing_sentence_ids(self, ids: Sequence[str]) -> set[str]:
        """The sentence ids among ``ids`` that the index holds."""
        return _existing(self._sentence_col, ids)

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        self._chunk_col.upsert(
            ids=[c.chunk_id for c in chunks],
            embeddings=[list(v) for v in vectors],  # type: ignore[arg-type]
            documents=[c.text for c in chunks],
            metadatas=[c.to_metadata() for c in chunks],
        )

    def upsert_sentences(self, sentences: Sequence[SentenceRecord],
                         vectors: Sequence[Sequence[float]]) -> None:
        self._sentence_col.upsert(
            ids=[s.sentence_id for s in sentences],
            embeddings=[list(v) for v in vectors],  # type: ignore[arg-type]
            metadatas=[s.to_metadata() for s in sentences],
        )

    def sentence_vectors(self, chunks: Sequence[Chunk]) -> list[tuple[str, int, int, list[float]]]:
        """(doc_id, start, end, vector) of the sentences inside the given chunks."""
        clauses = [{"$and": [{"doc_id": c.doc_id}, {"doc_hash": c.doc_hash},
                             {"start": {"$gte": c.start}}, {"end": {"$lte": c.end}}]}
                   for c in chunks]
        if not clauses:
            return []
        where: Any = clauses[0] if len(clauses) == 1 else {"$or": clauses}
        got = self._sentence_col.get(where=where, include=["metadatas", "embeddings"])
        out = []
        for meta, vector in zip(got["metadatas"] or [], got["embeddings"] if got["embeddings"]
                                is not None else [], strict=True):
            out.append((str(meta["doc_id"]), int(meta["start"]), int(meta["end"]),  # type: ignore[arg-type]
                        [float(x) for x in vector]))
        return out

    def sentence_sample(self, limit: int) -> np.ndarray:
        """Up to ``limit`` sentence vectors (rows), for corpus-wide statistics."""
        got = self._sentence_col.get(include=["embeddings"], limit=limit)
        return np.asarray(got["embeddings"] if got["embeddings"] is not None else [],
                          dtype=np.float64)

    def sentence_count(self) -> int:
        return self._sentence_col.count()

    def delete_ids(self, ids: Iterable[str]) -> None:
        """Delete chunks by id."""
        _delete(self._chunk_col, ids)

    def all_ids(self) -> list[str]:
        """Every chunk id, committed or not."""
        return _all_ids(self._chunk_col)

    def sentence_ids(self) -> list[str]:
        """Every sentence id, current or not."""
        return _all_ids(self._sentence_col)

    def prune(self, manifest: dict[str, DocRecord]) -> None:
        """Delete the chunks and sentences of documents, or document versions, not in
        ``manifest``: what an interrupted or superseded ingest left behind."""
        live = {chunk_id(r.doc_id, r.doc_hash, i)
                for r in manifest.values() for i in range(r.n_chunks)}
        self.delete_ids([cid for cid in self.all_ids() if cid not in live])
        hashes = {r.doc_id: r.doc_hash[:ID_HASH_CHARS] for r in manifest.values()}

        def stale(sentence_id: str) -> bool:
            doc_id, doc_hash = SentenceRecord.parse_id(sentence_id)
            return hashes.get(doc_id) != doc_hash

        _delete(self._sentence_col, [sid for sid in self.sentence_ids() if stale(sid)])

    def document_chunks(self, record: DocRecord) -> list[Chunk]:
        """The chunks of the committed version of one document, in order."""
        got = self._chunk_col.get(
            where={"$and": [{"doc_id": record.doc_id}, {"doc_hash": record.doc_hash}]},
            include=["documents", "metadatas"])
        chunks = (Chunk.from_record(cid, text or "", dict(meta))
                  for cid, text, meta in zip(got["ids"], got["documents"] or [],
                                             got["metadatas"] or [], strict=True))
        return sorted(chunks, key=lambda c: c.ordinal)

    def stored_chunks(self) -> Iterator[Chunk]:
        """Every chunk the collection holds, committed or not, in storage order (for
        consistency checks; readers want :meth:`live_chunks`)."""
        offset = 0
        while True:
            got = self._chunk_col.get(include=["documents", "metadatas"],
                                      limit=_PAGE, offset=offset)
            for cid, text, meta in zip(got["ids"], got["documents"] or [],
                                       got["metadatas"] or [], strict=True):
                yield Chunk.from_record(cid, text or "", dict(meta))
            if len(got["ids"]) < _PAGE:
                return
            offset += _PAGE

    def live_chunks(self, manifest: dict[str, DocRecord] | None = None) -> list[Chunk]:
        """Every committed chunk, in document order: the source of the lexical index."""
        manifest = self.manifest() if manifest is None else manifest
        live = (c for c in self.stored_chunks() if _is_live(c, manifest))
        return sorted(live, key=lambda c: (c.doc_id, c.ordinal))

    def query(
        self,
        vector: Sequence[float],
        n: int,
        filters: Filters | None = None,
        manifest: dict[str, DocRecord] | None = None,
    ) -> list[tuple[Chunk, float]]:
        """Nearest chunks with cosine similarity; uncommitted chunks are skipped.

        ``filters`` pre-filter by municipality and document inside Chroma; dates are not
        translated (callers check them with :meth:`Filters.matches`)."""
        manifest = self.manifest() if manifest is None else manifest
        # Over-fetch a little: stale chunks of an interrupted ingest are filtered below.
        # No count() first: Chroma caps n_results at the collection size itself (an empty
        # collection answers with no ids), and the extra round-trip costs a request per
        # question against a Chroma server.
        got = self._chunk_col.query(
            query_embeddings=[list(vector)],  # type: ignore[arg-type]
            n_results=n + 10,
            where=chroma_where(filters),
            include=["documents", "metadatas", "distances"],
        )
        out: list[tuple[Chunk, float]] = []
        for cid, text, meta, dist in zip(got["ids"][0], (got["documents"] or [[]])[0],
                                         (got["metadatas"] or [[]])[0],
                                         (got["distances"] or [[]])[0], strict=True):
            chunk = Chunk.from_record(cid, text or "", dict(meta))
            if _is_live(chunk, manifest):
                out.append((chunk, 1.0 - float(dist)))
        return out[:n]

    def stats(self) -> dict[str, Any]:
        manifest = self.manifest()
        return {"documents": len(manifest), "chunks": sum(r.n_chunks for r in manifest.values()),
                "embedding_model": self.model}


for _name in ("exists", "open", "create_or_open", "index_info", "manifest", "commit_doc",
              "forget_doc", "existing_ids", "existing_sentence_ids", "upsert",
              "upsert_sentences", "sentence_vectors", "sentence_sample", "sentence_count",
              "delete_ids", "all_ids", "sentence_ids", "prune", "document_chunks",
              "live_chunks", "query", "stats"):
    setattr(ChromaStore, _name, _guarded(getattr(ChromaStore, _name)))


def _is_live(chunk: Chunk, manifest: dict[str, DocRecord]) -> bool:
    record = manifest.get(chunk.doc_id)
    return record is not None and record.doc_hash == chunk.doc_hash



def chroma_where(filters: Filters | None) -> dict[str, Any] | None:
    """The Chroma ``where`` pre-filter for ``filters`` (dates are checked afterwards)."""
    if filters is None:
        return None
    clauses: list[dict[str, Any]] = []
    if filters.municipality:
        clauses.append({"municipality": filters.municipality})
    if filters.doc_id:
        clauses.append({"doc_id": filters.doc_id})
    if filters.exclude_doc_ids:
        clauses.append({"doc_id": {"$nin": list(filters.exclude_doc_ids)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _existing(collection: Collection, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), _PAGE):
        found.update(collection.get(ids=list(ids[start : start + _PAGE]), include=[])["ids"])
    return found


def _delete(collection: Collection, ids: Iterable[str]) -> None:
    batch = list(ids)
    for start in range(0, len(batch), _PAGE):
        collection.delete(ids=batch[start : start + _PAGE])


def _all_ids(collection: Collection) -> list[str]:
    out: list[str] = []
    offset = 0
    while True:
        got = collection.get(include=[], limit=_PAGE, offset=offset)
        out.extend(got["ids"])
        if len(got["ids"]) < _PAGE:
            return out
        offset += _PAGE


@dataclass(frozen=True)
class ScratchHit:
    """One nearest neighbour of a :class:`ScratchIndex` query."""

    id: str
    text: str
    metadata: dict[str, Any]
    similarity: float  # cosine similarity, not distance


class ScratchIndex:
    """A throwaway in-memory vector collection (the eval baseline's tutorial index).

    Lives here so this module stays the only one that knows Chroma. The ephemeral client
    is shared process-wide by Chroma, hence a unique collection name per index; nothing
    touches the persistent index.
    """

    def __init__(self, prefix: str = "scratch") -> None:
        import uuid

        import chromadb
        from chromadb.config import Settings as ChromaSettings

        self._client: ClientAPI | None = chromadb.EphemeralClient(
            settings=ChromaSettings(anonymized_telemetry=False))
        self._collection: Collection | None = self._client.create_collection(
            f"{prefix}-{uuid.uuid4().hex}",
            embedding_function=None,  # never Chroma's default (it downloads a model)
            configuration={"hnsw": {"space": "cosine"}},
        )

    def add(self, ids: Sequence[str], vectors: Sequence[Sequence[float]], texts: Sequence[str],
            metadatas: Sequence[dict[str, Any]]) -> None:
        self._opened().add(
            ids=list(ids),
            embeddings=[list(map(float, v)) for v in vectors],  # type: ignore[arg-type]
            documents=list(texts),
            metadatas=list(metadatas),
        )

    def query(self, vector: Sequence[float], n: int) -> list[ScratchHit]:
        got = self._opened().query(
            query_embeddings=[list(map(float, vector))],  # type: ignore[arg-type]
            n_results=n,
            include=["documents", "metadatas", "distances"],
        )
        return [ScratchHit(str(cid), text or "", dict(meta), 1.0 - float(dist))
                for cid, text, meta, dist in zip(
                    got["ids"][0], (got["documents"] or [[]])[0],
                    (got["metadatas"] or [[]])[0], (got["distances"] or [[]])[0], strict=True)]

    def _opened(self) -> Collection:
        if self._collection is None:
            raise IndexUnavailableError("Det tillfälliga indexet är stängt.")
        return self._collection

    def close(self) -> None:
        """Drop the collection so repeated runs in one process do not pile up."""
        if self._client is not None and self._collection is not None:
            with contextlib.suppress(Exception):  # already gone: nothing to clean up
                self._client.delete_collection(self._collection.name)
        self._collection = None
        self._client = None

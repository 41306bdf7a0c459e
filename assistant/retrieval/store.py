"""The Chroma side of the index: chunk vectors, sentence vectors per passage, a
per-document manifest, the index generation and the sentence statistics.

The manifest lives in Chroma too (a small second collection), so app replicas that
share one ``chroma run`` server see the same committed state without sharing files.

Why a manifest at all: ingest writes a changed document's new chunks *before* it
commits the document's new hash and only then deletes the old chunks. Readers only
trust chunks whose ``doc_hash`` matches the manifest, so an ingest killed at any
point leaves the previous index answering, and the next run converges on exactly
the chunk set an uninterrupted run would have produced.

Two collections (schema 2):

* ``<name>``: one record per passage: its vector (HNSW, cosine), its text and its
  sentence pack as metadata. The text is not a Chroma document, because Chroma indexes
  documents for full-text search (never used here; it cut upserts to a fifth). The
  pack holds the passage's sentence spans and vectors (float16,
  :mod:`assistant.retrieval.sentences`): read by the passage's id, never searched by
  neighbour, so never in a graph of their own (at 450k sentences that graph cost
  0.9 GiB to load and a metadata ``where`` scan 12 s per answer), and written in the
  same record as the passage, so a passage and its sentences are stored or lost
  together;
* ``<name>-docs``: the manifest, one record per document, plus two reserved records: the
  index state (generation, bumped by every ingest that changes something, which servers
  poll) and the sentence statistics. Chroma needs a vector per record; these get a
  1-d one derived from the id (distinct values keep its graph well-formed).

This is the only module that knows Chroma (a test holds every other module to it):
callers get typed methods (chunks, sentence packs, the manifest, the generation, filters
translated by :func:`chroma_where`, the id format of :func:`chunk_id`), never a
collection, so a change of vector store or schema stays in this file.
"""

from __future__ import annotations

import contextlib
import functools
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from assistant.errors import IndexMismatchError, IndexUnavailableError, StoreUnavailableError
from assistant.retrieval.filters import Filters
from assistant.retrieval.sentences import SentenceStats, pack, unpack
from assistant.types import Chunk

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

    from assistant.config import Settings

SCHEMA_VERSION = 2
_PAGE = 1000  # records per Chroma call (below its batch limit)
_STATE_ID = "//state"  # reserved ids: a document id is a relative path, never "//…"
_STATS_ID = "//stats"
_PACK = "sentences"  # metadata key of a passage's sentence pack
# Characters of the document hash inside chunk ids: enough to tell versions apart,
# short enough to keep ids readable.
ID_HASH_CHARS = 12


def chunk_id(doc_id: str, doc_hash: str, ordinal: int) -> str:
    """Deterministic ids make re-runs idempotent and crash recovery exact, and let any
    reader compute a document version's chunk ids from its manifest record."""
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

    @property
    def chunk_ids(self) -> list[str]:
        """The ids of this version's passages: computable, so no scan ever finds them."""
        return [chunk_id(self.doc_id, self.doc_hash, i) for i in range(self.n_chunks)]


@dataclass(frozen=True)
class SentencePack:
    """The sentences inside one passage: document-wide spans and their vectors.

    A sentence vector lets the extractive answerer rank sentences without embedding
    them at question time (tens of sentences would cost seconds on a CPU)."""

    chunk_id: str
    doc_id: str
    doc_hash: str
    spans: list[tuple[int, int]]
    vectors: np.ndarray  # one row per span


@dataclass(frozen=True)
class IndexState:
    """``generation`` changes with every ingest that changed the index; ``dirty`` marks
    an ingest in progress (or killed), after which the statistics are recomputed."""

    generation: int = 0
    dirty: bool = False


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


def _key_vectors(ids: Sequence[str]) -> np.ndarray:
    """A 1-d vector per id for records that are only ever read by id."""
    return np.asarray([[zlib.crc32(i.encode("utf-8")) / 2**32] for i in ids], dtype=np.float32)


def _pages(items: Sequence[Any], size: int = _PAGE) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ChromaStore:
    """The index in Chroma. Every public method that talks to Chroma raises
    :class:`StoreUnavailableError` when it does not answer."""

    def __init__(self, client: ClientAPI, name: str) -> None:
        self._client = client
        self.name = name
        self._chunks: Collection | None = None
        self._docs: Collection | None = None

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

    def exists(self) -> bool:
        return self._existing(self.name) is not None

    def outdated(self) -> bool:
        """Whether an index exists in a format older than :data:`SCHEMA_VERSION` (it
        cannot be read and must be built again)."""
        chunks = self._existing(self.name)
        return chunks is not None and (chunks.metadata or {}).get("schema") != SCHEMA_VERSION

    def open(self, model: str) -> None:
        """Open an existing index for reading, refusing one built with another model."""
        names = self._names()
        chunks = self._existing(self.name, names)
        docs = self._existing(self.docs_name, names)
        if chunks is not None:  # another model or format says more than "missing"
            self._check_model(chunks, model)
        if chunks is None or docs is None:
            raise IndexUnavailableError("Indexet saknas. Bygg det med: assistant ingest")
        self._chunks, self._docs = chunks, docs

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

    def drop(self) -> None:
        existing = self._names()
        for name in (self.name, self.docs_name):
            if name in existing:
                self._client.delete_collection(name)
        self._chunks = self._docs = None

    def _check_model(self, chunks: Collection, model: str) -> None:
        meta = chunks.metadata or {}
        have_model, have_dim = meta.get("embedding_model"), meta.get("embedding_dim")
        if have_model != model:
            raise IndexMismatchError(
                f"Indexet byggdes med {have_model} ({have_dim} dim) men inställningen är "
                f"{model}. Bygg om indexet: assistant ingest --rebuild"
            )
        if meta.get("schema") != SCHEMA_VERSION:
            raise IndexMismatchError(
                f"Indexet har ett äldre format (schema {meta.get('schema')}, nu "
                f"{SCHEMA_VERSION}). Bygg om indexet: assistant ingest --rebuild"
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

    def index_info(self) -> dict[str, Any]:
        """What the index records about itself: ``embedding_model``, ``embedding_dim``,
        ``schema``."""
        return dict(self._chunk_col.metadata or {})

    @property
    def model(self) -> str:
        return str(self.index_info().get("embedding_model"))

    # -- manifest, state and statistics -------------------------------------------------

    def manifest(self) -> dict[str, DocRecord]:
        got = self._doc_col.get(include=["metadatas"])
        records: dict[str, DocRecord] = {}
        for doc_id, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
            if doc_id.startswith("//"):
                continue
            fields = {k: meta.get(k) for k in DocRecord.__dataclass_fields__}
            fields["doc_id"] = doc_id
            records[doc_id] = DocRecord(**fields)  # type: ignore[arg-type]
        return records

    def commit_docs(self, records: Sequence[DocRecord]) -> None:
        """One write for a whole batch of documents (a write per document cost 17 % of
        ingest at 10k documents)."""
        for page in _pages(records):
            ids = [r.doc_id for r in page]
            self._doc_col.upsert(ids=ids, embeddings=_key_vectors(ids),
                             metadatas=[r.to_metadata() for r in page])

    def commit_doc(self, record: DocRecord) -> None:
        self.commit_docs([record])

    def forget_docs(self, doc_ids: Sequence[str]) -> None:
        for page in _pages(doc_ids):
            self._doc_col.delete(ids=list(page))

    def forget_doc(self, doc_id: str) -> None:
        self.forget_docs([doc_id])

    def state(self) -> IndexState:
        """One small read by id: cheap enough for every server to poll every second."""
        got = self._doc_col.get(ids=[_STATE_ID], include=["metadatas"])
        if not got["ids"]:
            return IndexState()
        meta = (got["metadatas"] or [{}])[0] or {}
        return IndexState(int(meta.get("generation", 0)),  # type: ignore[arg-type]
                          bool(meta.get("dirty", False)))

    def set_state(self, state: IndexState) -> None:
        self._doc_col.upsert(ids=[_STATE_ID], embeddings=_key_vectors([_STATE_ID]),
                         metadatas=[{"generation": state.generation, "dirty": state.dirty}])

    def load_stats(self) -> SentenceStats | None:
        got = self._doc_col.get(ids=[_STATS_ID], include=["metadatas"])
        if not got["ids"]:
            return None
        meta = (got["metadatas"] or [{}])[0] or {}
        return SentenceStats.from_blob(str(meta["blob"]))

    def save_stats(self, stats: SentenceStats) -> None:
        self._doc_col.upsert(ids=[_STATS_ID], embeddings=_key_vectors([_STATS_ID]),
                         metadatas=[{"blob": stats.to_blob()}])

    # -- chunks and their sentence packs ---------------------------------------------------

    def warm(self) -> None:
        """Load the vector index into memory now rather than at the first question.

        Chroma reads a collection's HNSW graph on its first query: 1.5 s of CPU at
        30,000 documents, in native code that releases the GIL, so it can run on a
        thread while the process imports and loads the rest (see
        :class:`assistant.retrieval.hybrid.Searcher`)."""
        dim = int(self.index_info().get("embedding_dim") or 0)
        if dim > 0:
            self._chunk_col.query(query_embeddings=np.eye(1, dim, dtype=np.float32),
                                  n_results=1, include=[])

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """The chunk ids among ``ids`` that the index holds."""
        return _existing(self._chunk_col, ids)

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]] | np.ndarray,
               packs: Sequence[SentencePack] | None = None) -> None:
        """Passages with their vectors and, when given, their sentence packs: one record
        each, so a passage and its sentences are stored (or lost) together."""
        matrix = np.asarray(vectors, dtype=np.float32)
        for start in range(0, len(chunks), _PAGE):
            page = chunks[start : start + _PAGE]
            metas: list[Any] = [{**c.to_metadata(), "text": c.text} for c in page]
            if packs is not None:
                for meta, p in zip(metas, packs[start : start + _PAGE], strict=True):
                    meta[_PACK] = pack(p.spans, p.vectors)
            self._chunk_col.upsert(ids=[c.chunk_id for c in page],
                                   embeddings=matrix[start : start + _PAGE], metadatas=metas)

    def sentence_packs(self, chunk_ids: Sequence[str]) -> dict[str, SentencePack]:
        """The sentence packs of these passages, by id: one round-trip, whatever the
        corpus size."""
        out: dict[str, SentencePack] = {}
        for page in _pages(chunk_ids):
            got = self._chunk_col.get(ids=list(page), include=["metadatas"])
            for cid, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
                if _PACK in meta:
                    spans, vectors = unpack(str(meta[_PACK]))
                    out[cid] = SentencePack(cid, str(meta["doc_id"]), str(meta["doc_hash"]),
                                            spans, vectors)
        return out

    def sentence_vectors(self, chunks: Sequence[Chunk]) -> list[tuple[str, int, int, np.ndarray]]:
        """(doc_id, start, end, vector) of the sentences inside the given chunks."""
        packs = self.sentence_packs([c.chunk_id for c in chunks])
        return [(p.doc_id, s, e, p.vectors[i]) for p in packs.values()
                for i, (s, e) in enumerate(p.spans)]

    def get_chunks(self, ids: Sequence[str]) -> list[Chunk]:
        """Chunks by id, in the order asked (ids the index lacks are left out)."""
        found: dict[str, Chunk] = {}
        for page in _pages(ids):
            got = self._chunk_col.get(ids=list(page), include=["metadatas"])
            for cid, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
                found[cid] = _chunk(cid, meta)
        return [found[i] for i in ids if i in found]

    def document_chunks(self, record: DocRecord) -> list[Chunk]:
        """The chunks of the committed version of one document, in order."""
        return self.get_chunks(record.chunk_ids)

    def delete_ids(self, ids: Iterable[str]) -> None:
        """Delete chunks (with their sentence packs) by id."""
        for page in _pages(list(ids)):
            self._chunk_col.delete(ids=list(page))

    def all_ids(self) -> list[str]:
        """Every chunk id, committed or not, in one ids-only call (offset paging re-scans
        the table per page: 81 % of an unchanged re-ingest at 10k documents)."""
        return list(self._chunk_col.get(include=[])["ids"])

    def prune(self, manifest: dict[str, DocRecord]) -> None:
        """Delete the chunks (with their sentence packs) of documents, or document
        versions, not in ``manifest``: what an interrupted or superseded ingest left
        behind. One ids-only read, however large the index."""
        live = {cid for r in manifest.values() for cid in r.chunk_ids}
        self.delete_ids([i for i in self.all_ids() if i not in live])

    def stored_chunks(self) -> Iterator[Chunk]:
        """Every chunk the collection holds, committed or not (for consistency checks;
        readers want :meth:`live_chunks`)."""
        ids = self.all_ids()
        for page in _pages(ids):
            yield from self.get_chunks(page)

    def live_chunks(self, manifest: dict[str, DocRecord] | None = None) -> list[Chunk]:
        """Every committed chunk, in document order, fetched by id from the manifest."""
        return [c for page in self.live_chunk_pages(manifest) for c in page]

    def live_chunk_pages(self, manifest: dict[str, DocRecord] | None = None
                         ) -> Iterator[list[Chunk]]:
        """:meth:`live_chunks` a page at a time, for callers that need not hold them all."""
        manifest = self.manifest() if manifest is None else manifest
        ids = [cid for doc_id in sorted(manifest) for cid in manifest[doc_id].chunk_ids]
        for page in _pages(ids):
            yield self.get_chunks(page)

    def query(
        self,
        vector: Sequence[float],
        n: int,
        filters: Filters | None = None,
        manifest: dict[str, DocRecord] | None = None,
        fetch: Callable[[Sequence[str]], list[Chunk]] | None = None,
    ) -> list[tuple[Chunk, float]]:
        """Nearest chunks with cosine similarity; uncommitted chunks are skipped.

        ``filters`` pre-filter by municipality and document inside Chroma; dates are not
        translated (callers check them with :meth:`Filters.matches`). Chroma is asked for
        ids and distances only; the chunks come from ``fetch`` (a server's cache: ids name
        a document version, so a cached chunk is never stale) or :meth:`get_chunks`.
        Reading the metadata with the query cost more than half of its time."""
        manifest = self.manifest() if manifest is None else manifest
        # Over-fetch a little: stale chunks of an interrupted ingest are filtered below.
        # No count() first: Chroma caps n_results at the collection size itself (an empty
        # collection answers with no ids), and the extra round-trip costs a request per
        # question against a Chroma server.
        got = self._chunk_col.query(
            query_embeddings=np.asarray([vector], dtype=np.float32),
            n_results=n + 10,
            where=chroma_where(filters),
            include=["distances"],
        )
        ids = got["ids"][0]
        similarity = {cid: 1.0 - float(dist)
                      for cid, dist in zip(ids, (got["distances"] or [[]])[0], strict=True)}
        chunks = (fetch or self.get_chunks)(ids)
        return [(c, similarity[c.chunk_id]) for c in chunks if _is_live(c, manifest)][:n]

    def stats(self) -> dict[str, Any]:
        manifest = self.manifest()
        return {"documents": len(manifest), "chunks": sum(r.n_chunks for r in manifest.values()),
                "embedding_model": self.model}


def _existing(collection: Collection, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for page in _pages(ids):
        found.update(collection.get(ids=list(page), include=[])["ids"])
    return found


def _chunk(cid: str, meta: Any) -> Chunk:
    fields = dict(meta)
    text = str(fields.pop("text", ""))
    fields.pop(_PACK, None)
    return Chunk.from_record(cid, text, fields)


for _name in ("exists", "outdated", "open", "create_or_open", "index_info", "manifest",
              "commit_docs", "commit_doc", "forget_docs", "forget_doc", "state", "set_state",
              "load_stats", "save_stats", "warm", "existing_ids", "upsert", "sentence_packs",
              "sentence_vectors", "get_chunks", "document_chunks", "delete_ids", "all_ids",
              "prune", "live_chunks", "query", "stats"):
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

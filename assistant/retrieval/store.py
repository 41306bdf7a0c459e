"""The Chroma side of the index: chunk vectors plus a per-document manifest.

The manifest lives in Chroma too (a small second collection), so app replicas that
share one ``chroma run`` server see the same committed state without sharing files.

Why a manifest at all: ingest writes a changed document's new chunks *before* it
commits the document's new hash and only then deletes the old chunks. Readers only
trust chunks whose ``doc_hash`` matches the manifest, so an ingest killed at any
point leaves the previous index answering, and the next run converges on exactly
the chunk set an uninterrupted run would have produced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from assistant.types import Chunk

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

    from assistant.config import Settings

SCHEMA_VERSION = 1
_PAGE = 500


class IndexUnavailableError(RuntimeError):
    """The index is missing or unusable; the message says which command fixes it."""


class IndexMismatchError(IndexUnavailableError):
    pass


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
        return f"{self.doc_id}#{self.doc_hash[:12]}@{self.start}-{self.end}"

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
        return chromadb.HttpClient(
            host=url.hostname,
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
    path = Path(settings.index_dir) / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


class ChromaStore:
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

    @property
    def chunks(self) -> Collection:
        if self._chunks is None:
            raise IndexUnavailableError("Indexet är inte öppnat.")
        return self._chunks

    @property
    def docs(self) -> Collection:
        if self._docs is None:
            raise IndexUnavailableError("Indexet är inte öppnat.")
        return self._docs

    @property
    def sentences(self) -> Collection:
        if self._sentences is None:
            raise IndexUnavailableError("Indexet är inte öppnat.")
        return self._sentences

    @property
    def model(self) -> str:
        return str((self.chunks.metadata or {}).get("embedding_model"))

    # -- manifest --------------------------------------------------------------------

    def manifest(self) -> dict[str, DocRecord]:
        got = self.docs.get(include=["metadatas"])
        records: dict[str, DocRecord] = {}
        for doc_id, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
            fields = {k: meta.get(k) for k in DocRecord.__dataclass_fields__}
            fields["doc_id"] = doc_id
            records[doc_id] = DocRecord(**fields)  # type: ignore[arg-type]
        return records

    def commit_doc(self, record: DocRecord) -> None:
        # Chroma needs a vector per record; the manifest is looked up by id only.
        self.docs.upsert(ids=[record.doc_id], embeddings=np.ones((1, 1), dtype=np.float32),
                         metadatas=[record.to_metadata()])

    def forget_doc(self, doc_id: str) -> None:
        self.docs.delete(ids=[doc_id])

    # -- chunks ----------------------------------------------------------------------

    def existing_ids(self, ids: Sequence[str], collection: Collection | None = None) -> set[str]:
        target = self.chunks if collection is None else collection
        found: set[str] = set()
        for start in range(0, len(ids), _PAGE):
            found.update(target.get(ids=list(ids[start : start + _PAGE]), include=[])["ids"])
        return found

    def upsert(self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        self.chunks.upsert(
            ids=[c.chunk_id for c in chunks],
            embeddings=[list(v) for v in vectors],  # type: ignore[arg-type]
            documents=[c.text for c in chunks],
            metadatas=[c.to_metadata() for c in chunks],
        )

    def upsert_sentences(self, sentences: Sequence[SentenceRecord],
                         vectors: Sequence[Sequence[float]]) -> None:
        self.sentences.upsert(
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
        got = self.sentences.get(where=where, include=["metadatas", "embeddings"])
        out = []
        for meta, vector in zip(got["metadatas"] or [], got["embeddings"] if got["embeddings"]
                                is not None else [], strict=True):
            out.append((str(meta["doc_id"]), int(meta["start"]), int(meta["end"]),  # type: ignore[arg-type]
                        [float(x) for x in vector]))
        return out

    def delete_ids(self, ids: Iterable[str], collection: Collection | None = None) -> None:
        target = self.chunks if collection is None else collection
        batch = list(ids)
        for start in range(0, len(batch), _PAGE):
            target.delete(ids=batch[start : start + _PAGE])

    def all_ids(self, collection: Collection | None = None) -> list[str]:
        target = self.chunks if collection is None else collection
        out: list[str] = []
        offset = 0
        while True:
            got = target.get(include=[], limit=_PAGE, offset=offset)
            out.extend(got["ids"])
            if len(got["ids"]) < _PAGE:
                return out
            offset += _PAGE

    def live_chunks(self, manifest: dict[str, DocRecord] | None = None) -> list[Chunk]:
        """Every committed chunk, in document order: the source of the lexical index."""
        manifest = self.manifest() if manifest is None else manifest
        out: list[Chunk] = []
        offset = 0
        while True:
            got = self.chunks.get(include=["documents", "metadatas"],
                                  limit=_PAGE, offset=offset)
            for cid, text, meta in zip(got["ids"], got["documents"] or [],
                                       got["metadatas"] or [], strict=True):
                chunk = Chunk.from_record(cid, text or "", dict(meta))
                if _is_live(chunk, manifest):
                    out.append(chunk)
            if len(got["ids"]) < _PAGE:
                break
            offset += _PAGE
        return sorted(out, key=lambda c: (c.doc_id, c.ordinal))

    def query(
        self,
        vector: Sequence[float],
        n: int,
        where: dict[str, Any] | None = None,
        manifest: dict[str, DocRecord] | None = None,
    ) -> list[tuple[Chunk, float]]:
        """Nearest chunks with cosine similarity; uncommitted chunks are skipped."""
        manifest = self.manifest() if manifest is None else manifest
        # Over-fetch a little: stale chunks of an interrupted ingest are filtered below.
        # No count() first: Chroma caps n_results at the collection size itself (an empty
        # collection answers with no ids), and the extra round-trip costs a request per
        # question against a Chroma server.
        got = self.chunks.query(
            query_embeddings=[list(vector)],  # type: ignore[arg-type]
            n_results=n + 10,
            where=where,
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


def _is_live(chunk: Chunk, manifest: dict[str, DocRecord]) -> bool:
    record = manifest.get(chunk.doc_id)
    return record is not None and record.doc_hash == chunk.doc_hash


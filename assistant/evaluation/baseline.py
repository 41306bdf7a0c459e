"""The LangChain-tutorial RAG pipeline, as the yardstick every improvement is measured against.

It is what a user would build from the common tutorial: load the files as they
are (no boilerplate cleaning, no metadata), split them with
``RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)``, embed
the chunks with the same embeddings as the assistant (so the comparison measures
the pipeline, not the model) into a throwaway Chroma collection and take the
dense top 4. History is ignored because the tutorial's chain only sees the
question.

It has no generator, so its "answer" is the four passages concatenated: fact
coverage of that text is an upper-ish reference for what an answer built from
those passages could contain, while citation and refusal metrics do not apply
(``generates_answers = False`` makes the harness report them as null).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.history import History
from assistant.retrieval.store import ScratchIndex
from assistant.types import Answer, Source

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from assistant.config import Settings

__all__ = [
    "BASELINE",
    "BASELINE_CHUNK_OVERLAP",
    "BASELINE_CHUNK_SIZE",
    "BASELINE_K",
    "BaselineDocument",
    "TutorialBaseline",
    "load_corpus",
]

BASELINE = "baseline"  # its name in --compare and in reports
BASELINE_CHUNK_SIZE = 1000
BASELINE_CHUNK_OVERLAP = 200
BASELINE_K = 4
DESCRIPTION = (
    "LangChain-handledningens pipeline: RecursiveCharacterTextSplitter 1000/200 tecken, "
    "samma inbäddningar, tät sökning topp 4, ingen rensning, ingen historik; "
    "svaret är de fyra passagerna utan källhänvisningar"
)


@dataclass(frozen=True)
class BaselineDocument:
    doc_id: str
    text: str
    title: str


def load_corpus(
    corpus_dir: Path, sidecar_name: str = "metadata.json"
) -> tuple[list[BaselineDocument], list[tuple[str, str]]]:
    """Every supported file under ``corpus_dir`` as loaded text, plus (id, reason) skips.

    Uses the project's loaders because the tutorial would use a loader for each
    format too, but none of our cleaning: page chrome stays in, as it would for
    a user following the tutorial. Ids are paths relative to the corpus folder,
    the same ids the eval file names.
    """
    from assistant.errors import LoadError
    from assistant.ingest.loaders import SUPPORTED_SUFFIXES, load_document

    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise FileNotFoundError(f"Hittar inte korpusmappen {corpus_dir} (ASSISTANT_CORPUS_DIR)")
    documents: list[BaselineDocument] = []
    skipped: list[tuple[str, str]] = []
    for path in sorted(p for p in corpus_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(corpus_dir)
        doc_id = relative.as_posix()
        if path.name == sidecar_name or any(part.startswith(".") for part in relative.parts):
            continue
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            skipped.append((doc_id, f"unsupported file type {path.suffix or '(none)'}"))
            continue
        try:
            loaded = load_document(path)
        except LoadError as exc:
            skipped.append((doc_id, exc.reason))
            continue
        except OSError as exc:
            skipped.append((doc_id, f"unreadable: {exc.strerror or exc}"))
            continue
        documents.append(BaselineDocument(doc_id, loaded.text, loaded.title_hint or doc_id))
    return documents, skipped


class TutorialBaseline:
    """Answers like the tutorial pipeline, with the same ``ask`` shape as the assistant."""

    mode = BASELINE
    generates_answers = False

    def __init__(
        self,
        embeddings: Embeddings,
        documents: Sequence[BaselineDocument],
        *,
        k: int = BASELINE_K,
        chunk_size: int = BASELINE_CHUNK_SIZE,
        chunk_overlap: int = BASELINE_CHUNK_OVERLAP,
    ) -> None:
        self.embeddings = embeddings
        self.documents = list(documents)
        self.k = k
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.skipped: list[tuple[str, str]] = []
        self.n_chunks = 0
        self.build_seconds = 0.0
        self._index: ScratchIndex | None = None
        self._titles = {doc.doc_id: doc.title for doc in self.documents}

    @classmethod
    def from_settings(
        cls, settings: Settings, embeddings: Embeddings | None = None
    ) -> TutorialBaseline:
        """Build the temporary index from the corpus folder the assistant's index came from."""
        from assistant.retrieval.embeddings import get_embeddings

        documents, skipped = load_corpus(Path(settings.corpus_dir), settings.metadata_file)
        baseline = cls(embeddings or get_embeddings(settings), documents)
        baseline.skipped = skipped
        baseline.build()
        return baseline

    def build(self) -> None:
        """Split, embed and store the corpus in a private in-memory Chroma collection.

        The ephemeral client is shared process-wide by Chroma, hence a unique
        collection name per baseline; nothing touches the persistent index.
        """
        if self._index is not None:
            return
        if not self.documents:
            raise ValueError("Baslinjen hittar inga dokument att läsa in i korpusmappen")
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        started = time.perf_counter()
        splitter = RecursiveCharacterTextSplitter(
            chunk_size=self.chunk_size, chunk_overlap=self.chunk_overlap, add_start_index=True
        )
        pieces = splitter.create_documents(
            [doc.text for doc in self.documents],
            metadatas=[{"doc_id": doc.doc_id} for doc in self.documents],
        )
        texts = [piece.page_content for piece in pieces]
        vectors = self.embeddings.embed_documents(texts)
        index = ScratchIndex("baseline")
        index.add(
            [f"{piece.metadata['doc_id']}#{piece.metadata['start_index']}-{i}"
             for i, piece in enumerate(pieces)],
            vectors,
            texts,
            [{"doc_id": piece.metadata["doc_id"],
              "start_index": int(piece.metadata["start_index"])} for piece in pieces],
        )
        self._index = index
        self.n_chunks = len(pieces)
        self.build_seconds = time.perf_counter() - started

    def stats(self) -> dict[str, Any]:
        from assistant.retrieval.embeddings import model_id

        return {"documents": len(self.documents), "chunks": self.n_chunks,
                "embedding_model": model_id(self.embeddings)}

    def ask(
        self,
        question: str,
        history: History = (),
        k: int | None = None,
        filters: Any = None,
        retriever: Any = None,
    ) -> Answer:
        """Dense top-k over the tutorial chunks; ``history``, filters and retriever are ignored
        because the tutorial pipeline has none of them."""
        self.build()
        assert self._index is not None
        n = k or self.k
        started = time.perf_counter()
        vector = self.embeddings.embed_query(question)
        hits = self._index.query(vector, min(n, self.n_chunks))
        retrieved = time.perf_counter()
        sources: list[Source] = []
        for rank, hit in enumerate(hits, start=1):
            doc_id = str(hit.metadata["doc_id"])
            sources.append(Source(n=rank, id=doc_id, title=self._titles.get(doc_id, doc_id),
                                  municipality=None, date=None, url=None, chunk_id=hit.id,
                                  score=round(hit.similarity, 4), text=hit.text))
        answer_text = "\n\n".join(source.text for source in sources)
        done = time.perf_counter()
        return Answer(
            question=question,
            answer=answer_text,
            refused=False,
            mode=self.mode,
            citations=[],
            sources=sources,
            timings_ms={
                "retrieve": round((retrieved - started) * 1000.0, 2),
                "generate": round((done - retrieved) * 1000.0, 2),
                "total": round((done - started) * 1000.0, 2),
            },
        )

    def close(self) -> None:
        """Drop the temporary collection so repeated runs in one process do not pile up."""
        if self._index is not None:
            self._index.close()
        self._index = None

    def __enter__(self) -> TutorialBaseline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

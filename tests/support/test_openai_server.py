"""The scripted OpenAI server works with the real openai client and langchain_openai."""

from __future__ import annotations

import json
import math
import time

import httpx
import openai
import pytest
from langchain_core.messages import AIMessageChunk
from langchain_openai import ChatOpenAI
from openai.types.chat import ChatCompletionMessageParam
from pydantic import SecretStr

from tests.support.fixtures import closed_port, openai_server  # noqa: F401
from tests.support.openai_server import OpenAIServer, Reply, fake_embedding, start_openai_server

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Vad är skolutveckling?"}]


def _client(server: OpenAIServer, timeout: float = 5.0) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=timeout)


def test_non_streamed_completion(openai_server: OpenAIServer) -> None:  # noqa: F811
    openai_server.script("Skolutveckling är förbättringsarbete.")
    with _client(openai_server) as client:
        result = client.chat.completions.create(model="m", messages=MESSAGES)
    assert result.choices[0].message.content == "Skolutveckling är förbättringsarbete."
    assert result.choices[0].message.role == "assistant"
    assert result.choices[0].finish_reason == "stop"
    assert result.model == "m"
    assert result.usage is not None and result.usage.total_tokens > 0
    assert openai_server.chat_requests[0]["messages"] == MESSAGES
    assert openai_server.requests[0]["path"] == "/v1/chat/completions"
    assert openai_server.requests[0]["headers"]["authorization"] == "Bearer test"


def test_streamed_completion_reassembles(openai_server: OpenAIServer) -> None:  # noqa: F811
    text = "Hej! Här kommer ett svar i flera delar åäö."
    openai_server.script(Reply(text, chunk_size=3), Reply(text, chunk_size=5))
    with _client(openai_server) as client:
        stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        chunks = list(stream)
        with_usage = list(
            client.chat.completions.create(
                model="m",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text
    assert len(chunks) == 2 + math.ceil(len(text) / 3)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)
    assert with_usage[-1].choices == []
    assert with_usage[-1].usage is not None and with_usage[-1].usage.completion_tokens > 0
    assert "".join(c.choices[0].delta.content or "" for c in with_usage if c.choices) == text


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, openai.AuthenticationError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_error_statuses(
    openai_server: OpenAIServer,  # noqa: F811
    status: int,
    error: type[openai.APIStatusError],
) -> None:
    openai_server.script(Reply(status=status, headers={"retry-after": "0"}))
    with _client(openai_server) as client, pytest.raises(error) as info:
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.status_code == status
    assert isinstance(info.value.body, dict) and info.value.body["message"]
    assert info.value.response.headers["retry-after"] == "0"


def test_error_status_on_stream(openai_server: OpenAIServer) -> None:  # noqa: F811
    openai_server.script(Reply("Kvoten är slut.", status=429))
    with _client(openai_server) as client, pytest.raises(openai.RateLimitError, match="Kvoten"):
        client.chat.completions.create(model="m", messages=MESSAGES, stream=True)


def test_delay_longer_than_timeout(openai_server: OpenAIServer) -> None:  # noqa: F811
    openai_server.script(Reply("för sent", delay=5.0), "i tid")
    started = time.monotonic()
    with _client(openai_server, timeout=0.3) as client:
        with pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(model="m", messages=MESSAGES)
        assert time.monotonic() - started < 2.0
        # The server keeps serving other requests while one handler sleeps.
        result = client.chat.completions.create(model="m", messages=MESSAGES)
    assert result.choices[0].message.content == "i tid"


def test_close_does_not_wait_for_sleeping_handler() -> None:
    with start_openai_server() as server:
        server.script(Reply("aldrig", delay=30.0))
        with _client(server, timeout=0.2) as client, pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(model="m", messages=MESSAGES)
        started = time.monotonic()
    assert time.monotonic() - started < 2.0


def test_connection_refused(closed_port: int) -> None:  # noqa: F811
    client = openai.OpenAI(
        base_url=f"http://127.0.0.1:{closed_port}/v1", api_key="test", max_retries=0, timeout=2.0
    )
    with client, pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=MESSAGES)


def test_malformed_replies(openai_server: OpenAIServer) -> None:  # noqa: F811
    openai_server.script(Reply("x", malformed=True), Reply("x", malformed=True))
    with _client(openai_server) as client:
        with pytest.raises(json.JSONDecodeError):
            client.chat.completions.create(model="m", messages=MESSAGES)
        stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(json.JSONDecodeError):
            list(stream)


def test_callable_default_answers_from_prompt(openai_server: OpenAIServer) -> None:  # noqa: F811
    openai_server.default = lambda body: f"Du skrev: {body['messages'][-1]['content']}"
    openai_server.script("först")
    with _client(openai_server) as client:
        first = client.chat.completions.create(model="m", messages=MESSAGES)
        second = client.chat.completions.create(model="m", messages=MESSAGES)
    assert first.choices[0].message.content == "först"
    assert second.choices[0].message.content == "Du skrev: Vad är skolutveckling?"
    assert openai_server.pending == 0


def test_embeddings(openai_server: OpenAIServer) -> None:  # noqa: F811
    texts = ["Skolans utveckling", "Elevhälsa och trygghet", ""]
    with _client(openai_server) as client:
        floats = client.embeddings.create(model="e", input=texts, encoding_format="float")
        default = client.embeddings.create(model="e", input=texts)  # client asks for base64
        single = client.embeddings.create(model="e", input="Skolans utveckling")
        wide = client.embeddings.create(model="e", input="Skolans utveckling", dimensions=16)
    assert [e.index for e in floats.data] == [0, 1, 2]
    assert floats.model == "e"
    for item in floats.data:
        assert len(item.embedding) == 8
        assert math.isclose(math.sqrt(sum(v * v for v in item.embedding)), 1.0, rel_tol=1e-6)
    for a, b in zip(floats.data, default.data, strict=True):
        assert b.embedding == pytest.approx(a.embedding, abs=1e-6)
    assert single.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-6)
    assert floats.data[0].embedding == pytest.approx(fake_embedding("Skolans utveckling"))
    assert len(wide.data[0].embedding) == 16
    bodies = openai_server.embedding_requests
    assert [b.get("encoding_format") for b in bodies] == ["float", "base64", "base64", "base64"]


def test_embedding_errors_are_scripted_separately(openai_server: OpenAIServer) -> None:  # noqa: F811
    openai_server.script_embeddings(Reply(status=500))
    openai_server.script("svar")
    with _client(openai_server) as client:
        with pytest.raises(openai.InternalServerError):
            client.embeddings.create(model="e", input="x")
        assert len(client.embeddings.create(model="e", input="x").data) == 1
        chat = client.chat.completions.create(model="m", messages=MESSAGES)
    assert chat.choices[0].message.content == "svar"


def test_models_and_unknown_path(openai_server: OpenAIServer) -> None:  # noqa: F811
    with _client(openai_server) as client:
        models = client.models.list()
    assert [m.id for m in models.data] == ["test-model"]
    response = httpx.post(f"{openai_server.base_url}/nope", json={})
    assert response.status_code == 404
    assert response.json()["error"]["message"]


def test_langchain_invoke_and_stream(openai_server: OpenAIServer) -> None:  # noqa: F811
    openai_server.script("Ett helt svar.", Reply("Ett strömmat svar.", chunk_size=2))
    llm = ChatOpenAI(
        base_url=openai_server.base_url,
        api_key=SecretStr("test"),
        model="m",
        max_retries=0,
        timeout=5,
    )
    message = llm.invoke("Hej")
    assert message.content == "Ett helt svar."
    chunks = list(llm.stream("Hej igen"))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert "".join(str(c.content) for c in chunks) == "Ett strömmat svar."
    bodies = openai_server.chat_requests
    assert bodies[0]["messages"] == [{"role": "user", "content": "Hej"}]
    assert bodies[0]["model"] == "m"
    assert bodies[1]["stream"] is True


def test_langchain_errors(openai_server: OpenAIServer) -> None:  # noqa: F811
    openai_server.script(Reply(status=429), Reply(delay=5.0))
    llm = ChatOpenAI(
        base_url=openai_server.base_url,
        api_key=SecretStr("test"),
        model="m",
        max_retries=0,
        timeout=0.3,
    )
    with pytest.raises(openai.RateLimitError):
        llm.invoke("Hej")
    with pytest.raises(openai.APITimeoutError):
        llm.invoke("Hej")

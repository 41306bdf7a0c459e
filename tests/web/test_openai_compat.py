"""Any OpenAI-compatible client can use the assistant as a model (official ``openai``)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import openai
import pytest
from pydantic import SecretStr

from assistant.errors import StoreUnavailableError
from assistant.web.chat import chat_events
from assistant.web.openai_compat import Completion, completion_events
from tests.web.conftest import QUESTION, TROLLHATTAN_DOC, LiveServer

pytestmark = pytest.mark.slow


def _client(server: LiveServer, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=60)


def _check_cited(content: str) -> None:
    answer, _, listing = content.partition("\n\nKällor:\n")
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer)}
    assert cited, content
    listed = {int(n) for n in re.findall(r"^\[(\d+)\] ", listing, re.M)}
    assert cited <= listed  # every [n] in the text is explained in the sources list
    assert TROLLHATTAN_DOC in listing


def test_models(live_server: LiveServer) -> None:
    with _client(live_server) as client:
        assert [m.id for m in client.models.list().data] == ["skolassistent"]


def test_completion_not_streamed(live_server: LiveServer) -> None:
    with _client(live_server) as client:
        result = client.chat.completions.create(
            model="skolassistent",
            messages=[{"role": "system", "content": "Svara kort."},
                      {"role": "user", "content": QUESTION}])
    assert result.object == "chat.completion"
    assert result.model == "skolassistent"
    message = result.choices[0].message
    assert message.role == "assistant" and result.choices[0].finish_reason == "stop"
    assert message.content is not None
    _check_cited(message.content)
    assert result.usage is not None and result.usage.completion_tokens > 0


def test_completion_streamed(live_server: LiveServer) -> None:
    with _client(live_server) as client:
        chunks = list(client.chat.completions.create(
            model="skolassistent", messages=[{"role": "user", "content": QUESTION}],
            stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    _check_cited(content)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_follow_up_uses_history(live_server: LiveServer) -> None:
    with _client(live_server) as client:
        result = client.chat.completions.create(model="skolassistent", messages=[
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": "Trollhättan minskar segregationen i skolan [1]."},
            {"role": "user", "content": [{"type": "text", "text": "Vem ansvarar för nätverket?"}]},
        ])
    assert "[1]" in (result.choices[0].message.content or "")


def test_errors_come_in_openai_shape(live_server: LiveServer) -> None:
    with _client(live_server) as client, pytest.raises(openai.UnprocessableEntityError) as info:
        client.chat.completions.create(model="m", messages=[
            {"role": "assistant", "content": "Hej"}])
    assert "användaren" in str(info.value)


def test_api_key_is_enforced(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory(api_keys=[SecretStr("hemlig-nyckel-1")])
    with _client(server, "fel-nyckel") as client, pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": QUESTION}])
    with _client(server, "hemlig-nyckel-1") as client:
        result = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": QUESTION}])
    _check_cited(result.choices[0].message.content or "")


async def _failing_stream() -> AsyncIterator[tuple[str, Any]]:
    """An answer whose store goes away after the first sentence was sent."""
    yield ("sources", [])
    yield ("token", "Första meningen. ")
    raise StoreUnavailableError()


def _collect(events: AsyncIterator[dict[str, str]]) -> list[dict[str, str]]:
    async def run() -> list[dict[str, str]]:
        return [event async for event in events]

    return asyncio.run(run())


def test_a_stream_that_fails_ends_with_an_error_not_an_answer() -> None:
    """Mid-stream failure: an OpenAI error chunk (what the openai client raises), and no
    ``finish_reason: stop``; in /api/chat an ``error`` event with status and Retry-After."""
    chunks = _collect(completion_events(_failing_stream(), Completion("m", 1), True))
    last = json.loads(chunks[-1]["data"])
    assert last["error"]["type"] == "server_error"
    assert last["error"]["code"] == "service_unavailable" and "Chroma" in last["error"]["message"]
    assert not any('"finish_reason": "stop"' in c["data"] for c in chunks)
    assert all(c["data"] != "[DONE]" for c in chunks)

    events = _collect(chat_events(_failing_stream()))
    assert events[-1]["event"] == "error"
    error = json.loads(events[-1]["data"])
    assert error["status"] == 503 and error["retry_after"] > 0
    assert not any(e["event"] == "done" for e in events)

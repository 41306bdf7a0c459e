"""An unsure answer reaches every interface as a hedge: the JSON API, the event stream
and ``/v1``, with the hedge lead and its citations, never as a confident answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from assistant.citations import HEDGE_TEXT
from assistant.config import Settings
from tests.web.conftest import (
    QUESTION,
    LiveServer,
    configured,
    sse_events,
    start_server,
    unsure_assistant,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hedging_server(sample_index: Settings, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("hedge")
    server = start_server(configured(sample_index, tmp), unsure_assistant(sample_index),
                          wait_for_ui=False)
    yield server
    server.stop()


def test_the_json_api_says_hedged(hedging_server: LiveServer) -> None:
    reply = httpx.post(f"{hedging_server.url}/api/chat", json={"question": QUESTION},
                       headers={"Accept": "application/json"}, timeout=60)
    assert reply.status_code == 200
    body = reply.json()
    assert body["outcome"] == "hedged" and body["refused"] is False
    assert body["answer"].startswith(HEDGE_TEXT) and body["citations"]
    assert body["confidence"] == pytest.approx(0.3)


def test_the_stream_ends_with_a_hedged_answer(hedging_server: LiveServer) -> None:
    reply = httpx.post(f"{hedging_server.url}/api/chat",
                       json={"question": QUESTION, "stream": True}, timeout=60)
    events = sse_events(reply.text)
    tokens = "".join(json.loads(data)["text"] for name, data in events if name == "token")
    done = [json.loads(data) for name, data in events if name == "done"]
    assert len(done) == 1 and done[0]["outcome"] == "hedged"
    assert tokens.startswith(HEDGE_TEXT) and done[0]["answer"].startswith(HEDGE_TEXT)


def test_v1_clients_read_the_hedge(hedging_server: LiveServer) -> None:
    with openai.OpenAI(base_url=f"{hedging_server.url}/v1", api_key="unused",
                       max_retries=0, timeout=60) as client:
        result = client.chat.completions.create(
            model="skolassistent", messages=[{"role": "user", "content": QUESTION}])
    content = result.choices[0].message.content or ""
    assert content.startswith(HEDGE_TEXT), content

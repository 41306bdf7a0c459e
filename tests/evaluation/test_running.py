"""Retry with backoff for model calls: transient HTTP errors are retried (honouring
Retry-After), others raise at once; results marked transient are retried too."""

from __future__ import annotations

import openai
import pytest

from assistant.evaluation.running import RetryPolicy, is_transient_error, run_ordered
from tests.support.openai_server import OpenAIServer, Reply, start_openai_server


def chat(server: OpenAIServer) -> str:
    client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    response = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hej"}])
    return response.choices[0].message.content or ""


def test_transient_errors_are_retried_and_retry_after_is_honoured() -> None:
    waits: list[float] = []
    policy = RetryPolicy(attempts=3, base_delay=1.0, sleep=waits.append)
    with start_openai_server("ok") as server:
        server.script(Reply(status=429, headers={"retry-after": "7"}), Reply(status=503))
        assert policy.run(lambda: chat(server)) == "ok"
        assert len(server.chat_requests) == 3
    assert waits[0] == 7.0 and 1.0 <= waits[1] <= 2.0  # then 2^1 s with jitter in [0.5, 1]
    assert policy.retries == 2


def test_non_transient_errors_raise_at_once_and_attempts_are_bounded() -> None:
    policy = RetryPolicy(attempts=3, sleep=lambda _: None)
    with start_openai_server(Reply(status=400)) as server:
        with pytest.raises(openai.BadRequestError) as caught:
            policy.run(lambda: chat(server))
        assert len(server.chat_requests) == 1 and not is_transient_error(caught.value)
    with start_openai_server(Reply(status=429)) as server:
        with pytest.raises(openai.RateLimitError):
            policy.run(lambda: chat(server))
        assert len(server.chat_requests) == 3


def test_results_marked_transient_are_retried_then_returned() -> None:
    policy = RetryPolicy(attempts=2, sleep=lambda _: None)
    answers = iter(["reserv", "reserv"])
    assert policy.run(lambda: next(answers), lambda value: value == "reserv") == "reserv"
    assert policy.retries == 1


def test_run_ordered_keeps_input_order_under_concurrency() -> None:
    results, interrupted = run_ordered(lambda n: n * n, list(range(20)), concurrency=4)
    assert results == [n * n for n in range(20)] and not interrupted

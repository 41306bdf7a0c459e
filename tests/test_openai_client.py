"""One client factory and one error table, checked through every caller.

Each failure is produced for real by the OpenAI-compatible test server on 127.0.0.1 (or a
closed 127.0.0.1 port), and read through the four callers: chat answers, embeddings, the
judge and eval drafting. Each must end as the same :class:`LLMError` subclass (the judge's
and the drafter's own errors carry it as their cause) with a Swedish message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import openai
import pytest
from pydantic import SecretStr

from assistant.answer.llm import build_chat_model, generate
from assistant.config import Settings
from assistant.errors import (
    ConfigError,
    DraftError,
    JudgeError,
    LLMAuthError,
    LLMBadResponseError,
    LLMConfigError,
    LLMConnectionError,
    LLMError,
    LLMRateLimitError,
    LLMServerError,
    LLMTimeoutError,
)
from assistant.evaluation.draft import llm_complete
from assistant.evaluation.judge import Judge, JudgeConfig
from assistant.evaluation.running import RetryPolicy
from assistant.openai_client import (
    CHAT,
    EMBEDDINGS,
    ErrorRow,
    _http_libraries,
    chat_endpoint,
    embeddings_endpoint,
    endpoint_error,
    error_table,
    judge_endpoint,
)
from assistant.retrieval.embeddings import get_embeddings
from assistant.types import Source
from tests.support.openai_server import OpenAIServer, Reply

TIMEOUT = 0.5
SOURCES = [Source(n=1, id="a.txt", title="Besök", municipality="Lund", date=None, url=None,
                  chunk_id="c1", score=0.9, text="Rektor Anna Berg tog emot besöket.")]
MESSAGES = [{"role": "user", "content": "Hej"}]


def _settings(base_url: str, **values: object) -> Settings:
    return Settings(llm="openai", llm_model="m", llm_base_url=base_url, llm_timeout=TIMEOUT,
                    llm_max_retries=0, openai_api_key=SecretStr("hemlig-nyckel"),
                    embeddings="openai", embeddings_base_url=base_url,
                    embeddings_max_retries=0, _env_file=None, **values)  # type: ignore[arg-type]


# --- the callers: each returns the mapped error it raised ---------------------------------


def _chat(server: OpenAIServer | None, base_url: str) -> BaseException:
    with pytest.raises(LLMError) as info:
        generate(build_chat_model(_settings(base_url)), "Vem tog emot besöket?", SOURCES)
    assert "i stället" in info.value.message_sv  # the chat says what it does instead
    return info.value


def _embeddings(server: OpenAIServer | None, base_url: str) -> BaseException:
    with pytest.raises(LLMError) as info:
        get_embeddings(_settings(base_url)).embed_query("Vem tog emot besöket?")
    assert "embeddingmodellen" in info.value.message_sv.lower()
    return info.value


def _judge(server: OpenAIServer | None, base_url: str) -> BaseException:
    config = JudgeConfig(model="domare", base_url=base_url, api_key="hemlig-nyckel",
                         timeout=TIMEOUT)
    judge = Judge(config, retry=RetryPolicy(attempts=1))
    with pytest.raises(JudgeError) as info:
        judge.ask("answer_relevance", {"question": "Q?", "answer": "A.", "history": "-"}, 0)
    assert str(info.value).startswith("Domaren") or "domaren" in str(info.value)
    return info.value.__cause__ or info.value


def _draft(server: OpenAIServer | None, base_url: str) -> BaseException:
    complete = llm_complete(_settings(base_url), RetryPolicy(attempts=1))
    with pytest.raises(DraftError) as info:
        complete(MESSAGES)
    assert not isinstance(info.value, JudgeError)
    return info.value.__cause__ or info.value


CALLERS: dict[str, Callable[[OpenAIServer | None, str], BaseException]] = {
    "chat": _chat, "embeddings": _embeddings, "judge": _judge, "draft": _draft}


@dataclass(frozen=True)
class Failure:
    reply: Reply | None        # None: nobody listens on the port
    error: type[LLMError]
    swedish: str               # a fragment of the Swedish message


FAILURES = {
    "401": Failure(Reply(status=401), LLMAuthError, "nekade åtkomst (HTTP 401)"),
    "429": Failure(Reply(status=429, headers={"retry-after": "0"}), LLMRateLimitError,
                   "tar inte emot fler frågor"),
    "500": Failure(Reply(status=500), LLMServerError, "tjänst har ett fel (HTTP 500)"),
    "timeout": Failure(Reply(delay=3.0), LLMTimeoutError, "svarade inte i tid"),
    "refused": Failure(None, LLMConnectionError, "gick inte att ansluta"),
    "bad-json": Failure(Reply(malformed=True), LLMBadResponseError, "inte gick att tolka"),
}
ENGLISH = ("Error code", "Incorrect API key", "Rate limit", "Connection error",
           "Request timed out", "Expecting value")


@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
@pytest.mark.parametrize("caller", CALLERS.values(), ids=CALLERS.keys())
def test_each_failure_reads_the_same_through_every_caller(
        caller: Callable[[OpenAIServer | None, str], BaseException], failure: Failure,
        openai_server: OpenAIServer, closed_port: int) -> None:
    if failure.reply is None:
        base_url = f"http://127.0.0.1:{closed_port}/v1"
    else:
        openai_server.script(failure.reply)
        openai_server.script_embeddings(failure.reply)
        base_url = openai_server.base_url
    error = caller(openai_server, base_url)
    assert type(error) is failure.error, repr(error)
    message = error.message_sv
    assert failure.swedish in message
    assert not any(english in message for english in ENGLISH), message  # Swedish, not SDK text
    assert "hemlig-nyckel" not in message and "127.0.0.1" not in message  # no secrets, no URLs
    assert error.detail  # the technical story, for logs


def test_the_timeout_and_the_settings_to_check_are_named() -> None:
    http = _http_libraries()[-1]  # the one openai is built on
    request = http.Request("POST", "http://127.0.0.1:1/v1/chat/completions")
    timeout = endpoint_error(openai.APITimeoutError(request), CHAT, 7.5)
    assert timeout.message_sv == ("Språkmodellen svarade inte i tid (timeout efter 7.5 s); "
                                  "visar ett utdrag ur artiklarna i stället.")
    refused = endpoint_error(openai.APIConnectionError(request=request), EMBEDDINGS)
    assert "ASSISTANT_EMBEDDINGS_BASE_URL" in refused.message_sv
    quota = openai.RateLimitError("quota", response=http.Response(429, request=request),
                                  body={"code": "insufficient_quota"})
    assert "kvoten är slut" in endpoint_error(quota).message_sv
    missing = openai.NotFoundError("no model", response=http.Response(404, request=request),
                                   body=None)
    assert "ASSISTANT_LLM_MODEL" in endpoint_error(missing).message_sv
    slow = openai.APIStatusError("slow", response=http.Response(408, request=request),
                                 body=None)
    assert isinstance(endpoint_error(slow), LLMTimeoutError)
    assert "HTTP 408" in endpoint_error(slow).message_sv
    assert isinstance(endpoint_error(KeyError("choices")), LLMBadResponseError)
    already = LLMServerError("Redan vår.")
    assert endpoint_error(already) is already


def test_no_row_of_the_table_is_hidden_by_an_earlier_one() -> None:
    """First match wins, so a row after a row for its base class would never be used."""
    rows = error_table()
    for i, later in enumerate(rows):
        for earlier in rows[:i]:
            if isinstance(later.raised, type) and isinstance(earlier.raised, type):
                assert not issubclass(later.raised, earlier.raised), (earlier, later)
        assert issubclass(later.error, LLMError) and later.error is not LLMError
    # the check can fail: a row for a subclass after its base's row is caught
    shadowed = (ErrorRow(openai.APIStatusError, LLMBadResponseError, "x"),
                ErrorRow(openai.RateLimitError, LLMRateLimitError, "y"))
    assert issubclass(shadowed[1].raised, shadowed[0].raised)  # type: ignore[arg-type]
    assert rows[-1].raised is TypeError and any(r.raised is openai.OpenAIError for r in rows)


def test_every_client_is_built_from_the_settings() -> None:
    settings = Settings(llm_model="chat-m", llm_base_url="http://127.0.0.1:9/v1",
                        llm_timeout=7.5, llm_max_retries=2, openai_api_key=None,
                        embeddings_model="emb-m", embeddings_base_url="http://127.0.0.1:8/v1",
                        embeddings_max_retries=4, judge_timeout=11.0, _env_file=None)
    chat = chat_endpoint(settings)
    assert chat.options() == {"base_url": "http://127.0.0.1:9/v1", "api_key": "unused",
                              "timeout": 7.5, "max_retries": 2}
    model = chat.chat_model()
    assert (model.model_name, model.openai_api_base, model.request_timeout,
            model.max_retries, model.temperature) == ("chat-m", chat.base_url, 7.5, 2, 0)
    embeddings = embeddings_endpoint(settings).embeddings_model(16)
    assert (embeddings.model, embeddings.openai_api_base, embeddings.max_retries,
            embeddings.chunk_size) == ("emb-m", "http://127.0.0.1:8/v1", 4, 16)
    judge = judge_endpoint(settings)
    assert (judge.model, judge.base_url, judge.timeout, judge.max_retries) == (
        "chat-m", chat.base_url, 11.0, 0)
    client = judge.client()
    assert (str(client.base_url), client.timeout, client.max_retries) == (
        "http://127.0.0.1:9/v1/", 11.0, 0)


def test_missing_endpoints_are_swedish_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    nothing = Settings(llm="extractive", openai_api_key=None, _env_file=None)
    for build, error in ((chat_endpoint, LLMConfigError), (embeddings_endpoint, ConfigError),
                         (judge_endpoint, ConfigError)):
        with pytest.raises(error) as info:
            build(nothing)
        message = str(info.value)
        assert message.split()[0] in ("Svarsläget", "ASSISTANT_EMBEDDINGS=openai", "--judge")
        assert " behöver " in message.split(".")[0]  # the first sentence is Swedish

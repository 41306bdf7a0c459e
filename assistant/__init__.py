"""Svensk RAG-assistent med källhänvisningar.

The public surface, importable from ``assistant`` directly. Names resolve lazily so
that ``import assistant`` (and the CLI's start-up) does not pull in Chroma,
LangChain or the embedding engine until they are used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.answer import Assistant, build_chain
    from assistant.config import Settings, get_settings
    from assistant.errors import AssistantError
    from assistant.ingest.pipeline import IngestSummary, ingest
    from assistant.retrieval.embeddings import get_embeddings
    from assistant.retrieval.filters import Filters
    from assistant.retrieval.hybrid import Searcher
    from assistant.retrieval.retrievers import Retriever, get_retriever
    from assistant.types import Answer, Chunk, Source
    from assistant.web import create_app, serve

_EXPORTS = {
    "Answer": "assistant.types",
    "Assistant": "assistant.answer",
    "AssistantError": "assistant.errors",
    "Chunk": "assistant.types",
    "Filters": "assistant.retrieval.filters",
    "IngestSummary": "assistant.ingest.pipeline",
    "Retriever": "assistant.retrieval.retrievers",
    "Searcher": "assistant.retrieval.hybrid",
    "Settings": "assistant.config",
    "Source": "assistant.types",
    "build_chain": "assistant.answer",
    "create_app": "assistant.web",
    "get_embeddings": "assistant.retrieval.embeddings",
    "get_retriever": "assistant.retrieval.retrievers",
    "get_settings": "assistant.config",
    "ingest": "assistant.ingest.pipeline",
    "serve": "assistant.web",
}

__all__ = [
    "Answer", "Assistant", "AssistantError", "Chunk", "Filters", "IngestSummary", "Retriever",
    "Searcher", "Settings", "Source", "build_chain", "create_app", "get_embeddings",
    "get_retriever", "get_settings", "ingest", "serve",
]


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'assistant' has no attribute {name!r}") from None
    return getattr(import_module(module), name)

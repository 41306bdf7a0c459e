"""The web app: chat UI, HTTP API, OpenAI-compatible endpoint and embeddable widget.

One concern per module: ``server`` (app factory, uvicorn), ``security`` (origin, keys,
rate and size limits), ``schemas`` (request models), ``errors`` (errors → JSON),
``context`` (what routes share), ``health`` (/healthz, /readyz), ``chat`` (/api/chat,
/api/feedback), ``openai_compat`` (/v1), ``sources`` (/api/sources), ``pages`` (widget,
docs, source page), ``ui`` (Gradio), ``feedback`` (SQLite store), ``auth`` (hosts,
clients, credentials), ``contract`` (405/HEAD, the OpenAPI additions), ``routes`` (each
route's credentials and limits, declared once), ``transport`` (reading requests: h11
with a deadline for the headers), ``workers`` (``serve --workers N``) and ``state``
(what the workers share).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from assistant.answer import Assistant
    from assistant.config import Settings

__all__ = ["create_app", "serve"]


def create_app(settings: Settings, assistant: Assistant | None = None) -> FastAPI:
    """See :func:`assistant.web.server.create_app` (imported lazily: Gradio is heavy)."""
    from assistant.web.server import create_app as _create_app

    return _create_app(settings, assistant)


def serve(settings: Settings, verbosity: int = 0) -> None:
    """:func:`assistant.web.server.serve`, or with ``settings.workers`` above 1
    :func:`assistant.web.workers.serve_workers` (``verbosity``: ``-v``'s, for the workers)."""
    if settings.workers > 1:
        from assistant.web.workers import serve_workers

        serve_workers(settings, verbosity)
        return
    from assistant.retrieval.embeddings import check_servable
    from assistant.retrieval.hybrid import Searcher

    check_servable(settings)
    # The index first: its vectors load on a thread (Searcher) while the web stack and the
    # answering chain are imported, instead of at the first question.
    retriever = Searcher.from_settings(settings)
    from assistant.web.server import serve as _serve

    _serve(settings, retriever)

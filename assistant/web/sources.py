"""``GET /api/sources/{doc_id}``: one document as the running retriever knows it.

The id is only ever a key into the index's manifest, never a path, so
``../../etc/passwd`` is simply not found. Reading the chunks is the store's business
(:meth:`assistant.retrieval.store.ChromaStore.document_chunks`); this module only shapes
them for JSON or, for a browser, the HTML source page.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from assistant.citations import http_url
from assistant.errors import ApiError
from assistant.types import join_chunks
from assistant.web.context import ApiContext
from assistant.web.pages import source_response
from assistant.web.schemas import ERROR_RESPONSES

__all__ = ["build_sources_router", "load_source"]


def load_source(ctx: ApiContext, doc_id: str) -> dict[str, Any] | None:
    """Metadata, full text and passages of one committed document, or ``None``."""
    record = ctx.assistant.retriever.manifest.get(doc_id)
    if record is None:
        return None
    chunks = ctx.assistant.store.document_chunks(record)
    return {
        "id": record.doc_id, "title": record.title, "municipality": record.municipality,
        "date": record.date, "url": http_url(record.url),
        "text": join_chunks(chunks),
        "chunks": [{"chunk_id": c.chunk_id, "ordinal": c.ordinal, "start": c.start,
                    "end": c.end, "text": c.text} for c in chunks],
    }


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept


def build_sources_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(responses=ERROR_RESPONSES)

    @router.get("/api/sources/{doc_id:path}", tags=["api"], summary="En källa med dess stycken",
                response_model=None)
    async def source(doc_id: str, request: Request) -> Response:
        """Metadata and passages of one document; an HTML page when a browser asks
        (the widget's and the UI's "open source" link for articles without a URL)."""
        data = await run_in_threadpool(load_source, ctx, doc_id)
        if data is None:
            raise ApiError(404, f"Källan {doc_id!r} finns inte i indexet.")
        if _wants_html(request):
            return source_response(data)
        return JSONResponse(data)

    return router

"""``/healthz`` (liveness) and ``/readyz`` (readiness): the operator's contract.

Liveness says only that the process answers, so an orchestrator restarts a hung
app but not one whose store is down (a restart would not help). Readiness checks
what answering needs, right now: the store answers, the index is open with its
embedding model, the manifest of documents is loaded. The chat UI's state
(``loading``, ``ready``, ``failed``) is reported too, but readiness does not wait
for it: the API answers while the UI is still being built, and a load balancer
should send API traffic then (the UI answers 503 with ``Retry-After`` meanwhile). It is 503 with
``Retry-After`` and a JSON detail per check when one fails, so a load balancer
takes the replica out until the store is back, and a person can read why.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from assistant.errors import AssistantError
from assistant.web.context import ApiContext

__all__ = ["READY_RETRY", "build_health_router", "readiness"]

READY_RETRY = 10


def readiness(ctx: ApiContext) -> dict[str, Any]:
    """Each check as ``{"ok": bool, ...}``; blocking (it asks the store)."""
    store = ctx.assistant.store
    checks: dict[str, dict[str, Any]] = {}
    try:
        store.heartbeat()
        checks["store"] = {"ok": True}
    except AssistantError as exc:
        checks["store"] = {"ok": False, "error": str(exc)}
    if checks["store"]["ok"]:
        try:
            checks["index"] = {"ok": True, "embedding_model": store.model}
        except AssistantError as exc:
            checks["index"] = {"ok": False, "error": str(exc)}
    else:
        checks["index"] = {"ok": False,
                           "error": "Sökindexet kan inte läsas när lagret inte svarar."}
    documents = len(ctx.assistant.retriever.manifest)
    checks["manifest"] = {"ok": documents > 0, "documents": documents}
    if not documents:
        checks["manifest"]["error"] = "Inga dokument i indexet. Bygg det med: assistant ingest"
    if ctx.ui_status is not None:
        checks["ui"] = ctx.ui_status()
    if ctx.drain.draining:  # first of all, so the load balancer stops sending questions
        checks["shutdown"] = {"ok": False, "error": "Servern stängs av."}
    return checks


def build_health_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter()

    @router.get("/healthz", tags=["drift"], summary="Liveness: processen svarar")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "mode": ctx.assistant.mode, "mode_label": ctx.assistant.mode_label}

    @router.get("/readyz", tags=["drift"], summary="Readiness: lagret, indexet och manifestet",
                response_model=None)
    async def readyz() -> JSONResponse:
        """200 ``{"status": "ready", "checks": …}`` or 503 with ``error``, the failing checks
        and ``Retry-After``."""
        checks = await run_in_threadpool(readiness, ctx)
        failed = [name for name, check in checks.items() if not check["ok"]]
        if not failed:
            return JSONResponse({"status": "ready", "checks": checks})
        error = "; ".join(str(checks[name].get("error", name)) for name in failed)
        return JSONResponse({"status": "unavailable", "error": f"Inte redo: {error}",
                             "checks": checks}, status_code=503,
                            headers={"retry-after": str(READY_RETRY)})

    return router

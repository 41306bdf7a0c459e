"""The chat UI, built in the background so the API answers while Gradio loads.

Importing Gradio and building the Blocks takes seconds, most of a server's start
at any corpus size, while ``/api/chat``, ``/v1``, ``/healthz`` and ``/readyz``
need only the index. :class:`UiSlot` is mounted at ``/`` where Gradio used to
be mounted, so it gets exactly the requests (and the scope) Gradio got, behind
the same :class:`~assistant.web.security.SecurityMiddleware` and
:class:`~assistant.web.contract.MethodGuard`: once the UI is ready every
security rule applies to it unchanged. Until then it answers 503 with
``Retry-After`` – a small Swedish "Startar…" page for a browser, the project's JSON
error for anything else – never a 500 or a 404. A browser's page request is first
held for up to :attr:`UiSlot.page_hold` seconds, so most visitors during a start get
the chat page itself: the "Startar…" page has a link to try again, not a timed
reload (WCAG 2.2.1; axe's ``meta-refresh``).

The build runs on a daemon thread started from the app's lifespan (nothing at
import or at ``create_app``); Gradio's own start-up (its queue) then runs on the
server's event loop, as ``mount_gradio_app`` would have run it at start-up.
"""

from __future__ import annotations

import asyncio
import html
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from typing import Any, Literal, TypeVar

from starlette.datastructures import Headers
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.web.error_payload import ErrorPayload, request_id_of
from assistant.web.routes import GRADIO_API
from assistant.web.security import route_path

__all__ = ["LOADING_RETRY", "PAGE_HOLD", "UiSlot", "UiState"]

log = logging.getLogger("assistant.web")

UiState = Literal["loading", "ready", "failed"]
# Seconds a client waits before asking again; the UI takes a few seconds to build.
LOADING_RETRY = 2
# Seconds a browser's page request waits for the build before it gets "Startar…".
PAGE_HOLD = 10
LOADING_MESSAGE = "Skolassistenten startar. Försök igen om några sekunder."
FAILED_MESSAGE = ("Chattsidan kunde inte startas (se serverns logg). API:t fungerar; "
                  "starta om servern.")
T = TypeVar("T")

# Gradio keeps the Blocks being built in a process-wide context, so two UIs built at once
# (two apps in one process: tests, an embedding host) put components into each other's
# page. Builds take turns.
_BUILDING = threading.Lock()


class UiSlot:
    """The ASGI app at ``/``: a loading answer until ``build`` has made the UI, then the UI.

    ``build`` runs on a thread and returns a FastAPI app with the Gradio app mounted
    (by ``gr.mount_gradio_app``): its lifespan holds Gradio's start-up events, and its
    mount is the app that serves the UI from then on.
    """

    page_hold: float = PAGE_HOLD

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._app: ASGIApp | None = None
        self._done = threading.Event()
        self._settled: asyncio.Event | None = None  # _done, on the server's event loop
        self.state: UiState = "loading"
        self.error: str | None = None

    @property
    def app(self) -> ASGIApp | None:
        """The chat UI's app once built (its routes are declared in assistant.web.routes)."""
        return self._app

    def status(self) -> dict[str, Any]:
        """For ``/readyz``: always "ok", because the API does not need the UI – not while
        it is being built, nor when the build failed (a bug, logged and shown here and on
        the page, that should not take the API out of a load balancer too)."""
        status: dict[str, Any] = {"ok": True, "state": self.state}
        if self.error:
            status["error"] = self.error
        return status

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the build has finished (ready or failed); ``False`` on timeout."""
        return self._done.wait(timeout)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The app's lifespan part: start the build; at shutdown let Gradio stop."""
        stopping = asyncio.Event()
        self._settled = asyncio.Event()
        task = asyncio.create_task(self._serve(stopping), name="assistant-ui")
        try:
            yield
        finally:
            stopping.set()
            if self._app is None:  # still building on its daemon thread: nothing to stop
                task.cancel()
            await asyncio.wait({task}, timeout=5)

    def _build_alone(self) -> Any:
        with _BUILDING:
            return self._build()

    async def _serve(self, stopping: asyncio.Event) -> None:
        """Build, run Gradio's start-up (its queue) and keep its lifespan open until the
        server stops, all in this one task (a lifespan is left where it was entered)."""
        async with AsyncExitStack() as stack:
            try:
                host = await _in_thread(self._build_alone)
                gradio_app = next(r.app for r in host.routes if isinstance(r, Mount))
                await stack.enter_async_context(host.router.lifespan_context(host))
            except Exception as exc:  # a UI bug must not take the API down with it
                log.exception("Chattsidan kunde inte byggas")
                self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
                self._settle()
                return
            self._app = gradio_app
            self.state = "ready"
            self._settle()
            log.info("Chattsidan är klar")
            await stopping.wait()

    def _settle(self) -> None:
        self._done.set()
        if self._settled is not None:
            self._settled.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._app is None and self._wants_page(scope) \
                and self._settled is not None:
            with suppress(TimeoutError):  # still building: the "Startar…" page below
                await asyncio.wait_for(self._settled.wait(), self.page_hold)
        app = self._app
        if app is not None:
            await app(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        await self._not_yet(scope, send)

    @staticmethod
    def _wants_page(scope: Scope) -> bool:
        """A browser asking for a page (not the API, not Gradio's calls)."""
        path = route_path(scope)
        return scope["method"] in ("GET", "HEAD") and not path.startswith(
            ("/api/", "/v1/", GRADIO_API)) and (
            path == "/" or "text/html" in Headers(scope=scope).get("accept", ""))

    async def _not_yet(self, scope: Scope, send: Send) -> None:
        """503 with Retry-After: the page for a browser, JSON for API-ish requests."""
        path = route_path(scope)
        message = FAILED_MESSAGE if self.state == "failed" else LOADING_MESSAGE
        if self._wants_page(scope):
            from assistant.web.pages import render_template

            body = render_template("loading.html", {"MESSAGE": html.escape(message)}).encode()
            kind = b"text/html; charset=utf-8"
        else:
            body = ErrorPayload(503, message, LOADING_RETRY).body(
                path, request_id=request_id_of(scope))
            kind = b"application/json; charset=utf-8"
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", kind),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            (b"retry-after", str(LOADING_RETRY).encode()),
        ]})
        await send({"type": "http.response.body",
                    "body": b"" if scope["method"] == "HEAD" else body})


async def _in_thread(work: Callable[[], T]) -> T:
    """``work()`` on a daemon thread: a server stopped mid-build does not wait for it
    (``asyncio.to_thread`` would hold interpreter exit until the build ends)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            outcome: tuple[T | None, BaseException | None] = (work(), None)
        except BaseException as exc:  # handed to the awaiting task
            outcome = (None, exc)
        with suppress(RuntimeError):  # the loop closed: the server stopped meanwhile
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=run, name="assistant-ui-build", daemon=True).start()
    return await future

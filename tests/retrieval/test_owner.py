"""A running app owns its embedded index: ``assistant ingest`` refuses while it serves.

The scenario of issue 21: ``assistant serve`` on an embedded index, a new article copied
into the corpus, ``assistant ingest`` from "another terminal". Before, the ingest said
"1 nya" and the app went on answering from the old articles; now the ingest stops with
exit 2 and one line naming the fix, and works once the app has stopped. A file left by
a process that is gone does not block anyone. Real processes throughout: the app is
``assistant serve`` and the ingest ``assistant ingest``, each a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from assistant.config import Settings
from assistant.errors import IndexInUseError
from assistant.retrieval.owner import live_apps, refuse_if_served, register_app
from tests.support.index import CORPUS
from tests.web.conftest import free_port

ASSISTANT = Path(sys.executable).with_name("assistant")
NEW_ARTICLE = """Läxhjälp i Nyköpings bibliotek

Nyköpings kommun erbjuder läxhjälp på biblioteket varje tisdag för elever i årskurs sju till nio.
"""


@pytest.fixture
def own_index(sample_index: Settings, tmp_path: Path) -> Settings:
    """A writable copy of the sample index and corpus (the session's index is read-only)."""
    shutil.copytree(CORPUS, tmp_path / "articles")
    shutil.copytree(sample_index.index_dir, tmp_path / "index")
    return Settings(corpus_dir=tmp_path / "articles", index_dir=tmp_path / "index",
                    llm="extractive", feedback_db=tmp_path / "feedback.sqlite3")


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update({"ASSISTANT_CORPUS_DIR": str(settings.corpus_dir),
                "ASSISTANT_INDEX_DIR": str(settings.index_dir),
                "ASSISTANT_FEEDBACK_DB": str(settings.feedback_db),
                "ASSISTANT_LLM": "extractive", "ASSISTANT_RATE_LIMIT": "off",
                "ASSISTANT_SHUTDOWN_SECONDS": "1",
                "ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False"})
    return env


def _ingest(settings: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ASSISTANT), "ingest", "--quiet"], env=_env(settings),
                          cwd=settings.corpus_dir.parent, timeout=300, capture_output=True,
                          text=True, check=False)


class App:
    """``assistant serve`` in a subprocess, ready once ``/readyz`` answers 200."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (the server's log)
        self.proc = subprocess.Popen([str(ASSISTANT), "serve", "--port", str(self.port)],
                                     env=_env(settings), stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     cwd=settings.corpus_dir.parent)
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"the app exited: {self.output()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the app did not start within 120 s")
            time.sleep(0.2)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)


@pytest.fixture
def start_app() -> Iterator[type[App]]:
    started: list[App] = []

    class Tracked(App):
        def __init__(self, settings: Settings) -> None:
            super().__init__(settings)
            started.append(self)

    yield Tracked
    for app in started:
        app.stop()


def test_ingest_refuses_while_an_app_serves_the_embedded_index(
        own_index: Settings, start_app: type[App]) -> None:
    app = start_app(own_index)
    registered = list((own_index.index_dir / "apps").glob("*.json"))
    assert [p.name for p in registered] == [f"{app.proc.pid}.json"]
    record = json.loads(registered[0].read_text(encoding="utf-8"))
    assert record["pid"] == app.proc.pid and record["url"] == app.url
    assert record["started"].endswith("Z")

    (own_index.corpus_dir / "777_laxhjalp.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    refused = _ingest(own_index)
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert refused.stdout == ""
    lines = refused.stderr.splitlines()
    assert len(lines) == 1, refused.stderr[-2000:]
    index = own_index.index_dir / "chroma"
    assert lines[0].startswith(
        f"fel: En körande app (pid {app.proc.pid}, {app.url}) använder indexet {index}: "
        "stoppa den och kör ingest igen, eller använd en Chroma-server "
        "(ASSISTANT_CHROMA_URL)"), lines[0]
    assert "(A running app uses this index" in lines[0]

    # The app still answers, and has not been handed a half-written index.
    assert httpx.get(f"{app.url}/readyz", timeout=5).status_code == 200

    # Once the app has stopped (SIGTERM, as a service manager stops it), its file is gone
    # and the same ingest goes through.
    assert app.stop() in (0, -signal.SIGTERM), app.output()[-3000:]  # uvicorn re-raises it
    assert not list((own_index.index_dir / "apps").glob("*.json"))
    done = _ingest(own_index)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "1 nya" in done.stdout


def test_a_file_left_by_a_dead_process_is_ignored_and_replaced(
        own_index: Settings, start_app: type[App]) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = own_index.index_dir / "apps"
    folder.mkdir(exist_ok=True)  # an app served on the sample index may have made it
    stale = folder / f"{dead.pid}.json"
    stale.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(),
                                 "url": "http://127.0.0.1:7860",
                                 "started": "2026-01-01T00:00:00Z"}), encoding="utf-8")
    (own_index.corpus_dir / "777_laxhjalp.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    done = _ingest(own_index)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not stale.exists()

    # An app started over another stale file replaces it with its own.
    stale.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(),
                                 "url": "http://127.0.0.1:7860",
                                 "started": "2026-01-01T00:00:00Z"}), encoding="utf-8")
    app = start_app(own_index)
    assert [p.name for p in folder.glob("*.json")] == [f"{app.proc.pid}.json"]


# --- in-process: the registration itself -------------------------------------------------


def test_register_refuse_and_remove(tmp_path: Path) -> None:
    settings = Settings(corpus_dir=tmp_path / "articles", index_dir=tmp_path / "index")
    refuse_if_served(settings)  # no folder yet: nothing to refuse
    with register_app(settings, "http://127.0.0.1:7860") as registration:
        assert registration.path is not None and registration.path.exists()
        [app] = live_apps(settings)
        assert app.pid == os.getpid() and app.url == "http://127.0.0.1:7860"
        with pytest.raises(IndexInUseError) as refused:
            refuse_if_served(settings)
        assert refused.value.exit_code == 2
        assert "\n" not in str(refused.value)
    assert live_apps(settings) == []
    refuse_if_served(settings)


def test_half_written_and_foreign_files_do_not_block(tmp_path: Path) -> None:
    settings = Settings(corpus_dir=tmp_path / "articles", index_dir=tmp_path / "index")
    folder = tmp_path / "index" / "apps"
    folder.mkdir(parents=True)
    (folder / "123.json").write_text('{"pid": 12', encoding="utf-8")  # cut short
    (folder / "notes.txt").write_text("not a registration", encoding="utf-8")
    refuse_if_served(settings)


def test_an_app_on_another_machine_counts_as_running(tmp_path: Path) -> None:
    """Its pid cannot be checked from here (an index folder on a shared disk)."""
    settings = Settings(corpus_dir=tmp_path / "articles", index_dir=tmp_path / "index")
    folder = tmp_path / "index" / "apps"
    folder.mkdir(parents=True)
    (folder / "1.json").write_text(json.dumps({
        "pid": 999_999_999, "host": "another-machine.example", "url": "http://app:7860",
        "started": "2026-01-01T00:00:00Z"}), encoding="utf-8")
    with pytest.raises(IndexInUseError, match=r"pid 999999999, http://app:7860"):
        refuse_if_served(settings)


def test_with_a_chroma_server_nothing_is_registered_or_refused(tmp_path: Path) -> None:
    """Replicas on a Chroma server follow every ingest through the index generation."""
    embedded = Settings(corpus_dir=tmp_path / "articles", index_dir=tmp_path / "index")
    server = embedded.model_copy(update={"chroma_url": "http://127.0.0.1:8000"})
    registration = register_app(server, "http://127.0.0.1:7860")
    assert registration.path is None
    assert not (tmp_path / "index" / "apps").exists()
    with register_app(embedded, "http://127.0.0.1:7861"):
        refuse_if_served(server)  # an embedded app's file is not about the server's index
        with pytest.raises(IndexInUseError):
            refuse_if_served(embedded)

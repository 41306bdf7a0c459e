"""Which running apps use an embedded index, so that no other process writes to it.

Why: an app on the embedded Chroma store (no ``ASSISTANT_CHROMA_URL``) opens the store
once, at start, and never sees what another process writes to it later; an
``assistant ingest`` from a second terminal "worked" ("1 nya") while the app went on
answering from the old articles until it was restarted, and two processes wrote one
embedded store. So a serving app registers itself in the index folder
(``<index_dir>/apps/<pid>.json``: pid, host name, URL, start time), removes the file
when it stops, and every command that writes the index calls :func:`refuse_if_served`
first: while a registered app is alive it stops with :class:`IndexInUseError` (exit 2,
one line naming the fix). A file left by a process that no longer runs (killed, power
cut) is ignored and removed. With a Chroma server nothing is registered or checked:
servers follow every ingest through the index generation (docs/operations.md).

One file per app, not one lock: two apps may read one embedded index; each removes
only its own file, and no app ever waits for another.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.errors import IndexInUseError

if TYPE_CHECKING:
    from assistant.config import Settings

__all__ = ["AppRecord", "Registration", "live_apps", "refuse_if_served", "register_app"]

log = logging.getLogger(__name__)

APPS_DIR = "apps"


@dataclass(frozen=True)
class AppRecord:
    """One registered app, as its file says."""

    pid: int
    host: str  # the machine's name: a pid says nothing about another machine's processes
    url: str
    started: str  # ISO 8601, UTC
    path: Path

    def alive(self) -> bool:
        """Whether the process still runs. On another machine (an index folder on a
        shared disk) that cannot be checked, so it counts as running."""
        if self.host != socket.gethostname():
            return True
        return pid_alive(self.pid)


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    return True


def apps_dir(settings: Settings) -> Path:
    return Path(settings.index_dir) / APPS_DIR


def embedded(settings: Settings) -> bool:
    """Only the embedded store needs this; a Chroma server is shared by design."""
    return not settings.chroma_url


def _read(path: Path) -> AppRecord | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return AppRecord(int(data["pid"]), str(data["host"]), str(data["url"]),
                         str(data["started"]), path)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # half-written or removed meanwhile: not a running app's file


def live_apps(settings: Settings) -> list[AppRecord]:
    """The apps serving this embedded index now, oldest first; files of processes that are
    gone are removed on the way (a crash leaves one behind)."""
    folder = apps_dir(settings)
    if not embedded(settings) or not folder.is_dir():
        return []
    found: list[AppRecord] = []
    for path in sorted(folder.glob("*.json")):
        record = _read(path)
        if record is None:
            continue
        if record.alive():
            found.append(record)
        else:
            log.info("removing the registration of app pid %d, which no longer runs",
                     record.pid)
            path.unlink(missing_ok=True)
    return sorted(found, key=lambda r: r.started)


def refuse_if_served(settings: Settings, in_app: bool = False) -> None:
    """Raise :class:`IndexInUseError` when an app serves this embedded index; called by
    every command that writes the index, before it opens the store. ``in_app``: the
    caller is the serving app itself (its admin API), which reloads its own snapshot
    after the change, so only *other* apps on this index refuse it."""
    me = (os.getpid(), socket.gethostname())
    apps = [a for a in live_apps(settings) if not (in_app and (a.pid, a.host) == me)]
    if apps:
        first = apps[0]
        raise IndexInUseError(first.pid, first.url, Path(settings.index_dir) / "chroma",
                              len(apps))


@dataclass
class Registration:
    """A serving app's file; :meth:`remove` (or leaving the ``with`` block) deletes it."""

    path: Path | None

    def remove(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None

    def __enter__(self) -> Registration:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def register_app(settings: Settings, url: str) -> Registration:
    """Register this process as serving ``settings``' index (nothing with a Chroma
    server). Written to a temporary name and renamed, so a reader never sees half a file."""
    if not embedded(settings):
        return Registration(None)
    folder = apps_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    live_apps(settings)  # clears what crashed processes left
    pid = os.getpid()
    path = folder / f"{pid}.json"
    record = {"pid": pid, "host": socket.gethostname(), "url": url,
              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    tmp = folder / f".{pid}.json.tmp"
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, path)
    return Registration(path)

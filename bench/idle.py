"""``python -m bench.idle``: CPU an idle ``assistant serve`` uses, in % of one core.

Starts the server on a free port against the project's index (``ASSISTANT_*`` from the
environment), waits until ``/readyz`` says the chat UI is built, lets it settle, then
reads the process's user + system CPU time (``/proc/PID/stat``, every thread) over
``--seconds`` with no request at all. Linux only; no psutil needed.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the process so far (fields 14 and 15 of stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # the name may hold spaces
    return (int(fields[11]) + int(fields[12])) / TICKS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("assistant serve exited")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                if json.load(response)["checks"].get("ui", {}).get("state") == "ready":
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError("assistant serve was not ready in time")


def measure(seconds: float, settle: float) -> float:
    """% of one core over ``seconds`` of idleness."""
    port = _free_port()
    env = {**os.environ, "ASSISTANT_RATE_LIMIT": "off"}
    proc = subprocess.Popen([sys.executable, "-m", "assistant.cli", "serve", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _ready(f"http://127.0.0.1:{port}", proc)
        time.sleep(settle)
        start_cpu, start = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds)
        used, elapsed = cpu_seconds(proc.pid) - start_cpu, time.monotonic() - start
    finally:
        proc.terminate()
        proc.wait(30)
    return 100 * used / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=10.0)
    args = parser.parse_args()
    print(f"idle CPU over {args.seconds:.0f} s: {measure(args.seconds, args.settle):.2f} % "
          "of one core")


if __name__ == "__main__":
    main()

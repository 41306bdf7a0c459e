"""``make bench-load``: answers per second and latency under concurrent clients.

For each worker count (``--workers``, default 1 and 2) it starts ``assistant serve
--workers N`` on a free port (extractive mode, rate limits off, the index of
``ASSISTANT_INDEX_DIR``), waits until it is ready and its chat UI built, and then:

1. the CPU limit: every question once, one at a time, reading the server's CPU time
   (every process of it, ``/proc``) before and after; CPU seconds per answer × the
   machine's cores is the most answers per second the machine could give if the server
   had every core to itself and nothing else ran;
2. for 1, 4, 16 and 64 concurrent clients (``--clients``), ``--seconds`` of load: each
   client asks the next question of the eval set (``eval/questions.jsonl``, in turn, so
   concurrent questions are distinct) as soon as its last answer came, over its own
   keep-alive connection, ``POST /api/chat``.

It prints one table: answers/s, latency p50/p95/p99, errors (anything but 200, and
timeouts), the server's RSS (summed over its processes, the largest sample), the
server's CPU and the load generator's own CPU (both in % of one core), and the CPU limit.

The load generator is one asyncio process (httpx), sharing the machine's cores with the
server: its own CPU is printed so the reader can see what it took. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
QUESTIONS = ROOT / "eval" / "questions.jsonl"
CLIENTS = (1, 4, 16, 64)
REQUEST_TIMEOUT = 60.0


# --- numbers


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank percentile (``p`` in 0–100) of ``values``; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Level:
    """One load level's outcome."""

    workers: int
    clients: int
    seconds: float
    latencies: list[float] = field(default_factory=list)  # seconds, answers only
    errors: int = 0
    rss_bytes: int = 0
    server_cpu: float = 0.0  # CPU seconds over the level (and its last answers)
    client_cpu: float = 0.0
    elapsed: float = 0.0  # seconds the CPU was read over

    @property
    def answers_per_second(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def row(self) -> list[str]:
        def ms(p: float) -> str:
            value = percentile(self.latencies, p)
            return "–" if value is None else f"{value * 1000:,.0f} ms"

        return [str(self.workers), str(self.clients), f"{self.answers_per_second:.1f}",
                ms(50), ms(95), ms(99), str(self.errors),
                f"{self.rss_bytes / 2**20:,.0f} MiB",
                f"{100 * self.server_cpu / (self.elapsed or self.seconds):.0f} %",
                f"{100 * self.client_cpu / (self.elapsed or self.seconds):.0f} %"]


HEADER = ["workers", "clients", "answers/s", "p50", "p95", "p99", "errors", "server RSS",
          "server CPU", "load generator CPU"]


def table(levels: Sequence[Level]) -> str:
    """A Markdown table of the levels."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(level.row()) + " |" for level in levels]
    return "\n".join(lines)


# --- the server's processes


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(_children(current))
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds so far of ``pids`` (stat fields 14 and 15)."""
    total = 0.0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def rss_bytes(pids: Sequence[int]) -> int:
    """Resident memory of ``pids`` together (statm's second field)."""
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except OSError:
            continue
    return total


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- running it


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to ``assistant serve`` (the parent stops its workers), SIGKILL if that is
    not enough within 30 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class Server:
    """``assistant serve --workers N`` as a subprocess, stopped with SIGTERM."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "ASSISTANT_RATE_LIMIT": "off", "ASSISTANT_READ_RATE_LIMIT": "off",
               "ASSISTANT_LLM": "extractive"}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "serve", "--port", str(self.port),
             "--workers", str(workers)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid)

    def wait_ready(self, timeout: float = 300) -> None:
        """Until every worker answers and the chat UI is built (it would compete for the
        CPU while it is being built)."""
        import httpx

        states: set[str] = set()
        wanted = {"ready"} if self.workers == 1 else {"ready", "forwarded"}
        deadline = time.monotonic() + timeout
        while not wanted <= states:
            if self.proc.poll() is not None:
                raise RuntimeError("assistant serve exited")
            if time.monotonic() > deadline:
                raise RuntimeError("assistant serve was not ready in time")
            try:
                with httpx.Client(timeout=5) as client:  # a fresh connection: any worker
                    response = client.get(f"{self.base}/readyz")
                if response.status_code == 200:
                    states.add(response.json()["checks"]["ui"]["state"])
            except httpx.TransportError:
                pass
            time.sleep(0.2)

    def stop(self) -> None:
        stop_server(self.proc)


def load_questions(path: Path = QUESTIONS) -> list[str]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line)["question"] for line in lines if line.strip()]


async def _ask_each_once(base: str, questions: Sequence[str]) -> int:
    import httpx

    errors = 0
    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT) as client:
        for question in questions:
            response = await client.post("/api/chat", json={"question": question})
            errors += response.status_code != 200
    return errors


def cpu_limit(server: Server, questions: Sequence[str]) -> tuple[float, float]:
    """CPU seconds per answer (every question once, one at a time, after one warm-up
    pass over a few), and the answers/s the machine's cores would allow at that cost."""
    asyncio.run(_ask_each_once(server.base, questions[:10]))  # warm caches and threads
    pids = server.pids()
    before = cpu_seconds(pids)
    errors = asyncio.run(_ask_each_once(server.base, questions))
    per_answer = (cpu_seconds(pids) - before) / len(questions)
    if errors:
        raise RuntimeError(f"{errors} errors while measuring the CPU limit")
    return per_answer, (os.cpu_count() or 1) / per_answer


async def _level(server: Server, questions: Sequence[str], clients: int,
                 seconds: float) -> Level:
    import httpx

    level = Level(server.workers, clients, seconds)
    pids = server.pids()
    turn = 0
    stop_at = 0.0

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal turn
        while time.monotonic() < stop_at:
            question = questions[turn % len(questions)]
            turn += 1
            start = time.monotonic()
            try:
                response = await client.post("/api/chat", json={"question": question})
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            if time.monotonic() > stop_at:
                return  # ended after the window: not counted either way
            if ok:
                level.latencies.append(time.monotonic() - start)
            else:
                level.errors += 1

    async def sample_rss() -> None:
        while time.monotonic() < stop_at:
            level.rss_bytes = max(level.rss_bytes, rss_bytes(pids))
            await asyncio.sleep(1.0)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=server.base, timeout=REQUEST_TIMEOUT,
                                 limits=limits) as http:
        server_before, client_before = cpu_seconds(pids), own_cpu()
        started = time.monotonic()
        stop_at = started + seconds
        await asyncio.gather(sample_rss(), *(client_loop(http) for _ in range(clients)))
        level.elapsed = time.monotonic() - started
        level.server_cpu = cpu_seconds(pids) - server_before
        level.client_cpu = own_cpu() - client_before
    return level


def machine_facts() -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    return (f"{time.strftime('%Y-%m-%d %H:%M %Z')}; {os.cpu_count()} cores ({model}); "
            f"Python {platform.python_version()}; load average {load[0]:.1f} / {load[1]:.1f}"
            f" / {load[2]:.1f}")


def run(workers: Sequence[int], clients: Sequence[int], seconds: float) -> str:
    questions = load_questions()
    levels: list[Level] = []
    limits: list[str] = []
    facts = machine_facts()
    for count in workers:
        server = Server(count)
        try:
            server.wait_ready()
            time.sleep(2.0)  # let start-up work settle
            per_answer, limit = cpu_limit(server, questions)
            limits.append(f"{count} worker(s): {per_answer * 1000:.1f} ms CPU per answer "
                          f"(every process of the server, {len(questions)} questions one at "
                          f"a time) × {os.cpu_count()} cores = at most {limit:.1f} answers/s")
            print(limits[-1], file=sys.stderr, flush=True)
            for n in clients:
                level = asyncio.run(_level(server, questions, n, seconds))
                levels.append(level)
                print("| " + " | ".join(level.row()) + " |", file=sys.stderr, flush=True)
        finally:
            server.stop()
    return "\n".join([f"Measured {facts} → load average "
                      f"{os.getloadavg()[0]:.1f} at the end; {seconds:.0f} s per level.",
                      "", table(levels), "", "CPU limit, same run:", "",
                      *[f"- {line}" for line in limits]])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--clients", default=",".join(map(str, CLIENTS)),
                        help="concurrent clients per level, comma-separated")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per level")
    args = parser.parse_args(argv)
    print(run([int(w) for w in args.workers.split(",")],
              [int(c) for c in args.clients.split(",")], args.seconds))


if __name__ == "__main__":
    main()

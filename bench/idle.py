"""``python -m bench.idle``: CPU an idle ``assistant serve`` uses, in % of one core.

Starts ``assistant serve --workers N`` on a free port against the project's index
(:class:`bench.load.Server`: extractive, rate limits off), waits until every worker
answers and the chat UI is built, lets it settle, then reads the user + system CPU time
of the server's processes (``/proc/PID/stat``, every process and thread) over
``--seconds`` with no request at all. Linux only; no psutil needed.
"""

from __future__ import annotations

import argparse
import time

from bench.load import Server, cpu_seconds


def measure(seconds: float, settle: float, workers: int = 1) -> float:
    """% of one core over ``seconds`` of idleness, all the server's processes together."""
    server = Server(workers)
    try:
        server.wait_ready()
        time.sleep(settle)
        pids = server.pids()
        start_cpu, start = cpu_seconds(pids), time.monotonic()
        time.sleep(seconds)
        used, elapsed = cpu_seconds(pids) - start_cpu, time.monotonic() - start
    finally:
        server.stop()
    return 100 * used / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--workers", default="1,2",
                        help="comma-separated worker counts, one measurement each")
    args = parser.parse_args()
    for workers in (int(w) for w in args.workers.split(",")):
        percent = measure(args.seconds, args.settle, workers)
        print(f"{workers} worker(s): idle CPU over {args.seconds:.0f} s: {percent:.2f} % "
              "of one core")


if __name__ == "__main__":
    main()

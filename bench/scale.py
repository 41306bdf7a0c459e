"""``make bench-scale``: the pipeline at thousands of documents, next to plain Chroma.

For each corpus size a synthetic corpus (:mod:`bench.synth`) is ingested with the
deterministic fake embedder (``ASSISTANT_EMBEDDINGS=fake``), so the figures are the
pipeline's own cost and not the model's. Everything runs as the user runs it: ``assistant
ingest`` and ``assistant ask`` as fresh processes, ``assistant serve`` as a real server
asked over HTTP. In the same run, plain ``chromadb`` ``collection.query`` on the same
collection with the same query vectors is the anchor: the ratio says what the assistant
adds on top of the vector database.

Figures are measurements, not pass/fail: the acceptance targets are printed beside them.
The machine's load average is printed with every size, since the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.retrieval.retrievers import retriever_names
from bench.synth import questions, write_corpus

ROOT = Path(__file__).resolve().parents[1]


def _percentile(values: list[float], pct: float) -> float:
    from assistant.evaluation.metrics import percentile

    return float(percentile(values, pct))


def _env(corpus: Path, index: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "ASSISTANT_EMBEDDINGS": "fake", "ASSISTANT_ALLOW_FAKE_EMBEDDINGS": "true",
        "ASSISTANT_CORPUS_DIR": str(corpus), "ASSISTANT_INDEX_DIR": str(index),
        "ASSISTANT_FEEDBACK_DB": str(index / "feedback.sqlite3"),
        "ASSISTANT_LLM": "extractive", "ASSISTANT_RATE_LIMIT": "off",
        "ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False",
    })
    env.update(extra)
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "assistant.cli", *args]


@dataclass(frozen=True)
class ChildRun:
    """One child process: wall seconds, CPU seconds (user + system, every thread of
    it), peak RSS in MiB, and its stdout. CPU and RSS hardly depend on what else the
    shared machine runs; wall-clock does."""

    wall: float
    cpu: float
    rss_mib: float
    out: str


def _run(cmd: list[str], env: dict[str, str]) -> ChildRun:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode not in (0, 3):
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                               f"{err.read().decode()[-2000:]}")
        return ChildRun(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                        out.read().decode())


def _du_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class ServerRun:
    retriever: str
    start_s: float
    retrieve_ms: list[float] = field(default_factory=list)
    answer_ms: list[float] = field(default_factory=list)
    rss_mib: float = float("nan")
    errors: int = 0


def bench_server(retriever: str, env: dict[str, str], asked: list[str],
                 timeout: float = 600.0) -> ServerRun:
    with tempfile.TemporaryFile() as log:
        return _bench_server(retriever, env, asked, timeout, log)


def _bench_server(retriever: str, env: dict[str, str], asked: list[str], timeout: float,
                  log: Any) -> ServerRun:
    import httpx

    port = _free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(_cli("serve", "--port", str(port)),
                            env={**env, "ASSISTANT_RETRIEVER": retriever}, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api/chat"
    try:
        with httpx.Client(timeout=120) as client:
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"server exited: {log.read().decode()[-2000:]}")
                if time.perf_counter() - started > timeout:
                    raise RuntimeError("server did not answer in time")
                try:
                    reply = client.post(url, json={"question": asked[0]})
                except httpx.TransportError:
                    time.sleep(0.1)
                    continue
                if reply.status_code == 200:
                    break
                time.sleep(0.1)
            run = ServerRun(retriever, time.perf_counter() - started)
            _wait_for_ui(client, url.replace("/api/chat", "/readyz"), started + timeout)
            for question in asked[1:]:
                t0 = time.perf_counter()
                reply = client.post(url, json={"question": question})
                wall = (time.perf_counter() - t0) * 1000
                if reply.status_code != 200:
                    run.errors += 1
                    continue
                run.answer_ms.append(wall)
                run.retrieve_ms.append(float(reply.json()["timings_ms"]["retrieve"]))
            run.rss_mib = _vm_hwm_mib(proc.pid)
            return run
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for_ui(client: Any, readyz: str, deadline: float) -> None:
    """Steady-state latency is measured once the chat UI is built: the one-off build on
    its background thread competes for the GIL with the first questions, and start to
    first answer is measured on its own above."""
    while time.perf_counter() < deadline:
        ui = client.get(readyz).json().get("checks", {}).get("ui", {})
        if ui.get("state", "ready") != "loading":
            return
        time.sleep(0.1)


def chroma_anchor(index: Path, asked: list[str], k: int = 5) -> dict[str, Any]:
    """Plain chromadb on the same collection and the same query vectors."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from assistant.retrieval.embeddings import FakeEmbeddings

    client = chromadb.PersistentClient(path=str(index / "chroma"),
                                       settings=ChromaSettings(anonymized_telemetry=False))
    chunks = client.get_collection("articles", embedding_function=None)
    counts = {"passages": chunks.count()}
    import numpy as np

    vectors = np.asarray(FakeEmbeddings().embed_documents(asked), dtype=np.float32)
    chunks.query(query_embeddings=vectors[:1], n_results=k)  # loads the HNSW index
    times: list[float] = []
    for vector in vectors:
        t0 = time.perf_counter()
        chunks.query(query_embeddings=vector[None, :], n_results=k,
                     include=["documents", "metadatas", "distances"])
        times.append((time.perf_counter() - t0) * 1000)
    return {**counts, "query_p50_ms": _percentile(times, 50),
            "query_p95_ms": _percentile(times, 95)}


def bench_size(size: int, workdir: Path, n_questions: int, repeats: int,
               seed: int, reuse: bool = False) -> dict[str, Any]:
    load_before = os.getloadavg()
    corpus = write_corpus(workdir / f"corpus-{size}", size, seed)
    index = workdir / f"index-{size}"
    reuse = reuse and index.exists()
    if not reuse:
        shutil.rmtree(index, ignore_errors=True)
    env = _env(corpus, index)
    result: dict[str, Any] = {"documents": size, "load_before": load_before, "reused": reuse}

    if reuse:  # an index built before: measure an ingest of one changed document instead
        first = min(corpus.glob("*.txt"))
        first.write_text(first.read_text(encoding="utf-8") + f"\n\nTillägg {time.time()}.\n",
                         encoding="utf-8")
    first_run = _run(_cli("ingest", "--quiet", "--json"), env)
    summary = json.loads(first_run.out.strip().splitlines()[-1])
    result.update(ingest_s=first_run.wall, ingest_cpu_s=first_run.cpu,
                  ingest_rss_mib=first_run.rss_mib, ingest_summary=summary,
                  index_mib=_du_mib(index))
    print(f"  [{size}] {'one changed document: ' if reuse else ''}ingest "
          f"{first_run.wall:.1f} s (CPU {first_run.cpu:.1f} s), peak RSS "
          f"{first_run.rss_mib:.0f} MiB", flush=True)

    reingest = [_run(_cli("ingest", "--quiet", "--json"), env) for _ in range(repeats)]
    result["reingest_s"] = statistics.median(r.wall for r in reingest)
    result["reingest_cpu_s"] = statistics.median(r.cpu for r in reingest)
    print(f"  [{size}] unchanged re-ingest {[round(r.wall, 2) for r in reingest]} s, CPU "
          f"{[round(r.cpu, 2) for r in reingest]} s", flush=True)

    retrievers = retriever_names()  # every registered retriever gets a server of its own
    asked = questions(n_questions * (len(retrievers) + 1) + repeats + len(retrievers), seed,
                      size)
    cold = [_run(_cli("ask", asked[i], "--json"), env) for i in range(repeats)]
    result["cold_ask_s"] = statistics.median(r.wall for r in cold)
    result["cold_ask_cpu_s"] = statistics.median(r.cpu for r in cold)
    print(f"  [{size}] cold ask {[round(r.wall, 2) for r in cold]} s, CPU "
          f"{[round(r.cpu, 2) for r in cold]} s", flush=True)
    rest = asked[repeats:]

    runs = []
    for i, retriever in enumerate(retrievers):
        mine = rest[i * (n_questions + 1):(i + 1) * (n_questions + 1)]
        run = bench_server(retriever, env, mine)
        runs.append(run)
        print(f"  [{size}] {retriever}: start→first answer {run.start_s:.1f} s, answer p50 "
              f"{_percentile(run.answer_ms, 50):.0f} ms, RSS {run.rss_mib:.0f} MiB", flush=True)
    result["servers"] = {r.retriever: {
        "start_s": r.start_s, "errors": r.errors, "rss_mib": r.rss_mib,
        "retrieve_p50_ms": _percentile(r.retrieve_ms, 50),
        "retrieve_p95_ms": _percentile(r.retrieve_ms, 95),
        "answer_p50_ms": _percentile(r.answer_ms, 50),
        "answer_p95_ms": _percentile(r.answer_ms, 95),
        "questions": len(r.answer_ms)} for r in runs}
    anchor_questions = rest[len(retrievers) * (n_questions + 1):]
    result["chroma"] = chroma_anchor(index, anchor_questions)
    # Passages plus sentence vectors: what the ingest embedded (its own count).
    texts = int(summary.get("texts") or 0)
    result["texts"] = texts
    result["sentence_vectors"] = texts - int(summary["embedded"])
    result["texts_per_s"] = texts / result["ingest_s"]
    result["load_after"] = os.getloadavg()
    return result


TARGETS = {  # issue 12's acceptance figures at 10k documents, for reading the table
    "answer p50 / p95": "≤ 100 / 250 ms", "retrieval p95": "≤ 60 ms",
    "start → first answer": "≤ 3 s", "cold ask": "≤ 3 s", "ingest texts/s": "≥ 1,500",
    "unchanged re-ingest": "≤ 5 s", "peak RSS": "≤ 1 GB",
}


def render(results: list[dict[str, Any]]) -> str:
    def row(label: str, cells: list[str]) -> str:
        return "| " + " | ".join([label, *cells]) + " |"

    head = [f"{r['documents']:,} docs" for r in results]
    lines = [row("", head), row("---", ["---"] * len(results))]

    def add(label: str, fn: Any) -> None:
        lines.append(row(label, [fn(r) for r in results]))

    add("passages / sentence vectors",
        lambda r: f"{r['chroma']['passages']:,} / "
                  + ("–" if r.get("reused") else f"{r['sentence_vectors']:,}"))
    add("ingest wall (texts/s)", lambda r: f"{r['ingest_s']:.1f} s ({r['texts_per_s']:,.0f})"
        + (" one changed doc" if r.get("reused") else ""))
    add("ingest CPU (texts per CPU second)",
        lambda r: f"{r['ingest_cpu_s']:.1f} s ({r['texts'] / max(r['ingest_cpu_s'], 1e-9):,.0f})")
    add("ingest peak RSS", lambda r: f"{r['ingest_rss_mib']:.0f} MiB")
    add("index on disk", lambda r: f"{r['index_mib']:.0f} MiB")
    add("unchanged re-ingest (CPU)",
        lambda r: f"{r['reingest_s']:.1f} s ({r['reingest_cpu_s']:.1f} s)")
    add("cold `assistant ask` (CPU)",
        lambda r: f"{r['cold_ask_s']:.1f} s ({r['cold_ask_cpu_s']:.1f} s)")
    for name in results[0]["servers"] if results else ():  # the retrievers the run served
        add(f"{name}: start → first answer",
            lambda r, m=name: f"{r['servers'][m]['start_s']:.1f} s")
        add(f"{name}: retrieval p50 / p95",
            lambda r, m=name: f"{r['servers'][m]['retrieve_p50_ms']:.0f} / "
                              f"{r['servers'][m]['retrieve_p95_ms']:.0f} ms")
        add(f"{name}: answer p50 / p95",
            lambda r, m=name: f"{r['servers'][m]['answer_p50_ms']:.0f} / "
                              f"{r['servers'][m]['answer_p95_ms']:.0f} ms")
        add(f"{name}: server peak RSS", lambda r, m=name: f"{r['servers'][m]['rss_mib']:.0f} MiB")
    add("chromadb `collection.query` p50 / p95",
        lambda r: f"{r['chroma']['query_p50_ms']:.1f} / {r['chroma']['query_p95_ms']:.1f} ms")
    add("hybrid answer p50 ÷ chromadb p50",
        lambda r: f"{r['servers']['hybrid']['answer_p50_ms'] / r['chroma']['query_p50_ms']:.0f}×")
    add("load average before / after",
        lambda r: f"{r['load_before'][0]:.1f} / {r['load_after'][0]:.1f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--sizes", default="2000,10000",
                        help="comma-separated corpus sizes (default 2000,10000)")
    parser.add_argument("--large", action="store_true", help="also 30,000 documents")
    parser.add_argument("--questions", type=int, default=40,
                        help="distinct questions per server (default 40)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="repeats of re-ingest and cold ask (medians)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) /
                        "assistant-bench-scale", help="corpora and indexes (kept for reuse)")
    parser.add_argument("--out", type=Path, help="also write the raw figures as JSON")
    parser.add_argument("--reuse-index", action="store_true",
                        help="keep an index built by an earlier run; its first ingest then "
                             "re-ingests one changed document (texts/s are then of that run)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.large:
        sizes.append(30_000)
    results = []
    for size in sizes:
        print(f"{size} documents (load {os.getloadavg()[0]:.1f})", flush=True)
        results.append(bench_size(size, args.workdir, args.questions, args.repeats, args.seed,
                                  args.reuse_index))
        if args.out:
            args.out.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    print()
    print(render(results))
    print()
    print("Targets at 10k documents: " + "; ".join(f"{k} {v}" for k, v in TARGETS.items()))


if __name__ == "__main__":
    main()

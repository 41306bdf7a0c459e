"""``assistant eval compare``: what changed between two eval reports, and is it real?

Two runs over the same questions differ question by question, so the deltas are
*paired*: each question is its own control, and the 95 % confidence interval comes
from resampling questions (bootstrap), not from treating two averages as
independent. With 48 questions a 0.025 move is one question; the interval says
whether a delta is more than that noise. The questions that flipped
(pass→fail, fail→pass) are listed with both answers, since that is where a person
decides whether a change is a regression or a better answer the metrics miss.

Reports are read as plain JSON (any report version that has ``questions``, or a
compact baseline from :mod:`assistant.evaluation.compact`), so a report from another
commit, mode or retriever compares the same way.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import ReportError
from assistant.evaluation.abstention import FRR_LEVELS, REFERENCE, Abstention, summarise
from assistant.evaluation.compact import expand, is_compact
from assistant.evaluation.metrics import LATENCY, get_metric, metrics
from assistant.evaluation.report import aligned_table

__all__ = [
    "ComparedMetric",
    "Comparison",
    "Flip",
    "Regression",
    "ReportError",
    "bootstrap_ci",
    "comparable",
    "compare_reports",
    "find_regressions",
    "load_run",
    "parse_regression",
    "read_report",
    "render_comparison",
]

# Per-question values a comparison looks at: the registry's metrics (the judge's only
# when both runs were judged) and the answer latency. Missing or null values are skipped.
LATENCY_KEY = LATENCY.key
BOOTSTRAP_SAMPLES = 2000


def comparable() -> tuple[str, ...]:
    """Every per-question value ``compare`` and ``--fail-on-regression`` know, in order."""
    return (*(m.key for m in metrics()), LATENCY.key)


# --- loading ---------------------------------------------------------------------------------


def read_report(path: Path) -> dict[str, Any]:
    """A report file as written (full or compact); unreadable files raise ReportError."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"rapporten finns inte: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"kan inte läsa {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path} är inte giltig JSON (rad {exc.lineno}): {exc.msg}") from None
    if not isinstance(document, dict):
        raise ReportError(f"{path}: väntade ett JSON-objekt (en rapport från assistant eval)")
    return document


def load_run(spec: str) -> tuple[str, dict[str, Any]]:
    """``report.json`` or ``report.json#dense`` → (label, one run's report dict).

    A ``--compare`` document holds several runs; ``#NAME`` picks one by its config
    name, and without it the first (the gated one) is used.
    """
    path_text, _, wanted = spec.partition("#")
    path = Path(path_text)
    document = read_report(path)
    if is_compact(document):  # a committed baseline: the same runs, passages without text
        document = expand(document)
    runs = document.get("compare") if "compare" in document else [document]
    if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
        raise ReportError(f"{path}: 'compare' ska vara en lista med rapporter")
    names = [str((run.get("config") or {}).get("name", "")) for run in runs]
    if wanted:
        if wanted not in names:
            raise ReportError(f"{path}: ingen körning heter {wanted!r}; finns: {', '.join(names)}")
        run = runs[names.index(wanted)]
    else:
        run = runs[0]
    if not isinstance(run.get("questions"), list):
        raise ReportError(f"{path}: saknar 'questions' (är det en rapport från assistant eval?)")
    for number, entry in enumerate(run["questions"], start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise ReportError(f"{path}: fråga {number} i 'questions' saknar ett 'id'")
    name = names[runs.index(run)] or "run"
    label = f"{path.name}#{name}" if len(runs) > 1 or wanted else path.name
    return label, run


# --- statistics ------------------------------------------------------------------------------


def bootstrap_ci(
    differences: Sequence[float], *, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of paired differences.

    Seeded, so the same two reports always print the same interval (CI logs must
    not flicker). One difference gives a zero-width interval at that value.
    """
    import numpy as np

    if not differences:
        return (math.nan, math.nan)
    values = np.asarray(differences, dtype=float)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(values), size=(samples, len(values)))
    means = values[picks].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return (float(low), float(high))


# --- comparison ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComparedMetric:
    """One metric over the questions where both runs define it."""

    name: str
    n: int
    base: float
    new: float
    ci_low: float
    ci_high: float

    @property
    def delta(self) -> float:
        return self.new - self.base

    @property
    def lower_is_better(self) -> bool:
        metric = get_metric(self.name)
        return metric is not None and metric.lower_is_better

    @property
    def digits(self) -> int:
        metric = get_metric(self.name)
        return metric.digits if metric is not None else 3

    @property
    def kind(self) -> str:
        metric = get_metric(self.name)
        return metric.kind if metric is not None else "question"

    @property
    def significant(self) -> bool:
        """The 95 % interval excludes zero: more than resampling noise."""
        return self.ci_low > 0 or self.ci_high < 0

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.name, "n": self.n, "base": self.base, "new": self.new,
                "delta": self.delta, "ci95": [self.ci_low, self.ci_high],
                "significant": self.significant, "lower_is_better": self.lower_is_better,
                "digits": self.digits, "kind": self.kind}


@dataclass(frozen=True)
class Flip:
    """A question that passed in one run and failed in the other."""

    id: str
    question: str
    direction: str  # "pass→fail" or "fail→pass"
    base_answer: str
    new_answer: str
    base_failures: list[str]
    new_failures: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "question": self.question, "direction": self.direction,
                "base": {"answer": self.base_answer, "failures": self.base_failures},
                "new": {"answer": self.new_answer, "failures": self.new_failures}}


@dataclass
class Comparison:
    base_label: str
    new_label: str
    base_config: dict[str, Any]
    new_config: dict[str, Any]
    metrics: list[ComparedMetric]
    flips: list[Flip]
    only_base: list[str]
    only_new: list[str]
    warnings: list[str] = field(default_factory=list)
    # Both runs' abstention measures over the shared questions (AUROC, refusal at a
    # false-refusal budget), from the questions, so older reports compare too.
    abstention: tuple[Abstention, Abstention] | None = None

    def metric(self, name: str) -> ComparedMetric | None:
        return next((m for m in self.metrics if m.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "base": {"label": self.base_label, "config": self.base_config},
            "new": {"label": self.new_label, "config": self.new_config},
            "metrics": [m.as_dict() for m in self.metrics],
            "flips": [f.as_dict() for f in self.flips],
            "only_in_base": self.only_base,
            "only_in_new": self.only_new,
            "warnings": self.warnings,
            "abstention": None if self.abstention is None else {
                "base": self.abstention[0].to_dict(), "new": self.abstention[1].to_dict()},
        }


def _value(entry: Mapping[str, Any], metric: str) -> float | None:
    if metric == LATENCY_KEY:
        value = (entry.get("timings_ms") or {}).get("total")
    else:
        value = (entry.get("metrics") or {}).get(metric)
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def _passed(entry: Mapping[str, Any]) -> bool:
    return not entry.get("failures")


def _fingerprint(config: Mapping[str, Any], key: str) -> str | None:
    """``corpus.sha256`` or ``eval_file_sha256``; None in reports made before they existed."""
    value = config.get(key)
    if isinstance(value, dict):
        value = value.get("sha256")
    return str(value) if value else None


def _provenance_warnings(base: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Say when a delta may come from the data rather than the change under test."""
    warnings: list[str] = []
    for key, what in (("corpus", "korpusen"), ("eval_file_sha256", "frågefilen")):
        a, b = _fingerprint(base, key), _fingerprint(new, key)
        if a and b and a != b:
            warnings.append(f"{what} skiljer sig mellan körningarna ({a[:12]} ≠ {b[:12]}): "
                            "skillnader kan bero på datan, inte på ändringen")
        elif not (a and b) and key == "corpus":
            warnings.append("minst en rapport saknar korpusens fingeravtryck: kan inte "
                            "kontrollera att båda körningarna använde samma artiklar")
    return warnings


def compare_reports(base: tuple[str, dict[str, Any]], new: tuple[str, dict[str, Any]],
                    *, seed: int = 0) -> Comparison:
    """Pair the questions by id and compare every metric both runs measured."""
    (base_label, base_run), (new_label, new_run) = base, new
    base_q = {e["id"]: e for e in base_run["questions"]}
    new_q = {e["id"]: e for e in new_run["questions"]}
    shared = [qid for qid in base_q if qid in new_q]
    compared: list[ComparedMetric] = []
    for name in comparable():
        pairs = [(a, b) for qid in shared
                 if (a := _value(base_q[qid], name)) is not None
                 and (b := _value(new_q[qid], name)) is not None]
        if not pairs:
            continue
        low, high = bootstrap_ci([b - a for a, b in pairs], seed=seed)
        compared.append(ComparedMetric(
            name, len(pairs), math.fsum(a for a, _ in pairs) / len(pairs),
            math.fsum(b for _, b in pairs) / len(pairs), low, high))
    flips: list[Flip] = []
    for qid in shared:
        a, b = base_q[qid], new_q[qid]
        if _passed(a) == _passed(b):
            continue
        flips.append(Flip(qid, str(b.get("question") or a.get("question") or ""),
                          "pass→fail" if _passed(a) else "fail→pass",
                          str(a.get("answer") or ""), str(b.get("answer") or ""),
                          list(a.get("failures") or []), list(b.get("failures") or [])))
    flips.sort(key=lambda f: (f.direction != "pass→fail", f.id))
    base_cfg, new_cfg = base_run.get("config") or {}, new_run.get("config") or {}
    comparison = Comparison(base_label, new_label, base_cfg, new_cfg, compared, flips,
                            [q for q in base_q if q not in new_q],
                            [q for q in new_q if q not in base_q],
                            _provenance_warnings(base_cfg, new_cfg))
    if shared:
        comparison.abstention = (summarise(base_q[qid] for qid in shared),
                                 summarise(new_q[qid] for qid in shared))
    if base_run.get("interrupted") or new_run.get("interrupted"):
        comparison.warnings.append("minst en rapport är ofullständig (körningen avbröts)")
    if not shared:
        comparison.warnings.append("rapporterna har inga frågor (id) gemensamt")
    return comparison


# --- regression gate -------------------------------------------------------------------------


@dataclass(frozen=True)
class Regression:
    metric: str
    delta: float | None
    tolerance: float

    def __str__(self) -> str:
        if self.delta is None:
            return f"{self.metric}: saknas i minst en av rapporterna (kan inte jämföras)"
        return (f"{self.metric}: försämrad med {abs(self.delta):.4g} "
                f"(tolerans {self.tolerance:g})")


def parse_regression(text: str) -> tuple[str, float]:
    """``"hit@1"`` → (``hit@1``, 0.0); ``"fact_coverage=0.02"`` → (…, 0.02)."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    known = comparable()
    if name not in known:
        raise ValueError(f"okänd metrik {name!r} i --fail-on-regression; välj bland "
                         f"{', '.join(known)}")
    if not sep:
        return name, 0.0
    try:
        tolerance = float(raw)
    except ValueError:
        raise ValueError(f"--fail-on-regression {text!r}: toleransen {raw.strip()!r} "
                         "är inget tal") from None
    if math.isnan(tolerance) or tolerance < 0:
        raise ValueError(f"--fail-on-regression {text!r}: toleransen måste vara ≥ 0")
    return name, tolerance


def find_regressions(comparison: Comparison,
                     rules: Sequence[tuple[str, float]]) -> list[Regression]:
    """A metric regresses when it moved the wrong way by more than its tolerance.

    The point delta decides (deterministic, easy to explain in a PR); the interval
    is printed beside it for the reader. A metric missing from either run fails,
    since a gate on something nobody measured would otherwise pass forever.
    """
    found: list[Regression] = []
    for name, tolerance in rules:
        metric = comparison.metric(name)
        if metric is None:
            found.append(Regression(name, None, tolerance))
            continue
        worse = -metric.delta if not metric.lower_is_better else metric.delta
        if worse > tolerance + 1e-12:
            found.append(Regression(name, metric.delta, tolerance))
    return found


# --- rendering -------------------------------------------------------------------------------


def _fmt(value: float, digits: int) -> str:
    if math.isnan(value):
        return "–"
    return f"{value:+.{digits}f}"


def _describe(label: str, config: Mapping[str, Any]) -> str:
    parts = [f"{label}:", f"retriever={config.get('retriever')}", f"k={config.get('k')}",
             f"mode={config.get('mode')}"]
    if config.get("llm_model"):
        parts.append(f"llm={config['llm_model']}")
    git = config.get("git") or {}
    if isinstance(git, dict) and git.get("commit"):
        parts.append(f"commit={str(git['commit'])[:10]}{'+ändrad' if git.get('dirty') else ''}")
    if config.get("timestamp"):
        parts.append(f"körd={config['timestamp']}")
    return " ".join(parts)


def _shorten(text: str, limit: int = 240) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _abstention_lines(comparison: Comparison) -> list[str]:
    """Both runs' AUROC and refusal at each false-refusal budget, per score."""
    if comparison.abstention is None:
        return []
    base, new = comparison.abstention
    if not any(s.defined for s in (*base.scores(), *new.scores())):
        return []
    rows = [["avstående", "bas", "ny", "delta"]]
    for a, b in zip(base.scores(), new.scores(), strict=True):
        name = a.score + (" (referens)" if a.score == REFERENCE else "")
        pairs = [(f"AUROC {name}", a.auroc, b.auroc)]
        for target in FRR_LEVELS:
            x, y = a.refusal(target), b.refusal(target)
            pairs.append((f"vägrade vid {target * 100:g} % falska, {name}",
                          x.refusal if x else None, y.refusal if y else None))
        rows += [[label, _plain(x), _plain(y),
                  _fmt(y - x, 3) if x is not None and y is not None else "–"]
                 for label, x, y in pairs]
    return ["", f"Avstående på de {base.n} gemensamma frågorna "
            f"({base.answerable} besvarbara, {base.unanswerable} obesvarbara):",
            *aligned_table(rows[0], rows[1:])]


def _plain(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def render_comparison(comparison: Comparison) -> str:
    """The terminal view: configs, a delta table with 95 % CIs, then the flipped questions."""
    lines = [f"bas: {_describe(comparison.base_label, comparison.base_config)}",
             f"ny:  {_describe(comparison.new_label, comparison.new_config)}", ""]
    header = ["metric", "n", "bas", "ny", "delta", "95 % KI", ""]
    rows = [header]
    for m in comparison.metrics:
        digits = m.digits
        better = (m.delta < 0) if m.lower_is_better else (m.delta > 0)
        mark = ("bättre" if better else "sämre") if m.significant else ""
        rows.append([m.name, str(m.n), f"{m.base:.{digits}f}", f"{m.new:.{digits}f}",
                     _fmt(m.delta, digits),
                     f"[{_fmt(m.ci_low, digits)}, {_fmt(m.ci_high, digits)}]", mark])
    lines += aligned_table(header, rows[1:])
    lines += ["", "KI = parat bootstrap-konfidensintervall över frågorna; 'bättre'/'sämre' "
                  "när intervallet utesluter 0."]
    lines += _abstention_lines(comparison)
    if comparison.only_base or comparison.only_new:
        lines.append(f"Bara i bas: {', '.join(comparison.only_base) or '–'}; "
                     f"bara i ny: {', '.join(comparison.only_new) or '–'}")
    lines.append("")
    if not comparison.flips:
        lines.append("Inga frågor bytte mellan godkänd och underkänd.")
    else:
        worse = sum(f.direction == "pass→fail" for f in comparison.flips)
        lines.append(f"Frågor som bytte: {worse} godkänd→underkänd, "
                     f"{len(comparison.flips) - worse} underkänd→godkänd")
        for flip in comparison.flips:
            lines += ["", f"{flip.id} ({flip.direction}) {flip.question}",
                      f"  bas: {_shorten(flip.base_answer) or '(tomt)'}",
                      f"  ny:  {_shorten(flip.new_answer) or '(tomt)'}"]
            failures = flip.new_failures or flip.base_failures
            side = "ny" if flip.new_failures else "bas"
            lines.append(f"  fel ({side}): {'; '.join(failures)}")
    return "\n".join(lines)

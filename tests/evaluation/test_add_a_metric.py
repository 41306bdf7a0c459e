"""The worked example of docs/recipes/add-a-metric.md: a metric registered in one place
shows up in the report's aggregate, the terminal table, the HTML page's catalog,
``compare`` (with its direction) and the ``--min``/``--max`` gate, with nothing else
edited. Here it is registered from the test; in the project it is one more entry in the
registry of ``assistant/evaluation/metrics.py``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from assistant.evaluation.compare import compare_reports, find_regressions, parse_regression
from assistant.evaluation.harness import check_gate, parse_threshold, run_eval
from assistant.evaluation.html_report import render_html
from assistant.evaluation.metrics import (
    NAN,
    Metric,
    QuestionOutcome,
    citation_markers,
    register,
    unregister,
)
from assistant.evaluation.report import render_table
from tests.evaluation.test_harness import FakeAnswerer, Scripted, make_question

KEY = "uncited_rate"


def uncited(outcome: QuestionOutcome, _k: int) -> float:
    """1.0 for an answer without a single [n] marker; refusals do not count (NaN)."""
    if outcome.refused:
        return NAN
    return 0.0 if citation_markers(outcome.answer) else 1.0


@pytest.fixture
def extra_metric() -> Iterator[Metric]:
    metric = register(Metric(KEY, "uncited_rate", uncited, direction="lower",
                             needs_answer=True, chart=False, column="ociterad",
                             description="svar utan någon källhänvisning"))
    try:
        yield metric
    finally:
        unregister(KEY)


QUESTIONS = [make_question("a", "Vem leder skolan?", ["doc1"]),
             make_question("b", "När öppnar biblioteket?", ["doc2"]),
             make_question("c", "Hur många elever?", [], kind="unanswerable")]


def run(answer_b: str, generates_answers: bool = True) -> dict[str, Any]:
    script = {"Vem leder skolan?": Scripted(["doc1"], "Anna [1]."),
              "När öppnar biblioteket?": Scripted(["doc2"], answer_b),
              "Hur många elever?": Scripted([], "Det vet jag inte.", refused=True)}
    report = run_eval(FakeAnswerer(script, generates_answers=generates_answers), QUESTIONS,
                      k=5, name="hybrid")
    return report.to_dict()


def test_a_registered_metric_reaches_report_compare_and_gate(extra_metric: Metric) -> None:
    good, worse = run("Klockan åtta [1]."), run("Klockan åtta.")
    # the report: per question and aggregated (mean over defined values; refusal is null)
    assert [q["metrics"][KEY] for q in worse["questions"]] == [0.0, 1.0, None]
    assert good["aggregate"][KEY] == 0.0 and worse["aggregate"][KEY] == 0.5
    assert worse["aggregate"]["by_kind"]["unanswerable"][KEY] is None
    # a retrieval-only run gets null, since the metric needs an answer
    assert run("Klockan åtta.", generates_answers=False)["aggregate"][KEY] is None

    # compare: paired per question, and "lower is better" makes the rise a regression
    comparison = compare_reports(("good", good), ("worse", worse))
    moved = comparison.metric(KEY)
    assert moved is not None and moved.delta == 0.5 and moved.lower_is_better
    assert [r.metric for r in find_regressions(comparison, [parse_regression(KEY)])] == [KEY]
    assert not find_regressions(compare_reports(("worse", worse), ("good", good)),
                                [parse_regression(KEY)])

    # the gate: a ceiling is accepted, a floor is refused, and the ceiling catches "worse"
    rule = parse_threshold(f"{KEY}=0.1", "max")
    with pytest.raises(ValueError, match="använd --max"):
        parse_threshold(f"{KEY}=0.1", "min")
    assert check_gate(good["aggregate"], (), [rule]) == []
    assert [f.metric for f in check_gate(worse["aggregate"], (), [rule])] == [KEY]


def test_a_registered_metric_is_printed_and_in_the_html_catalog(extra_metric: Metric) -> None:
    from assistant.evaluation.harness import EvalReport

    script = {"Vem leder skolan?": Scripted(["doc1"], "Anna.")}
    report: EvalReport = run_eval(FakeAnswerer(script), QUESTIONS[:1], k=5, name="hybrid")
    row = next(line for line in render_table([report]).splitlines() if line.startswith(KEY))
    assert row.split()[1:] == ["1.000", "1.000"]  # overall and the one kind
    html = render_html([report.to_dict()])
    start = html.index(">", html.index('id="report-data"')) + 1
    data = json.loads(html[start:html.index("</script>", start)])
    catalog = {m["key"]: m for m in data["metrics"]}
    assert catalog[KEY]["column"] == "ociterad" and catalog[KEY]["direction"] == "lower"


def test_without_the_registration_nothing_knows_the_metric() -> None:
    report = run("Klockan åtta.")
    assert KEY not in report["aggregate"]
    with pytest.raises(ValueError, match="okänd metrik"):
        parse_threshold(f"{KEY}=0.1", "max")
    with pytest.raises(ValueError, match="okänd metrik"):
        parse_regression(KEY)

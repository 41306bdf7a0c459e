"""The HTML report in a real browser: it renders every question, sorts, filters, links
citations to passages, keeps hostile answers inert, and makes no request outside itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from assistant.evaluation.html_report import render_html, write_html
from tests.evaluation.test_harness import sample_run

pytestmark = [pytest.mark.browser]

HOSTILE = '</script><script>window.__xss=1</script><img src="https://example.com/x.png">'


def report_dict() -> dict[str, Any]:
    """The harness's own sample run, with a judge verdict and a hostile answer added."""
    document = sample_run().to_dict()
    first = document["questions"][0]
    first["judge"] = {"model": "domare", "repeats": 2, "metrics": {"faithfulness": {
        "score": 0.75, "spread": 0.25, "scores": [1.0, 0.5], "failures": 1,
        "errors": ["HTTP 500"], "reason": "Ett påstående saknar stöd.",
        "claims": [{"claim": "Anna är rektor.", "supported": True}],
    }}}
    first["metrics"]["faithfulness"] = 0.75
    document["aggregate"]["faithfulness"] = 0.75
    document["questions"][1]["answer"] = f"Måndag [1]. {HOSTILE}"
    return document


def open_report(browser: Browser, path: Path) -> tuple[Page, list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri())
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    assert not errors, errors
    return page, requests


def test_report_renders_filters_sorts_and_stays_offline(browser: Browser, tmp_path: Path) -> None:
    path = write_html(tmp_path / "rapport.html", [report_dict()], title="Testrapport")
    page, requests = open_report(browser, path)
    rows = page.locator("tr.q-row")
    expect(rows).to_have_count(4)
    # failures first: b (missing fact) and c (false refusal) fail, a and d pass
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.id)")[:2] == ["b", "c"]
    expect(page.locator("#summary-table")).to_contain_text("unanswerable")
    expect(page.locator("#summary-table")).to_contain_text("faithfulness")

    page.select_option("#filter-status", "pass")
    expect(rows).to_have_count(2)
    page.select_option("#filter-status", "")
    page.fill("#filter-text", "biblioteket")
    expect(rows).to_have_count(1)
    expect(page.locator("#count")).to_have_text("1 av 4 frågor")
    page.fill("#filter-text", "")
    page.select_option("#filter-kind", "list")
    expect(rows).to_have_count(2)
    page.select_option("#filter-kind", "")

    page.locator("th[data-key=id]").click()
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.id)") == ["a", "b", "c", "d"]
    page.locator("th[data-key=id]").click()
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.id)") == ["d", "c", "b", "a"]

    # expand a: the [1] marker links to passage 1, the judge verdict and its failure show
    page.locator("tr.q-row[data-id=a]").click()
    detail = page.locator("tr[data-detail=a]")
    link = detail.locator("a.cite")
    expect(link).to_have_text("1")
    target = link.get_attribute("href")
    assert target and detail.locator(target).count() == 1
    link.click()
    assert page.evaluate("location.hash") == target
    expect(detail).to_contain_text("Ett påstående saknar stöd.")
    expect(detail).to_contain_text("1 domarfel")
    expect(detail).to_contain_text("passage 1 of doc1")
    # the refused question shows why it refused
    page.locator("tr.q-row[data-id=d]").click()
    expect(page.locator("tr[data-detail=d]")).to_contain_text("Vägransskäl")

    # the hostile answer is shown as text and did nothing
    page.locator("tr.q-row[data-id=b]").click()
    expect(page.locator("tr[data-detail=b] .answer")).to_contain_text("<script>window.__xss=1")
    assert page.evaluate("window.__xss") is None
    assert requests and all(url == path.as_uri() or url.startswith("data:")
                            for url in requests), requests
    page.close()


def test_every_run_of_a_compare_report_is_reachable(browser: Browser, tmp_path: Path) -> None:
    first, second = report_dict(), sample_run().to_dict()
    second["config"]["name"] = "dense"
    second["questions"] = second["questions"][:3]
    page, _ = open_report(browser, write_html(tmp_path / "r.html", [first, second]))
    expect(page.locator("tr.q-row")).to_have_count(4)
    page.select_option("#run", "1")
    expect(page.locator("tr.q-row")).to_have_count(3)
    expect(page.locator("#config-list")).to_contain_text("dense")
    page.close()


def test_embedded_data_cannot_close_its_script_block() -> None:
    html = render_html([report_dict()], title="<Rapport>")
    assert "</script><script>window.__xss" not in html
    assert html.count("</script>") == 2  # the data block and the viewer, nothing else
    assert "<title>&lt;Rapport&gt;</title>" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")


def test_compare_page_shows_deltas_and_flips_side_by_side(browser: Browser,
                                                         tmp_path: Path) -> None:
    from assistant.evaluation.compare import compare_reports, load_run
    from assistant.evaluation.html_report import write_compare_html

    baseline = Path(__file__).resolve().parents[2] / "eval" / "baseline.json"
    base, new = load_run(f"{baseline}#bm25"), load_run(f"{baseline}#hybrid")
    # A question that flips fail→pass between the committed runs carries the hostile text.
    first = compare_reports(base, new).as_dict()
    flip_id = next(f["id"] for f in first["flips"] if f["direction"] == "fail→pass")
    for question in new[1]["questions"]:
        if question["id"] == flip_id:
            question["answer"] = HOSTILE
    comparison = compare_reports(base, new).as_dict()
    # A metric that moved between the runs (its delta is printed signed).
    moved = next(m for m in comparison["metrics"] if m["metric"] in ("hit@1", "mrr")
                 and m["new"] != m["base"])
    path = write_compare_html(tmp_path / "cmp.html", comparison, "bm25 → hybrid")
    page, requests = open_report(browser, path)
    expect(page.locator("#metrics tbody tr")).to_have_count(len(comparison["metrics"]))
    expect(page.locator(f"tr[data-metric='{moved['metric']}']")).to_contain_text(
        f"{moved['new'] - moved['base']:+.3f}")
    flips = page.locator("article.flip")
    expect(flips).to_have_count(len(comparison["flips"]))
    page.select_option("#filter-direction", "fail→pass")
    expect(flips).to_have_count(sum(f["direction"] == "fail→pass" for f in comparison["flips"]))
    expect(page.locator(f"article.flip[data-id={flip_id}]")).to_contain_text(
        "<script>window.__xss=1")
    assert page.evaluate("window.__xss") is None
    assert all(url == path.as_uri() or url.startswith("data:") for url in requests), requests
    page.close()


def test_abstention_table_and_risk_coverage_curve(browser: Browser, tmp_path: Path) -> None:
    """A run with confidence and the reference: the table and both curves, drawn inline; a
    run without any score hides the section."""
    from tests.evaluation.test_report import scored_run

    scored = scored_run().to_dict()
    path = write_html(tmp_path / "r.html", [scored, sample_run().to_dict()])
    page, requests = open_report(browser, path)
    section = page.locator("#abstention")
    expect(section).to_be_visible()
    expect(page.locator("#abstention-counts")).to_contain_text("hedge_rate 0.333")
    auroc = page.locator("#abstention-table tbody tr").first
    expect(auroc).to_contain_text("AUROC")
    assert auroc.locator("td").all_text_contents() == ["1.000", "0.500"]
    expect(page.locator("#abstention-table thead")).to_contain_text("best_passage (referens)")
    curves = page.locator("#risk-coverage polyline")
    expect(curves).to_have_count(2)
    assert curves.evaluate_all("ps => ps.map(p => p.dataset.score)") == [
        "confidence", "best_passage"]
    assert (curves.first.get_attribute("points") or "").count(",") == 10  # 100 % … 10 %
    page.select_option("#run", "1")  # no confidence, no evidence: nothing to show
    expect(section).to_be_hidden()
    assert all(url == path.as_uri() or url.startswith("data:") for url in requests), requests
    page.close()


def test_compare_page_shows_both_runs_auroc(browser: Browser, tmp_path: Path) -> None:
    from assistant.evaluation.compare import compare_reports, load_run
    from assistant.evaluation.html_report import write_compare_html

    baseline = Path(__file__).resolve().parents[2] / "eval" / "baseline.json"
    comparison = compare_reports(load_run(f"{baseline}#dense"),
                                 load_run(f"{baseline}#hybrid")).as_dict()
    before, after = (comparison["abstention"][side]["scores"][1]["auroc"]
                     for side in ("base", "new"))
    sure_before, sure_after = (comparison["abstention"][side]["scores"][0]["auroc"]
                               for side in ("base", "new"))
    page, _ = open_report(browser, write_compare_html(tmp_path / "c.html", comparison, "c"))
    expect(page.locator("#abstention")).to_be_visible()
    row = page.locator("tr[data-abstention='AUROC best_passage (referens)']")
    assert row.locator("td").all_text_contents()[:2] == [f"{before:.3f}", f"{after:.3f}"]
    cells = page.locator("tr[data-abstention='AUROC confidence'] td").all_text_contents()
    assert cells[:2] == [f"{sure_before:.3f}", f"{sure_after:.3f}"]
    page.close()

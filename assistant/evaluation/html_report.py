"""``--html FILE``: one self-contained page a person can browse instead of reading JSON
(for a run, and for ``assistant eval compare``).

The page is a template, a stylesheet and a script from ``assets/`` with the report
JSON embedded; it loads nothing (a Content-Security-Policy forbids it), so it can be
attached to a ticket or opened from a CI artifact offline. Answers, passages and
judge reasons come from models and documents, hence untrusted: the script sets them
as text only, and the embedded JSON escapes ``<`` so a ``</script>`` inside an
answer cannot end the data block.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["render_compare_html", "render_html", "write_compare_html", "write_html"]

DEFAULT_TITLE = "Utvärdering"


def _asset(name: str) -> str:
    return resources.files("assistant.evaluation").joinpath("assets", name).read_text("utf-8")


def _embed_json(value: Any) -> str:
    """JSON safe inside ``<script>``: no ``<``, ``>``, ``&`` or line separators left raw."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _page(body: str, script: str, data: Any, title: str) -> str:
    """``page.html`` (head, policy, scripts) around one body, slots filled in one pass so a
    ``{{...}}`` inside the data is never expanded."""
    slots = {
        "TITLE": _escape_text(title),
        "STYLE": _asset("report.css"),
        "BODY": _asset(body),
        "SCRIPT": _asset("common.js") + "\n" + _asset(script),
        "DATA": _embed_json(data),
    }
    template = "page.html"
    page = _asset(template)
    out: list[str] = []
    position = 0
    while (start := page.find("{{", position)) >= 0:
        end = page.find("}}", start)
        name = page[start + 2:end]
        if end < 0 or name not in slots:
            raise ValueError(f"{template}: unknown slot {page[start:start + 20]!r}")
        out += [page[position:start], slots[name]]
        position = end + 2
    out.append(page[position:])
    return "".join(out)


def render_html(runs: Sequence[Mapping[str, Any]], title: str = DEFAULT_TITLE) -> str:
    """The page for one or more run reports (``EvalReport.to_dict()`` or a loaded JSON).

    The metric registry rides along (``metrics``): the script reads which metrics exist,
    their direction, chart and column from it instead of a list of its own."""
    from assistant.evaluation.metrics import metric_catalog

    data = {"title": title, "runs": list(runs), "metrics": metric_catalog()}
    return _page("report.html", "report.js", data, title)


def render_compare_html(comparison: Mapping[str, Any], title: str = "Jämförelse") -> str:
    """The page for ``Comparison.as_dict()``: runs, deltas with CIs, flipped questions."""
    return _page("compare.html", "compare.js", dict(comparison), title)


def write_html(path: Path, runs: Sequence[Mapping[str, Any]], title: str = DEFAULT_TITLE) -> Path:
    return _write(path, render_html(runs, title))


def write_compare_html(path: Path, comparison: Mapping[str, Any],
                       title: str = "Jämförelse") -> Path:
    return _write(path, render_compare_html(comparison, title))


def _write(path: Path, html: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path

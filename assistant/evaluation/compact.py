"""Compact reports: what a committed baseline needs, without the passages' text.

A full report (``assistant eval --out``) carries every retrieved passage's text for
every question of every run, so a five-run baseline is megabytes that every
recalibration rewrites. A comparison, the CI gate and the HTML page need much less:
per question the metrics, the answer, the cited and retrieved ids (chunk ids too),
the refusal record and the timings. A compact document keeps exactly that:

- ``questions``: the eval set once (id, question, kind, expected sources, facts, …),
  not once per run;
- ``passages``: every retrieved passage once, as ``[source id, chunk id]`` sorted by
  chunk id; a question's passages are positions in this table (``passages``);
- per run ``config``, ``aggregate`` and ``results``, one line per question: metric
  values in the order of the run's ``metrics`` list (a whole number written as one),
  timings as ``[retrieve, generate, total]`` (``ms``), refusal checks as
  ``[rule, value, threshold, passed]`` and the refusal evidence in the order of the
  run's ``evidence`` list.

Anything derivable is stored only when it differs from its derivation (retrieved ids
from the passages, cited ids from the answer's markers, met facts from the missing
ones, the answer ``outcome`` from ``refused`` when the run says ``"outcomes":
"derived"``, so only a hedge is written), so nothing the comparison reads is lost; the
answer's ``confidence`` is kept per question (omitted when null). Dropped: the
passages' text, titles, scores and other metadata, a retrieval-only run's "answer"
(its passages' text joined; the run says ``"answers": "passages"``) and the corpus's
per-file hashes (its overall fingerprint stays). :func:`expand` turns a compact
document back into the report shape every reader knows, which is what
:func:`assistant.evaluation.compare.load_run` does, so ``compare``, the gate and the
HTML page read both forms.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from assistant.citations import markers

__all__ = ["FORMAT", "compact", "dumps", "expand", "is_compact", "write"]

FORMAT = "compact"
# Eval-file fields of a question entry: kept once per document, in ``questions``.
QUESTION_FIELDS: dict[str, Any] = {
    "kind": "unspecified", "question": "", "history": [], "expected_sources": [],
    "exclude_sources": [], "must_mention": [], "reference_answer": None, "line": None,
    "extra": {},
}
# Per-run fields that stay as they are, omitted when they hold their default.
PLAIN_FIELDS: dict[str, Any] = {
    "refused": False, "model": None, "notice": None, "citations": [], "failures": [],
    "error": None, "judge": None, "confidence": None,
}
CHECK_FIELDS = ("rule", "value", "threshold", "passed")
TIMINGS = ("retrieve", "generate", "total")
# Fields rebuilt from the compact form (everything else in an entry is copied as is).
_REBUILT = {"id", "answer", "mode", "sources", "retrieved_sources", "cited_sources",
            "met_groups", "missing_groups", "metrics", "timings_ms", "refusal", "outcome",
            *QUESTION_FIELDS, *PLAIN_FIELDS}
# A run whose every question has an ``outcome`` says so ("outcomes": "derived"); its lines
# then keep only an outcome that ``refused`` does not imply (a hedge).
DERIVED = "derived"


def is_compact(document: Mapping[str, Any]) -> bool:
    return document.get("format") == FORMAT


def _runs(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(document["compare"]) if "compare" in document else [dict(document)]


def _distinct(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --- compacting ------------------------------------------------------------------------------


def _passage_answer(entry: Mapping[str, Any]) -> bool:
    """A retrieval-only run's "answer" is its passages' text joined: text, not an answer
    (no passages, no text)."""
    texts = [s.get("text") for s in entry.get("sources") or []]
    return all(isinstance(t, str) for t in texts) and (
        (entry.get("answer") or "") == "\n\n".join(texts))


def _cited(answer: str, sources: Sequence[Mapping[str, Any]]) -> list[str]:
    by_number = {s.get("n"): s.get("id") for s in sources}
    return _distinct(str(by_number[n]) for n in markers(answer) if n in by_number)


def _positional(values: Mapping[str, Any], keys: Sequence[str]) -> Any:
    """``values`` as a list in ``keys`` order when it has exactly those keys, else as is."""
    return [values[key] for key in keys] if list(values) == list(keys) else dict(values)


def _whole(value: Any) -> Any:
    """1.0 → 1: most metric values are 0 or 1, and the ".0" is a third of the line."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _real(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _named(values: Any, keys: Sequence[str]) -> dict[str, Any]:
    return dict(zip(keys, values, strict=True)) if isinstance(values, list) else dict(values)


def _common_keys(dicts: Iterable[Mapping[str, Any] | None]) -> list[str]:
    """The key list most entries share (the run's positional order)."""
    counts: dict[tuple[str, ...], int] = {}
    for values in dicts:
        if isinstance(values, Mapping):
            keys = tuple(values)
            counts[keys] = counts.get(keys, 0) + 1
    return list(max(counts.items(), key=lambda item: item[1])[0]) if counts else []


def _derived_outcome(refused: bool) -> str:
    return "refused" if refused else "answer"


def _compact_refusal(refusal: Any, refused: bool, evidence: Sequence[str]) -> Any:
    if not isinstance(refusal, dict):
        return refusal
    out = dict(refusal)
    if out.get("refused") == refused:
        del out["refused"]
    checks = out.get("checks")
    if isinstance(checks, list):
        out["checks"] = [_positional(c, CHECK_FIELDS) if isinstance(c, dict) else c
                         for c in checks]
    if isinstance(out.get("evidence"), dict):
        out["evidence"] = _positional(out["evidence"], evidence)
    return out


def _compact_sources(entry: Mapping[str, Any], table: Mapping[tuple[str, str], int],
                     out: dict[str, Any]) -> None:
    sources = entry.get("sources") or []
    out["passages"] = [table[(str(s.get("id")), str(s.get("chunk_id")))] for s in sources]
    if [s.get("n") for s in sources] != list(range(1, len(sources) + 1)):
        out["numbers"] = [s.get("n") for s in sources]
    if entry.get("retrieved_sources") != _distinct(str(s.get("id")) for s in sources):
        out["retrieved_sources"] = entry.get("retrieved_sources")


def _compact_facts(entry: Mapping[str, Any], question: Mapping[str, Any],
                   out: dict[str, Any]) -> None:
    """Met and missing fact groups as the positions of the missing ones (``missing``)."""
    groups = [list(g) for g in question.get("must_mention") or []]
    missing = [groups.index(g) for g in entry.get("missing_groups") or [] if g in groups]
    met = [g for i, g in enumerate(groups) if i not in missing]
    if [groups[i] for i in missing] != entry.get("missing_groups", []) or met != entry.get(
            "met_groups", []):
        out["met_groups"] = entry.get("met_groups")
        out["missing_groups"] = entry.get("missing_groups")
    elif missing:
        out["missing"] = missing


def _compact_entry(entry: Mapping[str, Any], run: Mapping[str, Any],
                   question: Mapping[str, Any], table: Mapping[tuple[str, str], int],
                   ) -> dict[str, Any]:
    out: dict[str, Any] = {"id": entry["id"]}
    for name in QUESTION_FIELDS:  # only where this run's question differs from the table
        if name in entry and entry[name] != question.get(name, QUESTION_FIELDS[name]):
            out[name] = entry[name]
    if run.get("answers") == "passages":
        answer = ""
    else:
        answer = str(entry.get("answer") or "")
        out["answer"] = answer
    if entry.get("mode") != (run.get("config") or {}).get("mode"):
        out["mode"] = entry.get("mode")
    for name, default in PLAIN_FIELDS.items():
        if entry.get(name, default) != default:
            out[name] = entry[name]
    implied = (_derived_outcome(bool(entry.get("refused")))
               if run.get("outcomes") == DERIVED else None)
    if entry.get("outcome") != implied:
        out["outcome"] = entry.get("outcome")
    _compact_sources(entry, table, out)
    sources = entry.get("sources") or []
    if entry.get("cited_sources", []) != _cited(answer, sources):
        out["cited_sources"] = entry.get("cited_sources")
    _compact_facts(entry, question, out)
    out["metrics"] = _positional({k: _whole(v) for k, v in (entry.get("metrics") or {}).items()},
                                 run["metrics"])
    timings = entry.get("timings_ms") or {}
    out["ms"] = _positional(timings, TIMINGS)
    if entry.get("refusal") is not None:
        out["refusal"] = _compact_refusal(entry["refusal"], bool(entry.get("refused")),
                                          run["evidence"])
    for name, value in entry.items():  # keys added to reports later ride along untouched
        if name not in _REBUILT and name not in out:
            out[name] = value
    return out


def compact(document: Mapping[str, Any]) -> dict[str, Any]:
    """A full report (one run or a ``--compare`` document) → its compact document.

    Compacting a compact document returns it unchanged.
    """
    if is_compact(document):
        return dict(document)
    runs = _runs(document)
    questions: dict[str, dict[str, Any]] = {}
    pairs: set[tuple[str, str]] = set()
    for run in runs:
        for entry in run.get("questions") or []:
            questions.setdefault(entry["id"], {
                "id": entry["id"], **{name: entry[name] for name, default in
                                      QUESTION_FIELDS.items()
                                      if name in entry and entry[name] != default}})
            pairs.update((str(s.get("id")), str(s.get("chunk_id")))
                         for s in entry.get("sources") or [])
    passages = sorted(pairs, key=lambda pair: (pair[1], pair[0]))
    table = {pair: index for index, pair in enumerate(passages)}
    out_runs = []
    for run in runs:
        entries = run.get("questions") or []
        layout: dict[str, Any] = {
            "metrics": _common_keys(e.get("metrics") for e in entries),
            "evidence": _common_keys((e.get("refusal") or {}).get("evidence")
                                     for e in entries)}
        if run.get("answers") == "passages" or (entries and all(map(_passage_answer,
                                                                    entries))):
            layout["answers"] = "passages"
        if run.get("outcomes") == DERIVED or (entries and all(
                e.get("outcome") is not None for e in entries)):
            layout["outcomes"] = DERIVED
        config = dict(run.get("config") or {})
        if isinstance(config.get("corpus"), dict):
            config["corpus"] = {k: v for k, v in config["corpus"].items() if k != "hashes"}
        head = {k: v for k, v in run.items()
                if k not in ("questions", "config", "answers", "outcomes")}
        out_runs.append({"config": config, **head, **layout, "results": [
            _compact_entry(e, {**run, **layout}, questions[e["id"]], table)
            for e in entries]})
    return {"report_version": document.get("report_version", 1), "format": FORMAT,
            "questions": list(questions.values()), "passages": [list(p) for p in passages],
            "runs": out_runs}


# --- expanding -------------------------------------------------------------------------------


def _expand_sources(result: Mapping[str, Any],
                    passages: Sequence[Sequence[str]]) -> list[dict[str, Any]]:
    indices = result.get("passages") or []
    numbers = result.get("numbers") or list(range(1, len(indices) + 1))
    return [{"n": n, "id": passages[i][0], "chunk_id": passages[i][1]}
            for i, n in zip(indices, numbers, strict=True)]


def _expand_refusal(refusal: Any, refused: bool, evidence: Sequence[str]) -> Any:
    if not isinstance(refusal, dict):
        return refusal
    out = {"refused": refused, **refusal}
    if isinstance(out.get("checks"), list):
        out["checks"] = [_named(c, CHECK_FIELDS) for c in out["checks"]]
    if "evidence" in out and out["evidence"] is not None:
        out["evidence"] = _named(out["evidence"], evidence)
    return out


def _expand_entry(result: Mapping[str, Any], run: Mapping[str, Any],
                  question: Mapping[str, Any],
                  passages: Sequence[Sequence[str]]) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": result["id"]}
    for name, default in QUESTION_FIELDS.items():
        entry[name] = result.get(name, question.get(name, default))
    sources = _expand_sources(result, passages)
    answer = str(result.get("answer") or "")
    groups = [list(g) for g in entry["must_mention"]]
    missing = result.get("missing") or []
    entry.update({
        "answer": answer,
        "mode": result.get("mode", (run.get("config") or {}).get("mode")),
        **{name: result.get(name, default) for name, default in PLAIN_FIELDS.items()},
        "retrieved_sources": result.get("retrieved_sources",
                                        _distinct(s["id"] for s in sources)),
        "cited_sources": result.get("cited_sources", _cited(answer, sources)),
        "met_groups": result.get("met_groups",
                                 [g for i, g in enumerate(groups) if i not in missing]),
        "missing_groups": result.get("missing_groups", [groups[i] for i in missing]),
        "metrics": {k: _real(v) for k, v in
                    _named(result.get("metrics") or {}, run.get("metrics") or []).items()},
        "timings_ms": _named(result.get("ms") or {}, TIMINGS),
        "sources": sources,
        "refusal": _expand_refusal(result.get("refusal"), bool(result.get("refused")),
                                   run.get("evidence") or []),
        "outcome": result.get("outcome", _derived_outcome(bool(result.get("refused")))
                              if run.get("outcomes") == DERIVED else None),
    })
    for name, value in result.items():
        if name not in entry and name not in ("passages", "numbers", "missing", "ms"):
            entry[name] = value
    return entry


def expand(document: Mapping[str, Any]) -> dict[str, Any]:
    """A compact document → a ``--compare``-shaped report every reader understands
    (passages without text, a retrieval-only run's answer empty)."""
    if not is_compact(document):
        return dict(document)
    questions = {q["id"]: q for q in document.get("questions") or []}
    passages = document.get("passages") or []
    runs = []
    for run in document.get("runs") or []:
        # "answers": "passages" stays: the run's answers were its passages' text
        head = {k: v for k, v in run.items()
                if k not in ("results", "metrics", "evidence", "outcomes")}
        runs.append({"report_version": document.get("report_version", 1), **head,
                     "questions": [_expand_entry(r, run, questions.get(r["id"], {}), passages)
                                   for r in run.get("results") or []]})
    return {"report_version": document.get("report_version", 1), "compare": runs}


# --- writing ---------------------------------------------------------------------------------


def _line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _rows(name: str, rows: Sequence[Any], indent: str) -> list[str]:
    if not rows:
        return [f'{indent}"{name}": []']
    body = [f"{indent}  {_line(row)}," for row in rows]
    body[-1] = body[-1][:-1]
    return [f'{indent}"{name}": [', *body, f"{indent}]"]


def dumps(document: Mapping[str, Any]) -> str:
    """The compact document as JSON with one question (or passage) per line, so a
    regenerated baseline diffs question by question."""
    doc = compact(document)
    top = [f'  "report_version": {_line(doc["report_version"])}',
           f'  "format": {_line(doc["format"])}',
           "\n".join(_rows("questions", doc["questions"], "  ")),
           "\n".join(_rows("passages", doc["passages"], "  "))]
    runs = []
    for run in doc["runs"]:
        fields = [f'    "{key}": {_line(value)}' for key, value in run.items()
                  if key != "results"]
        fields.append("\n".join(_rows("results", run["results"], "    ")))
        runs.append("   {\n" + ",\n".join(fields) + "\n   }")
    top.append('  "runs": [\n' + ",\n".join(runs) + "\n  ]")
    return "{\n" + ",\n".join(top) + "\n}\n"


def write(path: Path, document: Mapping[str, Any]) -> Path:
    """Write ``document`` (full or compact) as a compact report."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(document), encoding="utf-8")
    return path

"""One home for tuned numbers: the parameter objects, the committed file, and a scan of
the package for numeric constants defined anywhere else."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from dataclasses import asdict, fields
from pathlib import Path

import pytest

from assistant.answer.policy import Evidence, RefusalPolicy
from assistant.params import (
    CALIBRATION_FILE,
    FusionParams,
    PoolParams,
    Tuning,
    load_calibration,
    tuning,
)
from tests.test_architecture import PACKAGE_DIR, module_files

PARAMS_MODULE = "assistant.params"

# Rooms whose numbers are protocol, not tuning: request and body limits, retry hints and
# status codes of the web API (they shape responses, never an answer's content).
EXEMPT_ROOMS = {"web": "HTTP limits, retry hints and status codes"}

CACHE = "cache or batch size: memory and speed, never an answer"
LIMIT = "input or output limit: what is accepted or shown, not how it is ranked"
FORMAT = "format, version or exit code: a contract with files and callers"
INGEST = "ingest input rules: what counts as text, a title or boilerplate"
SEARCH = "the calibration procedure (folds, k, objective): how values are chosen"
BASELINE = "the tutorial baseline's fixed configuration: a reference, not ours to tune"
STATISTICS = "statistics of the comparison, not of the assistant"
DATA = "a data table (calendar months, rating values), not a threshold"

# Module-level numbers that are not tuning constants, each with its reason.
ALLOWED: dict[str, str] = {
    "assistant.answer.chain.SENTENCE_CACHE_CHUNKS": CACHE,
    "assistant.answer.extractive.UNIT_CACHE_CHUNKS": CACHE,
    "assistant.retrieval.bm25._SLICE": CACHE,
    "assistant.retrieval.bm25._BUCKET": CACHE,
    "assistant.answer.llm.HISTORY_CHARS": LIMIT,
    "assistant.answer.llm.NONCE_BYTES": FORMAT,
    "assistant.citations._MAX_RANGE": LIMIT,
    "assistant.citations.MAX_HELD": LIMIT,
    "assistant.safety.MAX_PASSES": LIMIT,
    "assistant.cli.common.EXIT_OK": FORMAT,
    "assistant.config.MAX_WORKERS": LIMIT,
    "assistant.cli.common.EXIT_GATE": FORMAT,
    "assistant.cli.common.EXIT_INTERRUPTED": FORMAT,
    "assistant.errors.EXIT_ERROR": FORMAT,
    "assistant.config.ADMIN_KEY_MIN_CHARS": LIMIT,
    "assistant.ingest.corpus.MAX_NAME_CHARS": LIMIT,
    "assistant.ingest.corpus.META_MAX_CHARS": LIMIT,
    "assistant.ingest.loaders.DOCX_MAX_MEMBERS": LIMIT,
    "assistant.ingest.loaders.DOCX_MAX_RATIO": LIMIT,
    "assistant.ingest.loaders.DOCX_MAX_UNCOMPRESSED": LIMIT,
    "assistant.errors.EXIT_IN_USE": FORMAT,
    "assistant.errors.EXIT_PARTIAL": FORMAT,
    "assistant.evaluation.abstention.FRR_LEVELS": "measurement points of a report",
    "assistant.evaluation.abstention.FACT_BAR": "the definition of a correct answer in a report",
    "assistant.evaluation.baseline.BASELINE_CHUNK_SIZE": BASELINE,
    "assistant.evaluation.baseline.BASELINE_CHUNK_OVERLAP": BASELINE,
    "assistant.evaluation.baseline.BASELINE_K": BASELINE,
    "assistant.evaluation.calibration.K": SEARCH,
    "assistant.evaluation.answerability.HEDGE_CAP": SEARCH,
    "assistant.evaluation.answerability.L2": SEARCH,
    "assistant.evaluation.answerability._STEPS": SEARCH,
    "assistant.answer.confidence.STANDOUT_RANGE": LIMIT,
    "assistant.evaluation.calibration.FOLDS": SEARCH,
    "assistant.evaluation.calibration.FALSE_REFUSAL_CAP": SEARCH,
    "assistant.evaluation.calibration.FACT_FLOOR": SEARCH,
    "assistant.evaluation.calibration.PENALTY": SEARCH,
    "assistant.evaluation.compare.BOOTSTRAP_SAMPLES": STATISTICS,
    "assistant.evaluation.corpora._FINGERPRINT_CHARS": FORMAT,
    "assistant.evaluation.draft.DRAFT_TEMPERATURE": "drafts eval questions, never answers",
    "assistant.evaluation.harness.REPORT_VERSION": FORMAT,
    "assistant.evaluation.metrics.LATENCY": FORMAT,  # a measured metric's display digits
    "assistant.evaluation.report.ANSWER_CHARS": LIMIT,
    "assistant.history.LLM_HISTORY_TURNS": LIMIT,
    "assistant.ingest.cleaning._MIN_DUPLICATE_CHARS": INGEST,
    "assistant.ingest.loaders._MAX_CONTROL_SHARE": INGEST,
    "assistant.ingest.metadata._MAX_TITLE_WORDS": INGEST,
    "assistant.ingest.metadata._MAX_TITLE_CHARS": INGEST,
    "assistant.ingest.metadata._MONTHS": DATA,
    "assistant.ingest.pipeline.GROUP_TEXTS": CACHE,
    "assistant.retrieval.hybrid.CHUNK_CACHE": CACHE,
    "assistant.retrieval.lexical._CACHE_SIZE": CACHE,
    "assistant.retrieval.store.SCHEMA_VERSION": FORMAT,
    "assistant.retrieval.store._PAGE": CACHE,
    "assistant.retrieval.store.ID_HASH_CHARS": FORMAT,
}


def _numeric(node: ast.expr) -> bool:
    """A number written in the code: ``0.3``, ``-1``, ``1 << 20``, or a tuple, list,
    set or dict (its values) of such numbers (``None`` among them: a grid with "off")."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int | float) and not isinstance(node.value, bool)
    if isinstance(node, ast.UnaryOp):
        return _numeric(node.operand)
    if isinstance(node, ast.BinOp):
        return _numeric(node.left) and _numeric(node.right)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return _numbers(node.elts)
    if isinstance(node, ast.Dict):
        return _numbers(node.values)
    return False


def _numbers(items: list[ast.expr]) -> bool:
    def none(item: ast.expr) -> bool:
        return isinstance(item, ast.Constant) and item.value is None

    return any(_numeric(i) for i in items) and all(_numeric(i) or none(i) for i in items)


def _tuning_value(node: ast.expr) -> bool:
    """A numeric constant, or a call handing one in (``Params(0.3)`` hides it as well)."""
    if isinstance(node, ast.Call):
        return any(_numeric(a) for a in [*node.args, *(k.value for k in node.keywords)])
    return _numeric(node)


def _targets(node: ast.stmt) -> Iterator[tuple[str, ast.expr]]:
    targets: list[ast.expr]
    if isinstance(node, ast.AnnAssign) and node.value is not None:
        targets, value = [node.target], node.value
    elif isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    else:
        return
    for target in targets:
        if isinstance(target, ast.Name):
            yield target.id, value
        elif isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
            for name, item in zip(target.elts, value.elts, strict=False):
                if isinstance(name, ast.Name):
                    yield name.id, item


def _module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run at import: the module body and its ``if``/``try`` blocks."""
    for node in body:
        yield node
        if isinstance(node, ast.If):
            yield from _module_level(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            yield from _module_level(node.body + node.orelse + node.finalbody)


def numeric_constants(package_dir: Path = PACKAGE_DIR) -> dict[str, int]:
    """``module.NAME`` → line of every module-level numeric constant of the package."""
    found: dict[str, int] = {}
    for module, path in module_files(package_dir).items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _module_level(tree.body):
            for name, value in _targets(node):
                if _tuning_value(value):
                    found[f"{module}.{name}"] = node.lineno
    return found


def _room(qualified: str) -> str:
    parts = qualified.split(".")
    return parts[1] if len(parts) > 2 else parts[0]


def outside_params(found: dict[str, int]) -> list[str]:
    """Constants that are neither in the params module, nor allowed, nor in an exempt room."""
    return sorted(name for name in found
                  if not name.startswith(f"{PARAMS_MODULE}.") and name not in ALLOWED
                  and _room(name) not in EXEMPT_ROOMS)


def test_no_tuning_constant_lives_outside_the_params_module() -> None:
    found = numeric_constants()
    assert "assistant.retrieval.store.SCHEMA_VERSION" in found  # the scan sees the package
    stray = outside_params(found)
    assert not stray, (
        "numeric constants outside assistant/params.py: move tuning numbers into a "
        "parameter object (and assistant/calibration.json), or add a non-tuning number to "
        "ALLOWED with its reason:\n" + "\n".join(f"{n} (line {found[n]})" for n in stray))


def test_the_allowlist_names_only_constants_that_exist() -> None:
    """A constant that moved or went away leaves no stale permission behind."""
    found = numeric_constants()
    assert sorted(set(ALLOWED) - set(found)) == []


def test_the_scan_finds_a_constant_in_a_synthetic_module(tmp_path: Path) -> None:
    package = tmp_path / "assistant"
    (package / "answer").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "answer" / "__init__.py").write_text("")
    (package / "answer" / "ranker.py").write_text(
        "import re\n"
        "WEIGHT = 0.3  # a tuned weight\n"
        "GRID: tuple[float | None, ...] = (None, 0.1, -0.2)\n"
        "OFFS = (None, None)\n"
        "LIMITS = {'a': 1 << 4}\n"
        "DEFAULT = Params(margin=0.08)\n"
        "NAME = 'x'\n"
        "FLAG = True\n"
        "PATTERN = re.compile('a', re.I)\n"
        "if True:\n    HIDDEN = 7\n"
        "def f():\n    local = 0.5\n    return local\n")
    (package / "params.py").write_text("MARGIN = 0.08\n")
    found = numeric_constants(package)
    assert set(found) == {"assistant.answer.ranker.WEIGHT", "assistant.answer.ranker.GRID",
                          "assistant.answer.ranker.LIMITS", "assistant.answer.ranker.DEFAULT",
                          "assistant.answer.ranker.HIDDEN", "assistant.params.MARGIN"}
    assert outside_params(found) == ["assistant.answer.ranker.DEFAULT",
                                     "assistant.answer.ranker.GRID",
                                     "assistant.answer.ranker.HIDDEN",
                                     "assistant.answer.ranker.LIMITS",
                                     "assistant.answer.ranker.WEIGHT"]


def _committed_file() -> dict[str, object]:
    path = PACKAGE_DIR / CALIBRATION_FILE
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_defaults_are_the_committed_values() -> None:
    """An object built by hand behaves like the running assistant, and every section of
    the file is one parameter object, key for key."""
    committed = _committed_file()
    assert committed == load_calibration()
    for stage in fields(Tuning):
        default = getattr(Tuning(), stage.name)
        assert committed[default.SECTION] == asdict(default), default.SECTION
    refusal = committed["refusal"]
    assert isinstance(refusal, dict)
    defaults = RefusalPolicy().thresholds()
    assert set(refusal) <= set(defaults)
    # A rule registered without a line in the file is off (None) until calibrated.
    assert {name: refusal.get(name) for name in defaults} == defaults
    assert tuning() == Tuning()
    sections = {getattr(Tuning(), f.name).SECTION for f in fields(Tuning)} | {"refusal"}
    # the answerability model is calibrated data, read by answer/confidence.py
    assert set(committed) - sections == {"source", "hand_set", "confidence"}


def test_a_section_rejects_unknown_keys_and_keeps_defaults_for_missing_ones() -> None:
    assert FusionParams.from_calibration({"retrieval": {"lexical_weight": 0.0}}) == \
        FusionParams(lexical_weight=0.0)
    assert PoolParams.from_calibration({}) == PoolParams()
    with pytest.raises(ValueError, match="okända"):
        PoolParams.from_calibration({"pool": {"minimun": 20}})
    assert PoolParams().size(3) == 20 and PoolParams().size(10) == 40


def test_null_in_the_file_switches_a_rule_off_so_it_does_not_run() -> None:
    data = {"refusal": {"min_evidence": None, "max_slot_gap": 0.0}}
    policy = RefusalPolicy.from_calibration(data)
    weak = Evidence(language="sv", best_passage=0.0, best_lexical=0.0, slot_gap=0.5)
    rules = [c.rule for c in policy.checks(weak)]
    assert "weak_evidence" not in rules  # null: off, not a number no value reaches
    assert rules[-1] == "missing_slot"  # 0.0 is a threshold: its check runs and refuses
    assert policy.decide(weak).rule == "missing_slot"

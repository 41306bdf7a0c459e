"""One hierarchy: every deliberate error is an AssistantError that knows its Swedish
default message, exit code and HTTP status."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from assistant import errors
from assistant.errors import (
    ApiError,
    AssistantError,
    ConfigError,
    FilterError,
    HistoryError,
    IndexMismatchError,
    IndexUnavailableError,
    LLMConfigError,
    LLMError,
    LLMTimeoutError,
    LoadError,
    UserError,
)

PACKAGE = Path(errors.__file__).parent


@pytest.mark.parametrize("cls, exit_code, status", [
    (UserError, 1, 422),
    (FilterError, 1, 422),
    (HistoryError, 1, 422),
    (ConfigError, 1, 500),
    (LLMConfigError, 1, 500),
    (IndexUnavailableError, 1, 503),
    (IndexMismatchError, 1, 503),
    (LoadError, 3, 422),
])
def test_each_error_knows_its_exit_code_status_and_message(cls: type[AssistantError],
                                                           exit_code: int, status: int) -> None:
    exc = cls() if cls is not LoadError else cls("tom fil")
    assert isinstance(exc, AssistantError)
    assert (exc.exit_code, exc.http_status) == (exit_code, status)
    assert str(exc) and cls.user_message  # never an empty message
    if cls is not LoadError:
        assert str(exc) == cls.user_message  # the Swedish default
        assert str(cls("Gör så här.")) == "Gör så här."  # a specific message wins


def test_old_base_classes_still_hold() -> None:
    """Callers that caught ValueError/RuntimeError before keep working."""
    for cls in (ConfigError, LLMConfigError, FilterError, HistoryError):
        assert issubclass(cls, ValueError)
    assert issubclass(IndexUnavailableError, RuntimeError)


def test_api_and_llm_errors_carry_their_details() -> None:
    api = ApiError(404, "Källan finns inte.")
    assert (api.status, api.http_status, str(api)) == (404, 404, "Källan finns inte.")
    assert ApiError.http_status == 500  # the instance's status does not leak to the class
    llm = LLMTimeoutError("Språkmodellen svarade inte i tid.", detail="ReadTimeout",
                          status=504)
    assert (llm.kind, llm.message_sv, llm.status, llm.http_status) == (
        "timeout", "Språkmodellen svarade inte i tid.", 504, 502)
    assert isinstance(llm, LLMError) and LLMTimeoutError().message_sv == (
        LLMTimeoutError.user_message)  # a default Swedish message, as every error has


def test_no_exception_class_is_defined_outside_errors_py() -> None:
    stray = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "errors.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                    getattr(base, "id", getattr(base, "attr", "")).endswith(("Error", "Exception"))
                    for base in node.bases):
                stray.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}")
    assert not stray, "exception classes belong in assistant/errors.py: " + ", ".join(stray)

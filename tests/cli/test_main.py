"""The one error → exit-code table and the one process set-up, through ``main``."""

from __future__ import annotations

import json
import os

import pytest

from assistant.cli import EXIT_ERROR, EXIT_OK, main
from assistant.cli.common import EXIT_INTERRUPTED, EXIT_PARTIAL, exit_code
from assistant.errors import (
    ConfigError,
    FilterError,
    IndexMismatchError,
    LoadError,
    UserError,
)
from assistant.runtime import TELEMETRY_OFF, prepare_process


@pytest.mark.parametrize("exc, code", [
    (UserError("x"), EXIT_ERROR),
    (ConfigError("x"), EXIT_ERROR),
    (FilterError("x"), EXIT_ERROR),
    (IndexMismatchError("x"), EXIT_ERROR),
    (LoadError("x"), EXIT_PARTIAL),
    (FileNotFoundError("x"), EXIT_ERROR),
    (ValueError("x"), EXIT_ERROR),
    (KeyboardInterrupt(), EXIT_INTERRUPTED),
    (RuntimeError("a bug"), None),  # keeps its traceback
    (KeyError("a bug"), None),
])
def test_exit_code_table(exc: BaseException, code: int | None) -> None:
    assert exit_code(exc) == code


def test_bad_setting_names_the_variable_and_exits_1(monkeypatch, capsys) -> None:
    monkeypatch.setenv("ASSISTANT_CHUNK_TOKENS", "3")
    assert main(["config"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("fel: Ogiltig konfiguration: ASSISTANT_CHUNK_TOKENS")
    assert "Traceback" not in err


def test_config_prints_settings_with_secrets_masked(monkeypatch, capsys) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-hemlig-nyckel-123")
    assert main(["config"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "sk-hemlig-nyckel-123" not in out
    assert json.loads(out)["chunk_tokens"] >= 50


def test_eval_usage_error_exits_1_not_2(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["eval", str(tmp_path / "q.jsonl"), "--k", "tre"])
    assert info.value.code == EXIT_ERROR
    assert "fel:" in capsys.readouterr().err


def test_missing_eval_file_is_one_line(tmp_path, capsys) -> None:
    assert main(["eval", str(tmp_path / "saknas.jsonl")]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("fel: ") and "saknas.jsonl" in err and "Traceback" not in err


def test_prepare_process_turns_telemetry_off_but_respects_the_operator(monkeypatch) -> None:
    for name in TELEMETRY_OFF:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "True")  # an explicit choice stays
    prepare_process()
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert os.environ["ANONYMIZED_TELEMETRY"] == "True"


def test_app_py_is_the_serve_command(tmp_path, monkeypatch, capsys) -> None:
    """``python app.py`` goes through the same table: no index is one line and exit 1."""
    import app

    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path / "no-index"))
    monkeypatch.delenv("ASSISTANT_CHROMA_URL", raising=False)
    assert app.main() == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("fel: ") and "assistant ingest" in err


def test_missing_index_exits_1_with_the_fix(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path / "no-index"))
    monkeypatch.delenv("ASSISTANT_CHROMA_URL", raising=False)
    assert main(["ask", "Vem leder skolbiblioteket?"]) == EXIT_ERROR
    assert "assistant ingest" in capsys.readouterr().err


def test_audit_export_prints_the_log_as_json_lines(tmp_path, monkeypatch, capsys) -> None:
    from assistant.ingest.audit import AuditLog

    path = tmp_path / "audit.jsonl"
    AuditLog(path).record("ak_0123456789ab", "upload", "a.txt", None, "h1", "ok")
    AuditLog(path).record("ak_0123456789ab", "delete", "a.txt", "h1", None, "ok")
    monkeypatch.setenv("ASSISTANT_AUDIT_LOG", str(path))
    assert main(["audit", "export"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["upload", "delete"]
    out = tmp_path / "export.jsonl"
    assert main(["audit", "export", "--out", str(out)]) == EXIT_OK
    assert out.read_text(encoding="utf-8").splitlines() == lines
    assert "2 rader" in capsys.readouterr().err


def test_admin_keys_are_checked_in_swedish(monkeypatch, capsys) -> None:
    monkeypatch.setenv("ASSISTANT_ADMIN_KEYS", "kort")
    assert main(["config"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "ASSISTANT_ADMIN_KEYS: varje nyckel ska vara minst 16 tecken" in err
    monkeypatch.setenv("ASSISTANT_ADMIN_KEYS", "samma-nyckel-0123456789")
    monkeypatch.setenv("ASSISTANT_API_KEYS", "samma-nyckel-0123456789")
    assert main(["config"]) == EXIT_ERROR
    assert "får inte också vara en API-nyckel" in capsys.readouterr().err
    monkeypatch.delenv("ASSISTANT_API_KEYS")
    assert main(["config"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "samma-nyckel-0123456789" not in out and json.loads(out)["admin_keys"] == ["***"]

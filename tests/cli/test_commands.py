"""The commands: ``ask`` rejects bad input with one readable line, before loading the index."""

from __future__ import annotations

import json

import pytest

from assistant.cli import EXIT_ERROR, main


@pytest.mark.parametrize("turns, reason", [
    ([{"role": "bot", "content": "hej"}], "'role' must be one of"),
    ([{"role": "user", "content": 3}], "'content' must be a string"),
    ({"history": "inte en lista"}, "'history' must be a list"),
])
def test_bad_history_file_is_reported(tmp_path, monkeypatch, capsys, turns, reason):
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path / "no-index"))
    path = tmp_path / "hist.json"
    path.write_text(json.dumps(turns), encoding="utf-8")
    assert main(["ask", "Vem var värd?", "--history", str(path)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("fel: ") and reason in err and "Traceback" not in err
    assert not (tmp_path / "no-index").exists()  # failed before touching the index


def test_unknown_filter_is_reported(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path / "no-index"))
    assert main(["ask", "Fråga", "--filter", "kommun=Lund"]) == EXIT_ERROR
    assert "Okänt filter: kommun" in capsys.readouterr().err

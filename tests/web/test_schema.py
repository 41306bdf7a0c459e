"""schemathesis against the running app: every documented operation, all checks.

Property-based requests (valid and invalid) from the OpenAPI schema, a bounded
number per operation, against a live server with API keys on: any 5xx, any
undocumented status or header, a response that breaks its schema, a valid
request refused or an invalid one accepted, a wrong method not answered 405,
or a route that works without its credential fails the test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from tests.web.conftest import LiveServer
from tests.web.test_admin import ADMIN_KEY, editable  # noqa: F401  (fixture)

KEY = "sk-schemathesis-0123456789"
CONFIG = Path(__file__).with_name("schemathesis.toml")
MAX_EXAMPLES = 30


def _schemathesis(url: str, tmp_path: Path, *options: str) -> str:
    st = Path(sys.executable).with_name("st")
    result = subprocess.run(
        [str(st), "--config-file", str(CONFIG), "run", f"{url}/openapi.json",
         "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--workers", "1",
         "--request-timeout", "60", "--wait-for-schema", "30", *options],
        cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False)
    summary = result.stdout[-6000:]
    assert result.returncode == 0, summary
    return summary


def test_schemathesis_finds_nothing(server_factory: Any, tmp_path: Path) -> None:
    """Every operation but the admin ones (no admin keys here: they do not exist)."""
    server = server_factory(api_keys=[SecretStr(KEY)])
    summary = _schemathesis(server.url, tmp_path, "--header", f"X-API-Key: {KEY}",
                            "--exclude-path-regex", "^/api/admin/")
    assert " passed" in summary and "failure" not in summary.split("Test cases:")[-1], summary


def test_schemathesis_covers_the_admin_routes(editable: LiveServer,  # noqa: F811
                                              tmp_path: Path) -> None:
    """The admin operations with an admin key, on a server with a corpus of its own (they
    write): nothing undocumented, no 5xx, a valid request accepted."""
    summary = _schemathesis(editable.url, tmp_path, "--header",
                            f"Authorization: Bearer {ADMIN_KEY}",
                            "--include-path-regex", "^/api/admin/")
    assert " passed" in summary and "failure" not in summary.split("Test cases:")[-1], summary

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

KEY = "sk-schemathesis-0123456789"
CONFIG = Path(__file__).with_name("schemathesis.toml")
MAX_EXAMPLES = 30


def test_schemathesis_finds_nothing(server_factory: Any, tmp_path: Path) -> None:
    server = server_factory(api_keys=[SecretStr(KEY)])
    st = Path(sys.executable).with_name("st")
    result = subprocess.run(
        [str(st), "--config-file", str(CONFIG), "run", f"{server.url}/openapi.json",
         "--checks", "all", "--header", f"X-API-Key: {KEY}",
         "--max-examples", str(MAX_EXAMPLES), "--workers", "1", "--request-timeout", "60",
         "--wait-for-schema", "30"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False)
    summary = result.stdout[-6000:]
    assert result.returncode == 0, summary
    assert " passed" in summary and "failure" not in summary.split("Test cases:")[-1], summary

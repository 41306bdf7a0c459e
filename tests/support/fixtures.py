"""Pytest fixtures for the scripted OpenAI-compatible test server.

Load as a plugin (``pytest_plugins = ["tests.support.fixtures"]`` in the root conftest) or
import the fixtures by name into a test module.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.support.openai_server import OpenAIServer, start_openai_server


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A running :class:`OpenAIServer` on 127.0.0.1 (fresh per test), closed afterwards."""
    with start_openai_server() as server:
        yield server


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A 127.0.0.1 port where nothing listens (connections are refused).

    The port stays bound (without ``listen``) for the test, so nobody else can take it.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        yield port

"""Errors → HTTP in one handler: the status comes from the error class, a 500 never
shows its message, and /v1 gets OpenAI's error shape."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from assistant.errors import (
    ApiError,
    AssistantError,
    ConfigError,
    FilterError,
    HistoryError,
    IndexMismatchError,
)
from assistant.web.errors import SERVER_ERROR, install_error_handlers

RAISED: dict[str, AssistantError] = {
    "filter": FilterError("Okänt filter: kommun"),
    "history": HistoryError("Historiken är för lång (21 turer, högst 20)."),
    "index": IndexMismatchError("Bygg om indexet: assistant ingest --rebuild"),
    "config": ConfigError("ASSISTANT_EMBEDDINGS_BASE_URL=http://hemlig.intern saknar svar"),
    "api": ApiError(404, "Källan 'x' finns inte i indexet."),
}


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/api/{name}")
    @app.get("/v1/{name}")
    async def fail(name: str) -> None:
        raise RAISED[name]

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("name, status", [
    ("filter", 422), ("history", 422), ("index", 503), ("api", 404)])
def test_status_and_message_come_from_the_error(client: TestClient, name: str,
                                                status: int) -> None:
    response = client.get(f"/api/{name}")
    assert response.status_code == status
    assert response.json() == {"error": str(RAISED[name])}


def test_a_server_side_error_hides_its_message(client: TestClient) -> None:
    response = client.get("/api/config")
    assert response.status_code == 500
    assert response.json() == {"error": SERVER_ERROR}
    assert "hemlig" not in response.text


def test_openai_routes_get_openai_error_shape(client: TestClient) -> None:
    response = client.get("/v1/filter")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["message"] == "Okänt filter: kommun" and error["type"] == "invalid_request_error"

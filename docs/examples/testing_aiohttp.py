"""End-to-end tests of an aiohttp app that opens `AsyncTurnix()` in cleanup_ctx.

The app under test is the one of the "Web servers" page, saved as aiohttp_app.py.
`turnix_env` starts the local Turnix API and points TURNIX_API_TOKEN and
TURNIX_BASE_URL at it, so the app's client talks to it, with instant retries.
"""

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from aiohttp_app import create_app

from turnix_async.testing import FakeTurnixServer


@pytest_asyncio.fixture
async def browser(turnix_env: FakeTurnixServer) -> AsyncIterator[TestClient[Any, Any]]:
    """The app on a local port (cleanup_ctx runs after turnix_env), and a client."""
    async with TestClient(TestServer(create_app())) as client:
        yield client


@pytest.mark.asyncio
async def test_ice_answers_an_rtc_configuration(
    browser: TestClient[Any, Any], turnix_env: FakeTurnixServer
) -> None:
    response = await browser.post("/ice", params={"room": "lobby"})
    assert response.status == 200
    body = await response.json()
    assert body["iceServers"] and body["expiresAt"]
    (request,) = turnix_env.requests
    assert request.json == {"room": "lobby", "ttl": 300}
    assert request.headers["X-TURN-CLIENT-IP"] == "127.0.0.1"


@pytest.mark.asyncio
async def test_connection_resets_are_retried_then_become_a_502(
    browser: TestClient[Any, Any], turnix_env: FakeTurnixServer
) -> None:
    turnix_env.reset_next(2)
    assert (await browser.post("/ice")).status == 200  # two resets, then success
    turnix_env.reset_next(3)
    assert (await browser.post("/ice")).status == 502
    assert len(turnix_env.requests) == 6

"""End-to-end tests of a FastAPI app that opens its `AsyncTurnix()` in the lifespan.

The app under test is the one of the "Web servers" page, saved as fastapi_app.py.
`turnix_env` starts the local Turnix API and points TURNIX_API_TOKEN and
TURNIX_BASE_URL at it, so the app's client talks to it, with instant retries.
"""

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from fastapi_app import app

from turnix_async.testing import FakeTurnixServer


@pytest_asyncio.fixture
async def browser(turnix_env: FakeTurnixServer) -> AsyncIterator[httpx.AsyncClient]:
    """The app started (its lifespan runs, after turnix_env) and called in process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://app"
        ) as client:
            yield client


@pytest.mark.asyncio
async def test_ice_forwards_the_browser_ip(
    browser: httpx.AsyncClient, turnix_env: FakeTurnixServer
) -> None:
    response = await browser.post("/ice", params={"room": "lobby"})
    assert response.status_code == 200
    assert response.json()["iceServers"][1]["username"]
    (request,) = turnix_env.requests
    assert request.json == {"room": "lobby", "ttl": 300}
    assert request.headers["X-TURN-CLIENT-IP"] == "203.0.113.7"


@pytest.mark.asyncio
async def test_an_outage_becomes_a_502(
    browser: httpx.AsyncClient, turnix_env: FakeTurnixServer
) -> None:
    turnix_env.fail_next(3, status=503, retry_after=30)  # retried at once, not in 90 s
    response = await browser.post("/ice")
    assert response.status_code == 502
    assert len(turnix_env.requests) == 3


@pytest.mark.asyncio
async def test_the_rate_limit_reaches_the_browser_as_a_503(
    browser: httpx.AsyncClient, turnix_env: FakeTurnixServer
) -> None:
    # above the client's cap: not waited
    turnix_env.fail_next(status=429, retry_after=120)
    response = await browser.post("/ice")
    assert (response.status_code, response.headers["Retry-After"]) == (503, "120")

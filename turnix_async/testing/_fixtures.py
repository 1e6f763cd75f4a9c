"""The async fixtures of the pytest plugin; registered only when pytest-asyncio is active.

Nothing heavy at import: the server and the client are imported inside the fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from .._testing_switch import instant_retries

if TYPE_CHECKING:
    from .._client import AsyncTurnix
    from ._server import FakeTurnixServer

__all__ = ["turnix_client", "turnix_env", "turnix_server"]


@pytest_asyncio.fixture
async def turnix_server(request: pytest.FixtureRequest) -> AsyncIterator[FakeTurnixServer]:
    """A started local Turnix API (`FakeTurnixServer`), closed after the test.

    Pass constructor arguments with `@pytest.mark.turnix_server(regions=..., ...)`.
    """
    from ._server import FakeTurnixServer

    marker = request.node.get_closest_marker("turnix_server")
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    with instant_retries():
        async with FakeTurnixServer(**options) as server:
            yield server


@pytest_asyncio.fixture
async def turnix_client(turnix_server: FakeTurnixServer) -> AsyncIterator[AsyncTurnix]:
    """An `AsyncTurnix` bound to `turnix_server` (SDK defaults, 5 s timeout), closed after."""
    from .._client import AsyncTurnix

    with instant_retries():
        async with AsyncTurnix(
            turnix_server.api_token, base_url=turnix_server.base_url, timeout=5.0
        ) as client:
            yield client


@pytest_asyncio.fixture
async def turnix_env(
    turnix_server: FakeTurnixServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FakeTurnixServer]:
    """`turnix_server`, with TURNIX_API_TOKEN and TURNIX_BASE_URL pointing at it for the test.

    An `AsyncTurnix()` built inside your app (in its lifespan, say) then talks to the
    local server, with instant retries.
    """
    monkeypatch.setenv("TURNIX_API_TOKEN", turnix_server.api_token)
    monkeypatch.setenv("TURNIX_BASE_URL", turnix_server.base_url)
    with instant_retries():
        yield turnix_server

"""pytest fixtures `turnix_server` and `turnix_client`, registered by installing turnix-async.

pytest imports this module at startup in every project that has turnix-async
installed (the `pytest11` entry point), so it stays light: the server and the
client are imported only when a test asks for a fixture.

- `turnix_server`: a started `FakeTurnixServer`, closed after the test. Configure
  it with `@pytest.mark.turnix_server(**kwargs)` (the constructor's arguments).
- `turnix_client`: an `AsyncTurnix` bound to `turnix_server` (its token and base
  URL, no backoff waits between retries), closed after the test.

Both are async fixtures: they need pytest-asyncio (in strict mode, mark the tests
with `@pytest.mark.asyncio`). Without it, using them fails with a clear message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from turnix_async import AsyncTurnix
    from turnix_async.testing import FakeTurnixServer

__all__ = ["turnix_client", "turnix_server"]

_MARKER = "turnix_server"
_NEEDS_ASYNCIO = (
    "the turnix_server and turnix_client fixtures are async: install pytest-asyncio"
    " (pip install pytest-asyncio)"
)

_async_fixture: Callable[..., Any] | None
try:
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # pragma: no cover - exercised only without pytest-asyncio
    _async_fixture = None


def pytest_configure(config: pytest.Config) -> None:
    """Register the `turnix_server` marker (so `--strict-markers` accepts it)."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(**kwargs): FakeTurnixServer arguments for the turnix_server fixture",
    )


if _async_fixture is not None:

    @_async_fixture
    async def turnix_server(request: pytest.FixtureRequest) -> AsyncIterator[FakeTurnixServer]:
        """A started local Turnix API (`FakeTurnixServer`), closed after the test.

        Pass constructor arguments with `@pytest.mark.turnix_server(regions=..., ...)`.
        """
        from turnix_async.testing import FakeTurnixServer

        marker = request.node.get_closest_marker(_MARKER)
        options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
        async with FakeTurnixServer(**options) as server:
            yield server

    @_async_fixture
    async def turnix_client(turnix_server: FakeTurnixServer) -> AsyncIterator[AsyncTurnix]:
        """An `AsyncTurnix` bound to `turnix_server`, closed after the test.

        Retries keep the SDK defaults (2) but do not wait between attempts unless the
        server sends `Retry-After`, so fault-injection tests stay fast.
        """
        from turnix_async import AsyncTurnix

        async with AsyncTurnix(
            turnix_server.api_token,
            base_url=turnix_server.base_url,
            timeout=5.0,
            backoff_base=0.0,
        ) as client:
            yield client

else:  # pragma: no cover - exercised only without pytest-asyncio

    @pytest.fixture
    def turnix_server() -> Any:
        """Fails the test: the async fixtures need pytest-asyncio."""
        pytest.fail(_NEEDS_ASYNCIO, pytrace=False)

    @pytest.fixture
    def turnix_client() -> Any:
        """Fails the test: the async fixtures need pytest-asyncio."""
        pytest.fail(_NEEDS_ASYNCIO, pytrace=False)

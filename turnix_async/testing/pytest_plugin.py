"""pytest fixtures `turnix_server`, `turnix_client`, `turnix_env`: installed with turnix-async.

pytest imports this module at startup in every project that has turnix-async
installed (the `pytest11` entry point), so it imports only pytest: the fixtures
are registered at configure time, and the server and the client are imported
only when a test asks for them.

- `turnix_server`: a started `FakeTurnixServer`, closed after the test. Configure
  it with `@pytest.mark.turnix_server(**kwargs)` (the constructor's arguments).
- `turnix_client`: an `AsyncTurnix` bound to `turnix_server`, closed after the test.
- `turnix_env`: `turnix_server`, with `TURNIX_API_TOKEN` and `TURNIX_BASE_URL` set
  for the test, so an `AsyncTurnix()` your app builds itself talks to it.

While any of them is in use, retries happen at once (`instant_retries()`): every
client in the process skips its backoff and `Retry-After` waits.

They are async fixtures: they need pytest-asyncio, enabled (in strict mode, mark
the tests with `@pytest.mark.asyncio`). Without it, using them fails with a clear
message and the rest of the session is unaffected.
"""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["pytest_configure"]

_MARKER = "turnix_server"
_NEEDS_ASYNCIO = (
    "the turnix_server, turnix_client and turnix_env fixtures are async and need the"
    " pytest-asyncio plugin: install it (pip install pytest-asyncio) and do not disable it"
    " (no `-p no:asyncio`)"
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the `turnix_server` marker and the fixtures that fit this session."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(**kwargs): FakeTurnixServer arguments for the turnix_server fixture",
    )
    manager = config.pluginmanager
    if manager.has_plugin("asyncio") or manager.has_plugin("pytest_asyncio"):
        from . import _fixtures  # imports pytest_asyncio, which pytest has loaded already

        manager.register(_fixtures, "turnix_async.testing.fixtures")
    else:
        manager.register(_WithoutAsyncio(), "turnix_async.testing.fixtures")


class _WithoutAsyncio:
    """Stand-ins that fail the test that uses them, saying what to install."""

    @pytest.fixture
    def turnix_server(self) -> Any:
        pytest.fail(_NEEDS_ASYNCIO, pytrace=False)

    @pytest.fixture
    def turnix_client(self) -> Any:
        pytest.fail(_NEEDS_ASYNCIO, pytrace=False)

    @pytest.fixture
    def turnix_env(self) -> Any:
        pytest.fail(_NEEDS_ASYNCIO, pytrace=False)

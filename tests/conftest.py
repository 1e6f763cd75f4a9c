"""Shared test helpers: a scripted loopback server, a client factory, an aioresponses shim."""

from __future__ import annotations

import inspect
import types
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from tests.loopback import TOKEN, ClientFactory, ScriptedServer
from turnix_async import AsyncTurnix


@pytest.fixture
async def loopback() -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def make_client(loopback: ScriptedServer) -> AsyncIterator[ClientFactory]:
    """Build clients bound to the loopback server (no backoff waits); closed afterwards."""
    clients: list[AsyncTurnix] = []

    def factory(**options: Any) -> AsyncTurnix:
        options.setdefault("base_url", loopback.base_url)
        options.setdefault("backoff_base", 0.0)
        options.setdefault("timeout", 2.0)
        client = AsyncTurnix(options.pop("api_token", TOKEN), **options)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests decide the token and base URL themselves, whatever the developer's shell has."""
    monkeypatch.delenv("TURNIX_API_TOKEN", raising=False)
    monkeypatch.delenv("TURNIX_BASE_URL", raising=False)


@pytest.fixture
def aioresponses_compat() -> Iterator[None]:
    """Let aioresponses 0.7.x build responses on every aiohttp the package allows.

    aioresponses calls `ClientResponse(...)` without the `stream_writer` argument
    that aiohttp 3.14 made required (pnuckowski/aioresponses#289); give it one, but
    only where the constructor takes it: aiohttp 3.12 and 3.13 reject it.
    """
    import aioresponses.core as core

    if "stream_writer" not in inspect.signature(aiohttp.ClientResponse).parameters:
        yield
        return
    original = core.ClientResponse

    class CompatResponse(aiohttp.ClientResponse):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("stream_writer", types.SimpleNamespace(output_size=0))
            super().__init__(*args, **kwargs)

    core.ClientResponse = CompatResponse  # type: ignore[misc]
    try:
        yield
    finally:
        core.ClientResponse = original  # type: ignore[misc]

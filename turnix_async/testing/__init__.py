"""A local Turnix server for tests and offline demos, and the pytest fixtures that use it.

    async with FakeTurnixServer() as server:
        async with AsyncTurnix(server.api_token, base_url=server.base_url) as turnix:
            creds = await turnix.get_ice_credentials(room="demo-room")

Installing turnix-async also registers the pytest fixtures `turnix_server` and
`turnix_client` (see `turnix_async.testing.pytest_plugin`).

The server module (and `aiohttp.web`) is imported on first use of a name, so that
pytest loading the plugin from this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._server import DEFAULT_REGIONS, FakeTurnixServer, RecordedRequest

__all__ = ["DEFAULT_REGIONS", "FakeTurnixServer", "RecordedRequest"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import _server

        return getattr(_server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

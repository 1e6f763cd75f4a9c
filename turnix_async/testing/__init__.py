"""A local Turnix server for tests and offline demos, a mock transport, and the pytest fixtures.

    async with FakeTurnixServer() as server:
        async with AsyncTurnix(server.api_token, base_url=server.base_url) as turnix:
            creds = await turnix.get_ice_credentials(room="demo-room")

Installing turnix-async also registers the pytest fixtures `turnix_server`,
`turnix_client` and `turnix_env` (see `turnix_async.testing.pytest_plugin`).

Each name is imported on first use, so that pytest loading the plugin from this
package does not import aiohttp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._testing_switch import instant_retries
    from .._wire import Reply, Request
    from ._faults import Hold
    from ._mock import MockTransport
    from ._server import DEFAULT_REGIONS, FakeTurnixServer, RecordedRequest

__all__ = [
    "DEFAULT_REGIONS",
    "FakeTurnixServer",
    "Hold",
    "MockTransport",
    "RecordedRequest",
    "Reply",
    "Request",
    "instant_retries",
]

_HOMES = {
    "DEFAULT_REGIONS": "turnix_async.testing._rules",
    "FakeTurnixServer": "turnix_async.testing._server",
    "Hold": "turnix_async.testing._faults",
    "MockTransport": "turnix_async.testing._mock",
    "RecordedRequest": "turnix_async.testing._server",
    "Reply": "turnix_async._wire",
    "Request": "turnix_async._wire",
    "instant_retries": "turnix_async._testing_switch",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

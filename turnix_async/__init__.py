"""turnix-async: the asyncio-first Python SDK for the Turnix STUN/TURN API.

async with AsyncTurnix() as turnix:        # token from TURNIX_API_TOKEN
    creds = await turnix.get_ice_credentials(room="demo-room", ttl=120)
    pc_config = creds.to_rtc_configuration()

Each public name is imported on first use: pytest imports the package in every
project that has it installed (for its plugin), and that must not cost aiohttp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._client import AsyncTurnix
    from ._errors import (
        AuthenticationError,
        BadRequestError,
        ClientClosedError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
        ResponseValidationError,
        ServerError,
        TurnixAPIError,
        TurnixConnectionError,
        TurnixError,
        TurnixTimeoutError,
    )
    from ._models import (
        IceCredentials,
        IceCredentialsJSON,
        IceCredentialsRequest,
        IceServer,
        Region,
        RTCConfiguration,
        RTCIceServer,
    )
    from .cache import CacheStats, IceCredentialsCache

__all__ = [
    "AsyncTurnix",
    "AuthenticationError",
    "BadRequestError",
    "CacheStats",
    "ClientClosedError",
    "IceCredentials",
    "IceCredentialsCache",
    "IceCredentialsJSON",
    "IceCredentialsRequest",
    "IceServer",
    "NotFoundError",
    "PermissionDeniedError",
    "RTCConfiguration",
    "RTCIceServer",
    "RateLimitError",
    "Region",
    "ResponseValidationError",
    "ServerError",
    "TurnixAPIError",
    "TurnixConnectionError",
    "TurnixError",
    "TurnixTimeoutError",
    "__version__",
]

_HOMES: dict[str, str] = {
    "AsyncTurnix": "._client",
    "CacheStats": ".cache",
    "IceCredentialsCache": ".cache",
    **dict.fromkeys(
        (
            "IceCredentials",
            "IceCredentialsJSON",
            "IceCredentialsRequest",
            "IceServer",
            "RTCConfiguration",
            "RTCIceServer",
            "Region",
        ),
        "._models",
    ),
    **dict.fromkeys(
        (
            "AuthenticationError",
            "BadRequestError",
            "ClientClosedError",
            "NotFoundError",
            "PermissionDeniedError",
            "RateLimitError",
            "ResponseValidationError",
            "ServerError",
            "TurnixAPIError",
            "TurnixConnectionError",
            "TurnixError",
            "TurnixTimeoutError",
        ),
        "._errors",
    ),
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value  # later look-ups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

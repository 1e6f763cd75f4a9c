"""turnix-async: the asyncio-first Python SDK for the Turnix STUN/TURN API.

async with AsyncTurnix() as turnix:        # token from TURNIX_API_TOKEN
    creds = await turnix.get_ice_credentials(room="demo-room", ttl=120)
    pc_config = creds.to_rtc_configuration()
"""

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
from ._version import __version__
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

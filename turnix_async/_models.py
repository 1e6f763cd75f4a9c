"""The data the SDK sends and returns: frozen attrs classes, validated at construction.

The TypedDicts are the dictionaries a browser gets (`RTCConfiguration`); `_convert`
maps the classes to and from the API's wire format.
"""

from __future__ import annotations

import re
import socket
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, TypedDict

import attrs

if TYPE_CHECKING:
    import aiortc

__all__ = [
    "MAX_ITEMS",
    "IceCredentials",
    "IceCredentialsJSON",
    "IceCredentialsRequest",
    "IceServer",
    "RTCConfiguration",
    "RTCIceServer",
    "Region",
]

MAX_ITEMS = 256  # the most URLs per ICE server (and, checked by _convert, items per response list)

_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")


def _name(field: str, value: object) -> None:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValueError(
            f"{field} must be 1-100 characters of letters, digits, '-' or '_' (got {_shown(value)})"
        )


_NO_SPACE = re.compile(r"\S+")


def _slug(field: str, value: object) -> None:
    if (
        not isinstance(value, str)
        or not _NO_SPACE.fullmatch(value)
        or not value.isprintable()  # control, format (zero-width) and separator characters
    ):
        raise ValueError(
            f"{field} must be a non-empty region slug without whitespace (got {_shown(value)})"
        )


def _ttl(field: str, value: object) -> None:
    if type(value) is not int or value <= 0:  # bool is an int: excluded on purpose
        raise ValueError(f"{field} must be a positive int of seconds (got {_shown(value)})")


def _ip(field: str, value: object) -> None:
    # inet_pton is the strict parser (no leading zeros, no zone, no whitespace), 10x cheaper
    # than ipaddress.ip_address, and this runs on every cache hit that carries a client IP
    if isinstance(value, str) and value.isascii():
        for family in (socket.AF_INET, socket.AF_INET6):
            try:
                socket.inet_pton(family, value)
                return
            except (OSError, ValueError):  # ValueError: an embedded NUL
                pass
    raise ValueError(f"{field} must be an IPv4 or IPv6 address (got {_shown(value)})")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@attrs.frozen
class IceCredentialsRequest:
    """What `get_ice_credentials` asks for; invalid values raise `ValueError` naming the field.

    Every field is optional. `client_ip` is the end user's address, sent as the
    `X-TURN-CLIENT-IP` header so the API picks the region nearest to that user.
    """

    initiator_client: str | None = None
    receiver_client: str | None = None
    room: str | None = None
    ttl: int | None = None
    fixed_region: str | None = None
    preferred_region: str | None = None
    client_ip: str | None = None

    def __attrs_post_init__(self) -> None:
        # one check per field that is set; most are None (cheaper than a validator each)
        if self.initiator_client is not None:
            _name("initiator_client", self.initiator_client)
        if self.receiver_client is not None:
            _name("receiver_client", self.receiver_client)
        if self.room is not None:
            _name("room", self.room)
        if self.ttl is not None:
            _ttl("ttl", self.ttl)
        if self.fixed_region is not None:
            _slug("fixed_region", self.fixed_region)
        if self.preferred_region is not None:
            _slug("preferred_region", self.preferred_region)
        if self.client_ip is not None:
            _ip("client_ip", self.client_ip)
        if self.fixed_region is not None and self.preferred_region is not None:
            raise ValueError(
                "fixed_region and preferred_region exclude each other: a fixed region"
                " leaves nothing to prefer"
            )


_BAD_URLS = f"urls must be a URL string or a list of 1-{MAX_ITEMS} URL strings"


def _url_list(urls: str | list[str]) -> list[str]:
    """The one `urls` normaliser (W3C RTCIceServer): one URL string or a list of them."""
    if isinstance(urls, str):
        listed = [urls]
    elif isinstance(urls, (list, tuple)) and 0 < len(urls) <= MAX_ITEMS:
        listed = list(urls)  # never share the caller's list
    else:
        raise ValueError(_BAD_URLS)
    for url in listed:  # a plain loop: it runs for every server of every response
        if not isinstance(url, str) or not url:
            raise ValueError(_BAD_URLS)
    return listed


class _RTCIceServerAuth(TypedDict, total=False):
    username: str
    credential: str


class RTCIceServer(_RTCIceServerAuth):
    """The W3C `RTCIceServer` dictionary; STUN entries have no username or credential."""

    urls: list[str]


class RTCConfiguration(TypedDict):
    """What `new RTCPeerConnection(config)` takes: `{"iceServers": [...]}`."""

    iceServers: list[RTCIceServer]


class IceCredentialsJSON(RTCConfiguration):
    """`RTCConfiguration` plus `expiresAt` (`"2030-01-01T00:00:00Z"`), for a web endpoint."""

    expiresAt: str


@attrs.frozen
class IceServer:
    """One entry of `iceServers`: STUN entries have no username or credential.

    `urls` may be given as one string or a list (of at most 256); it is stored as a list.
    """

    urls: list[str] = attrs.field(converter=_url_list)
    username: str | None = None
    credential: str | None = attrs.field(default=None, repr=False)

    def to_dict(self) -> RTCIceServer:
        """The W3C `RTCIceServer` dictionary, with absent username/credential omitted."""
        entry: RTCIceServer = {"urls": list(self.urls)}
        if self.username is not None:
            entry["username"] = self.username
        if self.credential is not None:
            entry["credential"] = self.credential
        return entry


def _utc(moment: datetime) -> datetime:
    """Aware UTC: a naive datetime is taken as UTC, an aware one is converted."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


@attrs.frozen
class IceCredentials:
    """Short-lived ICE servers for one peer, and when they stop working."""

    ice_servers: list[IceServer]
    expires_at: datetime = attrs.field(converter=_utc)  # timezone-aware, UTC

    @property
    def time_left(self) -> timedelta:
        """How long these credentials stay valid (zero once expired)."""
        return max(self.expires_at - datetime.now(timezone.utc), timedelta(0))

    @property
    def is_expired(self) -> bool:
        """True once `expires_at` has passed."""
        return datetime.now(timezone.utc) >= self.expires_at

    def to_rtc_configuration(self) -> RTCConfiguration:
        """JSON-ready `{"iceServers": [...]}` for `new RTCPeerConnection(config)` in browsers."""
        return {"iceServers": [server.to_dict() for server in self.ice_servers]}

    def to_json(self) -> IceCredentialsJSON:
        """JSON-ready `{"iceServers": [...], "expiresAt": "2030-01-01T00:00:00Z"}` for the web.

        `expiresAt` is UTC with `Z`, in whole seconds rounded down: never later than
        the real expiry, and what every JavaScript `Date` parses.
        """
        return {
            "iceServers": [server.to_dict() for server in self.ice_servers],
            "expiresAt": self.expires_at.replace(microsecond=0, tzinfo=None).isoformat() + "Z",
        }

    def to_aiortc(self, *, relay_only: bool = False) -> aiortc.RTCConfiguration:
        """An `aiortc.RTCConfiguration` (needs `pip install turnix-async[aiortc]`).

        `relay_only=True` forces traffic through TURN (`iceTransportPolicy="relay"`).

        Raises:
            ImportError: aiortc is missing (the message names the extra), or
                `relay_only=True` with aiortc older than 1.16.
            ValueError: `relay_only=True` but no TURN server with credentials.
        """
        from ._aiortc import to_aiortc

        return to_aiortc(self, relay_only=relay_only)


@attrs.frozen
class Region:
    """A Turnix TURN region, as listed by `GET /regions`."""

    slug: str
    nat2: str
    city: str
    name: str
    lat: float
    lon: float
    is_online: bool
    is_operational: bool

"""`IceCredentials` -> `aiortc.RTCConfiguration`; aiortc is imported only when asked for.

What aiortc does with the configuration (as of 1.16), and so what this module does:

- It uses ONE STUN URL and ONE TURN URL: the first of each it supports (TURN over
  UDP or TCP, TURNS over TCP), in the order the API returned them.
- A URL its parser rejects (for example `stun:...?transport=udp`, or an IPv6
  literal host) makes `RTCPeerConnection` raise `ValueError` when it starts
  gathering, long after the configuration was built. Such URLs are dropped here
  instead, so the remaining servers still work.
- `iceTransportPolicy=RTCIceTransportPolicy.RELAY` (aiortc >= 1.16) gathers relay
  candidates only: no host or server-reflexive candidate ever leaves the peer.
  Older aiortc has no way to express that in a configuration (filtering
  candidates out of the SDP would still let ICE pair from host candidates), so
  `relay_only=True` raises `ImportError` there rather than pretend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiortc import RTCConfiguration

    from ._models import IceCredentials

__all__ = ["to_aiortc"]

_EXTRA = "pip install 'turnix-async[aiortc]'"
_TURN_SCHEMES = ("turn:", "turns:")


def to_aiortc(credentials: IceCredentials, *, relay_only: bool) -> RTCConfiguration:
    """Build the aiortc configuration (see `IceCredentials.to_aiortc`).

    Raises:
        ImportError: aiortc is not installed, or `relay_only=True` with an aiortc
            older than 1.16; the message names the extra to install.
        ValueError: `relay_only=True` but no TURN server aiortc can use is present.
    """
    try:
        import aiortc
    except ImportError as exc:
        raise ImportError(
            f"IceCredentials.to_aiortc() needs aiortc, an optional extra: {_EXTRA}"
        ) from exc

    usable = _url_filter()
    servers = []
    for server in credentials.ice_servers:
        urls = [url for url in server.urls if usable(url)]
        if urls:
            servers.append(
                aiortc.RTCIceServer(
                    urls=urls, username=server.username, credential=server.credential
                )
            )
    if not relay_only:
        return aiortc.RTCConfiguration(iceServers=servers)

    policy: Any = getattr(aiortc, "RTCIceTransportPolicy", None)
    if policy is None:
        raise ImportError(
            "IceCredentials.to_aiortc(relay_only=True) needs aiortc >= 1.16"
            f" (RTCIceTransportPolicy); aiortc {_version(aiortc)} is installed:"
            f" pip install -U 'aiortc>=1.16' (or {_EXTRA} on Python >= 3.11)"
        )
    if not any(
        url.startswith(_TURN_SCHEMES) and server.username is not None
        for server in servers
        for url in server.urls
    ):
        raise ValueError(
            "relay_only=True needs a TURN server with a username and credential,"
            " and these credentials have none aiortc can use (the peer would gather"
            " no candidate at all)"
        )
    return aiortc.RTCConfiguration(iceServers=servers, iceTransportPolicy=policy.RELAY)


def _url_filter() -> Callable[[str], bool]:
    """A predicate: does aiortc's own URL parser accept this URL?"""
    try:
        from aiortc.rtcicetransport import parse_stun_turn_uri
    except ImportError:  # moved in some future aiortc: keep every URL, as before
        return lambda url: True

    def usable(url: str) -> bool:
        try:
            parse_stun_turn_uri(url)
        except ValueError:
            return False
        return True

    return usable


def _version(module: object) -> str:
    version = getattr(module, "__version__", None)
    return version if isinstance(version, str) else "(unknown version)"

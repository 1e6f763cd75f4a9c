"""`IceCredentials` -> `aiortc.RTCConfiguration`, imported only when asked for."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiortc import RTCConfiguration

    from ._models import IceCredentials


def to_aiortc(credentials: IceCredentials, *, relay_only: bool) -> RTCConfiguration:
    """Build the aiortc configuration; raise ImportError naming the extra if aiortc is absent."""
    try:
        from aiortc import RTCConfiguration, RTCIceServer
    except ImportError as exc:
        raise ImportError(
            "IceCredentials.to_aiortc() needs aiortc: pip install 'turnix-async[aiortc]'"
        ) from exc
    servers = [
        RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
        for s in credentials.ice_servers
    ]
    if not relay_only:
        return RTCConfiguration(iceServers=servers)
    from aiortc import RTCIceTransportPolicy  # type: ignore[attr-defined,unused-ignore]

    return RTCConfiguration(
        iceServers=servers,
        iceTransportPolicy=RTCIceTransportPolicy.RELAY,  # type: ignore[call-arg,unused-ignore]
    )

"""A WebRTC signaling server on aiohttp that hands out Turnix ICE credentials.

The Python counterpart of turnix-js-demo. It serves:

    POST /ice            ICE servers for the calling browser: `{"iceServers": [...]}`,
                         ready for `new RTCPeerConnection(config)`. Optional JSON body
                         `{"room": "...", "ttl": 60}`.
    GET  /ws?room=NAME   a WebSocket that relays signaling messages (offer, answer,
                         candidates) between the peers of a room.
    GET  /               two demo pages, /sender.html and /receiver.html, that connect
                         over a data channel through TURN only (add ?relay=0 to allow
                         direct connections).

Run it:

    export TURNIX_API_TOKEN=...             # the real API; never commit the token
    python examples/signaling_server/app.py
    # open http://127.0.0.1:8080/ and follow the two links

Without TURNIX_API_TOKEN it starts an in-process `FakeTurnixServer` (offline), which
can mint credentials for your own coturn: `--turn-secret S --turn-url turn:...`.
With TURNIX_API_TOKEN and TURNIX_BASE_URL it talks to any Turnix-compatible API,
for example `turnix serve`.

One `AsyncTurnix` serves the whole application: it is created in `cleanup_ctx`, so
its connection pool is reused by every request and closed on shutdown.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import logging
import math
import os
import re
import secrets
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from turnix_async import (
    AsyncTurnix,
    ClientClosedError,
    RateLimitError,
    ServerError,
    TurnixError,
    TurnixTimeoutError,
)

log = logging.getLogger("signaling_server")

STATIC_DIR = Path(__file__).resolve().parent / "static"
PAGES = {
    "/": "index.html",
    "/sender.html": "sender.html",
    "/receiver.html": "receiver.html",
    "/demo.js": "demo.js",
}
ROOM_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")  # the Turnix rule for room names
MAX_ICE_BODY = 4096
ROOM_FULL = 4409  # WebSocket close code: the room already has its peers

TurnixFactory = Callable[[], AbstractAsyncContextManager[AsyncTurnix]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Settings:
    """What `create_app` was asked for; read by the handlers."""

    def __init__(
        self,
        *,
        trusted_proxies: Iterable[str],
        max_ttl: int,
        max_message_size: int,
        max_peers: int,
        forward_private_ips: bool,
    ) -> None:
        self.trusted_proxies: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(proxy, strict=False) for proxy in trusted_proxies
        )
        self.max_ttl = max_ttl
        self.max_message_size = max_message_size
        self.max_peers = max_peers
        self.forward_private_ips = forward_private_ips


class Rooms:
    """The open WebSockets, by room name and peer id."""

    def __init__(self) -> None:
        self.rooms: dict[str, dict[str, web.WebSocketResponse]] = {}

    def peers(self, room: str) -> dict[str, web.WebSocketResponse]:
        return self.rooms.get(room, {})

    def join(self, room: str, peer: str, ws: web.WebSocketResponse) -> None:
        self.rooms.setdefault(room, {})[peer] = ws

    def leave(self, room: str, peer: str) -> None:
        peers = self.rooms.get(room)
        if peers is not None:
            peers.pop(peer, None)
            if not peers:
                del self.rooms[room]

    def all(self) -> list[web.WebSocketResponse]:
        return [ws for peers in self.rooms.values() for ws in peers.values()]


TURNIX = web.AppKey("turnix", AsyncTurnix)
SETTINGS = web.AppKey("settings", Settings)
ROOMS = web.AppKey("rooms", Rooms)


def create_app(
    *,
    turnix_factory: TurnixFactory | None = None,
    trusted_proxies: Iterable[str] = (),
    max_ttl: int = 3600,
    max_message_size: int = 64 * 1024,
    max_peers: int = 2,
    forward_private_ips: bool = False,
) -> web.Application:
    """The signaling application.

    Args:
        turnix_factory: returns an async context manager yielding the one
            `AsyncTurnix` of the app (an `AsyncTurnix` itself is one). Default:
            `default_turnix()`: the real API with TURNIX_API_TOKEN, else offline.
        trusted_proxies: addresses or networks of reverse proxies whose
            `X-Forwarded-For` is believed (e.g. `["127.0.0.1", "10.0.0.0/8"]`).
        max_ttl: the longest credential lifetime a browser may ask for, in seconds.
        max_message_size: the largest signaling message relayed, in bytes; larger
            ones close the WebSocket (1009, message too big).
        max_peers: how many peers a room holds (2: a call between sender and receiver).
        forward_private_ips: also send loopback/private client addresses as
            `client_ip` (they tell Turnix nothing about the user's location).
    """
    app = web.Application(client_max_size=MAX_ICE_BODY)
    app[SETTINGS] = Settings(
        trusted_proxies=trusted_proxies,
        max_ttl=max_ttl,
        max_message_size=max_message_size,
        max_peers=max_peers,
        forward_private_ips=forward_private_ips,
    )
    app[ROOMS] = Rooms()
    factory = turnix_factory or default_turnix

    async def turnix_ctx(app: web.Application) -> AsyncIterator[None]:
        async with factory() as turnix:
            app[TURNIX] = turnix
            yield

    app.cleanup_ctx.append(turnix_ctx)
    app.on_shutdown.append(_close_websockets)
    app.router.add_post("/ice", ice)
    app.router.add_get("/ws", websocket)
    for path in PAGES:
        app.router.add_get(path, page)
    return app


@contextlib.asynccontextmanager
async def default_turnix(
    *, turn_secret: str | None = None, turn_urls: Sequence[str] | None = None
) -> AsyncIterator[AsyncTurnix]:
    """The real API when TURNIX_API_TOKEN is set, else an in-process FakeTurnixServer.

    `turn_secret` and `turn_urls` configure the fake server (offline mode only):
    with coturn's `--static-auth-secret` and its URL, browsers really relay.
    """
    if os.environ.get("TURNIX_API_TOKEN"):
        if turn_secret or turn_urls:
            log.warning("--turn-secret / --turn-url only apply offline: they are ignored")
        async with AsyncTurnix() as turnix:  # token (and TURNIX_BASE_URL) from the env
            log.info("using the Turnix API at %s", turnix.base_url)
            yield turnix
        return
    from turnix_async.testing import FakeTurnixServer

    async with (
        FakeTurnixServer(turn_secret=turn_secret, turn_urls=turn_urls) as server,
        AsyncTurnix(server.api_token, base_url=server.base_url) as turnix,
    ):
        log.warning(
            "TURNIX_API_TOKEN is not set: offline mode, ICE credentials come from a local"
            " FakeTurnixServer at %s%s",
            server.base_url,
            "" if turn_urls else " (fake TURN URLs: only ?relay=0 can connect)",
        )
        yield turnix


# -- POST /ice ------------------------------------------------------------------


async def ice(request: web.Request) -> web.Response:
    """ICE servers for the caller, its address forwarded as `client_ip`."""
    settings = request.app[SETTINGS]
    try:
        room, ttl = await _ice_options(request, settings.max_ttl)
    except _Refused as exc:
        return _error(exc.status, exc.message)
    client_ip = client_ip_of(
        request.remote,
        request.headers.getall("X-Forwarded-For", []),
        settings.trusted_proxies,
        forward_private=settings.forward_private_ips,
    )
    try:
        credentials = await request.app[TURNIX].get_ice_credentials(
            room=room, ttl=ttl, client_ip=client_ip
        )
    except ValueError as exc:  # the SDK validates every field before sending
        return _error(400, str(exc))
    except TurnixError as exc:
        return _upstream_error(exc)
    return web.json_response(
        credentials.to_rtc_configuration(), headers={"Cache-Control": "no-store"}
    )


class _Refused(Exception):
    """A request refused before calling Turnix: becomes HTTP `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def _ice_options(request: web.Request, max_ttl: int) -> tuple[str | None, int | None]:
    """`room` and `ttl` from the optional JSON body."""
    if request.content_length is not None and request.content_length > MAX_ICE_BODY:
        raise _Refused(413, "the body is too large")
    body = await request.read()
    if not body.strip():
        return None, None
    if request.content_type != "application/json":
        raise _Refused(415, "send a JSON body (application/json)")
    try:
        options = json.loads(body)
    except ValueError:
        raise _Refused(400, "the body is not valid JSON") from None
    if not isinstance(options, dict):
        raise _Refused(400, "the body must be a JSON object")
    room, ttl = options.get("room"), options.get("ttl")
    if room is not None and not isinstance(room, str):
        raise _Refused(400, "room must be a string")
    if ttl is not None and (type(ttl) is not int or not 0 < ttl <= max_ttl):
        raise _Refused(400, f"ttl must be an integer from 1 to {max_ttl}")
    return room, ttl


def client_ip_of(
    remote: str | None,
    forwarded_for: Sequence[str],
    trusted_proxies: Sequence[IPNetwork],
    *,
    forward_private: bool = False,
) -> str | None:
    """The browser's address to forward to Turnix, or None to let Turnix use ours.

    It is the peer address of the connection, unless that peer is a trusted proxy:
    then it is the right-most `X-Forwarded-For` hop that is not a trusted proxy
    (hops further left were written by the client and prove nothing). Loopback,
    private and otherwise non-global addresses are dropped unless `forward_private`:
    they say nothing about where the user is.
    """
    address = _ip(remote)
    if address is None:  # e.g. a unix socket
        return None
    if forwarded_for and _trusted(address, trusted_proxies):
        hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
        address = None
        for hop in reversed(hops):
            address = _ip(hop)
            if address is None or not _trusted(address, trusted_proxies):
                break
        if address is None:
            return None
    if not forward_private and not address.is_global:
        return None
    return str(address)


def _ip(text: str | None) -> IPAddress | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, proxies: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in proxies)


def _upstream_error(exc: TurnixError) -> web.Response:
    """Map an SDK failure to what the browser should see (details stay in our log)."""
    if isinstance(exc, RateLimitError) or (isinstance(exc, ServerError) and exc.status == 503):
        log.warning("Turnix is busy or rate-limits us: %s", exc)
        response = _error(503, "ICE servers are temporarily unavailable, retry later")
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
        return response
    if isinstance(exc, ClientClosedError):
        return _error(503, "the server is shutting down")
    if isinstance(exc, TurnixTimeoutError):
        log.error("Turnix did not answer in time: %s", exc)
        return _error(504, "the Turnix API did not answer in time")
    log.error("ICE credentials failed: %r", exc)
    return _error(502, "the Turnix API failed to provide ICE servers")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


# -- GET /ws?room=... --------------------------------------------------------------


async def websocket(request: web.Request) -> web.StreamResponse:
    """Relay JSON messages between the peers of one room.

    The server sends `{"type": "welcome", "id": ME, "peers": [...]}` on joining,
    `{"type": "joined"|"left", "id": PEER}` when another peer comes or goes, and
    `{"type": "error", "error": "..."}` for a message it cannot relay. Every JSON
    object a peer sends is delivered to the others with `"from": SENDER` added.
    """
    settings, rooms = request.app[SETTINGS], request.app[ROOMS]
    room = request.query.get("room", "")
    if not ROOM_NAME.fullmatch(room):
        raise _bad_request("room must be 1-100 characters of letters, digits, '-' or '_'")
    ws = web.WebSocketResponse(max_msg_size=settings.max_message_size, heartbeat=30)
    await ws.prepare(request)
    if len(rooms.peers(room)) >= settings.max_peers:
        await ws.send_json({"type": "error", "error": f"room {room!r} is full"})
        await ws.close(code=ROOM_FULL, message=b"room full")
        return ws

    me = secrets.token_hex(4)
    others = list(rooms.peers(room))
    rooms.join(room, me, ws)
    try:
        await ws.send_json({"type": "welcome", "id": me, "room": room, "peers": others})
        await _broadcast(rooms, room, me, {"type": "joined", "id": me})
        async for message in ws:
            if message.type == WSMsgType.ERROR:  # e.g. too big: aiohttp closes with 1009
                log.info("peer %s in room %r: %s", me, room, ws.exception())
                break
            if message.type != WSMsgType.TEXT:
                await _send(ws, {"type": "error", "error": "send JSON text messages"})
                continue
            try:
                payload: Any = json.loads(message.data)
            except ValueError:
                payload = None
            if not isinstance(payload, dict):
                await _send(ws, {"type": "error", "error": "a message must be a JSON object"})
                continue
            payload["from"] = me
            await _broadcast(rooms, room, me, payload)
    finally:
        rooms.leave(room, me)
        await _broadcast(rooms, room, me, {"type": "left", "id": me})
    return ws


async def _broadcast(rooms: Rooms, room: str, sender: str, payload: dict[str, Any]) -> None:
    for peer, ws in list(rooms.peers(room).items()):
        if peer != sender:
            await _send(ws, payload)


async def _send(ws: web.WebSocketResponse, payload: dict[str, Any]) -> None:
    """Send unless the socket is closing (its own handler is cleaning it up)."""
    if not ws.closed:
        with contextlib.suppress(ConnectionError):
            await ws.send_json(payload)


async def _close_websockets(app: web.Application) -> None:
    for ws in app[ROOMS].all():
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


# -- the demo pages -------------------------------------------------------------------

_CSP = "default-src 'self'; connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'"


async def page(request: web.Request) -> web.FileResponse:
    name = PAGES[request.path]
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if name.endswith(".html"):
        headers["Content-Security-Policy"] = _CSP
    return web.FileResponse(STATIC_DIR / name, headers=headers)


# -- command line ----------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    env = os.environ
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default=env.get("SIGNALING_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env.get("SIGNALING_PORT", "8080")))
    parser.add_argument(
        "--trusted-proxy",
        action="append",
        default=_split(env.get("SIGNALING_TRUSTED_PROXIES")),
        metavar="CIDR",
        help="a reverse proxy whose X-Forwarded-For is believed (repeatable)",
    )
    parser.add_argument(
        "--turn-secret",
        default=env.get("SIGNALING_TURN_SECRET"),
        help="offline mode: mint coturn REST-API credentials with this secret",
    )
    parser.add_argument(
        "--turn-url",
        action="append",
        default=_split(env.get("SIGNALING_TURN_URLS")),
        metavar="URL",
        help="offline mode: a TURN URL to hand out, e.g. turn:127.0.0.1:3478 (repeatable)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    def factory() -> AbstractAsyncContextManager[AsyncTurnix]:
        return default_turnix(turn_secret=args.turn_secret, turn_urls=args.turn_url or None)

    app = create_app(turnix_factory=factory, trusted_proxies=args.trusted_proxy)
    web.run_app(app, host=args.host, port=args.port)


def _split(value: str | None) -> list[str]:
    return [item for item in re.split(r"[\s,]+", value or "") if item]


if __name__ == "__main__":
    main()

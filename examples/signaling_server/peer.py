"""An aiortc peer for the signaling example: the Python twin of sender.html / receiver.html.

    python examples/signaling_server/peer.py receiver --room demo
    python examples/signaling_server/peer.py sender --room demo --message "hello from Python"

It gets ICE servers from the signaling server's `POST /ice`, as the pages do, turns
them into an aiortc configuration with `IceCredentials.to_aiortc(relay_only=True)`,
joins the room over `/ws`, and talks to a page or to another peer.py: the sender
opens a data channel and sends one message, the receiver prints it and exits.
Both speak the pages' protocol (offer / answer / trickled candidates), so a
Python receiver works with the browser sender and the other way round.

Needs the extra: pip install 'turnix-async[aiortc]'.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from turnix_async import IceCredentials, IceServer

DEFAULT_TTL = 30  # what Turnix grants when no ttl is asked for


async def fetch_ice(
    session: aiohttp.ClientSession, server: str, room: str, ttl: int | None = None
) -> IceCredentials:
    """The signaling server's `POST /ice` answer, as `IceCredentials`."""
    body: dict[str, Any] = {"room": room}
    if ttl is not None:
        body["ttl"] = ttl
    async with session.post(f"{server}/ice", json=body) as response:
        data = await response.json(content_type=None)
        if response.status != 200:
            raise RuntimeError(f"/ice answered {response.status}: {data.get('error')}")
    servers = [
        IceServer(
            urls=[entry["urls"]] if isinstance(entry["urls"], str) else list(entry["urls"]),
            username=entry.get("username"),
            credential=entry.get("credential"),
        )
        for entry in data["iceServers"]
    ]
    expires_at = datetime.now(timezone.utc) + timedelta(seconds=ttl or DEFAULT_TTL)
    return IceCredentials(servers, expires_at)


class Peer:
    """One side of the call, driven by the messages of the signaling WebSocket.

    `done` resolves to the message received (receiver) or sent (sender) once the
    call has done its job, or fails with the reason the call cannot happen.
    """

    def __init__(
        self,
        role: str,
        credentials: IceCredentials,
        send: Callable[[dict[str, Any]], Awaitable[None]],
        *,
        message: str = "hello",
        relay_only: bool = True,
        on_connected: Callable[[RTCPeerConnection], None] | None = None,
    ) -> None:
        if role not in ("sender", "receiver"):
            raise ValueError("role must be 'sender' or 'receiver'")
        self.role = role
        self.credentials = credentials
        self.send = send
        self.message = message
        self.relay_only = relay_only
        self.on_connected = on_connected
        self.pc: RTCPeerConnection | None = None
        self.sent = False
        self.done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "welcome":
            if self.role == "sender" and message["peers"]:
                await self.call()
        elif kind == "joined" and self.role == "sender":
            await self.call()
        elif kind == "offer" and self.role == "receiver":
            await self.answer(message["sdp"])
        elif kind == "answer" and self.role == "sender" and self.pc is not None:
            await self.pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "answer"))
        elif kind == "candidate" and self.pc is not None:
            candidate = parse_candidate(message.get("candidate") or {})
            if candidate is not None:
                await self.pc.addIceCandidate(candidate)
        elif kind == "left":
            if self.sent:  # the receiver got the message and hung up
                self._finish(self.message)
            else:  # wait for another peer
                await self.close()

    async def call(self) -> None:
        """Sender: open the data channel and send the offer (its candidates included)."""
        pc = await self._new_pc()
        channel = pc.createDataChannel("chat")

        @channel.on("open")
        def on_open() -> None:
            channel.send(self.message)
            self.sent = True
            print(f"sent: {self.message}", flush=True)

        await pc.setLocalDescription(await pc.createOffer())  # gathers every candidate
        self._check_candidates(pc)
        await self.send({"type": "offer", "sdp": pc.localDescription.sdp})

    async def answer(self, offer: str) -> None:
        """Receiver: answer the offer and report the first data-channel message."""
        pc = await self._new_pc()

        def on_message(text: Any) -> None:
            print(f"message: {text}", flush=True)
            self._finish(str(text))

        @pc.on("datachannel")
        def on_datachannel(channel: Any) -> None:
            channel.on("message", on_message)

        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        self._check_candidates(pc)
        await self.send({"type": "answer", "sdp": pc.localDescription.sdp})

    async def close(self) -> None:
        pc, self.pc = self.pc, None
        if pc is not None:
            # Shielded: cancelling a task that waits in close() would cancel the
            # future aiortc's own close task (started when DTLS ends) resolves.
            await asyncio.shield(pc.close())

    async def _new_pc(self) -> RTCPeerConnection:
        await self.close()
        pc = RTCPeerConnection(self.credentials.to_aiortc(relay_only=self.relay_only))
        self.pc = pc

        @pc.on("connectionstatechange")
        def on_state() -> None:
            print(f"connection: {pc.connectionState}", flush=True)
            if pc.connectionState == "connected" and self.on_connected is not None:
                self.on_connected(pc)
            elif pc.connectionState == "failed":
                self._fail("the connection failed (ICE or DTLS)")

        return pc

    def _check_candidates(self, pc: RTCPeerConnection) -> None:
        # aiortc gathers before setLocalDescription returns: a refused TURN
        # allocation shows at once as an SDP without relay candidates.
        if self.relay_only and "typ relay" not in pc.localDescription.sdp:
            raise RuntimeError(
                "no relay candidate: the TURN server refused the credentials"
                " (expired?) or is unreachable"
            )

    def _finish(self, result: str) -> None:
        if not self.done.done():
            self.done.set_result(result)

    def _fail(self, reason: str) -> None:
        if not self.done.done():
            self.done.set_exception(RuntimeError(reason))


def parse_candidate(data: dict[str, Any]) -> Any:
    """A browser's `RTCIceCandidate.toJSON()` as an aiortc candidate (None: end of candidates)."""
    text = data.get("candidate") or ""
    if not text:
        return None
    candidate = candidate_from_sdp(text.split(":", 1)[1])
    candidate.sdpMid = data.get("sdpMid")
    candidate.sdpMLineIndex = data.get("sdpMLineIndex")
    return candidate


async def run(
    role: str,
    *,
    server: str = "http://127.0.0.1:8080",
    room: str = "demo",
    message: str = "hello",
    relay_only: bool = True,
    ttl: int | None = None,
    timeout: float | None = None,
    on_connected: Callable[[RTCPeerConnection], None] | None = None,
) -> str:
    """Join `room` as `role` and return the message received or sent.

    `on_connected(pc)` runs when the peer connection is up (e.g. to read its stats).

    Raises:
        RuntimeError: /ice failed, no relay candidate, the room is full, the call failed.
        TimeoutError: `timeout` seconds passed first.
    """
    ws_url = server.replace("http", "ws", 1) + "/ws"
    async with aiohttp.ClientSession() as session:
        credentials = await fetch_ice(session, server, room, ttl)
        async with session.ws_connect(ws_url, params={"room": room}) as ws:
            peer = Peer(
                role,
                credentials,
                ws.send_json,
                message=message,
                relay_only=relay_only,
                on_connected=on_connected,
            )
            reader = asyncio.create_task(_read(ws, peer))
            try:
                return await asyncio.wait_for(peer.done, timeout)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
                await peer.close()


async def _read(ws: aiohttp.ClientWebSocketResponse, peer: Peer) -> None:
    try:
        async for frame in ws:
            if frame.type == aiohttp.WSMsgType.TEXT:
                message = frame.json()
                if message.get("type") == "error":
                    raise RuntimeError(f"signaling: {message.get('error')}")
                await peer.handle(message)
        raise RuntimeError(f"signaling closed ({ws.close_code})")
    except Exception as exc:
        peer._fail(str(exc))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("role", choices=["sender", "receiver"])
    parser.add_argument("--server", default="http://127.0.0.1:8080")
    parser.add_argument("--room", default="demo")
    parser.add_argument("--message", default="hello")
    parser.add_argument("--ttl", type=int, help="credential lifetime in seconds")
    parser.add_argument("--relay", type=int, default=1, help="0: allow direct connections")
    parser.add_argument("--timeout", type=float, default=60.0, help="give up after N seconds")
    args = parser.parse_args(argv)
    try:
        asyncio.run(
            run(
                args.role,
                server=args.server.rstrip("/"),
                room=args.room,
                message=args.message,
                relay_only=bool(args.relay),
                ttl=args.ttl,
                timeout=args.timeout,
            )
        )
    except (RuntimeError, asyncio.TimeoutError, aiohttp.ClientError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

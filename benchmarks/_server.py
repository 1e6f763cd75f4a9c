"""A minimal loopback Turnix server for the benchmarks: fixed HTTP/1.1 keep-alive answers.

It runs in its own process (`bench_client.py` starts it), so that the client's
CPU time is the client's alone and the server is not the figure being measured.
It parses just enough HTTP for the benchmark's clients: it reads up to the blank
line, honours the request's `Content-Length`, and answers

    POST /api/v1/credentials/ice   200  the documented ICE JSON (with `expiresAt`)
    anything else                  404  {"error": "not found"}

It binds 127.0.0.1 only, prints `PORT <n>` on stdout once listening, and stops by
itself when its stdin closes (the parent went away) or after `--lifetime` seconds.

    python benchmarks/_server.py [--port 0] [--lifetime 900]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import stat
import sys

ICE_BODY = {
    "iceServers": [
        {"urls": ["stun:stun.turnix.io:3478"]},
        {
            "username": "35bb4eb4-b518-4059-9399-272efdefc5d9",
            "credential": "7ea616da55d417f4aaf6427016140416",
            "urls": [
                "turn:eu-central.turnix.io:3478?transport=udp",
                "turn:eu-central.turnix.io:3478?transport=tcp",
            ],
        },
    ],
    "expiresAt": "2030-06-04T12:00:30Z",
}


def _response(status: str, payload: object) -> bytes:
    body = json.dumps(payload, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Server: turnix-bench\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body


ICE_RESPONSE = _response("200 OK", ICE_BODY)
NOT_FOUND_RESPONSE = _response("404 Not Found", {"error": "not found"})
BAD_REQUEST_RESPONSE = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

ROUTES = {
    (b"POST", b"/api/v1/credentials/ice"): ICE_RESPONSE,
}


class BenchProtocol(asyncio.Protocol):
    """One keep-alive connection; answers each complete request with a fixed response."""

    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end]
            length = _content_length(head)
            if length < 0:  # chunked or malformed: not something the benchmark sends
                self._send(BAD_REQUEST_RESPONSE)
                if self._transport is not None:
                    self._transport.close()
                self._buffer = b""
                return
            total = end + 4 + length
            if len(buffer) < total:
                break
            line_end = head.find(b"\r\n")
            parts = (head if line_end < 0 else head[:line_end]).split(b" ")
            path = parts[1].split(b"?", 1)[0] if len(parts) > 1 else b""
            self._send(ROUTES.get((parts[0], path), NOT_FOUND_RESPONSE))
            buffer = buffer[total:]
        self._buffer = buffer

    def _send(self, response: bytes) -> None:
        if self._transport is not None:
            self._transport.write(response)


def _content_length(head: bytes) -> int:
    """The request's Content-Length (0 if absent), or -1 for chunked / malformed."""
    lower = head.lower()
    if b"\r\ntransfer-encoding:" in lower:
        return -1
    start = lower.find(b"\r\ncontent-length:")
    if start < 0:
        return 0
    start += len(b"\r\ncontent-length:")
    stop = lower.find(b"\r\n", start)
    try:
        return int(lower[start:] if stop < 0 else lower[start:stop])
    except ValueError:
        return -1


async def serve(port: int, lifetime: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(BenchProtocol, "127.0.0.1", port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"PORT {bound}", flush=True)

    stop: asyncio.Future[None] = loop.create_future()

    def finish() -> None:
        if not stop.done():
            stop.set_result(None)

    def stdin_ready() -> None:
        if not os.read(sys.stdin.fileno(), 4096):  # end of file: the parent went away
            finish()

    watch_stdin = _is_pipe(sys.stdin.fileno())
    if watch_stdin:
        loop.add_reader(sys.stdin.fileno(), stdin_ready)
    loop.call_later(lifetime, finish)
    async with server:
        await stop
    if watch_stdin:
        loop.remove_reader(sys.stdin.fileno())


def _is_pipe(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--lifetime", type=float, default=900.0, help="stop after (s)")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.lifetime))


if __name__ == "__main__":
    main()

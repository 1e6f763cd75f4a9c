"""A scripted loopback server for network tests: each test says how it answers."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from turnix_async import AsyncTurnix

TOKEN = "tnx_test_Secret-Token-0123456789"

ICE_BODY: dict[str, Any] = {
    "iceServers": [
        {"urls": ["stun:stun.example.test:3478"]},
        {
            "urls": ["turn:eu.example.test:3478?transport=udp"],
            "username": "user-1",
            "credential": "pass-1",
        },
    ],
    "expiresAt": "2099-01-01T00:00:00Z",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ScriptedServer:
    """A real aiohttp server on 127.0.0.1 whose answers each test scripts.

    `script(path, *handlers)` answers the n-th request to `path` with the n-th
    handler (the last one repeats); every request is recorded in `seen`.
    """

    def __init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self.runner = web.AppRunner(self.app, shutdown_timeout=0.1, access_log=None)
        self.scripts: dict[str, list[Handler]] = {}
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        self.port = 0
        self.scheme = "http"

    @property
    def origin(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/api/v1"

    def script(self, path: str, *handlers: Handler) -> None:
        self.scripts[path] = list(handlers)

    def count(self, path: str) -> int:
        return sum(1 for _, seen_path, _, _ in self.seen if seen_path == path)

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        self.port = self.runner.addresses[0][1]
        self.scheme = "http" if ssl_context is None else "https"

    async def close(self) -> None:
        await self.runner.cleanup()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append((request.method, request.path, dict(request.headers), body))
        handlers = self.scripts.get(request.path)
        if not handlers:
            return web.json_response({"error": f"no script for {request.path}"}, status=404)
        index = min(self.count(request.path), len(handlers)) - 1
        return await handlers[index](request)


def json_answer(
    payload: Any = None, status: int = 200, headers: dict[str, str] | None = None
) -> Handler:
    """A handler answering `payload` as JSON (ICE_BODY by default)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            ICE_BODY if payload is None else payload, status=status, headers=headers
        )

    return handler


def raw_answer(
    body: bytes, status: int = 200, content_type: str = "application/json", **headers: str
) -> Handler:
    """A handler answering raw bytes with the given content type."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, status=status, content_type=content_type, headers=headers)

    return handler


async def reset(request: web.Request) -> web.StreamResponse:
    """Abort the TCP connection before any response."""
    assert request.transport is not None
    request.transport.abort()
    raise asyncio.CancelledError  # the handler's task ends with the connection


async def reset_mid_body(request: web.Request) -> web.StreamResponse:
    """Send headers and part of the body, then abort the connection."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = 1000
    await response.prepare(request)
    await response.write(b'{"iceServers": [')
    await asyncio.sleep(0.01)
    assert request.transport is not None
    request.transport.abort()
    return response


def stall(seconds: float = 30.0) -> Handler:
    """Never answer within the test (the client's timeout must fire)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.json_response(ICE_BODY)

    return handler


def trickle(interval: float, chunks: int = 100) -> Handler:
    """Send headers at once, then one body byte every `interval` seconds."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = chunks
        await response.prepare(request)
        for _ in range(chunks):
            await response.write(b" ")
            await asyncio.sleep(interval)
        return response

    return handler


ClientFactory = Callable[..., AsyncTurnix]


class Hold:
    """A handler that holds every request until `release()`; `await held.arrived(n)` waits for n."""

    def __init__(self) -> None:
        self._released = asyncio.Event()
        self._arrival = asyncio.Condition()
        self.count = 0

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        async with self._arrival:
            self.count += 1
            self._arrival.notify_all()
        await self._released.wait()
        return web.json_response(ICE_BODY)

    async def arrived(self, n: int) -> None:
        async with self._arrival:
            await self._arrival.wait_for(lambda: self.count >= n)

    def release(self) -> None:
        self._released.set()


async def status_line_echo_error(token: str) -> BaseException:
    """What `list_regions()` raises against a raw server whose malformed status line echoes
    the request's Authorization header (aiohttp quotes the line in its error)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        (auth,) = [line for line in head.split(b"\r\n") if line.lower().startswith(b"author")]
        writer.write(b"HTTP/1.1 2%s 0\r\n\r\n" % auth)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    base_url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/api/v1"
    try:
        async with AsyncTurnix(token, base_url=base_url, max_retries=0) as client:
            await client.list_regions()
    except BaseException as error:
        return error
    finally:
        server.close()
        await server.wait_closed()
    raise AssertionError("list_regions() succeeded against a malformed status line")

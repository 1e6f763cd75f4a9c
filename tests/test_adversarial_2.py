"""Second adversarial review of the reworked hot path: one test per defect, on loopback."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.loopback import TOKEN, ClientFactory, ScriptedServer, json_answer
from turnix_async import AsyncTurnix
from turnix_async.instrumentation import RetryDetails
from turnix_async.testing import Request

REGIONS = "/api/v1/regions"


async def test_a_trace_config_never_sees_the_proxy_credentials(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    # the loopback server plays the (plain http) proxy: aiohttp sends it absolute-form requests
    loopback.script(REGIONS, json_answer([]))
    seen: list[str] = []

    async def headers_sent(
        session: Any, ctx: Any, params: aiohttp.TraceRequestHeadersSentParams
    ) -> None:
        seen.append(repr(dict(params.headers)))

    async def request_end(session: Any, ctx: Any, params: aiohttp.TraceRequestEndParams) -> None:
        seen.append(repr(dict(params.response.request_info.headers)))

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(headers_sent)
    trace.on_request_end.append(request_end)
    client = make_client(
        base_url="http://127.0.0.1:9/api/v1",
        proxy=f"http://puser:proxy-secret@127.0.0.1:{loopback.port}",
        trace_configs=[trace],
    )
    await client.list_regions()
    credentials = base64.b64encode(b"puser:proxy-secret").decode()
    assert credentials in loopback.seen[0][2]["Proxy-Authorization"]  # the proxy still gets it
    assert len(seen) == 2 and all(credentials not in headers for headers in seen)


async def test_a_stray_429_is_retried_after_its_backoff_not_at_once(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    arrivals: list[float] = []

    async def answer(request: web.Request) -> web.StreamResponse:
        arrivals.append(time.monotonic())
        if len(arrivals) == 61:
            return web.json_response({"error": "busy"}, status=429)
        return web.json_response([])

    class Retries:
        def __init__(self) -> None:
            self.waits: list[float] = []

        def on_retry(self, details: RetryDetails) -> None:
            self.waits.append(details.wait)

    retries = Retries()
    loopback.script(REGIONS, answer)
    client = make_client(backoff_base=0.2, hooks=[retries], max_connections=60)
    await asyncio.gather(*(client.list_regions() for _ in range(60)))  # a busy second
    await client.list_regions()  # a 429 among 60 successes, no Retry-After: a stray
    assert client.throttle_rate is None, "the 429 was meant to be a stray"
    (wait,) = retries.waits
    assert arrivals[-1] - arrivals[-2] >= wait > 0  # the wait reported is the wait taken


async def test_a_transport_returning_something_else_than_a_reply_is_a_clear_type_error() -> None:
    class Odd:
        async def send(self, request: Request, *, timeout: float) -> Any:
            return (200, {}, b"[]")

        async def close(self) -> None:
            pass

    async with AsyncTurnix(TOKEN, transport=Odd()) as client:
        with pytest.raises(TypeError, match=r"Odd\.send returned a tuple, not a Reply"):
            await client.list_regions()


async def test_a_request_without_a_body_declares_no_content_type(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(REGIONS, json_answer([]))
    await make_client().list_regions()
    (_, _, headers, body) = loopback.seen[0]
    assert body == b"" and "Content-Type" not in headers

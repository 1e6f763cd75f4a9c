"""Adversarial review of the rebuilt core: one test per defect, against loopback servers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.loopback import (
    TOKEN,
    ClientFactory,
    Hold,
    ScriptedServer,
    json_answer,
    raw_answer,
)
from turnix_async import (
    AsyncTurnix,
    AuthenticationError,
    ClientClosedError,
    RateLimitError,
    TurnixAPIError,
    TurnixConnectionError,
    TurnixError,
    TurnixTimeoutError,
)
from turnix_async.instrumentation import CallDetails, RetryDetails
from turnix_async.testing import MockTransport, Reply, Request, instant_retries

ICE = "/api/v1/credentials/ice"
REGIONS = "/api/v1/regions"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[CallDetails] = []

    def on_call(self, details: CallDetails) -> None:
        self.calls.append(details)


class RawServer:
    """A raw asyncio socket server on 127.0.0.1 that answers every request with `answer` bytes."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.requests = 0
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.requests += 1
        writer.write(self.answer)
        await writer.drain()
        writer.close()


def _chain(error: BaseException) -> list[BaseException]:
    """The error and everything reachable through __cause__ and __context__."""
    found: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        seen = pending.pop()
        if seen is None or any(seen is known for known in found):
            continue
        found.append(seen)
        pending += [seen.__cause__, seen.__context__]
    return found


def _assert_no_fragment(text: str, secret: str, size: int = 8) -> None:
    for start in range(len(secret) - size + 1):
        assert secret[start : start + size] not in text, f"fragment {start} of the secret shown"


# --- a server echoing the token in X-Request-Id: hooks must not see it -------------------


async def test_an_echoed_token_in_the_request_id_never_reaches_a_hook(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    async def echo(request: web.Request) -> web.StreamResponse:
        headers = {"X-Request-Id": request.headers["Authorization"]}
        return web.json_response({"error": "bad"}, status=400, headers=headers)

    loopback.script(REGIONS, echo)
    recorder = Recorder()
    with pytest.raises(TurnixAPIError):
        await make_client(hooks=[recorder]).list_regions()
    (details,) = recorder.calls
    _assert_no_fragment(repr(details), TOKEN)


# --- a status HTTP parsers accept but hooks refused --------------------------------------


@pytest.mark.parametrize("status", [99, 999])  # aiohttp reads any three digits, "099" too
async def test_a_status_outside_100_599_stays_an_api_error_with_hooks_installed(
    status: int,
) -> None:
    answer = b"HTTP/1.1 %03d Odd\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}" % status
    recorder = Recorder()
    async with RawServer(answer) as server:
        client = AsyncTurnix(TOKEN, base_url=server.base_url, hooks=[recorder])
        async with client:
            with pytest.raises(TurnixAPIError) as info:
                await client.list_regions()
    assert info.value.status == status
    assert [details.status for details in recorder.calls] == [status]


# --- the deadline once the loop was busy past it -----------------------------------------


class _BusyOnce:
    """A hook that blocks the loop once, as a CPU-bound burst in the app would."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_call(self, details: CallDetails) -> None:
        if self.seconds:
            time.sleep(self.seconds)  # the loop is blocked, not a wait in the test
            self.seconds = 0.0


async def test_the_deadline_still_bounds_an_attempt_that_starts_after_it_passed(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    hold, stalled = Hold(), asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        if loopback.count(ICE) == 1:
            return await hold(request)
        await stalled.wait()  # never answers
        return web.json_response({})

    loopback.script(ICE, handler)
    client = make_client(max_connections=1, timeout=5.0, hooks=[_BusyOnce(0.3)])
    first = asyncio.ensure_future(client.get_ice_credentials())
    await hold.arrived(1)
    second = asyncio.ensure_future(client.with_options(deadline=0.2).get_ice_credentials())
    for _ in range(10):  # let the second call queue for the one connection
        await asyncio.sleep(0)
    hold.release()  # the first call's hook then blocks the loop past the second's deadline
    await first
    with pytest.raises(TurnixTimeoutError, match="deadline"):
        await asyncio.wait_for(second, 2.0)  # without the fix: no timeout at all
    stalled.set()


# --- no aiohttp exception (holding the proxy URL) left in an error's chain ---------------


@pytest.mark.parametrize(
    ("userinfo", "secret"),
    [
        ("user:Pr0xy-Passw0rd-Secret", "Pr0xy-Passw0rd-Secret"),
        ("zyte-ApiKey-0123456789abcdef:", "zyte-ApiKey-0123456789abcdef"),  # key as user name
    ],
    ids=["password", "key as user name"],
)
async def test_no_error_or_its_chain_shows_the_proxy_credentials(
    userinfo: str, secret: str
) -> None:
    answer = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
    async with (
        RawServer(answer) as proxy,
        AsyncTurnix(
            TOKEN,
            base_url="https://api.turnix.invalid/api/v1",  # only the loopback proxy is contacted
            proxy=f"http://{userinfo}@127.0.0.1:{proxy.port}",
            max_retries=0,
        ) as client,
    ):
        with pytest.raises(TurnixError) as info:
            await client.list_regions()
    assert proxy.requests == 1
    for error in _chain(info.value):
        _assert_no_fragment(f"{error}\n{error!r}\n{vars(error)!r}", secret)


# --- arguments checked whatever the transport --------------------------------------------


def _mock() -> MockTransport:
    return MockTransport(lambda request: Reply(200, {"Content-Type": "application/json"}, b"[]"))


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("app_info", 123),
        ("max_response_size", -1),
        ("ssl", "verify"),
        ("trace_configs", "tracing"),
        ("transport", object()),
    ],
)
def test_a_bad_argument_fails_at_construction_with_a_custom_transport(
    argument: str, value: Any
) -> None:
    options: dict[str, Any] = {"transport": _mock(), argument: value}
    with pytest.raises(ValueError, match=argument):
        AsyncTurnix(TOKEN, base_url="http://127.0.0.1:9/api/v1", **options)


# --- an application's own TurnixError subclass, raised by its transport ------------------


class AppNetworkError(TurnixConnectionError):
    """What an app's own transport (or MockTransport handler) may raise."""


async def test_an_apps_own_error_subclass_does_not_break_the_hooks() -> None:
    def unreachable(request: Request) -> Reply:
        raise AppNetworkError("simulated outage")

    recorder = Recorder()
    async with AsyncTurnix(
        TOKEN,
        base_url="http://127.0.0.1:9/api/v1",
        transport=MockTransport(unreachable),
        hooks=[recorder],
        backoff_base=0,
        max_retries=1,
    ) as client:
        with pytest.raises(AppNetworkError):
            await client.list_regions()
    (details,) = recorder.calls
    assert details.outcome == "TurnixConnectionError"  # its nearest class of the SDK
    assert [retry.reason for retry in details.retries] == ["TurnixConnectionError"]


# --- a non-2xx whose body is cut short: the status still decides -------------------------


async def test_a_401_whose_body_is_cut_short_is_one_request_and_an_authentication_error() -> None:
    answer = (
        b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"error": "bad tok'
    )
    async with RawServer(answer) as server:
        client = AsyncTurnix(TOKEN, base_url=server.base_url, backoff_base=0, max_retries=2)
        async with client:
            with pytest.raises(AuthenticationError):
                await client.list_regions()
    assert server.requests == 1


# --- CallDetails.attempts counts requests sent, not waits --------------------------------


async def test_a_call_that_never_got_a_connection_reports_no_attempt(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    hold, recorder = Hold(), Recorder()
    loopback.script(ICE, hold)
    client = make_client(max_connections=1, hooks=[recorder])
    first = asyncio.ensure_future(client.get_ice_credentials())
    await hold.arrived(1)
    with pytest.raises(TurnixTimeoutError, match="free connection"):
        await client.with_options(queue_timeout=0.05).get_ice_credentials()
    hold.release()
    await first
    assert [details.attempts for details in recorder.calls] == [0, 1]
    assert hold.count == 1


# --- MockTransport keeps the client's promises: close() and timeout end an attempt -------


def _never_answering() -> tuple[MockTransport, asyncio.Event]:
    """A transport whose handler never answers, and the event set once it was asked."""
    asked, never = asyncio.Event(), asyncio.Event()

    async def handler(request: Request) -> Reply:
        asked.set()
        await never.wait()
        return Reply(200)

    return MockTransport(handler), asked


async def test_close_ends_an_attempt_pending_in_a_mock_transport() -> None:
    transport, asked = _never_answering()
    client = AsyncTurnix(TOKEN, base_url="http://127.0.0.1:9/api/v1", transport=transport)
    call = asyncio.ensure_future(client.list_regions())
    await asked.wait()
    await client.close()
    with pytest.raises(ClientClosedError):
        await asyncio.wait_for(call, 2.0)


async def test_the_timeout_ends_an_attempt_pending_in_a_mock_transport() -> None:
    async with AsyncTurnix(
        TOKEN,
        base_url="http://127.0.0.1:9/api/v1",
        transport=_never_answering()[0],
        timeout=0.05,
        max_retries=1,
        backoff_base=0,
    ) as client:
        with pytest.raises(TurnixTimeoutError):
            await asyncio.wait_for(client.list_regions(), 2.0)


# --- an encoding aiohttp cannot decode (br, zstd without their extras) -------------------


async def test_a_401_in_an_undecodable_encoding_is_sent_once() -> None:
    answer = (
        b"HTTP/1.1 401 Unauthorized\r\nContent-Encoding: br\r\nContent-Length: 4\r\n"
        b"Connection: close\r\n\r\nabcd"
    )
    async with RawServer(answer) as server:
        client = AsyncTurnix(TOKEN, base_url=server.base_url, backoff_base=0, max_retries=2)
        async with client:
            with pytest.raises(TurnixError):  # AuthenticationError when Brotli is installed
                await client.list_regions()
    assert server.requests == 1


# --- a huge error page: only what the error shows is scrubbed ----------------------------


async def test_a_huge_error_page_costs_little_to_turn_into_an_error(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    size = 8 * 1024 * 1024  # a proxy's error page, as large as max_response_size allows
    loopback.script(REGIONS, raw_answer(b"x" * size, status=400, content_type="text/html"))
    client = make_client(max_response_size=size)
    started = time.perf_counter()
    with pytest.raises(TurnixAPIError):
        await client.list_regions()
    # scrubbing all 8 MB blocked the event loop ~1.5 s here; the rest of the call takes ~0.3 s
    assert time.perf_counter() - started < 1.0


# --- instant_retries() skips the Retry-After pause, now held in the throttle -------------


async def test_instant_retries_skips_a_retry_after_pause(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    async def slow_down(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": "slow down"}, status=429, headers={"Retry-After": "20"})

    loopback.script(ICE, slow_down, json_answer())
    client = make_client()
    with instant_retries():
        await asyncio.wait_for(client.get_ice_credentials(), 5.0)  # not 20 s
        await asyncio.wait_for(client.get_ice_credentials(), 5.0)
    assert loopback.count(ICE) == 3


# --- a retried 429 reports the pause it will wait, not 0 ---------------------------------


class RetryRecorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def on_retry(self, details: RetryDetails) -> None:
        self.waits.append(details.wait)


async def test_a_retried_429_reports_its_retry_after_as_the_wait(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    async def slow_down(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": "slow down"}, status=429, headers={"Retry-After": "7"})

    loopback.script(ICE, slow_down, json_answer())
    recorder = RetryRecorder()
    with instant_retries():  # the pause itself is skipped; what is reported is not
        await make_client(hooks=[recorder]).get_ice_credentials()
    assert recorder.waits == [7.0]


# --- a RuntimeError inside an attempt is not "the client was closed" ---------------------


async def test_a_runtime_error_in_an_attempt_is_not_reported_as_a_closed_client(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    async def buggy(session: aiohttp.ClientSession, context: Any, params: Any) -> None:
        raise RuntimeError("a bug in the app's own tracing")

    tracing = aiohttp.TraceConfig()
    tracing.on_request_start.append(buggy)
    loopback.script(REGIONS, json_answer([]))
    client = make_client(trace_configs=[tracing], max_retries=0)
    with pytest.raises(TurnixError) as info:
        await client.list_regions()
    assert not isinstance(info.value, ClientClosedError)
    assert not client.closed


# --- a long retry series: backoff arithmetic stays finite --------------------------------


async def test_more_than_a_thousand_retries_end_in_a_typed_error() -> None:
    transport = MockTransport(lambda request: Reply(429, {}, b'{"error": "slow down"}'))
    with instant_retries():  # 429s spend no retry budget; the throttle's pauses are skipped
        async with AsyncTurnix(
            TOKEN, base_url="http://127.0.0.1:9/api/v1", transport=transport, max_retries=1100
        ) as client:
            with pytest.raises(RateLimitError):
                await client.list_regions()  # 2.0 ** 1024 overflowed at the 1025th attempt
    assert len(transport.requests) == 1101


# --- a cancellation that races close() in the backoff wait is not swallowed --------------


class RetryEvent:
    def __init__(self) -> None:
        self.retrying = asyncio.Event()

    def on_retry(self, details: RetryDetails) -> None:
        self.retrying.set()


async def test_a_cancellation_right_after_close_stays_a_cancellation(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    async def unavailable(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": "down"}, status=503)

    loopback.script(ICE, unavailable)
    hook = RetryEvent()
    client = make_client(backoff_base=10.0, backoff_max=10.0, hooks=[hook])
    call = asyncio.ensure_future(client.get_ice_credentials())
    await hook.retrying.wait()
    await asyncio.sleep(0)  # the call is now in its backoff wait
    closing = asyncio.ensure_future(client.close())
    await asyncio.sleep(0)  # close() has woken the wait; the call has not run yet
    call.cancel()  # ...when its caller cancels it (a timeout, a TaskGroup)
    (outcome,) = await asyncio.gather(call, return_exceptions=True)
    await closing
    assert isinstance(outcome, asyncio.CancelledError)

"""Behaviour under faults: the fault matrix, deadline, Retry-After, limits, TLS, cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web

from tests.loopback import (
    ICE_BODY,
    TOKEN,
    ClientFactory,
    Handler,
    ScriptedServer,
    json_answer,
    raw_answer,
    reset,
    reset_mid_body,
    stall,
    trickle,
)
from turnix_async import (
    AsyncTurnix,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    TurnixAPIError,
    TurnixConnectionError,
    TurnixError,
    TurnixTimeoutError,
)
from turnix_async.testing import instant_retries

ICE = "/api/v1/credentials/ice"
HTML = (
    b"<!doctype html><html><head><title>Service Unavailable</title></head><body>down</body></html>"
)


async def same_origin_redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPPermanentRedirect("/api/v1/moved/credentials/ice")


def big_body(size: int, *, declare_length: bool) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if declare_length:
            response.content_length = size
        await response.prepare(request)
        chunk = b" " * 65536
        for _ in range(size // len(chunk)):
            await response.write(chunk)
        return response

    return handler


def status(code: int, **headers: str) -> Handler:
    return json_answer({"error": f"status {code}"}, code, headers or None)


# name -> (handlers in order, expected error or None, requests the server must see)
MATRIX: dict[str, tuple[list[Handler], type[TurnixError] | None, int]] = {
    "reset before response, then ok": ([reset, json_answer()], None, 2),
    "reset before response, always": ([reset], TurnixConnectionError, 3),
    "reset mid-body, then ok": ([reset_mid_body, json_answer()], None, 2),
    "reset mid-body, always": ([reset_mid_body], TurnixConnectionError, 3),
    "stalled headers, then ok": ([stall(), json_answer()], None, 2),
    "stalled headers, always": ([stall()], TurnixTimeoutError, 3),
    "trickled body, always": ([trickle(0.05)], TurnixTimeoutError, 3),
    "408 then ok": ([status(408), json_answer()], None, 2),
    "408 always": ([status(408)], TurnixAPIError, 3),
    "429 always": ([status(429)], RateLimitError, 3),
    "429 Retry-After 0 always": ([status(429, **{"Retry-After": "0"})], RateLimitError, 3),
    "429 Retry-After over the cap": ([status(429, **{"Retry-After": "3600"})], RateLimitError, 1),
    "500 always": ([status(500)], ServerError, 3),
    "502 always": ([status(502)], ServerError, 3),
    "503 always": ([status(503)], ServerError, 3),
    "503 Retry-After 0, then ok": ([status(503, **{"Retry-After": "0"}), json_answer()], None, 2),
    "503 Retry-After over the cap": ([status(503, **{"Retry-After": "600"})], ServerError, 1),
    "504 always": ([status(504)], ServerError, 3),
    "20 MB body, length declared": (
        [big_body(20 << 20, declare_length=True)],
        ResponseValidationError,
        1,
    ),
    "20 MB body, chunked": ([big_body(20 << 20, declare_length=False)], ResponseValidationError, 1),
    "HTML error page 503": ([raw_answer(HTML, 503, "text/html")], ServerError, 3),
    "HTML page with 200": ([raw_answer(HTML, 200, "text/html")], ResponseValidationError, 1),
    "invalid JSON": ([raw_answer(b'{"iceServers": [')], ResponseValidationError, 1),
    "invalid UTF-8": (
        [raw_answer(b'{"iceServers": [], "x": "\xff\xfe"}')],
        ResponseValidationError,
        1,
    ),
    "JSON of the wrong shape": ([json_answer({"ice": []})], ResponseValidationError, 1),
    "same-origin redirect": ([same_origin_redirect], None, 1),
}


@pytest.mark.parametrize("case", list(MATRIX))
async def test_fault_matrix(
    case: str, loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    handlers, error, requests = MATRIX[case]
    loopback.script(ICE, *handlers)
    loopback.script("/api/v1/moved/credentials/ice", json_answer())
    # only the rows about a stalled server wait for the timeout; the others get one that a
    # slow, loaded machine cannot reach, so the row tests its fault and not the machine
    timeout = 0.3 if case.startswith(("stalled", "trickled")) else 30.0
    client = make_client(max_retries=2, timeout=timeout)
    # the waits between attempts are tested in test_retry.py and test_overload.py
    over_the_cap = case == "429 Retry-After over the cap"
    with contextlib.nullcontext() if over_the_cap else instant_retries():
        if error is None:
            creds = await client.get_ice_credentials(room="matrix")
            assert creds.ice_servers[0].urls == ["stun:stun.example.test:3478"]
        else:
            with pytest.raises(error) as info:
                await client.get_ice_credentials(room="matrix")
            assert type(info.value) is error
    assert loopback.count(ICE) == requests
    loopback.script(ICE, json_answer())
    if over_the_cap:  # the whole client now holds off, not one call
        with pytest.raises(RateLimitError, match="client-side") as held:
            await client.get_ice_credentials()
        assert held.value.retry_after is not None and held.value.retry_after > 30
        assert loopback.count(ICE) == requests
        return
    # the client stays usable after every fault
    with instant_retries():
        assert (await client.get_ice_credentials()).ice_servers


async def test_oversized_body_is_not_read_into_memory(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    sent = 0

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            for _ in range(320):  # up to 20 MiB
                await response.write(b" " * 65536)
                sent += 65536
        except (ConnectionError, RuntimeError):
            pass
        return response

    loopback.script(ICE, endless)
    with pytest.raises(ResponseValidationError, match="1048576 byte limit"):
        await make_client().get_ice_credentials()
    await asyncio.sleep(0.1)
    assert sent < 10 << 20  # the client hung up long before 20 MiB


async def test_max_response_size_is_configurable(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, json_answer())
    with pytest.raises(ResponseValidationError, match="100 byte limit"):
        await make_client(max_response_size=100).get_ice_credentials()
    assert (await make_client(max_response_size=10_000).get_ice_credentials()).ice_servers


# --- deadline ---------------------------------------------------------------------


async def test_deadline_cuts_a_stalled_attempt(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, stall())
    client = make_client(timeout=30, max_retries=5, deadline=0.4)
    started = time.monotonic()
    with pytest.raises(TurnixTimeoutError, match="deadline"):
        await client.get_ice_credentials()
    assert time.monotonic() - started < 0.8
    assert loopback.count(ICE) == 1


async def test_deadline_covers_retries_and_backoff(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, status(503))
    client = make_client(max_retries=10, backoff_base=0.2, deadline=1.0)
    started = time.monotonic()
    with pytest.raises(TurnixTimeoutError, match="deadline") as info:
        await client.get_ice_credentials()
    assert time.monotonic() - started < 1.2
    assert "503" in str(info.value)
    assert 2 <= loopback.count(ICE) <= 5


async def test_a_deadline_cutting_an_attempt_names_the_failure_before_it(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    # CI once cut the backoff test above mid-attempt: the message then lost the 503
    loopback.script(ICE, status(503), stall())
    client = make_client(timeout=30, max_retries=5, backoff_base=0.01, deadline=0.5)
    with pytest.raises(TurnixTimeoutError, match="during attempt 2") as info:
        await client.get_ice_credentials()
    assert "(last: HTTP 503" in str(info.value)
    assert loopback.count(ICE) == 2


async def test_a_deadline_cutting_an_attempt_keeps_the_earlier_error_as_its_cause(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, reset, stall())
    client = make_client(timeout=30, max_retries=5, backoff_base=0.01, deadline=0.5)
    with pytest.raises(TurnixTimeoutError, match="during attempt 2") as info:
        await client.get_ice_credentials()
    assert isinstance(info.value.__cause__, TurnixConnectionError)
    assert str(info.value.__cause__) in str(info.value)


async def test_timeout_with_retries_is_bounded_by_the_deadline(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, stall())
    client = make_client(timeout=0.3, max_retries=2, deadline=0.5)
    started = time.monotonic()
    with pytest.raises(TurnixTimeoutError):
        await client.get_ice_credentials()
    assert time.monotonic() - started < 0.8
    assert loopback.count(ICE) == 2


async def test_retry_after_beyond_the_deadline_raises_at_once(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, status(429, **{"Retry-After": "5"}))
    started = time.monotonic()
    with pytest.raises(RateLimitError) as info:
        await make_client(max_retries=3, deadline=2).get_ice_credentials()
    assert time.monotonic() - started < 0.5
    assert info.value.retry_after == 5.0
    assert loopback.count(ICE) == 1


async def test_retry_after_cap_is_configurable(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, status(429, **{"Retry-After": "2"}))
    with pytest.raises(RateLimitError) as info:
        await make_client(max_retries=3, retry_after_cap=1).get_ice_credentials()
    assert info.value.retry_after == 2.0
    assert loopback.count(ICE) == 1


# --- TLS --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_server(certificate_authority: trustme.CA) -> Any:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    server = ScriptedServer()
    await server.start(ssl_context=server_context)
    server.script(ICE, json_answer())
    yield server
    await server.close()


async def test_tls_verification_is_on_and_not_retried(tls_server: ScriptedServer) -> None:
    async with AsyncTurnix(
        TOKEN, base_url=tls_server.base_url, max_retries=3, backoff_base=1.0
    ) as client:
        started = time.monotonic()
        with pytest.raises(TurnixConnectionError, match=r"TLS|certificate|SSL") as info:
            await client.get_ice_credentials()
    assert not isinstance(info.value, TurnixTimeoutError)
    assert time.monotonic() - started < 0.5  # a retry would have waited >= 0.5 s
    assert tls_server.count(ICE) == 0


async def test_ssl_context_trusting_a_custom_ca(
    tls_server: ScriptedServer, certificate_authority: trustme.CA
) -> None:
    context = ssl.create_default_context()
    certificate_authority.configure_trust(context)
    async with AsyncTurnix(TOKEN, base_url=tls_server.base_url, ssl=context) as client:
        assert (await client.get_ice_credentials()).ice_servers
    assert tls_server.seen[0][2]["Authorization"] == f"Bearer {TOKEN}"


# --- observability and secrets ------------------------------------------------------


async def test_trace_configs_see_requests_but_never_the_token(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    seen: list[tuple[str, str]] = []
    trace = aiohttp.TraceConfig()

    def recorder(name: str) -> Any:
        async def record(session: Any, ctx: Any, params: Any) -> None:
            headers = getattr(params, "headers", None)
            response = getattr(params, "response", None)
            info = response.request_info if response is not None else None
            seen.append((name, f"{params!r} {headers!r} {info!r}"))

        return record

    for name in (
        "on_request_start",
        "on_request_headers_sent",
        "on_request_end",
        "on_request_exception",
    ):
        getattr(trace, name).append(recorder(name))
    loopback.script(ICE, reset, json_answer())
    await make_client(trace_configs=[trace], max_retries=1).get_ice_credentials()
    names = [name for name, _ in seen]
    assert names.count("on_request_headers_sent") == 2
    assert "on_request_end" in names
    assert all(TOKEN not in text for _, text in seen)
    assert any("Bearer ***" in text for _, text in seen)


async def test_retry_log_records_attempt_reason_and_wait(
    loopback: ScriptedServer, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    loopback.script(ICE, stall(), status(502), json_answer())
    with caplog.at_level(logging.DEBUG, logger="turnix_async"):
        await make_client(max_retries=2, timeout=0.2, backoff_base=0.01).get_ice_credentials()
    retries = [r for r in caplog.records if r.name == "turnix_async" and r.levelno == logging.INFO]
    messages = [r.getMessage() for r in retries]
    assert len(messages) == 2  # one INFO record per retry
    assert "attempt 1 of 3" in messages[0] and "0.2 s" in messages[0]
    assert "attempt 2 of 3" in messages[1] and "HTTP 502" in messages[1]
    assert all(r.levelno in (logging.INFO, logging.DEBUG) for r in caplog.records)
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


# --- cancellation and storms ----------------------------------------------------------


async def _assert_every_connection_is_free(client: AsyncTurnix, loopback: ScriptedServer) -> None:
    """All `max_connections` calls at once get through at once: nothing leaked a connection."""
    loopback.script(ICE, json_answer())
    calls = (client.get_ice_credentials() for _ in range(2 * _POOL))
    assert len(await asyncio.gather(*calls)) == 2 * _POOL


_POOL = 8  # max_connections of these tests' clients: a leak of one shows at once


@pytest.mark.parametrize(
    "phase",
    ["waiting for headers", "reading the body", "in backoff"],
)
async def test_cancellation_leaves_the_client_usable(
    phase: str, loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    handler = {
        "waiting for headers": stall(),
        "reading the body": trickle(0.05),
        "in backoff": status(503),
    }[phase]
    loopback.script(ICE, handler)
    client = make_client(timeout=10, backoff_base=10, max_connections=_POOL, queue_timeout=1.0)
    # _POOL in flight and 2 waiting for a connection: few enough that the retry budget
    # (10 + 20 % of the calls) lets every one of them back off
    calls = [asyncio.create_task(client.get_ice_credentials()) for _ in range(_POOL + 2)]
    await asyncio.sleep(0.2)
    for call in calls:
        call.cancel()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert [r for r in results if not isinstance(r, asyncio.CancelledError)] == []
    await _assert_every_connection_is_free(client, loopback)


async def test_storm_with_injected_faults_all_succeed(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    chance = random.Random(7)

    async def flaky(request: web.Request) -> web.StreamResponse:
        roll = chance.random()
        if roll < 0.05:  # 10 % faults in all: the retries stay within the retry budget
            return await reset(request)
        if roll < 0.1:
            return web.json_response({"error": "busy"}, status=503)
        return web.json_response(ICE_BODY)

    loopback.script(ICE, flaky)
    client = make_client(
        max_retries=10, backoff_base=0.001, max_connections=_POOL, queue_timeout=5.0
    )
    results = await asyncio.gather(*(client.get_ice_credentials(room=f"r{i}") for i in range(300)))
    assert len(results) == 300
    assert loopback.count(ICE) > 300  # faults happened and were retried
    await _assert_every_connection_is_free(client, loopback)


# --- regressions found in review ------------------------------------------------------


@pytest.mark.parametrize(("code", "error"), [(401, None), (404, None), (503, ServerError)])
async def test_oversized_error_bodies_still_give_the_typed_error(
    code: int, error: type[TurnixError] | None, loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    from turnix_async import AuthenticationError, NotFoundError

    expected = error or {401: AuthenticationError, 404: NotFoundError}[code]
    page = b"<html><title>huge</title>" + b"x" * (2 << 20) + b"</html>"
    loopback.script(ICE, raw_answer(page, code, "text/html"))
    with pytest.raises(expected) as info:
        await make_client(max_retries=1).get_ice_credentials()
    assert info.value.status == code  # type: ignore[attr-defined]
    assert info.value.message.startswith("huge")  # type: ignore[attr-defined]
    assert loopback.count(ICE) == (2 if code == 503 else 1)


async def test_closing_during_backoff_raises_client_closed_promptly(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    from turnix_async import ClientClosedError

    loopback.script(ICE, status(503))
    client = make_client(backoff_base=5.0)
    call = asyncio.create_task(client.get_ice_credentials())
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await client.close()
    with pytest.raises(ClientClosedError):
        await call
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("code", [200, 400, 500])
async def test_absurdly_nested_json_is_a_typed_error(
    code: int, loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    loopback.script(ICE, raw_answer(body, code))
    with pytest.raises(ResponseValidationError if code == 200 else TurnixAPIError):
        await make_client(max_retries=0).get_ice_credentials()


async def test_deadline_covers_redirect_hops(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    async def slow_redirect(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.3)
        hop = int(request.query.get("hop", "0")) + 1
        raise web.HTTPTemporaryRedirect(f"{ICE}?hop={hop}")

    loopback.script(ICE, slow_redirect)
    started = time.monotonic()
    with pytest.raises(TurnixTimeoutError):
        await make_client(deadline=1.0).get_ice_credentials()
    assert time.monotonic() - started < 1.3


async def test_a_retry_repeats_the_whole_redirect_chain_and_counts_once(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    moved = "/api/v1/moved/credentials/ice"
    loopback.script(ICE, same_origin_redirect)
    loopback.script(moved, json_answer({"error": "down"}, 503))
    with pytest.raises(ServerError):
        await make_client(max_retries=2).get_ice_credentials()
    assert (loopback.count(ICE), loopback.count(moved)) == (3, 3)


async def test_one_attempt_timeout_spans_all_its_redirect_hops(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    async def slow_redirect(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.2)
        raise web.HTTPTemporaryRedirect("/api/v1/moved/credentials/ice")

    loopback.script(ICE, slow_redirect)
    loopback.script("/api/v1/moved/credentials/ice", stall(0.2), json_answer(ICE_BODY))
    started = time.monotonic()
    with pytest.raises(TurnixTimeoutError, match=r"within 0\.3 s"):
        await make_client(timeout=0.3, max_retries=0).get_ice_credentials()
    assert time.monotonic() - started < 0.6


async def test_redirect_loops_end_in_a_clear_api_error(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    async def loop_back(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(ICE)

    loopback.script("/api/v1/regions", loop_back)
    loopback.script(ICE, loop_back)
    with pytest.raises(TurnixAPIError, match="redirected too many times"):
        await make_client().list_regions()


async def test_undecodable_gzip_body_is_not_retried(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    async def bad_gzip(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=b"this is not gzip",
            content_type="application/json",
            headers={"Content-Encoding": "gzip"},
        )

    loopback.script(ICE, bad_gzip)
    with pytest.raises(ResponseValidationError, match="content-encoding"):
        await make_client(max_retries=3).get_ice_credentials()
    assert loopback.count(ICE) == 1


async def test_retry_after_on_a_500_is_not_a_reason_to_give_up(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, status(500, **{"Retry-After": "120"}), json_answer())
    await make_client(max_retries=1).get_ice_credentials()
    assert loopback.count(ICE) == 2


async def test_utf16_json_is_refused(loopback: ScriptedServer, make_client: ClientFactory) -> None:
    import json as json_module

    loopback.script(ICE, raw_answer(json_module.dumps(ICE_BODY).encode("utf-16")))
    with pytest.raises(ResponseValidationError):
        await make_client().get_ice_credentials()


async def test_token_echoed_json_escaped_or_in_request_id_is_scrubbed(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    token = 'tok"with\\quote'
    loopback.script(
        ICE,
        json_answer({"error": f"invalid token {token}"}, 401, {"X-Request-Id": f"Bearer {token}"}),
    )
    with pytest.raises(TurnixAPIError) as info:
        await make_client(api_token=token).get_ice_credentials()
    shown = f"{info.value} {info.value!r} {info.value.body} {info.value.request_id}"
    assert token not in shown
    assert '"with\\\\quote' not in shown


async def test_huge_ttl_without_expires_at(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, json_answer({"iceServers": []}))
    creds = await make_client().get_ice_credentials(ttl=10**20)
    assert not creds.is_expired


async def test_explicit_default_port_still_sends_the_token() -> None:
    from yarl import URL

    from turnix_async._auth import BearerAuth

    assert (
        AsyncTurnix(TOKEN, base_url="https://turnix.io:443/api/v1").base_url
        == "https://turnix.io/api/v1"
    )
    assert (
        AsyncTurnix(TOKEN, base_url="http://127.0.0.1:80/api/v1").base_url
        == "http://127.0.0.1/api/v1"
    )
    seen: list[str | None] = []

    async def handler(req: Any) -> Any:
        seen.append(req.headers.get("Authorization"))

    auth = BearerAuth(TOKEN, URL("https://turnix.io/api/v1"))
    for url in (
        "https://turnix.io:443/api/v1/regions",
        "https://turnix.io/x",
        "https://turnix.io:8443/x",
    ):
        request = aiohttp.ClientRequest("GET", URL(url), loop=asyncio.get_running_loop())
        await auth(request, handler)
    assert seen == [f"Bearer {TOKEN}", f"Bearer {TOKEN}", None]


async def test_a_client_is_bound_to_its_first_event_loop(loopback: ScriptedServer) -> None:
    loopback.script(ICE, json_answer())
    client = AsyncTurnix(TOKEN, base_url=loopback.base_url)
    await client.get_ice_credentials()

    def in_another_loop() -> None:
        with pytest.raises(RuntimeError, match="event loop"):
            asyncio.run(client.get_ice_credentials())

    await asyncio.to_thread(in_another_loop)
    await client.close()

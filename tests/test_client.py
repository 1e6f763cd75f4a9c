"""AsyncTurnix against a real loopback server: construction, requests, retries, auth, lifecycle."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import warnings
from typing import Any

import pytest
from aiohttp import web

from tests.loopback import (
    ICE_BODY,
    TOKEN,
    ClientFactory,
    ScriptedServer,
    json_answer,
    raw_answer,
    reset,
    stall,
)
from turnix_async import (
    AsyncTurnix,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    IceServer,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    Region,
    ServerError,
    TurnixAPIError,
    TurnixConnectionError,
    TurnixError,
    TurnixTimeoutError,
)
from turnix_async.testing import instant_retries

ICE = "/api/v1/credentials/ice"
REGIONS = "/api/v1/regions"


# --- construction -----------------------------------------------------------------


async def test_token_comes_from_the_environment(
    loopback: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TURNIX_API_TOKEN", "env-token")
    loopback.script(ICE, json_answer())
    async with AsyncTurnix(base_url=loopback.base_url) as client:
        await client.get_ice_credentials()
    assert loopback.seen[0][2]["Authorization"] == "Bearer env-token"


def test_missing_token_names_the_environment_variable() -> None:
    with pytest.raises(ValueError, match="TURNIX_API_TOKEN"):
        AsyncTurnix()


@pytest.mark.parametrize(
    "token", ["", "with space", "new\nline", "tab\t", "nul\x00", "é-token", 42]
)
def test_malformed_tokens_are_rejected_without_echoing_them(token: Any) -> None:
    with pytest.raises(ValueError) as info:
        AsyncTurnix(token)
    if isinstance(token, str) and len(token) > 3:
        assert token not in str(info.value)


def test_base_url_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert AsyncTurnix(TOKEN).base_url == "https://turnix.io/api/v1"
    monkeypatch.setenv("TURNIX_BASE_URL", "https://eu.example.test/api/v1/")
    assert AsyncTurnix(TOKEN).base_url == "https://eu.example.test/api/v1"
    assert AsyncTurnix(TOKEN, base_url="https://x.test/v1").base_url == "https://x.test/v1"


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8080/api/v1",
        "http://127.0.0.1/api/v1",
        "http://127.5.6.7:1/api/v1",
        "http://[::1]:9/api/v1",
        "https://turnix.io/api/v1",
    ],
)
def test_accepted_base_urls(url: str) -> None:
    assert AsyncTurnix(TOKEN, base_url=url).base_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://turnix.io/api/v1",
        "http://10.0.0.1/api/v1",
        "http://128.0.0.1/api/v1",
        "ftp://turnix.io/api/v1",
        "turnix.io/api/v1",
        "not a url",
        "https://",
        "https://user:pw@turnix.io/api/v1",
        "https://turnix.io/api/v1?x=1",
        "https://tur nix.io/api/v1",
        " https://turnix.io/api/v1 ",
        "https://turnix.io/api/v1\n",
        "",
    ],
)
def test_rejected_base_urls(url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        AsyncTurnix(TOKEN, base_url=url)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("timeout", 0),
        ("timeout", -1),
        ("timeout", float("nan")),
        ("timeout", "10"),
        ("max_retries", -1),
        ("max_retries", 1.5),
        ("max_retries", True),
        ("deadline", 0),
        ("max_response_size", 0),
        ("ssl", False),
    ],
)
def test_bad_options_raise_value_error_naming_them(option: str, value: Any) -> None:
    with pytest.raises(ValueError, match=option):
        AsyncTurnix(TOKEN, **{option: value})


def test_repr_never_shows_the_token() -> None:
    client = AsyncTurnix(TOKEN)
    assert TOKEN not in repr(client)
    assert TOKEN not in repr(vars(client))


# --- requests -------------------------------------------------------------------


async def test_get_ice_credentials_sends_only_set_fields_and_client_ip_header(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, json_answer())
    creds = await make_client().get_ice_credentials(
        initiator_client="alice",
        receiver_client="bob",
        room="demo-room",
        ttl=120,
        preferred_region="eu-central",
        client_ip="203.0.113.5",
    )
    method, path, headers, body = loopback.seen[0]
    assert (method, path) == ("POST", ICE)
    assert json.loads(body) == {
        "initiator_client": "alice",
        "receiver_client": "bob",
        "room": "demo-room",
        "ttl": 120,
        "preferred_region": "eu-central",
    }
    assert headers["X-TURN-CLIENT-IP"] == "203.0.113.5"
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Content-Type"] == "application/json"
    assert creds.ice_servers[1] == IceServer(
        urls=["turn:eu.example.test:3478?transport=udp"], username="user-1", credential="pass-1"
    )


async def test_no_arguments_sends_an_empty_object_and_no_ip_header(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, json_answer())
    await make_client().get_ice_credentials(fixed_region="us-east")
    _, _, headers, body = loopback.seen[0]
    assert json.loads(body) == {"fixed_region": "us-east"}
    assert "X-TURN-CLIENT-IP" not in headers


async def test_bad_arguments_fail_before_anything_is_sent(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    client = make_client()
    with pytest.raises(ValueError, match="room"):
        await client.get_ice_credentials(room="no spaces")
    with pytest.raises(ValueError, match="client_ip"):
        await client.get_ice_credentials(client_ip="nope")
    assert loopback.seen == []


async def test_list_regions(loopback: ScriptedServer, make_client: ClientFactory) -> None:
    region = {
        "slug": "eu-central",
        "nat2": "DE",
        "city": "Frankfurt",
        "name": "Europe",
        "lat": 50.1,
        "lon": 8.6,
        "is_online": True,
        "is_operational": True,
    }
    loopback.script(REGIONS, json_answer([region]))
    regions = await make_client().list_regions()
    assert regions == [Region("eu-central", "DE", "Frankfurt", "Europe", 50.1, 8.6, True, True)]
    assert loopback.seen[0][:2] == ("GET", REGIONS)
    assert loopback.seen[0][2]["Authorization"] == f"Bearer {TOKEN}"


# --- retries --------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_retryable_statuses_then_success(
    status: int, loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(
        ICE, json_answer({"error": "x"}, status), json_answer({"error": "x"}, status), json_answer()
    )
    with instant_retries():  # the waits are tested in test_retry.py and below
        creds = await make_client(max_retries=2).get_ice_credentials(room="r")
    assert creds.ice_servers[0].urls == ["stun:stun.example.test:3478"]
    assert loopback.count(ICE) == 3
    bodies = {body for method, _, _, body in loopback.seen}
    assert bodies == {b'{"room":"r"}'}  # re-sent identically


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, TurnixAPIError),
        (422, TurnixAPIError),
        (501, ServerError),
    ],
)
async def test_non_retryable_statuses_fail_after_exactly_one_request(
    status: int, error: type[TurnixAPIError], loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, json_answer({"message": "nope"}, status))
    loopback.script(REGIONS, json_answer({"message": "nope"}, status))
    client = make_client(max_retries=5)
    with pytest.raises(error) as info:
        await client.get_ice_credentials()
    assert type(info.value) is error
    assert info.value.status == status
    with pytest.raises(error):
        await client.list_regions()
    assert loopback.count(ICE) == 1
    assert loopback.count(REGIONS) == 1


async def test_connection_reset_is_retried(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, reset, json_answer())
    loopback.script(REGIONS, reset, json_answer([]))
    client = make_client(max_retries=1)
    await client.get_ice_credentials()
    assert await client.list_regions() == []
    assert loopback.count(ICE) == 2
    assert loopback.count(REGIONS) == 2


@pytest.mark.parametrize("path", [ICE, REGIONS])
async def test_resets_exhausted_raise_connection_error_with_exact_attempts(
    path: str, loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(path, reset)
    client = make_client(max_retries=2)
    with pytest.raises(TurnixConnectionError) as info:
        await (client.get_ice_credentials() if path == ICE else client.list_regions())
    assert not isinstance(info.value, TurnixTimeoutError)
    assert loopback.count(path) == 3  # aiohttp's own GET retry must not add attempts


async def test_connection_refused_is_retried_then_typed(unused_tcp_port: int) -> None:
    async with AsyncTurnix(
        TOKEN, base_url=f"http://127.0.0.1:{unused_tcp_port}/api/v1", backoff_base=0, max_retries=2
    ) as client:
        with pytest.raises(TurnixConnectionError, match=r"127\.0\.0\.1"):
            await client.get_ice_credentials()


async def test_attempt_timeout_is_retried_then_timeout_error(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, stall())
    client = make_client(timeout=0.2, max_retries=1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TurnixTimeoutError):
        await client.get_ice_credentials()
    assert loop.time() - started < 1.5
    assert loopback.count(ICE) == 2


async def test_retry_after_seconds_is_honoured(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(
        ICE, json_answer({"error": "slow down"}, 429, {"Retry-After": "0.3"}), json_answer()
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    await make_client(max_retries=1).get_ice_credentials()
    assert loop.time() - started >= 0.28
    assert loopback.count(ICE) == 2


async def test_rate_limit_error_carries_retry_after(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, json_answer({"error": "slow down"}, 429, {"Retry-After": "0"}))
    with pytest.raises(RateLimitError) as info:
        await make_client(max_retries=0).get_ice_credentials()
    assert info.value.retry_after == 0.0
    assert loopback.count(ICE) == 1


async def test_backoff_is_exponential_with_jitter(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, json_answer({}, 503))
    client = make_client(max_retries=3, backoff_base=0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ServerError):
        await client.get_ice_credentials()
    # waits of 0.05, 0.1, 0.2 s, each jittered to 50-100 %
    assert 0.175 <= loop.time() - started < 1.0


# --- errors ---------------------------------------------------------------------


async def test_api_error_fields_and_token_scrubbing(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(
        ICE,
        json_answer({"detail": f"token {TOKEN} is not valid"}, 401, {"X-Request-Id": "req-42"}),
    )
    with pytest.raises(AuthenticationError) as info:
        await make_client().get_ice_credentials()
    error = info.value
    assert error.request_id == "req-42"
    assert error.message == "token *** is not valid"
    for text in (str(error), repr(error), error.body, error.message):
        assert TOKEN not in text


async def test_html_error_pages_become_trimmed_messages(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    page = (
        b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
    )
    loopback.script(ICE, raw_answer(page, 502, "text/html"))
    with pytest.raises(ServerError) as info:
        await make_client(max_retries=0).get_ice_credentials()
    assert info.value.message == "502 Bad Gateway Bad Gateway"


async def test_empty_error_body_uses_the_reason_phrase(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, raw_answer(b"", 404, "text/plain"))
    with pytest.raises(NotFoundError, match="Not Found"):
        await make_client().get_ice_credentials()


async def test_every_error_is_a_turnix_error(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, raw_answer(b"not json", 200))
    with pytest.raises(TurnixError):
        await make_client().get_ice_credentials()


# --- auth and redirects ---------------------------------------------------------


async def test_token_is_not_sent_to_another_origin_on_redirect(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    other = ScriptedServer()
    await other.start()
    try:
        other.script(ICE, json_answer())

        async def redirect(request: web.Request) -> web.StreamResponse:
            raise web.HTTPTemporaryRedirect(f"{other.origin}{ICE}")

        loopback.script(ICE, redirect)
        await make_client().get_ice_credentials(room="r")
        assert loopback.seen[0][2]["Authorization"] == f"Bearer {TOKEN}"
        assert other.count(ICE) == 1
        assert "Authorization" not in other.seen[0][2]
        assert all(TOKEN not in str(value) for value in other.seen[0][2].values())
    finally:
        await other.close()


async def test_same_origin_redirect_keeps_the_token(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPTemporaryRedirect("/api/v2/credentials/ice")

    loopback.script(ICE, redirect)
    loopback.script("/api/v2/credentials/ice", json_answer())
    await make_client().get_ice_credentials(room="r")
    assert loopback.seen[1][1] == "/api/v2/credentials/ice"
    assert loopback.seen[1][2]["Authorization"] == f"Bearer {TOKEN}"
    assert loopback.seen[1][3] == b'{"room":"r"}'


# --- lifecycle ------------------------------------------------------------------


async def test_close_is_idempotent_and_calls_after_close_fail_typed(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, json_answer())
    client = make_client()
    await client.get_ice_credentials()
    await client.close()
    await client.close()
    assert client.closed
    for call in (client.get_ice_credentials(), client.list_regions()):
        with pytest.raises(ClientClosedError):
            await call
    assert issubclass(ClientClosedError, RuntimeError)
    assert issubclass(ClientClosedError, TurnixError)
    with pytest.raises(ClientClosedError):
        async with client:
            pass


async def test_works_without_async_with_and_reuses_its_connection(
    loopback: ScriptedServer,
) -> None:
    peers: set[object] = set()

    async def answer(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        peers.add(request.transport.get_extra_info("peername"))
        return web.json_response(ICE_BODY)

    loopback.script(ICE, answer)
    client = AsyncTurnix(TOKEN, base_url=loopback.base_url)
    for _ in range(5):
        await client.get_ice_credentials()
    await client.close()
    assert len(peers) == 1  # one pooled keep-alive connection for sequential calls
    with pytest.raises(ClientClosedError):
        await client.get_ice_credentials()


async def test_can_be_constructed_outside_a_running_loop(loopback: ScriptedServer) -> None:
    loopback.script(ICE, json_answer())
    client = await asyncio.to_thread(AsyncTurnix, TOKEN, base_url=loopback.base_url)
    async with client:
        await client.get_ice_credentials()


async def test_no_unclosed_session_warnings(loopback: ScriptedServer) -> None:
    loopback.script(ICE, json_answer())
    loopback.script(REGIONS, json_answer({"error": "no"}, 500))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with AsyncTurnix(TOKEN, base_url=loopback.base_url, backoff_base=0) as client:
            await client.get_ice_credentials()
            with pytest.raises(ServerError):
                await client.list_regions()
        AsyncTurnix(TOKEN)  # never used: no session, nothing to warn about
        gc.collect()
        await asyncio.sleep(0)
    assert [str(w.message) for w in caught] == []


async def test_close_while_calls_are_in_flight(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, stall(5))
    client = make_client()
    calls = [asyncio.create_task(client.get_ice_credentials()) for _ in range(3)]
    await asyncio.sleep(0.1)
    await client.close()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(result, TurnixError) for result in results), results


async def test_an_unclosed_client_says_it_is_an_asyncturnix_and_how_to_close_it(
    loopback: ScriptedServer,
) -> None:
    loopback.script(ICE, json_answer())
    client = AsyncTurnix(TOKEN, base_url=loopback.base_url)
    await client.get_ice_credentials()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del client
        gc.collect()
    messages = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert messages, "no ResourceWarning for an unclosed client"
    assert "AsyncTurnix" in messages[0] and "await turnix.close()" in messages[0]
    assert not any("Unclosed client session" in message for message in messages)


async def test_app_info_is_appended_to_the_user_agent(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, json_answer())
    await make_client(app_info="acme-signaling/2.3").get_ice_credentials()
    assert loopback.seen[0][2]["User-Agent"].startswith("turnix-async/")
    assert loopback.seen[0][2]["User-Agent"].endswith(" acme-signaling/2.3")


@pytest.mark.parametrize("app_info", ["", "two\nlines", "é", "x" * 101, 3])
def test_bad_app_info_is_refused(app_info: Any) -> None:
    with pytest.raises(ValueError, match="app_info"):
        AsyncTurnix(TOKEN, app_info=app_info)


async def test_a_404_from_a_base_url_without_the_api_path_says_so(
    loopback: ScriptedServer,
) -> None:
    async with AsyncTurnix(TOKEN, base_url=loopback.origin, max_retries=0) as client:
        with pytest.raises(NotFoundError, match=r"missing its path.*/api/v1"):
            await client.get_ice_credentials()
    async with AsyncTurnix(TOKEN, base_url=loopback.base_url, max_retries=0) as client:
        with pytest.raises(NotFoundError) as info:
            await client.get_ice_credentials()
    assert "missing its path" not in str(info.value)


async def test_debug_records_carry_request_ids_and_never_the_token(
    loopback: ScriptedServer, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    loopback.script(
        ICE,
        json_answer({"error": TOKEN}, 503, {"X-Request-Id": "req_1"}),
        json_answer(None, 200, {"X-Request-Id": "req_2"}),
    )
    with caplog.at_level(logging.DEBUG, logger="turnix_async"):
        await make_client().get_ice_credentials()
    lines = [r.getMessage() for r in caplog.records if r.name == "turnix_async"]
    assert "request id req_1" in lines[0] and "request id req_2" in lines[-1]
    assert all(TOKEN[:8] not in line for line in lines)

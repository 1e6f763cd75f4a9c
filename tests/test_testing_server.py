"""FakeTurnixServer: lifecycle, auth, validation, regions, coturn credentials, faults."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import math
import runpy
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from turnix_async import (
    AsyncTurnix,
    AuthenticationError,
    BadRequestError,
    PermissionDeniedError,
    RateLimitError,
    Region,
    ServerError,
    TurnixAPIError,
    TurnixConnectionError,
    TurnixTimeoutError,
)
from turnix_async.testing import DEFAULT_REGIONS, FakeTurnixServer, RecordedRequest

DOCS_EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "testing_server.py"
SECRET = "coturn-static-auth-secret"
NOW = 1_700_000_000
COTURN_URLS = ["turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"]
OFFLINE_REGIONS = [
    Region("eu-central", "DE", "Frankfurt", "Europe Central", 50.1, 8.7, False, True),
    Region("eu-west", "GB", "London", "Europe West", 51.5, -0.1, True, False),
    Region("us-east", "US", "Ashburn", "US East", 39.0, -77.5, True, True),
]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A raw aiohttp session: sees statuses as they are, with no retries."""
    async with aiohttp.ClientSession() as session:
        yield session


def _auth(server: FakeTurnixServer, token: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token or server.api_token}"}


async def _until(condition: Callable[[], bool]) -> None:
    """Let the event loop run until `condition()` holds (a bounded wait, not a fixed sleep)."""
    for _ in range(5000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the condition never held")


async def _post_ice(
    http: aiohttp.ClientSession, server: FakeTurnixServer, **kwargs: Any
) -> tuple[int, Any]:
    headers = {**_auth(server), **kwargs.pop("headers", {})}
    async with http.post(f"{server.base_url}/credentials/ice", headers=headers, **kwargs) as r:
        return r.status, await r.json(content_type=None)


def _client(server: FakeTurnixServer, **options: Any) -> AsyncTurnix:
    options.setdefault("backoff_base", 0.0)
    return AsyncTurnix(
        options.pop("api_token", server.api_token), base_url=server.base_url, **options
    )


# -- lifecycle ----------------------------------------------------------------------


async def test_async_with_serves_on_a_free_loopback_port(http: aiohttp.ClientSession) -> None:
    async with FakeTurnixServer() as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/api/v1"
        assert server.port > 0
        assert server.api_token.startswith("tnx_")
        assert server.api_token not in repr(server)
        async with http.get(f"{server.base_url}/regions", headers=_auth(server)) as response:
            assert response.status == 200
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.get(f"{server.base_url}/regions"):
            pass


async def test_explicit_start_and_close() -> None:
    server = FakeTurnixServer(api_token="tnx_my-token")
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.base_url
    await server.start()
    try:
        assert server.api_token == "tnx_my-token"
        with pytest.raises(RuntimeError, match="only once"):
            await server.start()
    finally:
        await server.close()
    await server.close()  # idempotent
    with pytest.raises(RuntimeError, match="only once"):
        await server.start()


async def test_a_wildcard_host_gives_a_loopback_base_url() -> None:
    async with FakeTurnixServer(host="0.0.0.0") as server, _client(server) as client:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert await client.list_regions()


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"port": -1}, ValueError, "port"),
        ({"api_token": "has space"}, ValueError, "token"),
        ({"api_token": ""}, ValueError, "token"),
        ({"turn_urls": ["http://x"]}, ValueError, "turn_urls"),
        ({"stun_urls": []}, ValueError, "stun_urls"),
        ({"rate_limit": (0, 1)}, ValueError, "rate_limit"),
        ({"rate_limit": 5}, ValueError, "rate_limit"),
        ({"rate_limit": (1, math.nan)}, ValueError, "rate_limit"),  # was accepted
        ({"rate_limit": (1, math.inf)}, ValueError, "rate_limit"),
        ({"turn_secret": ""}, ValueError, "turn_secret"),
        ({"turn_secret": 123}, TypeError, "turn_secret"),  # was accepted, failed per request
        ({"clock": 1700000000.0}, TypeError, "clock"),
        ({"regions": [{"slug": "eu"}]}, ValueError, "Region"),
        ({"regions": [DEFAULT_REGIONS[0], DEFAULT_REGIONS[0]]}, ValueError, "distinct"),
    ],
)
def test_constructor_rejects_bad_options(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        FakeTurnixServer(**options)


# -- authentication -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (None, "missing"),
        ("Basic dXNlcjpwYXNz", "malformed"),
        ("Bearer", "malformed"),
        ("Bearer two words", "malformed"),
        ("Bearer tnx_unknown", "invalid"),
    ],
)
async def test_401_for_missing_malformed_or_unknown_token(
    turnix_server: FakeTurnixServer,
    http: aiohttp.ClientSession,
    header: str | None,
    problem: str,
) -> None:
    headers = {} if header is None else {"Authorization": header}
    async with http.get(f"{turnix_server.base_url}/regions", headers=headers) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert problem in (await response.json())["error"]
    assert len(turnix_server.requests) == 1  # recorded like any other request


async def test_sdk_raises_authentication_error_without_retrying(
    turnix_server: FakeTurnixServer,
) -> None:
    async with _client(turnix_server, api_token="tnx_unknown") as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.list_regions()
    assert caught.value.request_id is not None
    assert caught.value.request_id.startswith("req_")
    assert len(turnix_server.requests) == 1


async def test_403_for_a_token_without_permission_and_401_once_removed(
    turnix_server: FakeTurnixServer,
) -> None:
    turnix_server.add_token("tnx_read-only", permitted=False)
    turnix_server.add_token("tnx_second")
    async with _client(turnix_server, api_token="tnx_read-only") as client:
        with pytest.raises(PermissionDeniedError, match="permission"):
            await client.get_ice_credentials()
        turnix_server.remove_token("tnx_read-only")
        with pytest.raises(AuthenticationError):
            await client.get_ice_credentials()
    async with _client(turnix_server, api_token="tnx_second") as client:
        assert await client.list_regions()


# -- POST /credentials/ice ------------------------------------------------------------


async def test_defaults_ttl_30_and_records_the_request(
    turnix_server: FakeTurnixServer, turnix_client: AsyncTurnix
) -> None:
    credentials = await turnix_client.get_ice_credentials()
    assert timedelta(seconds=29) <= credentials.time_left <= timedelta(seconds=31)
    stun, turn = credentials.ice_servers
    assert stun.urls == ["stun:stun.turnix.test:3478"]
    assert stun.username is None
    assert turn.urls == [
        "turn:eu-central.turnix.test:3478?transport=udp",
        "turn:eu-central.turnix.test:3478?transport=tcp",
    ]
    assert turn.username and turn.credential
    (recorded,) = turnix_server.requests
    assert isinstance(recorded, RecordedRequest)
    assert (recorded.method, recorded.path, recorded.json) == (
        "POST",
        "/api/v1/credentials/ice",
        {},
    )
    assert recorded.headers["authorization"] == f"Bearer {turnix_server.api_token}"


async def test_json_body_with_every_field(
    turnix_server: FakeTurnixServer, turnix_client: AsyncTurnix
) -> None:
    credentials = await turnix_client.get_ice_credentials(
        initiator_client="alice",
        receiver_client="bob",
        room="room_1",
        ttl=600,
        preferred_region="us-east",
        client_ip="203.0.113.7",
    )
    assert timedelta(seconds=599) <= credentials.time_left <= timedelta(seconds=601)
    assert "us-east" in credentials.ice_servers[1].urls[0]
    recorded = turnix_server.requests[-1]
    assert recorded.json == {
        "initiator_client": "alice",
        "receiver_client": "bob",
        "room": "room_1",
        "ttl": 600,
        "preferred_region": "us-east",
    }
    assert recorded.headers["X-TURN-CLIENT-IP"] == "203.0.113.7"


@pytest.mark.turnix_server(clock=lambda: 1_700_000_000.25)
async def test_form_encoded_body_like_the_curl_examples(
    turnix_server: FakeTurnixServer, http: aiohttp.ClientSession
) -> None:
    status, body = await _post_ice(
        http, turnix_server, data={"room": "demo", "ttl": "120", "fixed_region": "us-west"}
    )
    assert status == 200
    assert body["expiresAt"] == "2023-11-14T22:15:21Z"  # ceil(clock) + 120 s
    assert body["iceServers"][1]["urls"][0].startswith("turn:us-west.")
    assert turnix_server.requests[-1].json == {
        "room": "demo",
        "ttl": "120",
        "fixed_region": "us-west",
    }


async def test_empty_body_and_unknown_fields_are_accepted(
    turnix_server: FakeTurnixServer, http: aiohttp.ClientSession
) -> None:
    assert (await _post_ice(http, turnix_server))[0] == 200
    status, _ = await _post_ice(
        http, turnix_server, json={"room": "r", "future": [1, 2], "ttl": None}
    )
    assert status == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"room": "has space"}, "room"),
        ({"room": "x" * 101}, "room"),
        ({"room": ""}, "room"),
        ({"initiator_client": "a/b"}, "initiator_client"),
        ({"receiver_client": 42}, "receiver_client"),
        ({"ttl": 0}, "ttl"),
        ({"ttl": -5}, "ttl"),
        ({"ttl": 1.5}, "ttl"),
        ({"ttl": True}, "ttl"),
        ({"ttl": "soon"}, "ttl"),
        ({"fixed_region": "atlantis"}, "fixed_region"),
        ({"preferred_region": "atlantis"}, "preferred_region"),
    ],
)
async def test_400_names_the_invalid_json_field(
    turnix_server: FakeTurnixServer, http: aiohttp.ClientSession, body: Any, field: str
) -> None:
    status, error = await _post_ice(http, turnix_server, json=body)
    assert status == 400
    assert error["field"] == field
    assert field in error["error"]


@pytest.mark.parametrize(
    ("data", "field"), [({"ttl": "abc"}, "ttl"), ({"ttl": "-1"}, "ttl"), ({"room": "a b"}, "room")]
)
async def test_400_names_the_invalid_form_field(
    turnix_server: FakeTurnixServer, http: aiohttp.ClientSession, data: Any, field: str
) -> None:
    status, error = await _post_ice(http, turnix_server, data=data)
    assert (status, error["field"]) == (400, field)


async def test_400_for_an_invalid_client_ip_header(
    turnix_server: FakeTurnixServer, http: aiohttp.ClientSession
) -> None:
    status, error = await _post_ice(
        http, turnix_server, json={}, headers={"X-TURN-CLIENT-IP": "not-an-ip"}
    )
    assert (status, error["field"]) == (400, "X-TURN-CLIENT-IP")


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b'"room"', "application/json", 400),
        (b"room=demo", "text/plain", 415),
        (b"--x\r\n\r\nroom\r\n--x--\r\n", "multipart/form-data; boundary=x", 415),
    ],
)
async def test_bodies_that_are_not_a_json_object_or_a_form(
    turnix_server: FakeTurnixServer,
    http: aiohttp.ClientSession,
    data: bytes,
    content_type: str,
    status: int,
) -> None:
    got, error = await _post_ice(
        http, turnix_server, data=data, headers={"Content-Type": content_type}
    )
    assert got == status
    assert error.get("field") is None
    assert error["error"]


async def test_sdk_maps_400_to_bad_request_error(turnix_client: AsyncTurnix) -> None:
    with pytest.raises(BadRequestError, match="fixed_region"):
        await turnix_client.get_ice_credentials(fixed_region="atlantis")


async def test_unknown_path_and_wrong_method_answer_json(
    turnix_server: FakeTurnixServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{turnix_server.base_url}/nope", headers=_auth(turnix_server)) as r:
        assert r.status == 404
        assert "error" in await r.json()
        assert r.headers["X-Request-Id"].startswith("req_")
    url = f"{turnix_server.base_url}/credentials/ice"
    async with http.get(url, headers=_auth(turnix_server)) as r:
        assert r.status == 405
        assert r.headers["Allow"] == "POST"
        assert "error" in await r.json()


# -- regions ------------------------------------------------------------------------


async def test_default_regions_on_the_wire_with_the_api_field_names(
    turnix_server: FakeTurnixServer, turnix_client: AsyncTurnix, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{turnix_server.base_url}/regions", headers=_auth(turnix_server)) as r:
        first, *_ = await r.json()
    assert first == {
        "slug": "eu-central",
        "nat2": "DE",
        "city": "Frankfurt",
        "name": "Europe Central",
        "lat": 50.1109,
        "lon": 8.6821,
        "is_online": True,
        "is_operational": True,
    }
    assert await turnix_client.list_regions() == list(DEFAULT_REGIONS)


@pytest.mark.turnix_server(regions=OFFLINE_REGIONS)
async def test_configured_regions_fixed_fails_preferred_falls_back(
    turnix_server: FakeTurnixServer, turnix_client: AsyncTurnix, http: aiohttp.ClientSession
) -> None:
    assert await turnix_client.list_regions() == OFFLINE_REGIONS
    for slug, state in [("eu-central", "offline"), ("eu-west", "not operational")]:
        with pytest.raises(TurnixAPIError) as caught:
            await turnix_client.get_ice_credentials(fixed_region=slug)
        assert caught.value.status == 409
        assert state in caught.value.message
        status, error = await _post_ice(http, turnix_server, json={"fixed_region": slug})
        assert (status, error["field"]) == (409, "fixed_region")
    credentials = await turnix_client.get_ice_credentials(preferred_region="eu-central")
    assert credentials.ice_servers[1].urls[0].startswith("turn:us-east.")
    credentials = await turnix_client.get_ice_credentials(fixed_region="us-east")
    assert credentials.ice_servers[1].urls[0].startswith("turn:us-east.")
    requests = turnix_server.requests
    assert next(r.json for r in requests if r.method == "POST") == {"fixed_region": "eu-central"}
    assert sum(r.method == "POST" for r in requests) == 6  # 409 is not retried


async def test_set_region_and_503_when_no_region_is_left(
    turnix_server: FakeTurnixServer, http: aiohttp.ClientSession
) -> None:
    for region in DEFAULT_REGIONS:
        turnix_server.set_region(region.slug, is_online=False)
    turnix_server.set_region("us-west", is_operational=False)
    assert not any(region.is_online for region in turnix_server.regions)
    assert (await _post_ice(http, turnix_server))[0] == 503
    turnix_server.set_region("us-west", is_online=True, is_operational=True)
    status, body = await _post_ice(http, turnix_server, json={"preferred_region": "eu-central"})
    assert status == 200
    assert body["iceServers"][1]["urls"][0].startswith("turn:us-west.")
    with pytest.raises(KeyError):
        turnix_server.set_region("atlantis", is_online=True)


# -- coturn REST-API credentials ----------------------------------------------------


@pytest.mark.turnix_server(turn_secret=SECRET, turn_urls=COTURN_URLS, clock=lambda: NOW)
async def test_coturn_rest_api_credentials(turnix_client: AsyncTurnix) -> None:
    credentials = await turnix_client.get_ice_credentials(initiator_client="alice", ttl=300)
    stun, turn = credentials.ice_servers
    assert stun.urls == ["stun:127.0.0.1:3478"]
    assert turn.urls == COTURN_URLS
    assert turn.username is not None
    expiry, _, client_id = turn.username.partition(":")
    assert client_id == "alice"
    assert int(expiry) == int(credentials.expires_at.timestamp())
    assert int(expiry) == NOW + 300
    digest = hmac.new(SECRET.encode(), turn.username.encode(), hashlib.sha1).digest()
    assert turn.credential == base64.b64encode(digest).decode()


async def test_coturn_credentials_without_a_client_name() -> None:
    async with (
        FakeTurnixServer(turn_secret=b"s3cret", stun_urls=["stun:stun.local:3478"]) as server,
        _client(server) as client,
    ):
        by_room = await client.get_ice_credentials(room="lobby")
        anonymous = await client.get_ice_credentials()
    assert by_room.ice_servers[0].urls == ["stun:stun.local:3478"]
    for credentials in (by_room, anonymous):
        turn = credentials.ice_servers[1]
        assert turn.urls[0] == "turn:eu-central.turnix.test:3478?transport=udp"
        assert turn.username is not None
        digest = hmac.new(b"s3cret", turn.username.encode(), hashlib.sha1).digest()
        assert turn.credential == base64.b64encode(digest).decode()
    assert by_room.ice_servers[1].username.endswith(":lobby")  # type: ignore[union-attr]


# -- fault injection ------------------------------------------------------------------


async def test_fail_next_is_retried_and_every_attempt_recorded(
    turnix_server: FakeTurnixServer, turnix_client: AsyncTurnix
) -> None:
    turnix_server.fail_next(2)
    assert turnix_server.pending_faults == 2
    assert await turnix_client.list_regions()
    assert len(turnix_server.requests) == 3
    assert turnix_server.pending_faults == 0


async def test_fail_next_beyond_the_retries_raises_server_error(
    turnix_server: FakeTurnixServer, turnix_client: AsyncTurnix
) -> None:
    turnix_server.fail_next(3, status=500, body={"message": "database on fire"})
    with pytest.raises(ServerError, match="database on fire") as caught:
        await turnix_client.get_ice_credentials()
    assert caught.value.status == 500
    assert len(turnix_server.requests) == 3
    await turnix_client.get_ice_credentials()  # back to normal


async def test_fail_next_with_retry_after_and_a_text_body(
    turnix_server: FakeTurnixServer, http: aiohttp.ClientSession
) -> None:
    turnix_server.fail_next(status=429, retry_after=7.0, body="slow down")
    turnix_server.fail_next(status=503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT", body=b"x")
    url = f"{turnix_server.base_url}/regions"
    async with http.get(url) as response:  # faults come before authentication
        assert (response.status, response.headers["Retry-After"]) == (429, "7")
        assert await response.text() == "slow down"
    async with http.get(url) as response:
        assert response.status == 503
        assert response.headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"


async def test_sdk_sees_rate_limit_error_with_retry_after(turnix_server: FakeTurnixServer) -> None:
    turnix_server.fail_next(status=429, retry_after=120)
    async with _client(turnix_server) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.list_regions()  # 120 s is above retry_after_cap: not waited
    assert caught.value.retry_after == 120
    assert len(turnix_server.requests) == 1


async def test_reset_next_aborts_the_connection(
    turnix_server: FakeTurnixServer, http: aiohttp.ClientSession, turnix_client: AsyncTurnix
) -> None:
    turnix_server.reset_next()
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.post(f"{turnix_server.base_url}/credentials/ice"):
            pass
    turnix_server.reset_next(2)
    assert await turnix_client.get_ice_credentials(room="after-reset")
    assert len(turnix_server.requests) == 4
    async with _client(turnix_server, max_retries=0) as client:
        turnix_server.reset_next()
        with pytest.raises(TurnixConnectionError):
            await client.get_ice_credentials()


async def test_delay_next_triggers_client_timeouts(turnix_server: FakeTurnixServer) -> None:
    turnix_server.delay_next(5)
    async with _client(turnix_server, timeout=0.1, max_retries=0) as client:
        with pytest.raises(TurnixTimeoutError):
            await client.list_regions()
    assert len(turnix_server.requests) == 1


async def test_hold_next_holds_answers_until_released(
    turnix_server: FakeTurnixServer, turnix_client: AsyncTurnix
) -> None:
    hold = turnix_server.hold_next(2)
    calls = [asyncio.ensure_future(turnix_client.list_regions()) for _ in range(3)]
    await hold.arrived()
    done, held = await asyncio.wait(calls, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    assert (len(done), len(held)) == (1, 2)  # the third request was not held
    hold.release()
    assert all(await asyncio.gather(*calls))
    assert turnix_server.pending_faults == 0


async def test_close_releases_a_hold_and_ends_a_delay_at_once() -> None:
    server = FakeTurnixServer()
    await server.start()
    hold = server.hold_next()
    server.delay_next(30)
    async with aiohttp.ClientSession() as first, aiohttp.ClientSession() as second:
        url, headers = f"{server.base_url}/regions", _auth(server)
        held = asyncio.ensure_future(first.get(url, headers=headers))
        await hold.arrived()
        delayed = asyncio.ensure_future(second.get(url, headers=headers))
        await _until(lambda: len(server.requests) == 2)
        await asyncio.wait_for(server.close(), 5)  # not 30 s, not forever
        assert hold.released
        for call in (held, delayed):
            with contextlib.suppress(aiohttp.ClientError):
                (await call).release()  # answered or cut at shutdown


async def test_faults_queue_in_order_one_per_request(
    turnix_server: FakeTurnixServer, turnix_client: AsyncTurnix
) -> None:
    turnix_server.reset_next()
    turnix_server.fail_next(status=502)
    turnix_server.delay_next(0.01)
    assert turnix_server.pending_faults == 3
    await turnix_client.list_regions()
    assert len(turnix_server.requests) == 3  # reset, 502, delayed success
    assert turnix_server.pending_faults == 0


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda s: s.fail_next(0), ValueError, "n must"),
        (lambda s: s.fail_next(10**9), ValueError, "n must"),  # was a billion-entry list
        (lambda s: s.reset_next(-1), ValueError, "n must"),
        (lambda s: s.hold_next(0), ValueError, "n must"),
        (lambda s: s.fail_next(status=200), ValueError, "status"),
        (lambda s: s.delay_next(-1), ValueError, "seconds"),
        (lambda s: s.delay_next(math.nan), ValueError, "seconds"),  # waited forever
        (lambda s: s.delay_next(math.inf), ValueError, "seconds"),
        (lambda s: s.fail_next(retry_after=-1), ValueError, "retry_after"),
        (lambda s: s.fail_next(retry_after=[1]), ValueError, "retry_after"),
        (lambda s: s.fail_next(retry_after="1\r\nSet-Cookie: x=1"), ValueError, "retry_after"),
        (lambda s: s.fail_next(body={"when": object()}), TypeError, "body"),  # failed later
        (lambda s: s.fail_next(body=object()), TypeError, "body"),
    ],
)
def test_fault_arguments_are_checked_at_the_call(
    call: Any, error: type[Exception], message: str
) -> None:
    server = FakeTurnixServer()
    with pytest.raises(error, match=message):
        call(server)
    assert server.pending_faults == 0


async def test_rate_limit_answers_429_until_the_clock_frees_a_slot(
    http: aiohttp.ClientSession,
) -> None:
    now = [1000.0]
    async with FakeTurnixServer(rate_limit=(2, 30), clock=lambda: now[0]) as server:
        url = f"{server.base_url}/regions"

        async def status() -> tuple[int, str | None]:
            async with http.get(url, headers=_auth(server)) as response:
                return response.status, response.headers.get("Retry-After")

        assert await status() == (200, None)
        now[0] += 10
        assert await status() == (200, None)
        assert await status() == (429, "20")  # the first request leaves the window at 1030
        now[0] += 20
        assert await status() == (200, None)


async def test_clear_and_reset(turnix_server: FakeTurnixServer, turnix_client: AsyncTurnix) -> None:
    await turnix_client.list_regions()
    turnix_server.clear()
    assert turnix_server.requests == []
    turnix_server.fail_next(5)
    turnix_server.reset()
    assert (turnix_server.requests, turnix_server.pending_faults) == ([], 0)
    await turnix_client.list_regions()


# -- the docs' example ----------------------------------------------------------------


async def test_the_docs_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/examples/testing_server.py, included in docs/testing.md."""
    await runpy.run_path(str(DOCS_EXAMPLE), run_name="docs_example")["main"]()
    out = capsys.readouterr().out
    assert "preferred us-east (offline) -> got turn:eu-central." in out
    assert "fixed us-east -> 409 fixed_region 'us-east' is unavailable (offline)" in out
    assert "ok on attempt 3" in out

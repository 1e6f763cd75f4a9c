"""Response -> exception mapping, as narrow unit tests with aioresponses.

aioresponses replaces `ClientSession._request`, so the auth middleware (which
aiohttp runs inside it) does not run here; the retry loop, above it, does. Network
behaviour is tested against real loopback servers in test_client.py and
test_reliability.py.
"""

from __future__ import annotations

import pickle
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aioresponses import aioresponses

from tests.loopback import ICE_BODY, TOKEN
from turnix_async import (
    AsyncTurnix,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    TurnixAPIError,
    TurnixConnectionError,
    TurnixError,
    TurnixTimeoutError,
)

BASE = "https://api.example.test/api/v1"
ICE_URL = f"{BASE}/credentials/ice"

pytestmark = pytest.mark.usefixtures("aioresponses_compat")


@pytest.fixture
async def client() -> AsyncIterator[AsyncTurnix]:
    async with AsyncTurnix(TOKEN, base_url=BASE, max_retries=0) as turnix:
        yield turnix


def test_the_tree() -> None:
    assert issubclass(TurnixTimeoutError, TurnixConnectionError)
    for cls in (TurnixConnectionError, ResponseValidationError, TurnixAPIError):
        assert issubclass(cls, TurnixError)
    for cls in (
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        RateLimitError,
        ServerError,
    ):
        assert issubclass(cls, TurnixAPIError)


async def test_success_is_parsed(client: AsyncTurnix) -> None:
    with aioresponses() as mocked:
        mocked.post(ICE_URL, payload=ICE_BODY)
        creds = await client.get_ice_credentials(room="r")
    assert creds.to_rtc_configuration()["iceServers"][1]["username"] == "user-1"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
        (599, ServerError),
        (418, TurnixAPIError),
        (302, TurnixAPIError),
    ],
)
async def test_status_mapping(status: int, cls: type[TurnixAPIError], client: AsyncTurnix) -> None:
    with aioresponses() as mocked:
        mocked.post(ICE_URL, status=status, payload={"error": "bad thing"})
        with pytest.raises(cls) as info:
            await client.get_ice_credentials()
    assert type(info.value) is cls
    assert info.value.status == status
    assert info.value.message == "bad thing"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"error": "e"}, "e"),
        ({"message": "m"}, "m"),
        ({"detail": "d"}, "d"),
        ({"error": {"message": "nested"}}, "nested"),
        ({"detail": [{"loc": ["ttl"], "msg": "bad"}]}, '[{"loc": ["ttl"], "msg": "bad"}]'),
        ({"other": 1}, '{"other": 1}'),
    ],
)
async def test_message_comes_from_json_fields(body: Any, message: str, client: AsyncTurnix) -> None:
    with aioresponses() as mocked:
        mocked.post(ICE_URL, status=400, payload=body)
        with pytest.raises(BadRequestError) as info:
            await client.get_ice_credentials()
    assert info.value.message == message


async def test_plain_text_and_long_bodies_are_trimmed(client: AsyncTurnix) -> None:
    with aioresponses() as mocked:
        mocked.post(ICE_URL, status=500, body="  upstream\n\n  failed  " + "x" * 1000)
        with pytest.raises(ServerError) as info:
            await client.get_ice_credentials()
    assert info.value.message.startswith("upstream failed xxx")
    assert len(info.value.message) <= 300


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        ("1.5", 1.5),
        ("-3", None),  # invalid: our own backoff applies
        ("soon", None),
        ("9" * 400, float("inf")),  # longer than any cap
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past: no wait
        ("Sun Nov  6 08:49:37 1994", 0.0),  # the asctime form
    ],
)
async def test_retry_after_forms(header: str, seconds: float | None, client: AsyncTurnix) -> None:
    with aioresponses() as mocked:
        mocked.post(ICE_URL, status=429, payload={}, headers={"Retry-After": header})
        with pytest.raises(RateLimitError) as info:
            await client.get_ice_credentials()
    assert info.value.retry_after == seconds


async def test_wrong_content_type_on_success(client: AsyncTurnix) -> None:
    with aioresponses() as mocked:
        mocked.post(ICE_URL, status=200, body="<html>hi</html>", content_type="text/html")
        with pytest.raises(ResponseValidationError, match="text/html"):
            await client.get_ice_credentials()


async def test_json_suffix_content_types_are_accepted(client: AsyncTurnix) -> None:
    with aioresponses() as mocked:
        mocked.post(ICE_URL, payload=ICE_BODY, content_type="application/vnd.turnix+json")
        assert (await client.get_ice_credentials()).ice_servers


async def test_status_retries_also_run_under_aioresponses() -> None:
    async with AsyncTurnix(TOKEN, base_url=BASE, max_retries=1, backoff_base=0) as turnix:
        with aioresponses() as mocked:
            mocked.post(ICE_URL, status=503, payload={"error": "down"})
            mocked.post(ICE_URL, payload=ICE_BODY)
            assert (await turnix.get_ice_credentials()).ice_servers
            assert sum(len(calls) for calls in mocked.requests.values()) == 2


def test_api_errors_pickle_with_their_fields() -> None:
    error = RateLimitError("slow", status=429, body="b", request_id="r", retry_after=2.0)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.status, copy.message, copy.request_id, copy.retry_after) == (
        RateLimitError,
        429,
        "slow",
        "r",
        2.0,
    )

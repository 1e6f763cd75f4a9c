"""Reply -> exception, the one place statuses become errors: pure, no network.

Network behaviour (what is retried, how often) is tested against real loopback
servers in test_client.py, test_reliability.py and test_transport.py.
"""

from __future__ import annotations

import json
import pickle
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
)
from turnix_async._errors import api_error, checked_body
from turnix_async._redact import Redactor
from turnix_async._wire import Reply

REDACTOR = Redactor([TOKEN])


def error_for(status: int, body: Any = None, **headers: str) -> TurnixAPIError:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api_error(Reply(status, headers, data), REDACTOR)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (429, RateLimitError),
        (500, ServerError),
        (501, ServerError),
        (599, ServerError),
        (418, TurnixAPIError),
        (302, TurnixAPIError),
    ],
)
def test_the_status_alone_decides_the_class(status: int, cls: type[TurnixAPIError]) -> None:
    error = error_for(status, {"error": "bad thing"}, **{"X-Request-Id": "req_7"})
    assert (type(error), error.status, error.message, error.request_id) == (
        cls,
        status,
        "bad thing",
        "req_7",
    )
    assert str(error) == f"HTTP {status}: bad thing (request id req_7)"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"error": "e"}, "e"),
        ({"message": "m"}, "m"),
        ({"detail": "d"}, "d"),
        ({"error": {"message": "nested"}}, "nested"),
        ({"detail": [{"loc": ["ttl"], "msg": "bad"}]}, '[{"loc": ["ttl"], "msg": "bad"}]'),
        ({"other": 1}, '{"other": 1}'),
        (b"  upstream\n\n  failed  " + b"x" * 1000, "upstream failed " + "x" * 283 + "…"),
        (b"<html><body><h1>502 Bad Gateway</h1></body></html>", "502 Bad Gateway"),
        (b"", "Bad Request"),
        (b"\xff\xfe not utf-8", "�� not utf-8"),
    ],
)
def test_the_message_is_the_human_part_of_the_body(body: Any, message: str) -> None:
    assert error_for(400, body).message == message


def test_retry_after_is_read_on_429_and_503_only() -> None:
    assert error_for(429, {}, **{"Retry-After": "7"}).retry_after == 7.0
    assert error_for(503, {}, **{"Retry-After": "2"}).retry_after == 2.0
    assert error_for(500, {}, **{"Retry-After": "2"}).retry_after is None


@pytest.mark.parametrize(
    ("content_type", "accepted"),
    [
        (None, True),
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/JSON ; charset=UTF-8", True),
        ("application/vnd.turnix+json", True),
        ("text/html", False),
        ("text/plain; charset=utf-8", False),
    ],
)
def test_a_success_must_be_json(content_type: str | None, accepted: bool) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    reply = Reply(200, headers, b"{}")
    if accepted:
        assert checked_body(reply, REDACTOR) == b"{}"
    else:
        with pytest.raises(ResponseValidationError, match="expected a JSON response"):
            checked_body(reply, REDACTOR)


@pytest.mark.usefixtures("aioresponses_compat")
async def test_the_retry_loop_runs_under_aioresponses_too() -> None:
    base = "https://api.example.test/api/v1"
    async with AsyncTurnix(TOKEN, base_url=base, max_retries=1, backoff_base=0) as turnix:
        with aioresponses() as mocked:
            mocked.post(f"{base}/credentials/ice", status=503, payload={"error": "down"})
            mocked.post(f"{base}/credentials/ice", payload=ICE_BODY)
            assert (await turnix.get_ice_credentials()).ice_servers
            assert sum(len(calls) for calls in mocked.requests.values()) == 2


def test_errors_pickle_with_their_fields() -> None:
    error = RateLimitError("slow", status=429, body="b", request_id="r", retry_after=2.0)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.status, copy.message, copy.request_id, copy.retry_after) == (
        RateLimitError,
        429,
        "slow",
        "r",
        2.0,
    )
    refused = pickle.loads(pickle.dumps(TurnixConnectionError("tls", retryable=False)))
    assert (str(refused), refused.retryable) == ("tls", False)

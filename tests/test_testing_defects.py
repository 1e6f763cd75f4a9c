"""Regression tests for defects of the fake Turnix server, each reproduced before it was fixed."""

from __future__ import annotations

import math
from typing import Any

import aiohttp
import pytest

from turnix_async.testing import FakeTurnixServer


async def _post_ice(server: FakeTurnixServer, data: bytes) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {server.api_token}", "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.base_url}/credentials/ice", data=data, headers=headers) as response,
    ):
        return response.status, await response.json(content_type=None)


@pytest.mark.parametrize(
    "body",
    [
        b'{"ttl": 1000000000000}',  # what the SDK sends for ttl=10**12: expiresAt past year 9999
        b'{"ttl": ' + b"9" * 400 + b"}",
    ],
    ids=["ttl-10e12", "ttl-400-digits"],
)
async def test_a_ttl_too_large_for_a_timestamp_is_a_400_naming_ttl(
    turnix_server: FakeTurnixServer, body: bytes
) -> None:
    status, error = await _post_ice(turnix_server, body)
    assert (status, error["field"]) == (400, "ttl")


async def test_a_deeply_nested_json_body_is_a_400(turnix_server: FakeTurnixServer) -> None:
    status, error = await _post_ice(turnix_server, b"[" * 100_000 + b"]" * 100_000)
    assert status == 400
    assert error["field"] is None
    assert turnix_server.requests[0].json is None  # recorded as malformed, not a crash


@pytest.mark.parametrize(
    ("options", "error", "argument"),
    [
        ({"rate_limit": (1, math.nan)}, ValueError, "rate_limit"),
        ({"rate_limit": (1, math.inf)}, ValueError, "rate_limit"),
        ({"turn_secret": 123}, TypeError, "turn_secret"),
        ({"clock": 1700000000.0}, TypeError, "clock"),
    ],
)
def test_constructor_rejects_values_that_would_fail_later(
    options: dict[str, Any], error: type[Exception], argument: str
) -> None:
    with pytest.raises(error, match=argument):
        FakeTurnixServer(**options)


@pytest.mark.parametrize(
    ("call", "error", "argument"),
    [
        (lambda s: s.delay_next(math.nan), ValueError, "seconds"),
        (lambda s: s.delay_next(math.inf), ValueError, "seconds"),
        (lambda s: s.fail_next(body={"when": object()}), TypeError, "body"),
        (lambda s: s.fail_next(body=object()), TypeError, "body"),
        (lambda s: s.fail_next(retry_after="1\r\nSet-Cookie: x=1"), ValueError, "retry_after"),
        (lambda s: s.fail_next(10**9), ValueError, "n must"),
        (lambda s: s.reset_next(10**9), ValueError, "n must"),
    ],
    ids=[
        "delay-nan",
        "delay-inf",
        "body-unserialisable",
        "body-object",
        "retry-after-crlf",
        "fail-billion",
        "reset-billion",
    ],
)
def test_fault_calls_reject_values_that_would_fail_later(
    call: Any, error: type[Exception], argument: str
) -> None:
    server = FakeTurnixServer()
    with pytest.raises(error, match=argument):
        call(server)
    assert server.pending_faults == 0

"""Regression tests for bodies that made the fake Turnix server answer 500 (reproduced first).

Bad constructor and fault arguments that used to be accepted are cases of the
parametrized argument tests in test_testing_server.py.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from turnix_async import AsyncTurnix, BadRequestError
from turnix_async.testing import FakeTurnixServer


async def _post_ice(server: FakeTurnixServer, data: bytes) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {server.api_token}", "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.base_url}/credentials/ice", data=data, headers=headers) as response,
    ):
        return response.status, await response.json(content_type=None)


async def test_a_ttl_too_large_for_a_timestamp_is_a_400_naming_ttl_not_retried(
    turnix_server: FakeTurnixServer, turnix_client: AsyncTurnix
) -> None:
    with pytest.raises(BadRequestError, match="ttl"):  # was a 500 "year out of range", retried
        await turnix_client.get_ice_credentials(ttl=10**12)
    assert len(turnix_server.requests) == 1
    status, error = await _post_ice(turnix_server, b'{"ttl": ' + b"9" * 400 + b"}")
    assert (status, error["field"]) == (400, "ttl")


async def test_a_deeply_nested_json_body_is_a_400(turnix_server: FakeTurnixServer) -> None:
    status, error = await _post_ice(turnix_server, b"[" * 100_000 + b"]" * 100_000)
    assert status == 400
    assert error["field"] is None
    assert turnix_server.requests[0].json is None  # recorded as malformed, not a crash

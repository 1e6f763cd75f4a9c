"""Tests of your own code against the local Turnix API, with the bundled fixtures.

Save it as e.g. tests/test_ice.py: installing turnix-async registers the fixtures
`turnix_server` and `turnix_client` (they are async: install pytest-asyncio too).
"""

from typing import Any

import pytest

from turnix_async import AsyncTurnix, ServerError
from turnix_async.testing import FakeTurnixServer


async def ice_for_user(turnix: AsyncTurnix, user_id: str) -> dict[str, Any]:
    """The code under test: what your `/ice` endpoint returns to a browser."""
    creds = await turnix.get_ice_credentials(initiator_client=user_id, ttl=300)
    return {**creds.to_rtc_configuration(), "ttl": int(creds.time_left.total_seconds())}


@pytest.mark.asyncio
async def test_ice_for_user(
    turnix_server: FakeTurnixServer, turnix_client: AsyncTurnix
) -> None:
    config = await ice_for_user(turnix_client, "alice")
    assert config["iceServers"][1]["username"]
    assert 290 <= config["ttl"] <= 300
    (request,) = turnix_server.requests
    assert request.json == {"initiator_client": "alice", "ttl": 300}


@pytest.mark.asyncio
async def test_a_short_outage_is_retried(
    turnix_server: FakeTurnixServer, turnix_client: AsyncTurnix
) -> None:
    turnix_server.fail_next(2, status=503)
    await ice_for_user(turnix_client, "bob")
    assert len(turnix_server.requests) == 3  # two failures, then success


@pytest.mark.asyncio
async def test_a_long_outage_reaches_the_caller(
    turnix_server: FakeTurnixServer, turnix_client: AsyncTurnix
) -> None:
    turnix_server.fail_next(3, status=500)
    with pytest.raises(ServerError):
        await ice_for_user(turnix_client, "carol")


@pytest.mark.asyncio
@pytest.mark.turnix_server(api_token="tnx_test", turn_secret="coturn-secret")
async def test_with_server_options(
    turnix_server: FakeTurnixServer, turnix_client: AsyncTurnix
) -> None:
    config = await ice_for_user(turnix_client, "dave")
    # coturn REST-API style: "<unix expiry>:<user>"
    assert config["iceServers"][1]["username"].endswith(":dave")
    assert turnix_server.api_token == "tnx_test"

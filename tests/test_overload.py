"""Overload against real loopback servers: the client-wide throttle and the retry budget."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from tests.loopback import ICE_BODY, ClientFactory, ScriptedServer, json_answer
from turnix_async import RateLimitError, ServerError

ICE = "/api/v1/credentials/ice"


class RateLimited:
    """Answers 429 (with `Retry-After`) while closed, else the credentials; records arrivals."""

    def __init__(self, retry_after: str) -> None:
        self.retry_after = retry_after
        self.open = False
        self.arrivals: list[tuple[float, int]] = []  # (loop time, status answered)

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        status = 200 if self.open else 429
        self.arrivals.append((asyncio.get_running_loop().time(), status))
        if status == 429:
            self.open = True  # one wall of 429s, then the API accepts again
            return web.json_response(
                {"error": "slow down"}, status=429, headers={"Retry-After": self.retry_after}
            )
        return web.json_response(ICE_BODY)


async def test_a_429_slows_the_whole_client_and_waiting_is_not_an_attempt(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    api = RateLimited(retry_after="0.3")
    loopback.script(ICE, api)
    client = make_client(max_retries=1)
    assert client.throttle_rate is None  # unthrottled until the API says so
    first = await client.get_ice_credentials()  # 429, then the retry after the pause
    assert client.throttle_rate is not None
    # a call made now waits in the client; it was never sent into the wall, and its wait
    # did not use up its attempts: with no retries at all, it still succeeds
    await client.with_options(max_retries=0).get_ice_credentials()
    assert first.ice_servers
    (throttled_at, _), (retried_at, _), _ = api.arrivals
    assert [status for _, status in api.arrivals] == [429, 200, 200]
    assert retried_at - throttled_at >= 0.3 - 0.02  # the Retry-After held the retry


async def test_a_call_that_cannot_wait_out_the_throttle_fails_at_once_without_sending(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    api = RateLimited(retry_after="20")
    loopback.script(ICE, api)
    client = make_client(max_retries=0)
    with pytest.raises(RateLimitError) as from_api:
        await client.get_ice_credentials()
    assert from_api.value.retry_after == 20.0
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RateLimitError, match="client-side") as held:
        await client.with_options(deadline=2).get_ice_credentials()
    assert loop.time() - started < 1.0  # decided at once, not after waiting 2 s
    assert held.value.retry_after is not None and held.value.retry_after > 2
    assert len(api.arrivals) == 1


async def test_an_outage_is_not_multiplied_by_retries(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    loopback.script(ICE, json_answer({"error": "down"}, 503))
    client = make_client(max_retries=2, backoff_base=0)
    results = await asyncio.gather(
        *(client.get_ice_credentials() for _ in range(200)), return_exceptions=True
    )
    assert {type(result) for result in results} == {ServerError}
    # 200 calls, retries capped by the budget (20 % of the calls + 10), not 3 x 200
    assert loopback.count(ICE) <= 200 * 1.3


async def test_a_lone_call_still_retries_a_blip(
    loopback: ScriptedServer, make_client: ClientFactory
) -> None:
    down = json_answer({"error": "down"}, 503)
    loopback.script(ICE, down, down, json_answer())
    assert (await make_client(max_retries=2).get_ice_credentials()).ice_servers
    assert loopback.count(ICE) == 3

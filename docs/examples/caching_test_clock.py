"""A test file: pytest with pytest-asyncio; `turnix_client` comes with turnix-async."""

import time

import pytest

from turnix_async import AsyncTurnix, IceCredentialsCache


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.mark.asyncio
async def test_fetched_again_when_too_close_to_expiry(
    turnix_client: AsyncTurnix,
) -> None:
    clock = FakeClock()
    cache = IceCredentialsCache(turnix_client, min_validity=10.0, clock=clock)
    first = await cache.get(room="lobby", ttl=60)
    clock.now += 30
    assert await cache.get(room="lobby", ttl=60) is first  # ~30 s left: served
    clock.now += 25
    # ~5 s left: fetched again
    assert await cache.get(room="lobby", ttl=60) is not first

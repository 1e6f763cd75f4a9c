"""1,000 peers join one room at once; the local Turnix server sees 1 request."""

import asyncio

from turnix_async import AsyncTurnix, IceCredentialsCache
from turnix_async.testing import FakeTurnixServer


async def main() -> None:
    async with FakeTurnixServer() as server:
        server.delay_next(0.05)  # a slow answer: every peer arrives while it is in flight
        async with AsyncTurnix(server.api_token, base_url=server.base_url) as turnix:
            cache = IceCredentialsCache(turnix, min_validity=10.0)
            peers = await asyncio.gather(*(cache.get(room="webinar", ttl=300) for _ in range(1000)))
            distinct = len({id(creds) for creds in peers})
            print(f"{len(peers)} peers, {len(server.requests)} request, {distinct} credentials")


if __name__ == "__main__":
    asyncio.run(main())

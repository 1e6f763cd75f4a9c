"""1,000 peers join one room at once; the local Turnix server sees 1 request."""

import asyncio

from turnix_async import AsyncTurnix, IceCredentialsCache
from turnix_async.testing import FakeTurnixServer


async def main() -> None:
    async with FakeTurnixServer() as server:
        # a slow answer: every peer arrives while it is in flight
        server.delay_next(0.05)
        async with AsyncTurnix(server.api_token, base_url=server.base_url) as turnix:
            cache = IceCredentialsCache(turnix, min_validity=10.0)
            peers = await asyncio.gather(
                *(cache.get(room="webinar", ttl=300) for _ in range(1000))
            )
            distinct = len({id(creds) for creds in peers})
            requests = len(server.requests)
            print(f"{len(peers)} peers, {requests} request, {distinct} credentials")


if __name__ == "__main__":
    asyncio.run(main())

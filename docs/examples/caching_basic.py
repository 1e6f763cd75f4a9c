"""One cache per application, next to its one AsyncTurnix (TURNIX_API_TOKEN)."""

import asyncio

from turnix_async import AsyncTurnix, IceCredentialsCache


async def main() -> None:
    async with AsyncTurnix() as turnix:
        cache = IceCredentialsCache(turnix, min_validity=10.0, max_entries=1024)
        creds = await cache.get(
            room="lobby", ttl=300
        )  # same keyword arguments as get_ice_credentials
        again = await cache.get(room="lobby", ttl=300)  # served from the cache
        print(again is creds, len(cache), "cached key")
        stats = cache.stats()  # counters since the cache was created, e.g. for metrics
        print(f"hit ratio {stats.hits / (stats.hits + stats.misses + stats.joins):.0%}")


if __name__ == "__main__":
    asyncio.run(main())

"""FakeTurnixServer on its own: a local Turnix API for scripts, demos, any runner."""

import asyncio

from turnix_async import AsyncTurnix, Region, TurnixAPIError
from turnix_async.testing import FakeTurnixServer, instant_retries

REGIONS = [
    Region("eu-central", "DE", "Frankfurt", "Europe Central", 50.11, 8.68, True, True),
    # offline
    Region("us-east", "US", "Ashburn", "US East", 39.04, -77.49, False, True),
]


async def main() -> None:
    with instant_retries():  # retries without backoff waits, for every client
        await demo()


async def demo() -> None:
    async with FakeTurnixServer(regions=REGIONS) as server:
        print("local Turnix API at", server.base_url)
        async with AsyncTurnix(server.api_token, base_url=server.base_url) as turnix:
            # preferred_region falls back to an available region
            creds = await turnix.get_ice_credentials(
                room="demo", preferred_region="us-east"
            )
            print("preferred us-east (offline) -> got", creds.ice_servers[1].urls[0])

            # fixed_region fails when the region is unavailable: 409, not retried
            try:
                await turnix.get_ice_credentials(fixed_region="us-east")
            except TurnixAPIError as exc:
                print("fixed us-east ->", exc.status, exc.message)

            # fault injection: each fault consumes one request, in order
            server.clear()
            server.fail_next(1, status=503)
            server.reset_next(1)
            creds = await turnix.get_ice_credentials(room="demo")
            print(f"after a 503 and a reset: ok on attempt {len(server.requests)}")
            print("valid for", creds.time_left)


if __name__ == "__main__":
    asyncio.run(main())

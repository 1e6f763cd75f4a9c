"""Fetch ICE credentials and the region list (token from TURNIX_API_TOKEN)."""

import asyncio

from turnix_async import AsyncTurnix


async def main() -> None:
    async with AsyncTurnix() as turnix:  # reads TURNIX_API_TOKEN and TURNIX_BASE_URL
        creds = await turnix.get_ice_credentials(room="demo-room", ttl=120)
        # {"iceServers": [...]}, what a browser's RTCPeerConnection takes
        print(creds.to_rtc_configuration())
        print("valid for", creds.time_left)
        for region in await turnix.list_regions():
            print(region.slug, region.city, "online" if region.is_online else "offline")


if __name__ == "__main__":
    asyncio.run(main())

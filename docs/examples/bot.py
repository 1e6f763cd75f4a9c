"""An asyncio worker that keeps its own TURN credentials fresh (e.g. a voice bot)."""

import asyncio

from turnix_async import AsyncTurnix, IceCredentials, TurnixError


async def fresh_credentials(
    turnix: AsyncTurnix, current: IceCredentials | None
) -> IceCredentials:
    """Reuse credentials while they have a minute left; otherwise fetch new ones."""
    if current is not None and current.time_left.total_seconds() > 60:
        return current
    return await turnix.get_ice_credentials(initiator_client="voice-bot", ttl=600)


async def main(rounds: int = 3) -> None:
    creds: IceCredentials | None = None
    async with AsyncTurnix(deadline=15) as turnix:  # never wait more than 15 s per call
        for _ in range(rounds):  # a real bot loops until it is stopped
            try:
                creds = await fresh_credentials(turnix, creds)
            except TurnixError as exc:
                print("no relay this round:", exc)
                continue
            servers = len(creds.ice_servers)
            print(f"joining with {servers} ICE servers, {creds.time_left} left")
            await asyncio.sleep(0.1)  # ... join the call, handle media ...


if __name__ == "__main__":
    asyncio.run(main())

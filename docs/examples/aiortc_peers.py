"""Two aiortc peers in one process, talking through Turnix TURN relays only."""

import asyncio

from aiortc import RTCPeerConnection

from turnix_async import AsyncTurnix


async def main() -> None:
    async with AsyncTurnix() as turnix:  # token from TURNIX_API_TOKEN
        alice_creds = await turnix.get_ice_credentials(
            initiator_client="alice", ttl=120
        )
        bob_creds = await turnix.get_ice_credentials(initiator_client="bob", ttl=120)

    alice = RTCPeerConnection(alice_creds.to_aiortc(relay_only=True))
    bob = RTCPeerConnection(bob_creds.to_aiortc(relay_only=True))
    received: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    @bob.on("datachannel")
    def on_datachannel(channel) -> None:
        channel.on("message", received.set_result)

    channel = alice.createDataChannel("chat")
    channel.on("open", lambda: channel.send("hello through TURN"))

    try:
        await alice.setLocalDescription(await alice.createOffer())  # gathers candidates
        if "typ relay" not in alice.localDescription.sdp:
            raise SystemExit(
                "no relay candidate: TURN refused the credentials or is unreachable"
            )
        await bob.setRemoteDescription(alice.localDescription)
        await bob.setLocalDescription(await bob.createAnswer())
        await alice.setRemoteDescription(bob.localDescription)
        print("bob got:", await asyncio.wait_for(received, timeout=10))
    finally:
        await alice.close()
        await bob.close()


if __name__ == "__main__":
    asyncio.run(main())

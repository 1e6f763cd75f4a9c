"""End to end: Turnix credentials -> coturn -> two aiortc peers talking through TURN only.

A real `turnserver` (coturn) runs on loopback with the REST-API shared secret; a
`FakeTurnixServer` mints credentials with the same secret, fetched through
`AsyncTurnix`. Two aiortc peers in this process use `to_aiortc(relay_only=True)`.

- Good credentials: a data-channel message arrives and the pair ICE nominated is
  relay/relay, both relay addresses being coturn's.
- Wrong-secret or expired credentials: coturn answers the allocation with 401, so
  the offer carries no `typ relay` candidate (and ICE would just stay "new"). The
  test asserts that on the SDP at once instead of waiting for a timeout.

Needs `turnserver` (apt-get install -y coturn) and aiortc (pip install
'turnix-async[aiortc]'); without them the tests skip, or fail under
TURNIX_REQUIRE_E2E=1 as in CI.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import re
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.coturn import (
    REQUIRE_E2E_ENV,
    Coturn,
    mint_credentials,
    require_aiortc,
    require_turnserver,
    run_coturn,
    skip_or_fail,
)
from turnix_async import AsyncTurnix, IceCredentials, IceServer
from turnix_async.testing import FakeTurnixServer

if TYPE_CHECKING:
    from aiortc import RTCPeerConnection

STEP = 5.0  # seconds: the bound on every wait (a positive run takes about 0.5 s)
CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ (\w+) \d+ (\S+) (\d+) typ (\w+)", re.MULTILINE)


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[Coturn]:
    require_aiortc()
    with run_coturn(workdir=tmp_path) as turn:
        yield turn


@pytest.fixture
async def peers() -> AsyncIterator[list[RTCPeerConnection]]:
    """A list to put peer connections in; every one is closed afterwards."""
    created: list[RTCPeerConnection] = []
    yield created
    for pc in created:
        await pc.close()


async def turnix_credentials(turn: Coturn, *, secret: str, clients: list[str]) -> list[Any]:
    """Credentials per client from a FakeTurnixServer minting with `secret` for coturn."""
    async with (
        FakeTurnixServer(turn_secret=secret, turn_urls=[turn.turn_url("udp")]) as server,
        AsyncTurnix(server.api_token, base_url=server.base_url) as turnix,
    ):
        return [
            await turnix.get_ice_credentials(initiator_client=client, ttl=60) for client in clients
        ]


def candidates(sdp: str) -> list[tuple[str, str, int, str]]:
    """(transport, address, port, type) of every candidate line."""
    return [(t, addr, int(port), kind) for t, addr, port, kind in CANDIDATE.findall(sdp)]


async def offer_of(pc: RTCPeerConnection) -> str:
    """Gather (bounded) and return the local offer SDP, with its candidates."""
    pc.createDataChannel("chat")
    await asyncio.wait_for(pc.setLocalDescription(await pc.createOffer()), STEP)
    return pc.localDescription.sdp


def nominated_types(pc: RTCPeerConnection) -> list[tuple[str, str]]:
    """(local, remote) candidate types of the pairs ICE nominated (aioice internals)."""
    connection = pc.sctp.transport.transport._connection  # type: ignore[union-attr]
    return [
        (pair.local_candidate.type, pair.remote_candidate.type)
        for pair in connection._nominated.values()
    ]


async def test_data_channel_through_coturn_is_relay_to_relay(
    coturn: Coturn, peers: list[RTCPeerConnection]
) -> None:
    from aiortc import RTCPeerConnection

    alice_creds, bob_creds = await turnix_credentials(
        coturn, secret=coturn.secret, clients=["alice", "bob"]
    )
    alice = RTCPeerConnection(alice_creds.to_aiortc(relay_only=True))
    bob = RTCPeerConnection(bob_creds.to_aiortc(relay_only=True))
    peers += [alice, bob]
    received: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    @bob.on("datachannel")
    def on_datachannel(channel: Any) -> None:
        @channel.on("message")
        def on_message(message: str) -> None:
            if not received.done():
                received.set_result(message)

    channel = alice.createDataChannel("chat")

    @channel.on("open")
    def on_open() -> None:
        channel.send("hello through TURN")

    await asyncio.wait_for(alice.setLocalDescription(await alice.createOffer()), STEP)
    offer = alice.localDescription.sdp
    found = candidates(offer)
    assert found, f"no candidate in the offer:\n{offer}\ncoturn log:\n{coturn.log_text()}"
    for transport, address, port, kind in found:  # only coturn's relay addresses
        assert (transport, address, kind) == ("udp", "127.0.0.1", "relay"), found
        assert coturn.min_port <= port <= coturn.max_port, (port, coturn)

    await bob.setRemoteDescription(alice.localDescription)
    await asyncio.wait_for(bob.setLocalDescription(await bob.createAnswer()), STEP)
    assert {kind for *_, kind in candidates(bob.localDescription.sdp)} == {"relay"}
    await alice.setRemoteDescription(bob.localDescription)

    assert await asyncio.wait_for(received, STEP) == "hello through TURN"
    assert nominated_types(alice) == [("relay", "relay")]
    assert nominated_types(bob) == [("relay", "relay")]
    assert alice.iceConnectionState == bob.iceConnectionState == "completed"


async def test_wrong_secret_is_refused_by_coturn(
    coturn: Coturn, peers: list[RTCPeerConnection]
) -> None:
    from aiortc import RTCPeerConnection

    (creds,) = await turnix_credentials(coturn, secret="not-" + coturn.secret, clients=["eve"])
    pc = RTCPeerConnection(creds.to_aiortc(relay_only=True))
    peers.append(pc)

    offer = await offer_of(pc)

    assert "typ relay" not in offer, offer
    assert candidates(offer) == []  # relay-only: no host candidate leaks either
    assert pc.iceConnectionState == "new"


async def test_expired_credentials_are_refused_by_coturn(
    coturn: Coturn, peers: list[RTCPeerConnection]
) -> None:
    from aiortc import RTCPeerConnection

    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    username, credential = mint_credentials(
        coturn.secret, expires_at=int(past.timestamp()), client="late"
    )
    creds = IceCredentials(
        [IceServer([coturn.turn_url()], username=username, credential=credential)], past
    )
    assert creds.is_expired
    pc = RTCPeerConnection(creds.to_aiortc(relay_only=True))
    peers.append(pc)

    offer = await offer_of(pc)

    assert "typ relay" not in offer, offer
    assert candidates(offer) == []
    assert pc.iceConnectionState == "new"


async def test_the_same_credentials_work_before_they_expire(
    coturn: Coturn, peers: list[RTCPeerConnection]
) -> None:
    # The control for the test above: only the expiry differs.
    from aiortc import RTCPeerConnection

    username, credential = coturn.mint(ttl=60, client="late")
    creds = IceCredentials(
        [IceServer([coturn.turn_url()], username=username, credential=credential)],
        datetime.now(timezone.utc) + timedelta(seconds=60),
    )
    pc = RTCPeerConnection(creds.to_aiortc(relay_only=True))
    peers.append(pc)

    offer = await offer_of(pc)

    assert [kind for *_, kind in candidates(offer)] == ["relay"], offer


# -- the signaling example, with two aiortc peers -------------------------------------


def load_example(name: str) -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "examples" / "signaling_server" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"signaling_server_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.asynccontextmanager
async def signaling_server(turn: Coturn, *, secret: str) -> AsyncIterator[str]:
    """The example app, offline, minting credentials for `turn`; yields its URL."""
    app_module = load_example("app")

    def factory() -> Any:
        return app_module.default_turnix(turn_secret=secret, turn_urls=[turn.turn_url()])

    async with TestServer(app_module.create_app(turnix_factory=factory)) as server:
        yield str(server.make_url("")).rstrip("/")


async def test_the_signaling_example_connects_two_aiortc_peers_through_coturn(
    coturn: Coturn,
) -> None:
    peer = load_example("peer")
    pairs: dict[str, list[tuple[str, str]]] = {}

    def record(role: str) -> Callable[[Any], None]:
        return lambda pc: pairs.setdefault(role, nominated_types(pc))

    async with signaling_server(coturn, secret=coturn.secret) as url:
        received, sent = await asyncio.gather(
            *(
                peer.run(
                    role,
                    server=url,
                    room="e2e",
                    message="hello from aiortc",
                    timeout=STEP,
                    on_connected=record(role),
                )
                for role in ("receiver", "sender")
            )
        )

    assert received == sent == "hello from aiortc"
    assert pairs == {"receiver": [("relay", "relay")], "sender": [("relay", "relay")]}


async def test_the_signaling_example_fails_fast_on_refused_credentials(coturn: Coturn) -> None:
    peer = load_example("peer")

    async with (
        signaling_server(coturn, secret="not-" + coturn.secret) as url,
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{url}/ws?room=e2e") as receiver,  # someone to call
    ):
        assert (await receiver.receive_json(timeout=STEP))["type"] == "welcome"
        with pytest.raises(RuntimeError, match="no relay candidate"):
            await peer.run("sender", server=url, room="e2e", timeout=STEP)


# -- the harness itself -------------------------------------------------------------


def test_coturn_is_stopped_by_pid_when_the_block_ends(tmp_path: Path) -> None:
    with run_coturn(workdir=tmp_path) as turn:
        assert Path(f"/proc/{turn.pid}").exists()
        assert turn.log_path.exists()
    assert not Path(f"/proc/{turn.pid}").exists()


def test_coturn_is_stopped_when_the_block_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), run_coturn(workdir=tmp_path) as turn:
        raise RuntimeError("boom")
    assert not Path(f"/proc/{turn.pid}").exists()


def test_two_coturns_run_side_by_side(tmp_path: Path) -> None:
    with run_coturn(workdir=tmp_path / "a") as one, run_coturn(workdir=tmp_path / "b") as two:
        assert one.port != two.port


def test_a_missing_tool_skips_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_E2E_ENV, raising=False)
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr("os.access", lambda path, mode: False)

    with pytest.raises(pytest.skip.Exception, match=r"apt-get install -y coturn"):
        require_turnserver()


def test_a_missing_tool_fails_when_e2e_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_E2E_ENV, "1")

    with pytest.raises(pytest.fail.Exception, match=r"pip install 'turnix-async\[aiortc\]'"):
        skip_or_fail("aiortc is not installed; pip install 'turnix-async[aiortc]'")

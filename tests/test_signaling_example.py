"""examples/signaling_server: POST /ice, the WebSocket relay and the pages, over real HTTP.

The app runs on aiohttp's TestServer; ICE credentials come from a FakeTurnixServer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import importlib.util
import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from turnix_async import AsyncTurnix
from turnix_async.testing import FakeTurnixServer

STEP = 5.0  # seconds: the bound on every wait
ROOT = Path(__file__).resolve().parents[1]
APP_PATH = ROOT / "examples" / "signaling_server" / "app.py"
TURN_SECRET = "coturn-shared-secret"
TURN_URL = "turn:127.0.0.1:3478?transport=udp"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("signaling_server_app", APP_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


example = load_example()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTurnixServer]:
    async with FakeTurnixServer(turn_secret=TURN_SECRET, turn_urls=[TURN_URL]) as server:
        yield server


class Factory:
    """A `turnix_factory` that records the clients it makes."""

    def __init__(self, server: FakeTurnixServer, **options: Any) -> None:
        self.server = server
        self.options = {"max_retries": 0, "backoff_base": 0.0, "timeout": 2.0, **options}
        self.made: list[AsyncTurnix] = []

    def __call__(self) -> AsyncTurnix:
        turnix = AsyncTurnix(self.server.api_token, base_url=self.server.base_url, **self.options)
        self.made.append(turnix)
        return turnix


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.fixture
async def client(fake: FakeTurnixServer) -> AsyncIterator[TestClient[Any, Any]]:
    async with serve(example.create_app(turnix_factory=Factory(fake))) as client:
        yield client


def ice_requests(fake: FakeTurnixServer) -> list[Any]:
    return [r for r in fake.requests if r.path.endswith("/credentials/ice")]


# -- POST /ice ------------------------------------------------------------------------


async def test_ice_returns_the_rtc_configuration(
    client: TestClient[Any, Any], fake: FakeTurnixServer
) -> None:
    response = await client.post("/ice")

    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    config = await response.json()
    assert list(config) == ["iceServers"]
    stun, turn = config["iceServers"]
    assert stun == {"urls": ["stun:127.0.0.1:3478"]}
    assert turn["urls"] == [TURN_URL]
    # coturn REST-API credentials, as the FakeTurnixServer mints them with the secret
    expected = hmac.new(TURN_SECRET.encode(), turn["username"].encode(), hashlib.sha1).digest()
    assert turn["credential"] == base64.b64encode(expected).decode()
    (request,) = ice_requests(fake)
    assert "X-TURN-CLIENT-IP" not in request.headers  # a loopback caller says nothing


async def test_ice_passes_room_and_ttl(
    client: TestClient[Any, Any], fake: FakeTurnixServer
) -> None:
    response = await client.post("/ice", json={"room": "room-1", "ttl": 1})

    assert response.status == 200
    (request,) = ice_requests(fake)
    assert request.json == {"room": "room-1", "ttl": 1}
    username = (await response.json())["iceServers"][1]["username"]
    expiry, _, client_id = username.partition(":")
    assert client_id == "room-1"
    assert 0 < int(expiry) - time.time() <= 2


async def test_one_turnix_client_serves_the_whole_app(fake: FakeTurnixServer) -> None:
    factory = Factory(fake)
    async with serve(example.create_app(turnix_factory=factory)) as client:
        for _ in range(3):
            assert (await client.post("/ice")).status == 200
        (turnix,) = factory.made
        assert not turnix.closed
    assert turnix.closed  # closed by the app's cleanup_ctx
    assert len(ice_requests(fake)) == 3


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        ('{"ttl": 0}', "application/json", 400, "ttl must be an integer from 1 to 3600"),
        ('{"ttl": 3601}', "application/json", 400, "ttl must be an integer from 1 to 3600"),
        ('{"ttl": "60"}', "application/json", 400, "ttl must be an integer"),
        ('{"ttl": true}', "application/json", 400, "ttl must be an integer"),
        ('{"room": 5}', "application/json", 400, "room must be a string"),
        ('{"room": "no spaces"}', "application/json", 400, "room must be 1-100 characters"),
        ("[1]", "application/json", 400, "must be a JSON object"),
        ("{", "application/json", 400, "not valid JSON"),
        ('{"ttl": 60}', "text/plain", 415, "application/json"),
        ("x" * 5000, "application/json", 413, "too large"),
    ],
)
async def test_bad_ice_requests_are_refused_before_calling_turnix(
    client: TestClient[Any, Any],
    fake: FakeTurnixServer,
    body: str,
    content_type: str,
    status: int,
    message: str,
) -> None:
    response = await client.post("/ice", data=body, headers={"Content-Type": content_type})

    assert response.status == status
    assert message in (await response.json())["error"]
    assert ice_requests(fake) == []


# -- client_ip ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "forwarded_for", "expected"),
    [
        pytest.param({}, None, None, id="loopback-peer-not-forwarded"),
        pytest.param({"forward_private_ips": True}, None, "127.0.0.1", id="peer-address"),
        pytest.param({}, "1.1.1.1", None, id="untrusted-peer-xff-ignored"),
        pytest.param(
            {"forward_private_ips": True}, "1.1.1.1", "127.0.0.1", id="untrusted-peer-is-client"
        ),
        pytest.param({"trusted_proxies": ["127.0.0.1"]}, "1.1.1.1", "1.1.1.1", id="trusted"),
        pytest.param(
            {"trusted_proxies": ["127.0.0.0/8"]},
            "9.9.9.9, 1.1.1.1",
            "1.1.1.1",
            id="right-most-hop-not-the-spoofable-first",
        ),
        pytest.param(
            {"trusted_proxies": ["127.0.0.1", "10.0.0.0/8"]},
            "1.1.1.1, 10.1.2.3",
            "1.1.1.1",
            id="skips-trusted-hops",
        ),
        pytest.param({"trusted_proxies": ["127.0.0.1"]}, "garbage", None, id="invalid-hop"),
        pytest.param({"trusted_proxies": ["127.0.0.1"]}, "10.0.0.7", None, id="private-hop"),
    ],
)
async def test_the_callers_address_is_forwarded_as_client_ip(
    fake: FakeTurnixServer, options: dict[str, Any], forwarded_for: str | None, expected: str | None
) -> None:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    app = example.create_app(turnix_factory=Factory(fake), **options)
    async with serve(app) as client:
        assert (await client.post("/ice", headers=headers)).status == 200

    (request,) = ice_requests(fake)
    assert request.headers.get("X-TURN-CLIENT-IP") == expected


@pytest.mark.parametrize(
    ("remote", "forwarded_for", "expected"),
    [
        (None, [], None),  # no peer address: a unix socket
        ("", [], None),
        ("8.8.8.8", [], "8.8.8.8"),
        ("::ffff:8.8.8.8", [], "8.8.8.8"),
        ("2606:4700:4700::1111", [], "2606:4700:4700::1111"),
        ("10.0.0.2", ["8.8.8.8"], "8.8.8.8"),
        ("10.0.0.2", ["[2606:4700:4700::1111]"], "2606:4700:4700::1111"),
        ("10.0.0.2", ["8.8.8.8", "10.0.0.3"], "8.8.8.8"),  # two headers: one list
        ("10.0.0.2", ["10.0.0.3"], None),  # every hop trusted: no client address
        ("9.9.9.9", ["8.8.8.8"], "9.9.9.9"),  # not a trusted proxy: its XFF is ignored
    ],
)
def test_client_ip_of(remote: str | None, forwarded_for: list[str], expected: str | None) -> None:
    trusted = [ipaddress.ip_network("10.0.0.0/8")]

    assert example.client_ip_of(remote, forwarded_for, trusted) == expected


# -- upstream failures -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "retry_after"),
    [
        ({"status": 429, "retry_after": 7}, 503, "7"),
        ({"status": 503, "retry_after": 2.5}, 503, "3"),
        ({"status": 503}, 503, None),
        ({"status": 500}, 502, None),
        ({"status": 400}, 502, None),
    ],
)
async def test_turnix_failures_map_to_gateway_statuses(
    client: TestClient[Any, Any],
    fake: FakeTurnixServer,
    fault: dict[str, Any],
    status: int,
    retry_after: str | None,
) -> None:
    fake.fail_next(**fault)

    response = await client.post("/ice")

    assert response.status == status
    assert response.headers.get("Retry-After") == retry_after
    assert set(await response.json()) == {"error"}


async def test_a_refused_token_is_a_bad_gateway_and_never_shown(
    client: TestClient[Any, Any], fake: FakeTurnixServer
) -> None:
    fake.remove_token(fake.api_token)

    response = await client.post("/ice")

    assert response.status == 502
    assert fake.api_token not in await response.text()


async def test_an_unreachable_turnix_is_a_bad_gateway(fake: FakeTurnixServer) -> None:
    fake.reset_next()
    async with serve(example.create_app(turnix_factory=Factory(fake))) as client:
        assert (await client.post("/ice")).status == 502


async def test_a_slow_turnix_is_a_gateway_timeout(fake: FakeTurnixServer) -> None:
    fake.delay_next(STEP)
    async with serve(example.create_app(turnix_factory=Factory(fake, timeout=0.1))) as client:
        assert (await client.post("/ice")).status == 504


# -- default_turnix: the real API, or offline --------------------------------------------


async def test_offline_mode_starts_an_in_process_fake_server() -> None:
    assert "TURNIX_API_TOKEN" not in os.environ  # removed by conftest for every test

    def factory() -> Any:
        return example.default_turnix(turn_secret=TURN_SECRET, turn_urls=[TURN_URL])

    async with serve(example.create_app(turnix_factory=factory)) as client:
        response = await client.post("/ice", json={"room": "offline"})
        assert response.status == 200
        turn = (await response.json())["iceServers"][1]
    assert turn["urls"] == [TURN_URL]
    assert turn["username"].endswith(":offline")


async def test_the_default_factory_is_offline_without_a_token() -> None:
    async with serve(example.create_app()) as client:
        response = await client.post("/ice")
        assert response.status == 200
        assert (await response.json())["iceServers"][1]["urls"][0].startswith("turn:")


async def test_with_a_token_the_api_from_the_environment_is_used(
    fake: FakeTurnixServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As with `turnix serve`: TURNIX_API_TOKEN and TURNIX_BASE_URL point at an API.
    monkeypatch.setenv("TURNIX_API_TOKEN", fake.api_token)
    monkeypatch.setenv("TURNIX_BASE_URL", fake.base_url)

    async with serve(example.create_app()) as client:
        assert (await client.post("/ice")).status == 200
    assert len(ice_requests(fake)) == 1


# -- the pages -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "role"), [("/", "index"), ("/sender.html", "sender"), ("/receiver.html", "receiver")]
)
async def test_the_pages_are_served(client: TestClient[Any, Any], path: str, role: str) -> None:
    response = await client.get(path)

    assert response.status == 200
    assert response.content_type == "text/html"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    html = await response.text()
    assert f'data-role="{role}"' in html
    assert '<script src="demo.js"></script>' in html


async def test_the_script_uses_the_ice_endpoint_and_the_relay_policy(
    client: TestClient[Any, Any],
) -> None:
    response = await client.get("/demo.js")

    assert response.status == 200
    assert response.content_type in ("application/javascript", "text/javascript")
    script = await response.text()
    for needle in ('fetch("/ice"', "/ws?room=", 'iceTransportPolicy: relay ? "relay"', "getStats"):
        assert needle in script


@pytest.mark.parametrize("path", ["/app.py", "/static/demo.js", "/../app.py", "/index.html"])
async def test_nothing_else_is_served(client: TestClient[Any, Any], path: str) -> None:
    assert (await client.get(path)).status == 404


# -- the WebSocket relay ----------------------------------------------------------------

WS = aiohttp.ClientWebSocketResponse


async def join(client: TestClient[Any, Any], room: str = "room-1") -> tuple[WS, dict[str, Any]]:
    ws = await client.ws_connect(f"/ws?room={room}")
    welcome = await ws.receive_json(timeout=STEP)
    assert welcome["type"] == "welcome", welcome
    return ws, welcome


async def test_peers_of_a_room_relay_messages_to_each_other(
    client: TestClient[Any, Any],
) -> None:
    alice, hello_alice = await join(client)
    bob, hello_bob = await join(client)
    assert hello_alice["peers"] == []
    assert hello_bob["peers"] == [hello_alice["id"]]
    assert await alice.receive_json(timeout=STEP) == {"type": "joined", "id": hello_bob["id"]}

    await alice.send_json({"type": "offer", "sdp": "v=0..."})
    assert await bob.receive_json(timeout=STEP) == {
        "type": "offer",
        "sdp": "v=0...",
        "from": hello_alice["id"],
    }
    await bob.send_json({"type": "answer", "sdp": "v=0 answer"})
    # alice's next message is bob's answer: her own offer did not come back to her
    assert await alice.receive_json(timeout=STEP) == {
        "type": "answer",
        "sdp": "v=0 answer",
        "from": hello_bob["id"],
    }

    await bob.close()
    assert await alice.receive_json(timeout=STEP) == {"type": "left", "id": hello_bob["id"]}
    await alice.close()


async def test_rooms_are_separate(client: TestClient[Any, Any]) -> None:
    alice, _ = await join(client, "room-1")
    other, hello_other = await join(client, "room-2")

    assert hello_other["peers"] == []
    await other.send_json({"type": "offer"})
    await alice.send_json({"type": "ping"})
    await other.close()
    # alice hears neither the other room's offer nor its peer leaving
    bob, _ = await join(client, "room-1")
    assert (await alice.receive_json(timeout=STEP))["type"] == "joined"
    for ws in (alice, bob):
        await ws.close()


async def test_a_full_room_refuses_a_third_peer(client: TestClient[Any, Any]) -> None:
    alice, _ = await join(client)
    bob, _ = await join(client)

    carol = await client.ws_connect("/ws?room=room-1")
    assert await carol.receive_json(timeout=STEP) == {
        "type": "error",
        "error": "room 'room-1' is full",
    }
    assert (await carol.receive(timeout=STEP)).type == WSMsgType.CLOSE
    assert carol.close_code == example.ROOM_FULL
    for ws in (alice, bob, carol):
        await ws.close()


async def test_messages_that_are_not_json_objects_get_an_error(
    client: TestClient[Any, Any],
) -> None:
    alice, _ = await join(client)
    bob, _ = await join(client)
    await alice.receive_json(timeout=STEP)  # joined

    for bad in ("not json", "[1, 2]", b"\x00binary"):
        if isinstance(bad, bytes):
            await alice.send_bytes(bad)
        else:
            await alice.send_str(bad)
        reply = await alice.receive_json(timeout=STEP)
        assert reply["type"] == "error", reply
    await alice.send_json({"type": "ok"})  # the connection is still usable
    assert (await bob.receive_json(timeout=STEP))["type"] == "ok"
    for ws in (alice, bob):
        await ws.close()


async def test_an_oversized_message_closes_the_socket(fake: FakeTurnixServer) -> None:
    app = example.create_app(turnix_factory=Factory(fake), max_message_size=1024)
    async with serve(app) as client:
        alice, _ = await join(client)
        bob, hello_bob = await join(client)
        await alice.receive_json(timeout=STEP)  # joined

        await bob.send_str(json.dumps({"type": "offer", "sdp": "x" * 2000}))

        assert (await bob.receive(timeout=STEP)).type == WSMsgType.CLOSE
        assert bob.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
        assert await alice.receive_json(timeout=STEP) == {"type": "left", "id": hello_bob["id"]}
        for ws in (alice, bob):
            await ws.close()


async def test_empty_rooms_are_forgotten(client: TestClient[Any, Any]) -> None:
    alice, _ = await join(client)
    bob, _ = await join(client)
    rooms = client.server.app[example.ROOMS]
    assert set(rooms.rooms["room-1"]) != set()

    await bob.close()
    await alice.receive_json(timeout=STEP)  # joined
    await alice.receive_json(timeout=STEP)  # left
    await alice.close()

    for _ in range(500):  # the server notices the close a moment later
        if not rooms.rooms:
            break
        await asyncio.sleep(0.01)
    assert rooms.rooms == {}


@pytest.mark.parametrize("query", ["", "?room=", "?room=a%20b", "?room=" + "x" * 101])
async def test_an_invalid_room_is_refused(client: TestClient[Any, Any], query: str) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(f"/ws{query}")
    assert caught.value.status == 400


async def test_shutdown_closes_open_sockets(fake: FakeTurnixServer) -> None:
    client = TestClient(TestServer(example.create_app(turnix_factory=Factory(fake))))
    await client.start_server()
    try:
        alice, _ = await join(client)
        receiving = asyncio.ensure_future(alice.receive(timeout=STEP))
        await asyncio.wait_for(client.server.close(), STEP)
        message = await receiving  # a reading peer, as browsers always are
        assert message.type == WSMsgType.CLOSE
        assert alice.close_code == aiohttp.WSCloseCode.GOING_AWAY
        await alice.close()
    finally:
        await client.close()


# -- the script -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_the_script_runs_offline(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNIX_")}
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, str(APP_PATH), "--port", str(port)),
            *("--turn-secret", "s", "--turn-url", TURN_URL),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):  # up to 15 s: a cold start imports aiohttp and the SDK
                assert process.returncode is None, log_path.read_text()
                try:
                    async with session.post(f"http://127.0.0.1:{port}/ice") as response:
                        assert response.status == 200
                        config = await response.json()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                pytest.fail(f"the script did not serve /ice:\n{log_path.read_text()}")
        assert config["iceServers"][1]["urls"] == [TURN_URL]
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STEP)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
    assert "offline mode" in log_path.read_text()


def test_split_accepts_commas_and_spaces() -> None:
    assert example._split(" a, b  c,") == ["a", "b", "c"]
    assert example._split(None) == []


def test_trusted_proxies_may_be_addresses_or_networks() -> None:
    settings = example.Settings(
        trusted_proxies=["127.0.0.1", "10.0.0.0/8", "::1"],
        max_ttl=1,
        max_message_size=1,
        max_peers=2,
        forward_private_ips=False,
    )
    assert [str(network) for network in settings.trusted_proxies] == [
        "127.0.0.1/32",
        "10.0.0.0/8",
        "::1/128",
    ]

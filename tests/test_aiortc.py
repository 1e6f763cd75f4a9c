"""`IceCredentials.to_aiortc()`: the aiortc configuration, the optional extra, lazy import."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from types import ModuleType

import pytest

from tests.coturn import require_aiortc
from turnix_async import IceCredentials, IceServer

STUN = IceServer(urls=["stun:stun.example.test:3478"])
TURN = IceServer(
    urls=[
        "turn:eu.example.test:3478?transport=udp",
        "turn:eu.example.test:3478?transport=tcp",
    ],
    username="1700000000:alice",
    credential="c2VjcmV0",
)


@pytest.fixture
def aiortc() -> ModuleType:
    """aiortc, else skip (or fail under TURNIX_REQUIRE_E2E) saying how to install it."""
    require_aiortc()
    import aiortc

    return aiortc


def credentials(*servers: IceServer) -> IceCredentials:
    return IceCredentials(
        ice_servers=list(servers or (STUN, TURN)),
        expires_at=datetime.now(timezone.utc) + timedelta(minutes=5),
    )


def test_servers_map_one_to_one(aiortc: ModuleType) -> None:
    config = credentials().to_aiortc()

    assert isinstance(config, aiortc.RTCConfiguration)
    assert config.iceServers == [
        aiortc.RTCIceServer(urls=["stun:stun.example.test:3478"]),
        aiortc.RTCIceServer(
            urls=[
                "turn:eu.example.test:3478?transport=udp",
                "turn:eu.example.test:3478?transport=tcp",
            ],
            username="1700000000:alice",
            credential="c2VjcmV0",
        ),
    ]
    assert config.iceTransportPolicy == aiortc.RTCIceTransportPolicy.ALL


def test_relay_only_sets_the_relay_policy(aiortc: ModuleType) -> None:
    config = credentials().to_aiortc(relay_only=True)

    assert config.iceTransportPolicy == aiortc.RTCIceTransportPolicy.RELAY
    assert [server.urls for server in config.iceServers or []] == [STUN.urls, TURN.urls]


def test_the_lists_are_copies(aiortc: ModuleType) -> None:
    creds = credentials()
    config = creds.to_aiortc()
    assert config.iceServers is not None
    config.iceServers[1].urls.append("turn:evil.example.test:3478")

    assert creds.ice_servers[1].urls == TURN.urls


def test_no_servers_means_none_not_aiortc_default_stun(aiortc: ModuleType) -> None:
    # iceServers=None would make aiortc fall back to Google's public STUN server.
    config = IceCredentials(ice_servers=[], expires_at=datetime.now(timezone.utc)).to_aiortc()

    assert config.iceServers == []


def test_urls_aiortc_cannot_parse_are_dropped(aiortc: ModuleType) -> None:
    # aiortc rejects these when it starts gathering (ValueError "malformed uri"),
    # which would break the whole peer connection.
    creds = credentials(
        IceServer(urls=["stun:stun.example.test:3478?transport=udp"]),
        IceServer(
            urls=["turn:[2001:db8::1]:3478?transport=udp", *TURN.urls],
            username=TURN.username,
            credential=TURN.credential,
        ),
    )
    config = creds.to_aiortc(relay_only=True)

    assert config.iceServers == [
        aiortc.RTCIceServer(urls=TURN.urls, username=TURN.username, credential=TURN.credential)
    ]


def test_the_configuration_is_accepted_by_aiortc(aiortc: ModuleType) -> None:
    from aiortc.rtcicetransport import RTCIceGatherer

    config = credentials().to_aiortc(relay_only=True)
    gatherer = RTCIceGatherer(config.iceServers, iceTransportPolicy=config.iceTransportPolicy)

    connection = gatherer._connection
    assert connection.turn_server == ("eu.example.test", 3478)
    assert connection.turn_transport == "udp"  # the first TURN URL aiortc supports
    assert connection.turn_username == "1700000000:alice"
    assert connection.stun_server == ("stun.example.test", 3478)


@pytest.mark.parametrize(
    "servers",
    [
        pytest.param([STUN], id="stun-only"),
        pytest.param([IceServer(urls=TURN.urls)], id="turn-without-credentials"),
        pytest.param(
            [IceServer(urls=["turn:[::1]:3478"], username="u", credential="c")], id="ipv6"
        ),
    ],
)
def test_relay_only_without_a_usable_turn_server_is_refused(
    aiortc: ModuleType, servers: list[IceServer]
) -> None:
    creds = credentials(*servers)

    with pytest.raises(ValueError, match="relay_only=True needs a TURN server"):
        creds.to_aiortc(relay_only=True)
    assert creds.to_aiortc().iceServers is not None  # without relay_only it is fine


def test_without_aiortc_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiortc", None)  # makes `import aiortc` fail

    with pytest.raises(ImportError, match=r"pip install 'turnix-async\[aiortc\]'") as caught:
        credentials().to_aiortc()
    assert isinstance(caught.value.__cause__, ImportError)


def test_relay_only_on_an_aiortc_without_the_policy(
    aiortc: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aiortc < 1.16 has no RTCIceTransportPolicy: relay-only cannot be configured.
    monkeypatch.delattr(aiortc, "RTCIceTransportPolicy")

    with pytest.raises(ImportError, match=r"aiortc >= 1\.16.*turnix-async\[aiortc\]"):
        credentials().to_aiortc(relay_only=True)
    assert len(credentials().to_aiortc().iceServers or []) == 2


def test_importing_the_sdk_does_not_import_aiortc() -> None:
    code = textwrap.dedent(
        """
        import sys
        from datetime import datetime, timezone
        import turnix_async
        from turnix_async import IceCredentials, IceServer

        creds = IceCredentials([IceServer(["stun:a.test"])], datetime.now(timezone.utc))
        creds.to_rtc_configuration()
        assert "aiortc" not in sys.modules, "importing turnix_async imported aiortc"
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr

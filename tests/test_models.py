"""The attrs structs: request validation, IceCredentials helpers."""

from __future__ import annotations

import inspect
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest

from turnix_async import IceCredentials, IceCredentialsRequest, IceServer
from turnix_async._models import MAX_ITEMS


@pytest.mark.parametrize("field", ["initiator_client", "receiver_client", "room"])
@pytest.mark.parametrize(
    "value", ["", "a b", "é", "x" * 101, "semi;colon", "new\nline", 42, b"bytes", ["a"]]
)
def test_name_fields_reject_bad_values_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        IceCredentialsRequest(**{field: value})


@pytest.mark.parametrize("field", ["initiator_client", "receiver_client", "room"])
def test_name_fields_accept_the_documented_alphabet(field: str) -> None:
    value = "Ab-0_" + "z" * 95
    assert getattr(IceCredentialsRequest(**{field: value}), field) == value


@pytest.mark.parametrize("value", [0, -1, True, False, "30", 30.0, 1.5, None])
def test_ttl_must_be_a_positive_int(value: Any) -> None:
    if value is None:
        assert IceCredentialsRequest(ttl=None).ttl is None
        return
    with pytest.raises(ValueError, match="ttl"):
        IceCredentialsRequest(ttl=value)


@pytest.mark.parametrize("field", ["fixed_region", "preferred_region"])
@pytest.mark.parametrize("value", ["", "eu central", "eu\tcentral", "eu\x00", 7])
def test_region_slugs_reject_empty_whitespace_and_control(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        IceCredentialsRequest(**{field: value})


@pytest.mark.parametrize("value", ["203.0.113.5", "2001:db8::1", "::1", "127.0.0.1"])
def test_client_ip_accepts_ipv4_and_ipv6(value: str) -> None:
    assert IceCredentialsRequest(client_ip=value).client_ip == value


@pytest.mark.parametrize("value", ["", "999.1.1.1", "example.com", "1.2.3", 12345, "1.2.3.4 "])
def test_client_ip_rejects_non_addresses(value: Any) -> None:
    with pytest.raises(ValueError, match="client_ip"):
        IceCredentialsRequest(client_ip=value)


def test_request_is_frozen_and_hashable() -> None:
    request = IceCredentialsRequest(room="r", ttl=60)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        request.room = "other"  # type: ignore[misc]
    cache = {request: "cached"}  # the credentials cache keys on requests
    assert cache[IceCredentialsRequest(room="r", ttl=60)] == "cached"
    assert IceCredentialsRequest(room="r", ttl=61) not in cache


def test_fixed_and_preferred_region_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="fixed_region and preferred_region"):
        IceCredentialsRequest(fixed_region="eu-west", preferred_region="us-east")


def _credentials(expires_in: float) -> IceCredentials:
    return IceCredentials(
        ice_servers=[
            IceServer(urls=["stun:s:3478"]),
            IceServer(urls=["turn:t:3478"], username="u", credential="c"),
        ],
        expires_at=datetime.now(timezone.utc) + timedelta(seconds=expires_in),
    )


def test_to_rtc_configuration_omits_absent_username_and_credential() -> None:
    assert _credentials(60).to_rtc_configuration() == {
        "iceServers": [
            {"urls": ["stun:s:3478"]},
            {"urls": ["turn:t:3478"], "username": "u", "credential": "c"},
        ]
    }


def test_to_json_adds_expires_at_in_utc_whole_seconds_with_z() -> None:
    moment = datetime(2030, 1, 1, 14, 0, 5, 999999, tzinfo=timezone(timedelta(hours=2)))
    creds = IceCredentials(ice_servers=[IceServer("stun:s:3478")], expires_at=moment)
    assert creds.to_json() == {
        "iceServers": [{"urls": ["stun:s:3478"]}],
        "expiresAt": "2030-01-01T12:00:05Z",  # rounded down: never later than the real expiry
    }


def test_the_browser_dictionaries_are_typed_for_mypy() -> None:
    api = pytest.importorskip("mypy.api")
    snippet = """
from turnix_async import IceCredentials
def serve(creds: IceCredentials) -> None:
    urls: list[str] = creds.to_rtc_configuration()["iceServers"][0]["urls"]
    expires: str = creds.to_json()["expiresAt"]
    creds.to_rtc_configuration()["iceServer"]
"""
    cache = Path(__file__).parent.parent / ".mypy_cache"  # shared with `mypy turnix_async`
    out, _, status = api.run(["--strict", "--cache-dir", str(cache), "-c", snippet])
    assert status == 1
    assert out.count("error:") == 1
    assert 'TypedDict "RTCConfiguration" has no key "iceServer"' in out


def test_time_left_and_is_expired() -> None:
    fresh = _credentials(60)
    assert timedelta(seconds=58) < fresh.time_left <= timedelta(seconds=60)
    assert not fresh.is_expired
    stale = _credentials(-5)
    assert stale.is_expired
    assert stale.time_left == timedelta(0)


def test_credential_is_not_shown_in_repr() -> None:
    assert "pass-secret" not in repr(
        IceServer(urls=["turn:x"], username="u", credential="pass-secret")
    )


def test_ice_server_accepts_a_single_url_string_and_copies_a_list() -> None:
    assert IceServer("stun:s:3478").urls == ["stun:s:3478"]
    urls = ["a", "b"]
    server = IceServer(urls)
    urls.append("c")
    assert server.urls == ["a", "b"]


@pytest.mark.parametrize("urls", ["", [], [""], ["a", 1], None, {"a": 1}, ["a"] * (MAX_ITEMS + 1)])
def test_ice_server_refuses_anything_but_urls(urls: Any) -> None:
    with pytest.raises(ValueError, match="urls"):
        IceServer(urls)


@pytest.mark.parametrize("value", ["::1%eth0", "fe80::1%\r\nX-Evil: 1", "::1% x"])
def test_client_ip_rejects_ipv6_zones(value: str) -> None:
    with pytest.raises(ValueError, match="client_ip"):
        IceCredentialsRequest(client_ip=value)


@pytest.mark.parametrize("value", ["eu\x9f", "eu\u200b", "eu\u00a0x"])
def test_region_slugs_reject_invisible_characters(value: str) -> None:
    with pytest.raises(ValueError, match="preferred_region"):
        IceCredentialsRequest(preferred_region=value)


def test_expires_at_is_normalised_to_aware_utc() -> None:
    naive = IceCredentials(ice_servers=[], expires_at=datetime(2030, 1, 1, 12))
    offset = IceCredentials(
        ice_servers=[], expires_at=datetime(2030, 1, 1, 14, tzinfo=timezone(timedelta(hours=2)))
    )
    assert naive.expires_at == offset.expires_at == datetime(2030, 1, 1, 12, tzinfo=timezone.utc)
    assert naive.expires_at.tzinfo is timezone.utc and offset.expires_at.tzinfo is timezone.utc
    assert not naive.is_expired


def test_request_fields_evolve_validated() -> None:
    fields = [field.name for field in attrs.fields(IceCredentialsRequest)]
    assert list(inspect.signature(IceCredentialsRequest).parameters) == fields
    given = ["a", "b", "c", 60, "eu-west", None, "203.0.113.7"]
    values = dict(zip(fields, given, strict=True))
    request = IceCredentialsRequest(**values)
    assert attrs.asdict(request) == values
    assert attrs.evolve(request, ttl=5).ttl == 5
    with pytest.raises(ValueError, match="ttl"):
        attrs.evolve(request, ttl=0)

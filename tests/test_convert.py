"""Wire shapes: what the converter accepts from the API and what it refuses."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from turnix_async import IceCredentialsRequest, IceServer, Region, ResponseValidationError
from turnix_async._convert import parse_ice_credentials, parse_regions, request_body


def parse(data: Any, ttl: int | None = None) -> Any:
    return parse_ice_credentials(json.dumps(data).encode(), ttl)


def test_documented_response() -> None:
    creds = parse(
        {
            "iceServers": [
                {"urls": ["stun:stun.turnix.io:3478"]},
                {
                    "username": "35bb",
                    "credential": "7ea6",
                    "urls": [
                        "turn:r.turnix.io:3478?transport=udp",
                        "turn:r.turnix.io:3478?transport=tcp",
                    ],
                },
            ],
            "expiresAt": "2025-06-04T12:00:30Z",
        }
    )
    assert creds.ice_servers == [
        IceServer(urls=["stun:stun.turnix.io:3478"]),
        IceServer(
            urls=["turn:r.turnix.io:3478?transport=udp", "turn:r.turnix.io:3478?transport=tcp"],
            username="35bb",
            credential="7ea6",
        ),
    ]
    assert creds.expires_at == datetime(2025, 6, 4, 12, 0, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "entry",
    [
        {"urls": "turn:a:3478"},
        {"urls": ["turn:a:3478"]},
        {"url": "turn:a:3478"},
        {"url": ["turn:a:3478"]},
    ],
)
def test_urls_accept_string_list_and_legacy_key(entry: dict[str, Any]) -> None:
    creds = parse({"iceServers": [entry], "expiresAt": "2030-01-01T00:00:00Z"})
    assert creds.ice_servers[0].urls == ["turn:a:3478"]


def test_a_single_url_string_is_never_split_into_letters() -> None:
    creds = parse({"iceServers": [{"urls": "ab"}], "expiresAt": "2030-01-01T00:00:00Z"})
    assert creds.ice_servers[0].urls == ["ab"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2030-01-02T03:04:05Z", datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        ("2030-01-02T03:04:05+02:00", datetime(2030, 1, 2, 1, 4, 5, tzinfo=timezone.utc)),
        ("2030-01-02T03:04:05.250Z", datetime(2030, 1, 2, 3, 4, 5, 250000, tzinfo=timezone.utc)),
        ("2030-01-02T03:04:05", datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        (1893456000, datetime(2030, 1, 1, tzinfo=timezone.utc)),
    ],
)
def test_expires_at_is_timezone_aware_utc(text: Any, expected: datetime) -> None:
    creds = parse({"iceServers": [], "expiresAt": text})
    assert creds.expires_at == expected
    assert creds.expires_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(("ttl", "expected"), [(None, 30), (120, 120)])
def test_missing_expires_at_means_now_plus_ttl(ttl: int | None, expected: int) -> None:
    for data in ({"iceServers": []}, {"iceServers": [], "expiresAt": None}):
        before = datetime.now(timezone.utc)
        creds = parse(data, ttl)
        assert before + timedelta(seconds=expected) <= creds.expires_at
        assert creds.expires_at <= datetime.now(timezone.utc) + timedelta(seconds=expected)


def test_unknown_keys_are_ignored() -> None:
    creds = parse(
        {
            "iceServers": [{"urls": "stun:a", "priority": 1}],
            "expiresAt": "2030-01-01T00:00:00Z",
            "region": "eu",
        }
    )
    assert creds.ice_servers == [IceServer(urls=["stun:a"])]


@pytest.mark.parametrize(
    "data",
    [
        [],
        "text",
        None,
        {},
        {"iceServers": "stun:a"},
        {"iceServers": [{"username": "u"}]},
        {"iceServers": [{"urls": []}]},
        {"iceServers": [{"urls": [1, 2]}]},
        {"iceServers": [{"urls": "stun:a", "username": 42}]},
        {"iceServers": [{"urls": "stun:a", "credential": ["x"]}]},
        {"iceServers": [], "expiresAt": "tomorrow"},
        {"iceServers": [], "expiresAt": True},
        {"iceServers": [], "expiresAt": 1e300},
    ],
)
def test_wrong_shapes_raise_response_validation_error(data: Any) -> None:
    with pytest.raises(ResponseValidationError) as info:
        parse(data)
    assert "cattrs" not in type(info.value.__cause__).__module__ if info.value.__cause__ else True


def test_validation_error_names_the_path() -> None:
    with pytest.raises(ResponseValidationError, match=r"iceServers.*\[1\].*username"):
        parse({"iceServers": [{"urls": "a"}, {"urls": "b", "username": 5}], "expiresAt": 0})


@pytest.mark.parametrize("body", [b"", b"{", b'{"iceServers": [}', b"\xff\xfe\x00", b"<html>"])
def test_non_json_bodies_raise_response_validation_error(body: bytes) -> None:
    with pytest.raises(ResponseValidationError, match="not valid JSON"):
        parse_ice_credentials(body, None)


REGION = {
    "slug": "eu-central",
    "nat2": "DE",
    "city": "Frankfurt",
    "name": "EU Central",
    "lat": 50.1,
    "lon": 8,
    "is_online": True,
    "is_operational": False,
}


def test_regions() -> None:
    regions = parse_regions(json.dumps([REGION, {**REGION, "extra": 1}]).encode())
    assert regions[0] == Region(
        "eu-central", "DE", "Frankfurt", "EU Central", 50.1, 8.0, True, False
    )
    assert regions[1] == regions[0]
    assert isinstance(regions[0].lon, float)


@pytest.mark.parametrize(
    "change",
    [{"is_online": "false"}, {"lat": "50"}, {"slug": 1}, {"is_operational": 1}, {"lat": True}],
)
def test_regions_reject_loosely_typed_values(change: dict[str, Any]) -> None:
    with pytest.raises(ResponseValidationError):
        parse_regions(json.dumps([{**REGION, **change}]).encode())


@pytest.mark.parametrize("data", [{}, [1], [{"slug": "x"}], None])
def test_regions_reject_wrong_shapes(data: Any) -> None:
    with pytest.raises(ResponseValidationError):
        parse_regions(json.dumps(data).encode())


def test_request_body_has_only_the_fields_that_are_set_and_no_client_ip() -> None:
    request = IceCredentialsRequest(room="r", ttl=60, client_ip="203.0.113.5")
    assert request_body(request) == {"room": "r", "ttl": 60}
    assert request_body(IceCredentialsRequest()) == {}


BIG_LIST = list(range(150_000))  # ~1 MB of JSON: within the response size limit


@pytest.mark.parametrize(
    ("verb", "data"),
    [
        ("ice", {"iceServers": BIG_LIST, "expiresAt": "2030-01-01T00:00:00Z"}),
        ("ice", {"iceServers": [{"urls": BIG_LIST}], "expiresAt": "2030-01-01T00:00:00Z"}),
        ("regions", BIG_LIST),
    ],
)
def test_a_huge_malformed_body_is_refused_quickly_with_a_short_message(
    verb: str, data: Any
) -> None:
    body = json.dumps(data).encode()
    started = time.perf_counter()
    with pytest.raises(ResponseValidationError) as info:
        parse_regions(body) if verb == "regions" else parse_ice_credentials(body, None)
    assert time.perf_counter() - started < 1.0  # it took 7-30 s, building one error per item
    assert len(str(info.value)) < 300

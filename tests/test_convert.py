"""Wire shapes: what the converter accepts from the API and what it refuses."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from turnix_async import IceServer, Region, ResponseValidationError
from turnix_async._convert import parse_ice_credentials, parse_regions
from turnix_async._models import MAX_ITEMS

FALLBACK = datetime(2031, 2, 3, 4, 5, 6, 789, tzinfo=timezone.utc)


def fallback() -> datetime:
    """When the answer has no expiresAt (the client decides it)."""
    return FALLBACK


def parse(data: Any) -> Any:
    return parse_ice_credentials(json.dumps(data).encode(), fallback)


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


@pytest.mark.parametrize("data", [{"iceServers": []}, {"iceServers": [], "expiresAt": None}])
def test_missing_expires_at_means_the_fallback_the_client_chose(data: dict[str, Any]) -> None:
    assert parse(data).expires_at == FALLBACK


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
    with pytest.raises(ResponseValidationError, match="@ response") as info:
        parse(data)
    assert info.value.__cause__ is None  # no cattrs exception group rides along


def test_validation_error_names_the_path() -> None:
    with pytest.raises(ResponseValidationError, match=r"iceServers.*\[1\].*username"):
        parse({"iceServers": [{"urls": "a"}, {"urls": "b", "username": 5}], "expiresAt": 0})


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b'{"iceServers": [}',
        b"\xff\xfe\x00",
        b"<html>",
        b"{} x",
        b"\xef\xbb\xbf\xef\xbb\xbf{}",
    ],
)
def test_non_json_bodies_raise_response_validation_error(body: bytes) -> None:
    with pytest.raises(ResponseValidationError, match="not valid JSON"):
        parse_ice_credentials(body, fallback)


@pytest.mark.parametrize("around", [("", ""), ("\ufeff", ""), (" \r\n", "\n\t ")])
def test_json_may_have_a_bom_and_whitespace_around_it(around: tuple[str, str]) -> None:
    before, after = around
    assert parse_regions(f"{before}[]{after}".encode()) == []


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
        parse_regions(body) if verb == "regions" else parse_ice_credentials(body, fallback)
    assert time.perf_counter() - started < 1.0  # it took 7-30 s, building one error per item
    assert len(str(info.value)) < 300


@pytest.mark.parametrize("listed", ["iceServers", "urls", "regions"])
def test_response_lists_hold_at_most_max_items(listed: str) -> None:
    def body(count: int) -> bytes:
        if listed == "regions":
            return json.dumps([REGION] * count).encode()
        servers = [{"urls": ["stun:a"] * count}] if listed == "urls" else [{"urls": "a"}] * count
        return json.dumps({"iceServers": servers, "expiresAt": 0}).encode()

    def parse_body(body: bytes) -> Any:
        if listed == "regions":
            return parse_regions(body)
        return parse_ice_credentials(body, fallback)

    parse_body(body(MAX_ITEMS))
    with pytest.raises(ResponseValidationError, match=f"at most {MAX_ITEMS}|1-{MAX_ITEMS}"):
        parse_body(body(MAX_ITEMS + 1))


def test_validation_stops_at_the_first_bad_item() -> None:
    with pytest.raises(ResponseValidationError) as info:
        parse_regions(json.dumps([REGION, 1, 2]).encode())
    assert "response[1]" in str(info.value)
    assert "response[2]" not in str(info.value)

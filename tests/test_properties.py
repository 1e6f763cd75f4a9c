"""Property-based tests: the converter and the input validation under arbitrary input."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
from datetime import datetime, timezone
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from turnix_async import IceCredentials, IceCredentialsRequest, IceServer, ResponseValidationError
from turnix_async._convert import ice_request_body, parse_ice_credentials, parse_regions

FALLBACK = datetime(2031, 1, 1, tzinfo=timezone.utc)


def fallback() -> datetime:
    """When the answer has no expiresAt (the client decides it)."""
    return FALLBACK


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)

# JSON that looks like a response more often than random JSON would
entries = st.fixed_dictionaries(
    {},
    optional={
        "urls": st.one_of(st.text(), st.lists(st.text(), max_size=3), json_values),
        "url": st.one_of(st.text(), json_values),
        "username": st.one_of(st.text(), json_values),
        "credential": st.one_of(st.text(), json_values),
    },
)
near_responses = st.fixed_dictionaries(
    {},
    optional={
        "iceServers": st.one_of(st.lists(entries, max_size=3), json_values),
        "expiresAt": st.one_of(
            st.datetimes().map(lambda d: d.isoformat()), st.integers(), st.floats(), json_values
        ),
    },
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values, near_responses))
def test_any_json_is_credentials_or_a_validation_error(value: Any) -> None:
    body = json.dumps(value).encode()
    try:
        result = parse_ice_credentials(body, fallback)
    except ResponseValidationError as exc:
        assert len(str(exc)) <= 300
        return
    assert isinstance(result, IceCredentials)
    assert result.expires_at.tzinfo is timezone.utc
    for server in result.ice_servers:
        assert server.urls and all(isinstance(url, str) and url for url in server.urls)


@settings(max_examples=50)
@given(json_values)
def test_any_json_is_regions_or_a_validation_error(value: Any) -> None:
    try:
        regions = parse_regions(json.dumps(value).encode())
    except ResponseValidationError:
        return
    assert isinstance(regions, list)


@settings(max_examples=50)
@given(st.binary(max_size=64))
def test_any_bytes_are_credentials_or_a_validation_error(body: bytes) -> None:
    with contextlib.suppress(ResponseValidationError):
        parse_ice_credentials(body, fallback)


servers = st.builds(
    IceServer,
    urls=st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=3),
    username=st.none() | st.text(max_size=20),
    credential=st.none() | st.text(max_size=20),
)
credentials = st.builds(
    IceCredentials,
    ice_servers=st.lists(servers, max_size=4),
    expires_at=st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(9999, 1, 1),
        timezones=st.just(timezone.utc),
    ),
)


@settings(max_examples=50)
@given(credentials)
def test_what_a_web_endpoint_returns_parses_back_to_the_same_credentials(
    creds: IceCredentials,
) -> None:
    wire = json.dumps(creds.to_json()).encode()
    whole_seconds = creds.expires_at.replace(microsecond=0)
    assert parse_ice_credentials(wire, fallback) == attrs.evolve(creds, expires_at=whole_seconds)


names = st.none() | st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True)
slugs = st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True)
requests = (
    st.builds(
        IceCredentialsRequest,
        initiator_client=names,
        receiver_client=names,
        room=names,
        ttl=st.none() | st.integers(min_value=1),
        client_ip=st.none() | st.ip_addresses().map(str),
    )
    | st.builds(IceCredentialsRequest, fixed_region=slugs)
    | st.builds(IceCredentialsRequest, preferred_region=slugs, room=names)
)


@settings(max_examples=50)
@given(requests)
def test_the_request_body_holds_exactly_the_fields_that_are_set_but_client_ip(
    request: IceCredentialsRequest,
) -> None:
    expected = {
        name: value
        for name, value in attrs.asdict(request).items()
        if value is not None and name != "client_ip"
    }
    assert json.loads(ice_request_body(request)) == expected


ALLOWED = re.compile(r"[A-Za-z0-9_-]{1,100}")


@settings(max_examples=100)
@given(st.sampled_from(["initiator_client", "receiver_client", "room"]), st.text(max_size=120))
def test_names_outside_the_alphabet_or_length_are_rejected(field: str, value: str) -> None:
    if ALLOWED.fullmatch(value):
        assert getattr(IceCredentialsRequest(**{field: value}), field) == value
        return
    try:
        IceCredentialsRequest(**{field: value})
    except ValueError as exc:
        assert field in str(exc)
    else:
        raise AssertionError(f"{field}={value!r} was accepted")


@settings(max_examples=50)
@given(st.one_of(json_values, st.text()))
def test_client_ip_is_an_address_or_rejected(value: Any) -> None:
    try:
        valid = value is None or (isinstance(value, str) and bool(ipaddress.ip_address(value)))
    except ValueError:
        valid = False
    try:
        IceCredentialsRequest(client_ip=value)
    except ValueError as exc:
        assert not valid and "client_ip" in str(exc)
    else:
        assert valid

"""Property-based tests: the converter and the input validation under arbitrary input."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
from datetime import datetime, timezone
from typing import Any

from cattrs.gen import make_dict_unstructure_fn, override
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from turnix_async import (
    IceCredentials,
    IceCredentialsRequest,
    IceServer,
    ResponseValidationError,
)
from turnix_async._convert import (
    _describe,
    _ice_credentials,
    _json,
    _request_body,
    _structure_ice_credentials,
    dumps,
    parse_ice_credentials,
    parse_regions,
    unstructure,
)
from turnix_async._convert import converter as the_converter

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


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values, near_responses))
def test_any_json_is_credentials_or_a_validation_error(value: Any) -> None:
    body = json.dumps(value).encode()
    try:
        result = parse_ice_credentials(body, None)
    except ResponseValidationError:
        return
    assert isinstance(result, IceCredentials)
    assert result.expires_at.tzinfo is not None
    for server in result.ice_servers:
        assert server.urls and all(isinstance(url, str) for url in server.urls)


def _outcome(function: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", function(*args)
    except Exception as exc:
        return "error", _describe(exc) if not isinstance(exc, ResponseValidationError) else str(exc)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values, near_responses))
def test_the_fast_structure_path_agrees_with_the_generated_one(value: Any) -> None:
    fast = _outcome(_ice_credentials, json.loads(json.dumps(value)), IceCredentials)
    generated = _outcome(_structure_ice_credentials, json.loads(json.dumps(value)), IceCredentials)
    assert fast == generated


def test_structured_results_do_not_share_the_input_lists() -> None:
    urls = ["stun:a.example:3478"]
    data = {"iceServers": [{"urls": urls}], "expiresAt": "2030-01-01T00:00:00Z"}
    credentials = the_converter.structure(data, IceCredentials)
    urls.append("stun:b.example:3478")
    data["iceServers"].clear()  # type: ignore[attr-defined]
    assert credentials.ice_servers == [IceServer(["stun:a.example:3478"])]


@settings(max_examples=300)
@given(
    st.one_of(json_values, near_responses).map(json.dumps),
    st.sampled_from(["", " ", "\n", "\r\n\t ", "\ufeff", "\x0b", "\u3000"]),
    st.sampled_from(["", " ", "\n", "\r\n", "\x0b", "x", "}"]),
)
def test_the_fast_json_path_agrees_with_json_loads(text: str, before: str, after: str) -> None:
    body = (before + text + after).encode()
    assert _outcome(_json, body) == _outcome(_slow_json, body)


@given(st.binary(max_size=64))
def test_the_fast_json_path_agrees_on_any_bytes(body: bytes) -> None:
    assert _outcome(_json, body) == _outcome(_slow_json, body)


def _slow_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8-sig"))
    except (ValueError, RecursionError) as exc:
        raise ResponseValidationError(f"response body is not valid JSON: {exc}") from None


@given(st.dictionaries(st.text(max_size=12), st.none() | st.integers() | st.text(), max_size=7))
def test_request_bodies_encode_like_json_dumps(body: dict[str, Any]) -> None:
    assert dumps(body) == json.dumps(body, separators=(",", ":"))


names = st.none() | st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True)
slugs = st.none() | st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True)
requests = st.builds(
    IceCredentialsRequest,
    initiator_client=names,
    receiver_client=names,
    room=names,
    ttl=st.none() | st.integers(min_value=1),
    fixed_region=slugs,
    preferred_region=slugs,
    client_ip=st.none() | st.ip_addresses().map(str),
)
_generated_request_body = make_dict_unstructure_fn(
    IceCredentialsRequest,
    the_converter,
    _cattrs_omit_if_default=True,
    client_ip=override(omit=True),
)


@given(requests)
def test_the_written_out_request_body_matches_the_generated_one(
    request: IceCredentialsRequest,
) -> None:
    assert _request_body(request) == _generated_request_body(request)
    assert the_converter.unstructure(request) == _request_body(request)


@settings(max_examples=100)
@given(json_values)
def test_any_json_is_regions_or_a_validation_error(value: Any) -> None:
    try:
        regions = parse_regions(json.dumps(value).encode())
    except ResponseValidationError:
        return
    assert isinstance(regions, list)


@given(st.binary(max_size=64))
def test_any_bytes_are_credentials_or_a_validation_error(body: bytes) -> None:
    with contextlib.suppress(ResponseValidationError):
        parse_ice_credentials(body, 30)


urls = st.text(min_size=1, max_size=30)
servers = st.builds(
    IceServer,
    urls=st.lists(urls, min_size=1, max_size=3),
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


@given(credentials)
def test_valid_structs_round_trip(creds: IceCredentials) -> None:
    wire = json.dumps(unstructure(creds)).encode()
    assert parse_ice_credentials(wire, None) == creds
    assert json.loads(json.dumps(creds.to_rtc_configuration()))["iceServers"] == [
        server.to_dict() for server in creds.ice_servers
    ]


ALLOWED = re.compile(r"[A-Za-z0-9_-]{1,100}")


@settings(max_examples=300)
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

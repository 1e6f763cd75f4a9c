"""The one cattrs converter: wire shapes (camelCase, urls forms, timestamps) <-> attrs structs.

Built once at import; the structure/unstructure functions are generated once and
reused on every call. Any malformed body becomes `ResponseValidationError` with a
readable path; cattrs and JSON errors never leak raw.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import cattrs
from cattrs.cols import is_sequence, list_structure_factory
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._errors import ResponseValidationError
from ._models import IceCredentials, IceCredentialsRequest, IceServer, Region

__all__ = [
    "dumps",
    "parse_ice_credentials",
    "parse_regions",
    "request_body",
    "structure",
    "unstructure",
]

DEFAULT_TTL = 30  # seconds: the API's default lifetime when no ttl is requested
_LONGEST_TTL = 100 * 365 * 86400  # a fallback expiry further out than this cannot matter

T = TypeVar("T")

converter = cattrs.Converter()


def _strict(kind: type[T], *accepted: type) -> Callable[[Any, Any], T]:
    """A hook that accepts only `accepted` types: no silent str(42) or bool("false")."""
    accepted = accepted or (kind,)

    def hook(value: Any, _: Any) -> T:
        if (type(value) is bool and kind is not bool) or not isinstance(value, accepted):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        return kind(value)  # type: ignore[call-arg]

    return hook


def _strict_list(list_type: Any, conv: cattrs.BaseConverter) -> Callable[[Any, Any], list[Any]]:
    """Lists must be JSON arrays: cattrs alone would turn `{}` into `[]`."""
    structure_items = list_structure_factory(list_type, conv)

    def hook(value: Any, cls: Any) -> list[Any]:
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        items: list[Any] = structure_items(value, cls)
        return items

    return hook


converter.register_structure_hook_factory(is_sequence, _strict_list)
converter.register_structure_hook(str, _strict(str))
converter.register_structure_hook(bool, _strict(bool))
converter.register_structure_hook(int, _strict(int))
converter.register_structure_hook(float, _strict(float, int, float))


def _urls(value: Any, _: Any) -> list[str]:
    """`urls` may be one string or a list of strings; never split a string into letters."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValueError("expected a URL string or a non-empty list of URL strings")
    if not all(isinstance(url, str) and url for url in value):
        raise ValueError("every URL must be a non-empty string")
    return list(value)


_FRACTION = re.compile(r"\.(\d+)")


def _timestamp(value: Any, _: Any) -> datetime:
    """ISO-8601 (with `Z` or an offset; naive means UTC) or Unix seconds -> aware UTC."""
    if type(value) is str:
        parsed = _iso8601(value)
    elif isinstance(value, datetime):  # a default filled in before structuring
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, timezone.utc)
    elif isinstance(value, str):
        parsed = _iso8601(str(value))
    else:
        raise TypeError(f"expected an ISO-8601 timestamp, got {type(value).__name__}")
    if parsed.tzinfo is timezone.utc:  # the usual "...Z"
        return parsed
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


if sys.version_info >= (3, 11):

    def _iso8601(text: str) -> datetime:
        try:
            return datetime.fromisoformat(text)  # the usual "2030-06-04T12:00:30Z"
        except ValueError:
            return datetime.fromisoformat(text.strip())

else:  # pragma: no cover - 3.10: no trailing Z, only 3 or 6 fraction digits

    def _iso8601(text: str) -> datetime:
        text = text.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        return datetime.fromisoformat(
            _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text)
        )


_structure_ice_server = make_dict_structure_fn(
    IceServer, converter, urls=override(struct_hook=_urls)
)


def _ice_server(value: Any, cls: Any) -> IceServer:
    if isinstance(value, dict) and "urls" not in value and "url" in value:
        value = {**value, "urls": value["url"]}  # the legacy single-URL key
    return _structure_ice_server(value, cls)


converter.register_structure_hook(IceServer, _ice_server)
converter.register_structure_hook(datetime, _timestamp)
_structure_ice_credentials = make_dict_structure_fn(
    IceCredentials,
    converter,
    ice_servers=override(rename="iceServers"),
    expires_at=override(rename="expiresAt"),
)


def _ice_credentials(value: Any, cls: Any) -> IceCredentials:
    """The documented shape, built directly: this runs on every call, so it is the hot path.

    Anything else (the legacy `url` key, a wrong type, a bad timestamp) goes through
    the generated function, which gives the same result or the error naming the path.
    A property test checks that both agree on arbitrary JSON.
    """
    servers = value.get("iceServers") if type(value) is dict else None
    if type(servers) is not list:
        return _structure_ice_credentials(value, cls)
    built = []
    for server in servers:
        if type(server) is not dict:
            return _structure_ice_credentials(value, cls)
        urls = server.get("urls")
        username = server.get("username")
        credential = server.get("credential")
        if type(urls) is str and urls:
            urls = [urls]
        elif type(urls) is list and urls and _all_urls(urls):
            urls = urls[:]  # never share the caller's list
        else:
            return _structure_ice_credentials(value, cls)
        if (username is not None and type(username) is not str) or (
            credential is not None and type(credential) is not str
        ):
            return _structure_ice_credentials(value, cls)
        built.append(_checked_ice_server(urls, username, credential))
    try:
        expires_at = _timestamp(value.get("expiresAt"), datetime)
    except Exception:  # let the generated function report it, with its path
        return _structure_ice_credentials(value, cls)
    return _checked_ice_credentials(built, expires_at)


# A frozen attrs __init__ stores each field through object.__setattr__, the slow
# generic path. For values the hook above has already checked (urls a fresh list of
# strings, expires_at aware UTC), the slots are filled directly: 40 % cheaper, and
# the property tests compare the results with the generated path's.
_new = object.__new__
_set_urls = IceServer.__dict__["urls"].__set__
_set_username = IceServer.__dict__["username"].__set__
_set_credential = IceServer.__dict__["credential"].__set__
_set_ice_servers = IceCredentials.__dict__["ice_servers"].__set__
_set_expires_at = IceCredentials.__dict__["expires_at"].__set__


def _checked_ice_server(urls: list[str], username: str | None, credential: str | None) -> IceServer:
    server: IceServer = _new(IceServer)
    _set_urls(server, urls)
    _set_username(server, username)
    _set_credential(server, credential)
    return server


def _checked_ice_credentials(servers: list[IceServer], expires_at: datetime) -> IceCredentials:
    credentials: IceCredentials = _new(IceCredentials)
    _set_ice_servers(credentials, servers)
    _set_expires_at(credentials, expires_at)
    return credentials


def _all_urls(urls: list[Any]) -> bool:
    for url in urls:  # noqa: SIM110 - a plain loop: all() over a generator costs more here
        if type(url) is not str or not url:
            return False
    return True


converter.register_structure_hook(IceCredentials, _ice_credentials)
converter.register_unstructure_hook(IceServer, lambda server: server.to_dict())
converter.register_unstructure_hook(datetime, lambda moment: moment.isoformat())
converter.register_unstructure_hook(
    IceCredentials,
    make_dict_unstructure_fn(
        IceCredentials,
        converter,
        ice_servers=override(rename="iceServers"),
        expires_at=override(rename="expiresAt"),
    ),
)


def _request_body(request: IceCredentialsRequest) -> dict[str, Any]:
    """Only the fields that are set; runs on every call, so written out (2x the generated)."""
    body: dict[str, Any] = {}
    if request.initiator_client is not None:
        body["initiator_client"] = request.initiator_client
    if request.receiver_client is not None:
        body["receiver_client"] = request.receiver_client
    if request.room is not None:
        body["room"] = request.room
    if request.ttl is not None:
        body["ttl"] = request.ttl
    if request.fixed_region is not None:
        body["fixed_region"] = request.fixed_region
    if request.preferred_region is not None:
        body["preferred_region"] = request.preferred_region
    return body  # not client_ip: it travels in the X-TURN-CLIENT-IP header instead


converter.register_unstructure_hook(IceCredentialsRequest, _request_body)

structure = converter.structure
unstructure = converter.unstructure


def request_body(request: IceCredentialsRequest) -> dict[str, Any]:
    """The JSON object for POST /credentials/ice: only the fields that are set."""
    return _request_body(request)


def _no_default(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# json.dumps() builds a new encoder on every call; request bodies are flat dicts of our
# own making (no cycles to check), so one C encoder is built once and reused
_encode = (
    json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        None, _no_default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True
    )
    if json.encoder.c_make_encoder is not None  # type: ignore[attr-defined]
    else None
)
_ENCODER = json.JSONEncoder(separators=(",", ":"))  # where the C encoder is missing


def dumps(value: Any) -> str:
    """Compact JSON, as the session serializes request bodies."""
    if _encode is None or not isinstance(value, dict):
        return _ENCODER.encode(value)
    return "".join(_encode(value, 0))


def parse_ice_credentials(body: bytes, requested_ttl: int | None) -> IceCredentials:
    """A 2xx body -> IceCredentials; a missing `expiresAt` means now + the requested ttl."""
    data = _json(body)
    if isinstance(data, dict) and data.get("expiresAt") is None:
        ttl = min(requested_ttl or DEFAULT_TTL, _LONGEST_TTL)
        data["expiresAt"] = datetime.now(timezone.utc) + timedelta(seconds=ttl)
    try:
        return _ice_credentials(data, IceCredentials)
    except Exception as exc:
        raise ResponseValidationError(_describe(exc)) from None


def parse_regions(body: bytes) -> list[Region]:
    """A 2xx body of GET /regions -> a list of Region."""
    regions: list[Region] = _structured(_json(body), list[Region])
    return regions


_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # the C scanner json.loads ends up in
_JSON_SPACE = " \t\n\r"


def _json(body: bytes) -> Any:
    """Parse a JSON body (UTF-8 only, as JSON on the wire must be; a BOM is allowed).

    The usual body goes straight to the C scanner, skipping json.loads' encoding
    sniffing and regex passes; anything unusual or invalid goes through json.loads.
    """
    try:
        text = body.decode()
        value, end = _scan(text, 0)
        if end == len(text) or not text[end:].strip(_JSON_SPACE):
            return value
    except (ValueError, StopIteration, RecursionError):
        pass  # leading whitespace, a BOM, or not JSON: json.loads tells which
    try:
        return json.loads(body.decode("utf-8-sig"))
    except (ValueError, RecursionError) as exc:  # ValueError includes UnicodeDecodeError
        raise ResponseValidationError(f"response body is not valid JSON: {exc}") from None


def _structured(data: Any, cls: Any) -> Any:
    try:
        return converter.structure(data, cls)
    except Exception as exc:
        raise ResponseValidationError(_describe(exc)) from None


def _describe(exc: Exception) -> str:
    if isinstance(exc, (cattrs.ClassValidationError, cattrs.IterableValidationError)):
        problems = [
            problem.replace(".ice_servers", ".iceServers").replace(".expires_at", ".expiresAt")
            for problem in cattrs.transform_error(exc, path="response")
        ]
        shown = "; ".join(problems[:5]) + (" ..." if len(problems) > 5 else "")
        return f"response does not match the documented shape: {shown}"
    return f"response does not match the documented shape: {exc} @ response"

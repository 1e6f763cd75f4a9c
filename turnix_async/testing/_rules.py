"""The Turnix API's rules as the fake server applies them: pure functions, no HTTP.

Request validation, region choice, the answer's JSON and coturn-style TURN REST
credentials. The fake writes its wire shapes here by hand, field by field, so a
rename in the SDK's models cannot silently rename what the fake sends.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import math
import re
import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from .._models import Region

__all__ = [
    "CLIENT_IP_HEADER",
    "DEFAULT_REGIONS",
    "DEFAULT_TTL",
    "Refusal",
    "check_regions",
    "check_token",
    "check_turn_secret",
    "check_urls",
    "choose_region",
    "expiry_of",
    "ice_answer",
    "ice_fields",
    "recorded_json",
    "region_json",
    "stun_from_turn",
    "turn_credentials",
]

DEFAULT_TTL: Final = 30
UNAVAILABLE_REGION_STATUS: Final = 409
CLIENT_IP_HEADER: Final = "X-TURN-CLIENT-IP"
LAST_EXPIRY: Final = 253402300799  # 9999-12-31T23:59:59Z: the last time ISO-8601 writes

DEFAULT_REGIONS: Final[tuple[Region, ...]] = (
    Region("eu-central", "DE", "Frankfurt", "Europe Central", 50.1109, 8.6821, True, True),
    Region("eu-west", "GB", "London", "Europe West", 51.5072, -0.1276, True, True),
    Region("us-east", "US", "Ashburn", "US East", 39.0438, -77.4874, True, True),
    Region("us-west", "US", "San Jose", "US West", 37.3387, -121.8853, True, True),
    Region(
        "ap-southeast", "SG", "Singapore", "Asia Pacific Southeast", 1.3521, 103.8198, True, True
    ),
)
"""The regions a `FakeTurnixServer` lists when none are given: all online and operational."""

_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")
_DIGITS = re.compile(r"[0-9]{1,20}")
_NAME_FIELDS: Final = ("initiator_client", "receiver_client", "room")
_FIELDS: Final = (*_NAME_FIELDS, "ttl", "fixed_region", "preferred_region")
_FORM: Final = "application/x-www-form-urlencoded"


class Refusal(Exception):
    """A request the API does not serve: becomes `status` with `{"error", "field"}`."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


# -- the request body ------------------------------------------------------------------


def ice_fields(content_type: str | None, charset: str | None, body: bytes) -> dict[str, Any]:
    """The fields of POST /credentials/ice from a JSON object or a url-encoded form.

    `content_type` is None when the request had no Content-Type (read as JSON).
    Unknown fields and `null` values are dropped.

    Raises:
        Refusal: 400 for a body that cannot be parsed, 415 for another content type.
    """
    if not body.strip():
        return {}
    fields: Any
    if content_type == _FORM:
        try:
            fields = _form(charset, body)
        except ValueError:
            raise Refusal(400, "the form-encoded body could not be parsed") from None
    elif content_type is None or _is_json(content_type):
        try:
            fields = _json(body)
        except ValueError:
            raise Refusal(400, "the request body is not valid JSON") from None
        if not isinstance(fields, dict):
            raise Refusal(400, "the request body must be a JSON object")
    else:
        raise Refusal(
            415, f"unsupported Content-Type {content_type!r}: send application/json or a form"
        )
    return {name: fields[name] for name in _FIELDS if fields.get(name) is not None}


def recorded_json(content_type: str | None, charset: str | None, body: bytes) -> Any:
    """The body as tests read it: the JSON value, the form as a dict, or None."""
    if not body:
        return None
    try:
        return _form(charset, body) if content_type == _FORM else _json(body)
    except ValueError:
        return None


def _json(body: bytes) -> Any:
    """`json.loads`, with a body nested too deeply to parse as one more ValueError."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _form(charset: str | None, body: bytes) -> dict[str, str]:
    """A url-encoded form as a dict (the last value of a repeated field wins)."""
    try:
        text = body.decode(charset or "utf-8")
    except LookupError:  # an unknown charset
        raise ValueError(f"unknown charset {charset!r}") from None
    return dict(parse_qsl(text, keep_blank_values=True))


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


# -- validation and region choice ----------------------------------------------------------


def choose_region(
    fields: Mapping[str, Any], client_ip: str | None, regions: Sequence[Region]
) -> tuple[int, Region]:
    """Check every field as the API does; return the ttl and the region to allocate in.

    Raises:
        Refusal: 400 naming the invalid field; 409 for an unavailable `fixed_region`;
            503 when no region is available.
    """
    for name in _NAME_FIELDS:
        value = fields.get(name)
        if value is not None and not (isinstance(value, str) and _NAME.fullmatch(value)):
            raise Refusal(
                400, f"{name} must be 1-100 characters of letters, digits, '-' or '_'", name
            )
    ttl = fields.get("ttl", DEFAULT_TTL)
    if isinstance(ttl, str) and _DIGITS.fullmatch(ttl):  # form bodies carry strings
        ttl = int(ttl)
    if type(ttl) is not int or ttl <= 0:
        raise Refusal(400, "ttl must be a positive integer number of seconds", "ttl")
    if client_ip is not None:
        try:
            ipaddress.ip_address(client_ip.strip())
        except ValueError:
            raise Refusal(
                400, f"{CLIENT_IP_HEADER} must be an IPv4 or IPv6 address", CLIENT_IP_HEADER
            ) from None
    known = {region.slug: region for region in regions}
    for name in ("fixed_region", "preferred_region"):
        slug = fields.get(name)
        if slug is not None and not (isinstance(slug, str) and slug in known):
            raise Refusal(400, f"{name} must be one of the region slugs of GET /regions", name)
    fixed = fields.get("fixed_region")
    if fixed is not None:
        region = known[fixed]
        if not _available(region):
            state = "offline" if not region.is_online else "not operational"
            raise Refusal(
                UNAVAILABLE_REGION_STATUS,
                f"fixed_region {fixed!r} is unavailable ({state})",
                "fixed_region",
            )
        return ttl, region
    preferred = fields.get("preferred_region")
    if preferred is not None and _available(known[preferred]):
        return ttl, known[preferred]
    for region in regions:
        if _available(region):
            return ttl, region
    raise Refusal(503, "no TURN region is available")


def _available(region: Region) -> bool:
    return region.is_online and region.is_operational


def expiry_of(now: float, ttl: int) -> int:
    """`expiresAt` as Unix seconds: now + ttl, rounded up to a whole second.

    Raises:
        Refusal: 400 naming ttl when the expiry cannot be written as a timestamp.
    """
    expiry = math.ceil(now) + ttl
    if expiry > LAST_EXPIRY:
        raise Refusal(400, "ttl is too large: expiresAt would be after the year 9999", "ttl")
    return expiry


# -- the answers -------------------------------------------------------------------------


def turn_credentials(secret: bytes | None, expiry: int, client_id: str) -> tuple[str, str]:
    """(username, credential): coturn's TURN REST API with a secret, else random ones.

    coturn (`--use-auth-secret`) accepts username `"<unix expiry>:<client id>"` with
    credential base64(HMAC-SHA1(secret, username)).
    """
    if secret is None:
        return str(uuid.uuid4()), secrets.token_hex(16)
    username = f"{expiry}:{client_id}"
    digest = hmac.new(secret, username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_answer(
    *,
    fields: Mapping[str, Any],
    region: Region,
    expiry: int,
    secret: bytes | None,
    turn_urls: Sequence[str] | None,
    stun_urls: Sequence[str] | None,
) -> dict[str, Any]:
    """The 200 body of POST /credentials/ice, with the API's field names."""
    client_id = fields.get("initiator_client") or fields.get("room") or uuid.uuid4().hex[:12]
    username, credential = turn_credentials(secret, expiry, client_id)
    turn = list(turn_urls or ())
    if not turn:
        turn = [
            f"turn:{region.slug}.turnix.test:3478?transport=udp",
            f"turn:{region.slug}.turnix.test:3478?transport=tcp",
        ]
    moment = datetime.fromtimestamp(expiry, timezone.utc)
    return {
        "iceServers": [
            {"urls": list(stun_urls or ["stun:stun.turnix.test:3478"])},
            {"username": username, "credential": credential, "urls": turn},
        ],
        "expiresAt": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def region_json(region: Region) -> dict[str, Any]:
    """One item of GET /regions, with the API's field names."""
    return {
        "slug": region.slug,
        "nat2": region.nat2,
        "city": region.city,
        "name": region.name,
        "lat": region.lat,
        "lon": region.lon,
        "is_online": region.is_online,
        "is_operational": region.is_operational,
    }


# -- configuration checks -------------------------------------------------------------------


def check_token(token: Any) -> str:
    """A token as the API would issue it: printable ASCII, no whitespace."""
    if (
        not isinstance(token, str)
        or not token
        or not token.isascii()
        or not token.isprintable()
        or any(c.isspace() for c in token)
    ):
        raise ValueError("a token must be a non-empty ASCII string without whitespace")
    return token


def check_turn_secret(secret: Any) -> bytes | None:
    if secret is None:
        return None
    if isinstance(secret, str):
        secret = secret.encode()
    if not isinstance(secret, bytes):
        raise TypeError(f"turn_secret must be a str or bytes (got {type(secret).__name__})")
    if not secret:
        raise ValueError("turn_secret must not be empty")
    return secret


def check_regions(regions: Iterable[Region]) -> list[Region]:
    checked = list(regions)
    if not all(isinstance(region, Region) for region in checked):
        raise ValueError("regions must be turnix_async.Region instances")
    if len({region.slug for region in checked}) != len(checked):
        raise ValueError("regions must have distinct slugs")
    return checked


def check_urls(name: str, urls: Sequence[str] | None, schemes: tuple[str, ...]) -> list[str] | None:
    if urls is None:
        return None
    if isinstance(urls, str):
        urls = [urls]
    urls = list(urls)
    if not urls or not all(isinstance(url, str) and url.startswith(schemes) for url in urls):
        raise ValueError(f"{name} must be a non-empty list of {' / '.join(schemes)} URLs")
    return urls


def stun_from_turn(turn_urls: Sequence[str]) -> list[str]:
    """`turn:host:port?transport=udp` -> `stun:host:port` (coturn answers STUN on its port)."""
    stun: list[str] = []
    for url in turn_urls:
        if not url.startswith("turn:"):
            continue
        address = urlsplit(url).path.split("?", 1)[0]
        if f"stun:{address}" not in stun:
            stun.append(f"stun:{address}")
    return stun or ["stun:stun.turnix.test:3478"]

"""`FakeTurnixServer`: a real local HTTP server that speaks the Turnix API, for tests and demos.

It validates requests the way the API documents (and the SDK checks), answers with
the documented shapes, records every request, and injects faults on demand:
failures, connection resets, delays and a rate limit.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import email.policy
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import re
import secrets
import socket
import struct
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from email.parser import BytesParser
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import attrs
from aiohttp import hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy

from .._models import Region

__all__ = ["DEFAULT_REGIONS", "FakeTurnixServer", "RecordedRequest"]

API_PREFIX: Final = "/api/v1"
DEFAULT_TTL: Final = 30
UNAVAILABLE_REGION_STATUS: Final = 409

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
_DIGITS = re.compile(r"[0-9]{1,9}")
_NAME_FIELDS: Final = ("initiator_client", "receiver_client", "room")
_FIELDS: Final = (*_NAME_FIELDS, "ttl", "fixed_region", "preferred_region")
_CLIENT_IP_HEADER: Final = "X-TURN-CLIENT-IP"
_WILDCARDS: Final = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}
_FORM_TYPES: Final = ("application/x-www-form-urlencoded", "multipart/form-data")

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@attrs.frozen
class RecordedRequest:
    """One request the server received, as `server.requests` lists them (faulted ones too).

    `path` is the full URL path (e.g. `/api/v1/credentials/ice`); `headers` is a
    case-insensitive read-only mapping; `json` is the parsed body: the JSON value
    for a JSON body, a `dict[str, str]` for a form-encoded body, None when the body
    is empty or malformed. `body` is the raw bytes.
    """

    method: str
    path: str
    headers: Mapping[str, str] = attrs.field(repr=False)
    json: Any
    body: bytes = attrs.field(default=b"", repr=False)


@attrs.frozen
class _Fault:
    kind: str  # "fail", "reset" or "delay"
    status: int = 503
    retry_after: str | None = None
    body: Any = None
    seconds: float = 0.0


class _BadField(Exception):
    """A request value the API rejects: becomes a 400 naming the field."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class FakeTurnixServer:
    """A local Turnix API on 127.0.0.1 for tests and offline demos (a real aiohttp server).

    Use `async with FakeTurnixServer() as server:` (or `await server.start()` and
    `await server.close()`), then point `AsyncTurnix(server.api_token,
    base_url=server.base_url)` at it. It implements `POST /credentials/ice` (JSON or
    form-encoded body) and `GET /regions` with the API's rules:

    - 401 for a missing, malformed or unknown token; 403 for a token added with
      `add_token(token, permitted=False)`.
    - 400 `{"error": "...", "field": "<name>"}` for an invalid value, an unknown
      region slug, an invalid `X-TURN-CLIENT-IP` or a body that is not a JSON object;
      415 for a body that is neither JSON nor a form.
    - 409 `{"error": ..., "field": "fixed_region"}` when `fixed_region` names a known
      region that is offline or not operational (409, not 503: waiting does not bring
      the region back, so clients should not retry it). `preferred_region` instead
      falls back to the first online and operational region; with none left the
      server answers 503.
    - ttl defaults to 30 s; `expiresAt` is always set.

    Args:
        host: the interface to listen on.
        port: the TCP port; 0 picks a free one.
        api_token: the token that is accepted; None generates `tnx_<random>`.
        regions: what `GET /regions` lists (mark some `is_online=False` or
            `is_operational=False`); defaults to `DEFAULT_REGIONS`.
        turn_secret: when set, TURN credentials follow the coturn REST API
            (`--use-auth-secret --static-auth-secret=<secret>`): username
            `"<unix expiry>:<client id>"`, credential base64(HMAC-SHA1(secret, username)),
            the client id being `initiator_client`, else `room`, else a random id.
            Otherwise they are random.
        turn_urls: TURN URLs to hand out (e.g. a local coturn); by default fake
            `turn:<region>.turnix.test:3478?transport=udp|tcp` URLs.
        stun_urls: STUN URLs to hand out; by default derived from `turn_urls` (same
            host and port), else `stun:stun.turnix.test:3478`.
        rate_limit: `(n, seconds)`: at most n requests in any `seconds` window, more get
            429 with `Retry-After` (whole seconds). None: no limit.
        access_log: a logger for one line per request (None: silent).

    Attributes:
        regions: the list `GET /regions` answers and region choice uses; tests may
            change it while the server runs (see also `set_region`).

    Raises:
        ValueError: an invalid token, region list, URL or rate limit.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_token: str | None = None,
        regions: Iterable[Region] | None = None,
        turn_secret: str | bytes | None = None,
        turn_urls: Sequence[str] | None = None,
        stun_urls: Sequence[str] | None = None,
        rate_limit: tuple[int, float] | None = None,
        access_log: logging.Logger | None = None,
    ) -> None:
        if type(port) is not int or not 0 <= port <= 65535:
            raise ValueError(f"port must be an int in 0-65535 (got {port!r})")
        self._host = host
        self._port = port
        if api_token is None:
            api_token = "tnx_" + secrets.token_urlsafe(24)
        self._api_token = _check_token(api_token)
        self._tokens: dict[str, bool] = {self._api_token: True}
        self.regions: list[Region] = _check_regions(DEFAULT_REGIONS if regions is None else regions)
        if isinstance(turn_secret, str):
            turn_secret = turn_secret.encode()
        if turn_secret is not None and not turn_secret:
            raise ValueError("turn_secret must not be empty")
        self._turn_secret = turn_secret
        self._turn_urls = _check_urls("turn_urls", turn_urls, ("turn:", "turns:"))
        self._stun_urls = _check_urls("stun_urls", stun_urls, ("stun:", "stuns:"))
        if self._stun_urls is None and self._turn_urls is not None:
            self._stun_urls = _stun_from_turn(self._turn_urls)
        self._rate_limit = _check_rate_limit(rate_limit)
        self._access_log = access_log
        self._requests: list[RecordedRequest] = []
        self._faults: collections.deque[_Fault] = collections.deque()
        self._accepted: collections.deque[float] = collections.deque()  # rate limit window
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._closing = asyncio.Event()
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> FakeTurnixServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Start listening; afterwards `base_url` is known.

        Raises:
            RuntimeError: the server was already started or closed.
            OSError: the host/port cannot be bound (e.g. the port is in use).
        """
        if self._runner is not None or self._closed:
            raise RuntimeError("a FakeTurnixServer can be started only once")
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post(f"{API_PREFIX}/credentials/ice", self._ice)
        app.router.add_get(f"{API_PREFIX}/regions", self._regions)
        runner = web.AppRunner(
            app,
            access_log=self._access_log,
            handler_cancellation=True,  # a client that gives up ends its delayed request
            shutdown_timeout=1.0,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]
        host = _WILDCARDS.get(self._host, self._host)  # where a local client connects
        host = f"[{host}]" if ":" in host else host
        self._base_url = f"http://{host}:{self._port}{API_PREFIX}"

    async def close(self) -> None:
        """Stop listening and close open connections; safe to call more than once."""
        self._closed = True
        self._closing.set()  # ends pending delays at once
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # -- what tests read ---------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API root, e.g. `http://127.0.0.1:54321/api/v1`; for `AsyncTurnix(base_url=)`.

        For a wildcard host (`0.0.0.0`, `::`) it names the loopback address, which
        `AsyncTurnix` accepts over plain http.

        Raises:
            RuntimeError: the server was not started.
        """
        if self._base_url is None:
            raise RuntimeError("the FakeTurnixServer is not started: use `async with` or start()")
        return self._base_url

    @property
    def host(self) -> str:
        """The interface the server listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The TCP port (the one picked once started, if 0 was asked for)."""
        return self._port

    @property
    def api_token(self) -> str:
        """The valid token with permission (given or generated)."""
        return self._api_token

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        return list(self._requests)

    @property
    def pending_faults(self) -> int:
        """How many queued faults (`fail_next`, `reset_next`, `delay_next`) are not used yet."""
        return len(self._faults)

    def __repr__(self) -> str:
        where = self._base_url or "not started"
        return f"FakeTurnixServer({where}, token=***)"

    # -- configuration -------------------------------------------------------------

    def add_token(self, token: str, *, permitted: bool = True) -> None:
        """Accept another token; with `permitted=False` its requests get 403 Forbidden.

        Raises:
            ValueError: the token is empty or contains whitespace/control characters.
        """
        self._tokens[_check_token(token)] = permitted

    def remove_token(self, token: str) -> None:
        """Stop accepting `token` (its requests get 401 from now on)."""
        self._tokens.pop(token, None)

    def set_region(
        self, slug: str, *, is_online: bool | None = None, is_operational: bool | None = None
    ) -> None:
        """Change a region's state while running, e.g. take it offline for a fallback test.

        Raises:
            KeyError: no region has this slug.
        """
        for index, region in enumerate(self.regions):
            if region.slug == slug:
                self.regions[index] = attrs.evolve(
                    region,
                    is_online=region.is_online if is_online is None else is_online,
                    is_operational=(
                        region.is_operational if is_operational is None else is_operational
                    ),
                )
                return
        raise KeyError(slug)

    # -- fault injection -------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        retry_after: float | str | None = None,
        body: Any = None,
    ) -> None:
        """Answer the next `n` requests with `status` (then behave normally again).

        Faults queue in order and each one consumes one request, whatever its path;
        the request is still recorded in `requests`.

        Args:
            n: how many requests fail.
            status: the HTTP status to answer (400-599).
            retry_after: a `Retry-After` header: seconds (a number) or a raw value such
                as an HTTP date (a str).
            body: a dict or list (sent as JSON), a str (sent as text/plain) or bytes;
                None sends `{"error": "injected failure (HTTP <status>)"}`.

        Raises:
            ValueError: n < 1, a status outside 400-599 or a negative `retry_after`.
        """
        _check_count(n)
        if type(status) is not int or not 400 <= status <= 599:
            raise ValueError(f"status must be an int in 400-599 (got {status!r})")
        header = retry_after if isinstance(retry_after, str) or retry_after is None else None
        if header is None and retry_after is not None:
            if isinstance(retry_after, bool) or not isinstance(retry_after, (int, float)):
                raise ValueError(f"retry_after must be seconds or a str (got {retry_after!r})")
            if not 0 <= retry_after < float("inf"):
                raise ValueError(f"retry_after must be >= 0 seconds (got {retry_after!r})")
            header = f"{retry_after:.3f}".rstrip("0").rstrip(".")  # 7 -> "7", 0.25 -> "0.25"
        fault = _Fault("fail", status=status, retry_after=header, body=body)
        self._faults.extend([fault] * n)

    def reset_next(self, n: int = 1) -> None:
        """Abort the TCP connection (RST, no response) for the next `n` requests.

        Clients see a connection reset / "server disconnected" error.

        Raises:
            ValueError: n < 1.
        """
        _check_count(n)
        self._faults.extend([_Fault("reset")] * n)

    def delay_next(self, seconds: float, n: int = 1) -> None:
        """Wait `seconds` before answering each of the next `n` requests (then answer normally).

        Use it to trigger client timeouts. A pending delay ends early when the client
        disconnects or the server closes.

        Raises:
            ValueError: negative seconds or n < 1.
        """
        _check_count(n)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ValueError(f"seconds must be a number >= 0 (got {seconds!r})")
        self._faults.extend([_Fault("delay", seconds=float(seconds))] * n)

    def clear(self) -> None:
        """Forget the recorded requests."""
        self._requests.clear()

    def reset(self) -> None:
        """Forget recorded requests, pending faults and the rate-limit window."""
        self._requests.clear()
        self._faults.clear()
        self._accepted.clear()

    # -- HTTP ------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        body = await request.read()
        self._requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                headers=CIMultiDictProxy(CIMultiDict(request.headers)),
                json=_parsed(request, body),
                body=body,
            )
        )
        request_id = "req_" + secrets.token_hex(8)
        response = await self._respond(request, handler)
        response.headers["X-Request-Id"] = request_id
        return response

    async def _respond(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            if fault.kind == "reset":
                return await _abort(request)
            if fault.kind == "fail":
                return _fault_response(fault)
            with contextlib.suppress(asyncio.TimeoutError):  # not TimeoutError on 3.10
                await asyncio.wait_for(self._closing.wait(), fault.seconds)
        limited = self._rate_limited()
        if limited is not None:
            return limited
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        try:
            return await handler(request)
        except web.HTTPException as exc:  # 404/405 as JSON, like the API's other errors
            if exc.status < 400:
                raise
            response = _error(exc.status, exc.reason)
            if hdrs.ALLOW in exc.headers:
                response.headers[hdrs.ALLOW] = exc.headers[hdrs.ALLOW]
            return response

    def _rate_limited(self) -> web.Response | None:
        if self._rate_limit is None:
            return None
        limit, window = self._rate_limit
        now = time.monotonic()
        while self._accepted and self._accepted[0] <= now - window:
            self._accepted.popleft()
        if len(self._accepted) < limit:
            self._accepted.append(now)
            return None
        wait = max(1, math.ceil(self._accepted[0] + window - now))
        response = _error(429, f"rate limit exceeded: at most {limit} requests per {window:g} s")
        response.headers[hdrs.RETRY_AFTER] = str(wait)
        return response

    def _check_auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get(hdrs.AUTHORIZATION)
        problem = None
        if header is None:
            problem = "missing Authorization header (expected 'Bearer <API token>')"
        else:
            scheme, _, token = header.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token or " " in token:
                problem = "malformed Authorization header (expected 'Bearer <API token>')"
            elif token not in self._tokens:
                problem = "invalid API token"
            elif not self._tokens[token]:
                return _error(403, "this API token lacks the permission for this request")
        if problem is None:
            return None
        response = _error(401, problem)
        response.headers[hdrs.WWW_AUTHENTICATE] = 'Bearer realm="turnix"'
        return response

    async def _regions(self, request: web.Request) -> web.Response:
        return web.json_response([attrs.asdict(region) for region in self.regions])

    async def _ice(self, request: web.Request) -> web.Response:
        try:
            fields = await _fields_of(request)
            ttl, region = self._validate(fields, request.headers.get(_CLIENT_IP_HEADER))
        except _BadField as exc:
            return _error(400, exc.message, field=exc.field)
        except _Refused as exc:
            return _error(exc.status, exc.message, field=exc.field)
        expiry = math.ceil(time.time()) + ttl
        client_id = fields.get("initiator_client") or fields.get("room") or uuid.uuid4().hex[:12]
        if self._turn_secret is not None:
            username = f"{expiry}:{client_id}"
            digest = hmac.new(self._turn_secret, username.encode(), hashlib.sha1).digest()
            credential = base64.b64encode(digest).decode()
        else:
            username = str(uuid.uuid4())
            credential = secrets.token_hex(16)
        turn_urls = self._turn_urls or [
            f"turn:{region.slug}.turnix.test:3478?transport=udp",
            f"turn:{region.slug}.turnix.test:3478?transport=tcp",
        ]
        stun_urls = self._stun_urls or ["stun:stun.turnix.test:3478"]
        moment = datetime.fromtimestamp(expiry, timezone.utc)
        return web.json_response(
            {
                "iceServers": [
                    {"urls": list(stun_urls)},
                    {"username": username, "credential": credential, "urls": list(turn_urls)},
                ],
                "expiresAt": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )

    def _validate(self, fields: Mapping[str, Any], client_ip: str | None) -> tuple[int, Region]:
        """Check every field as the API does; return the ttl and the region to allocate in."""
        for name in _NAME_FIELDS:
            value = fields.get(name)
            if value is not None and not (isinstance(value, str) and _NAME.fullmatch(value)):
                raise _BadField(
                    name, f"{name} must be 1-100 characters of letters, digits, '-' or '_'"
                )
        ttl = fields.get("ttl")
        if isinstance(ttl, str) and _DIGITS.fullmatch(ttl):  # form bodies carry strings
            ttl = int(ttl)
        if ttl is None:
            ttl = DEFAULT_TTL
        elif type(ttl) is not int or ttl <= 0:
            raise _BadField("ttl", "ttl must be a positive integer number of seconds")
        if client_ip is not None:
            try:
                ipaddress.ip_address(client_ip.strip())
            except ValueError:
                raise _BadField(
                    _CLIENT_IP_HEADER, f"{_CLIENT_IP_HEADER} must be an IPv4 or IPv6 address"
                ) from None
        known = {region.slug: region for region in self.regions}
        for name in ("fixed_region", "preferred_region"):
            slug = fields.get(name)
            if slug is not None and not (isinstance(slug, str) and slug in known):
                raise _BadField(name, f"{name} must be one of the region slugs of GET /regions")
        fixed = fields.get("fixed_region")
        if fixed is not None:
            region = known[fixed]
            if not _available(region):
                state = "offline" if not region.is_online else "not operational"
                raise _Refused(
                    UNAVAILABLE_REGION_STATUS,
                    "fixed_region",
                    f"fixed_region {fixed!r} is unavailable ({state})",
                )
            return ttl, region
        preferred = fields.get("preferred_region")
        if preferred is not None and _available(known[preferred]):
            return ttl, known[preferred]
        for region in self.regions:
            if _available(region):
                return ttl, region
        raise _Refused(503, None, "no TURN region is available")


class _Refused(Exception):
    """A valid request the server cannot serve now: becomes `status` (409, 415, 503)."""

    def __init__(self, status: int, field: str | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message


def _available(region: Region) -> bool:
    return region.is_online and region.is_operational


def _parsed(request: web.Request, body: bytes) -> Any:
    """The body as tests want to see it: JSON value, form dict, or None."""
    if not body:
        return None
    if request.content_type in _FORM_TYPES:
        try:
            return _form(request, body)
        except ValueError:
            return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _form(request: web.Request, body: bytes) -> dict[str, str]:
    """A url-encoded or multipart form as a dict (the last value of a repeated field wins).

    Parsed from the bytes already read (aiohttp's `request.post()` would need the
    unread stream); file parts of a multipart form are skipped.

    Raises:
        ValueError: the body is not a well-formed form.
    """
    if request.content_type != "multipart/form-data":
        try:
            text = body.decode(request.charset or "utf-8")
        except LookupError:  # an unknown charset
            raise ValueError(f"unknown charset {request.charset!r}") from None
        return dict(parse_qsl(text, keep_blank_values=True))
    header = f"Content-Type: {request.headers[hdrs.CONTENT_TYPE]}\r\n\r\n".encode()
    message = BytesParser(policy=email.policy.HTTP).parsebytes(header + body)
    if not message.is_multipart() or message.defects:
        raise ValueError("malformed multipart body")
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes) and part.get_filename() is None:
            fields[name] = payload.decode("utf-8", errors="replace")
    return fields


async def _fields_of(request: web.Request) -> dict[str, Any]:
    """The request fields of POST /credentials/ice, from a JSON object or a form."""
    body = await request.read()
    if not body.strip():
        return {}
    kind = request.content_type
    fields: Any
    if kind in _FORM_TYPES:
        try:
            fields = _form(request, body)
        except ValueError:
            raise _BadField(None, "the form-encoded body could not be parsed") from None
    elif _is_json(kind) or hdrs.CONTENT_TYPE not in request.headers:
        try:
            fields = json.loads(body)
        except ValueError:
            raise _BadField(None, "the request body is not valid JSON") from None
        if not isinstance(fields, dict):
            raise _BadField(None, "the request body must be a JSON object")
    else:
        raise _Refused(
            415, None, f"unsupported Content-Type {kind!r}: send application/json or a form"
        )
    return {name: fields[name] for name in _FIELDS if fields.get(name) is not None}


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


async def _abort(request: web.Request) -> web.StreamResponse:
    """Reset the connection (RST, no response) without aiohttp logging an error."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:  # linger 0: close() sends RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    await asyncio.sleep(0)  # connection_lost runs and cancels this handler
    return web.Response(status=500)  # not reached in practice; would not be sent anyway


def _fault_response(fault: _Fault) -> web.Response:
    body = fault.body
    if body is None:
        response = _error(fault.status, f"injected failure (HTTP {fault.status})")
    elif isinstance(body, (dict, list)):
        response = web.json_response(body, status=fault.status)
    elif isinstance(body, bytes):
        response = web.Response(body=body, status=fault.status)
    else:
        response = web.Response(text=str(body), status=fault.status)
    if fault.retry_after is not None:
        response.headers[hdrs.RETRY_AFTER] = fault.retry_after
    return response


def _error(status: int, message: str, *, field: str | None = None) -> web.Response:
    payload: dict[str, Any] = {"error": message}
    if status == 400 or field is not None:
        payload["field"] = field
    return web.json_response(payload, status=status)


def _check_token(token: Any) -> str:
    if (
        not isinstance(token, str)
        or not token
        or not token.isascii()
        or not token.isprintable()
        or any(c.isspace() for c in token)
    ):
        raise ValueError("a token must be a non-empty ASCII string without whitespace")
    return token


def _check_regions(regions: Iterable[Region]) -> list[Region]:
    checked = list(regions)
    if not all(isinstance(region, Region) for region in checked):
        raise ValueError("regions must be turnix_async.Region instances")
    if len({region.slug for region in checked}) != len(checked):
        raise ValueError("regions must have distinct slugs")
    return checked


def _check_count(n: Any) -> None:
    if type(n) is not int or n < 1:
        raise ValueError(f"n must be an int >= 1 (got {n!r})")


def _check_urls(
    name: str, urls: Sequence[str] | None, schemes: tuple[str, ...]
) -> list[str] | None:
    if urls is None:
        return None
    if isinstance(urls, str):
        urls = [urls]
    urls = list(urls)
    if not urls or not all(isinstance(url, str) and url.startswith(schemes) for url in urls):
        raise ValueError(f"{name} must be a non-empty list of {' / '.join(schemes)} URLs")
    return urls


def _stun_from_turn(turn_urls: Sequence[str]) -> list[str]:
    """`turn:host:port?transport=udp` -> `stun:host:port` (coturn answers STUN on its port)."""
    stun: list[str] = []
    for url in turn_urls:
        if not url.startswith("turn:"):
            continue
        address = urlsplit(url).path.split("?", 1)[0]
        if f"stun:{address}" not in stun:
            stun.append(f"stun:{address}")
    return stun or ["stun:stun.turnix.test:3478"]


def _check_rate_limit(value: Any) -> tuple[int, float] | None:
    if value is None:
        return None
    try:
        count, seconds = value
    except (TypeError, ValueError):
        count = seconds = None
    if (
        type(count) is not int
        or count < 1
        or isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or seconds <= 0
    ):
        raise ValueError(f"rate_limit must be (requests >= 1, seconds > 0) (got {value!r})")
    return count, float(seconds)

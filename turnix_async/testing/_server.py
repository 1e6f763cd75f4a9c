"""`FakeTurnixServer`: a real local HTTP server that speaks the Turnix API, for tests and demos.

This module is the aiohttp part: the app, its lifecycle and the request log. The
API's rules live in `_rules`, the misbehaviour on demand in `_faults`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Final

import attrs
from aiohttp import hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy

from .._models import Region
from . import _rules
from ._faults import (
    Fault,
    FaultQueue,
    Hold,
    RateLimit,
    check_count,
    check_rate_limit,
    check_seconds,
    failure,
)
from ._rules import DEFAULT_REGIONS, Refusal

__all__ = ["DEFAULT_REGIONS", "FakeTurnixServer", "Hold", "RecordedRequest"]

API_PREFIX: Final = "/api/v1"
_WILDCARDS: Final = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}

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


class FakeTurnixServer:
    """A local Turnix API on 127.0.0.1 for tests and offline demos (a real aiohttp server).

    Use `async with FakeTurnixServer() as server:` (or `await server.start()` and
    `await server.close()`), then point `AsyncTurnix(server.api_token,
    base_url=server.base_url)` at it. It implements `POST /credentials/ice` (JSON or
    url-encoded form body) and `GET /regions` with the API's rules:

    - 401 for a missing, malformed or unknown token; 403 for a token added with
      `add_token(token, permitted=False)`.
    - 400 `{"error": "...", "field": "<name>"}` for an invalid value (a ttl too large
      for a timestamp included), an unknown region slug, an invalid
      `X-TURN-CLIENT-IP` or a body that is not a JSON object; 415 for a body that is
      neither JSON nor a url-encoded form.
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
        clock: returns the time in Unix seconds; `expiresAt` and the rate-limit window
            follow it, so a test can move time instead of sleeping. Default `time.time`.
        access_log: a logger for one line per request (None: silent).

    Attributes:
        regions: the list `GET /regions` answers and region choice uses; tests may
            change it while the server runs (see also `set_region`).

    Raises:
        ValueError: an invalid port, token, region list, URL or rate limit.
        TypeError: a `turn_secret` that is not str/bytes, a `clock` that is not callable.
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
        clock: Callable[[], float] = time.time,
        access_log: logging.Logger | None = None,
    ) -> None:
        if type(port) is not int or not 0 <= port <= 65535:
            raise ValueError(f"port must be an int in 0-65535 (got {port!r})")
        if not callable(clock):
            raise TypeError(f"clock must be a callable returning Unix seconds (got {clock!r})")
        self._host = host
        self._port = port
        if api_token is None:
            api_token = "tnx_" + secrets.token_urlsafe(24)
        self._api_token = _rules.check_token(api_token)
        self._tokens: dict[str, bool] = {self._api_token: True}
        self.regions: list[Region] = _rules.check_regions(
            DEFAULT_REGIONS if regions is None else regions
        )
        self._turn_secret = _rules.check_turn_secret(turn_secret)
        self._turn_urls = _rules.check_urls("turn_urls", turn_urls, ("turn:", "turns:"))
        self._stun_urls = _rules.check_urls("stun_urls", stun_urls, ("stun:", "stuns:"))
        if self._stun_urls is None and self._turn_urls is not None:
            self._stun_urls = _rules.stun_from_turn(self._turn_urls)
        limit = check_rate_limit(rate_limit)
        self._rate_limit = None if limit is None else RateLimit(*limit, clock=clock)
        self._clock = clock
        self._access_log = access_log
        self._requests: list[RecordedRequest] = []
        self._faults = FaultQueue()
        self._holds: list[Hold] = []
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
        """Stop listening and close open connections; safe to call more than once.

        Pending delays end and every hold is released at once.
        """
        self._closed = True
        self._closing.set()
        for hold in self._holds:
            hold.release()
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
        """How many queued faults (fail, reset, delay and hold) are not used yet."""
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
        self._tokens[_rules.check_token(token)] = permitted

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
            n: how many requests fail (1-10000).
            status: the HTTP status to answer (400-599).
            retry_after: a `Retry-After` header: seconds (a number) or a raw value such
                as an HTTP date (a str).
            body: a dict or list (sent as JSON), a str (sent as text/plain) or bytes;
                None sends `{"error": "injected failure (HTTP <status>)"}`.

        Raises:
            ValueError: a bad n, a status outside 400-599, a negative or non-finite
                `retry_after`, or one with control characters.
            TypeError: a body that is not JSON-serialisable, str or bytes.
        """
        self._faults.add(failure(status, retry_after, body), n)

    def reset_next(self, n: int = 1) -> None:
        """Abort the TCP connection (RST, no response) for the next `n` requests.

        Clients see a connection reset / "server disconnected" error.

        Raises:
            ValueError: n not in 1-10000.
        """
        self._faults.add(Fault("reset"), n)

    def delay_next(self, seconds: float, n: int = 1) -> None:
        """Wait `seconds` before answering each of the next `n` requests (then answer normally).

        Use it to trigger client timeouts. A pending delay ends early when the client
        disconnects or the server closes. To hold a request "in flight" until the
        test says so, use `hold_next` instead of guessing a duration.

        Raises:
            ValueError: seconds negative or not finite, n not in 1-10000.
        """
        self._faults.add(Fault("delay", seconds=check_seconds(seconds)), n)

    def hold_next(self, n: int = 1) -> Hold:
        """Hold the answers to the next `n` requests until `release()` is called on the handle.

        `await hold.arrived()` waits until all n requests are held: the moment to
        assert what "in flight" means for your code. Closing the server releases
        every hold; a held request also ends when its client gives up.

        Raises:
            ValueError: n not in 1-10000.
        """
        hold = Hold(check_count(n))
        self._faults.add(Fault("hold", hold=hold), n)
        self._holds.append(hold)
        return hold

    def clear(self) -> None:
        """Forget the recorded requests."""
        self._requests.clear()

    def reset(self) -> None:
        """Forget recorded requests, pending faults and the rate-limit window."""
        self._requests.clear()
        self._faults.clear()
        if self._rate_limit is not None:
            self._rate_limit.reset()

    # -- HTTP ------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        body = await request.read()
        self._requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                headers=CIMultiDictProxy(CIMultiDict(request.headers)),
                json=_rules.recorded_json(_content_type(request), request.charset, body),
                body=body,
            )
        )
        response = await self._respond(request, handler)
        response.headers["X-Request-Id"] = "req_" + secrets.token_hex(8)
        return response

    async def _respond(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        fault = self._faults.pop()
        if fault is not None:
            if fault.kind == "reset":
                return await _abort(request)
            if fault.kind == "fail":
                return _fault_response(fault)
            if fault.kind == "hold" and fault.hold is not None:
                await fault.hold.wait_for_release()
            else:
                with contextlib.suppress(asyncio.TimeoutError):  # not TimeoutError on 3.10
                    await asyncio.wait_for(self._closing.wait(), fault.seconds)
        if self._rate_limit is not None:
            wait = self._rate_limit.admit()
            if wait is not None:
                limit, window = self._rate_limit.limit, self._rate_limit.window
                response = _error(
                    429, f"rate limit exceeded: at most {limit} requests per {window:g} s"
                )
                response.headers[hdrs.RETRY_AFTER] = str(wait)
                return response
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
        return _json_response([_rules.region_json(region) for region in self.regions])

    async def _ice(self, request: web.Request) -> web.Response:
        try:
            body = await request.read()
            fields = _rules.ice_fields(_content_type(request), request.charset, body)
            ttl, region = _rules.choose_region(
                fields, request.headers.get(_rules.CLIENT_IP_HEADER), self.regions
            )
            expiry = _rules.expiry_of(self._clock(), ttl)
        except Refusal as refusal:
            return _error(refusal.status, refusal.message, field=refusal.field)
        answer = _rules.ice_answer(
            fields=fields,
            region=region,
            expiry=expiry,
            secret=self._turn_secret,
            turn_urls=self._turn_urls,
            stun_urls=self._stun_urls,
        )
        return _json_response(answer)


def _content_type(request: web.Request) -> str | None:
    """The request's media type, or None when it sent no Content-Type."""
    return request.content_type if hdrs.CONTENT_TYPE in request.headers else None


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


def _fault_response(fault: Fault) -> web.Response:
    response = web.Response(
        body=fault.body, status=fault.status, headers={hdrs.CONTENT_TYPE: fault.content_type}
    )
    if fault.retry_after is not None:
        response.headers[hdrs.RETRY_AFTER] = fault.retry_after
    return response


def _json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(payload).encode(),
        status=status,
        headers={hdrs.CONTENT_TYPE: "application/json"},
    )


def _error(status: int, message: str, *, field: str | None = None) -> web.Response:
    payload: dict[str, Any] = {"error": message}
    if status == 400 or field is not None:
        payload["field"] = field
    return _json_response(payload, status)

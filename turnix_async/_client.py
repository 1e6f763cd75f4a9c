"""`AsyncTurnix`: the client's lifecycle and the two endpoint methods."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import platform
import ssl as ssl_module
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import hdrs
from yarl import URL

from ._auth import BearerAuth
from ._convert import ice_request_body, parse_ice_credentials, parse_regions
from ._errors import ClientClosedError, ResponseValidationError, api_error
from ._models import IceCredentials, IceCredentialsRequest, Region
from ._retry import RetryPolicy, parse_retry_after, send
from ._tracing import redacting
from ._validate import check_int, check_seconds
from ._version import __version__

__all__ = ["DEFAULT_BASE_URL", "AsyncTurnix"]

DEFAULT_BASE_URL = "https://turnix.io/api/v1"
TOKEN_ENV = "TURNIX_API_TOKEN"
BASE_URL_ENV = "TURNIX_BASE_URL"

logger = logging.getLogger("turnix_async")

_USER_AGENT = (
    f"turnix-async/{__version__} aiohttp/{aiohttp.__version__} python/{platform.python_version()}"
)


class AsyncTurnix:
    """Async client for the Turnix API; owns one `aiohttp.ClientSession`.

    Use it as `async with AsyncTurnix() as turnix:` or call `await turnix.close()`
    yourself. Create one per application and share it: it pools connections.

    Args:
        api_token: the API token; defaults to env `TURNIX_API_TOKEN`.
        base_url: defaults to env `TURNIX_BASE_URL`, else `https://turnix.io/api/v1`.
            Must be https (plain http only for localhost, 127.0.0.0/8 and ::1).
        timeout: seconds for ONE attempt: connect, response and body, redirect hops included.
        max_retries: retries after the first attempt (connection errors, timeouts,
            408, 429, 500, 502, 503, 504).
        deadline: optional total seconds for one call, every attempt and wait included.
        ssl: an `ssl.SSLContext` to verify the server with (e.g. a corporate CA).
        proxy: an HTTP(S) proxy URL for every request.
        trace_configs: `aiohttp.TraceConfig`s for request tracing.
        backoff_base: the first backoff wait in seconds (doubles per retry, jittered).
        backoff_max: the longest backoff wait in seconds.
        retry_after_cap: a `Retry-After` longer than this is not waited: the call fails.
        max_response_size: bodies larger than this many bytes are refused.

    Raises:
        ValueError: a missing or malformed token, a non-https base URL, bad numbers.
    """

    def __init__(
        self,
        api_token: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 10.0,
        max_retries: int = 2,
        deadline: float | None = None,
        ssl: ssl_module.SSLContext | None = None,
        proxy: str | URL | None = None,
        trace_configs: list[aiohttp.TraceConfig] | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        retry_after_cap: float = 60.0,
        max_response_size: int = 1024 * 1024,
    ) -> None:
        token = _check_token(api_token)
        self._closing = asyncio.Event()  # wakes retry waits when the client closes
        if base_url is None:  # an empty TURNIX_BASE_URL counts as unset
            base_url = os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        self._base_url = _check_base_url(base_url)
        self._policy = RetryPolicy(
            max_retries=check_int("max_retries", max_retries, minimum=0),
            timeout=check_seconds("timeout", timeout),
            deadline=None if deadline is None else check_seconds("deadline", deadline),
            backoff_base=check_seconds("backoff_base", backoff_base, zero_ok=True),
            backoff_max=check_seconds("backoff_max", backoff_max, zero_ok=True),
            retry_after_cap=check_seconds("retry_after_cap", retry_after_cap, zero_ok=True),
            max_response_size=check_int("max_response_size", max_response_size, minimum=1),
        )
        if ssl is not None and not isinstance(ssl, ssl_module.SSLContext):
            raise ValueError("ssl must be an ssl.SSLContext (verification cannot be turned off)")
        self._ssl = ssl
        self._proxy = proxy
        self._trace_configs = trace_configs
        self._auth = BearerAuth(token, self._base_url)  # the only holder of the token
        self._ice_url = URL(f"{self._base_url}/credentials/ice")
        self._regions_url = URL(f"{self._base_url}/regions")
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._close_hooks: list[Callable[[], Awaitable[None]]] = []

    @property
    def base_url(self) -> str:
        """The API root every request goes to, without a trailing slash."""
        return str(self._base_url)

    @property
    def closed(self) -> bool:
        """True once `close()` was called."""
        return self._closed

    def __repr__(self) -> str:
        return f"AsyncTurnix(base_url={self.base_url!r}, closed={self._closed})"

    async def __aenter__(self) -> AsyncTurnix:
        self._open_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session (and stop helpers bound to it); safe to call more than once."""
        self._closed = True
        self._closing.set()
        hooks, self._close_hooks = self._close_hooks, []
        session, self._session = self._session, None
        try:
            for hook in hooks:
                try:
                    await hook()
                except Exception:  # one helper failing must not keep the session open
                    logger.exception("a close hook of AsyncTurnix failed")
        finally:  # also when close() itself is cancelled
            if session is not None:
                await session.close()

    async def get_ice_credentials(
        self,
        *,
        initiator_client: str | None = None,
        receiver_client: str | None = None,
        room: str | None = None,
        ttl: int | None = None,
        fixed_region: str | None = None,
        preferred_region: str | None = None,
        client_ip: str | None = None,
    ) -> IceCredentials:
        """Request short-lived ICE servers (STUN + TURN with credentials) for one peer.

        Every argument is optional. `client_ip` is the end user's IP (e.g. the browser
        that will use the credentials), so Turnix picks the region nearest to them.

        Raises:
            ValueError: an argument is invalid (nothing is sent).
            TurnixError: a subclass for each failure; see the error tree.
        """
        request = IceCredentialsRequest(
            initiator_client=initiator_client,
            receiver_client=receiver_client,
            room=room,
            ttl=ttl,
            fixed_region=fixed_region,
            preferred_region=preferred_region,
            client_ip=client_ip,
        )
        return await self.request_ice_credentials(request)

    async def request_ice_credentials(self, request: IceCredentialsRequest) -> IceCredentials:
        """`get_ice_credentials` for an already built (and validated) request struct."""
        headers = None if request.client_ip is None else {"X-TURN-CLIENT-IP": request.client_ip}
        # shim until the transport sends bytes: json= wants the dict
        session, payload = self._open_session(), json.loads(ice_request_body(request))
        response, body = await send(
            session, "POST", self._ice_url, payload, headers, self._policy, self._closing
        )
        ttl = min(request.ttl or 30, 100 * 365 * 86400)  # the API's default; no timedelta overflow
        fallback = datetime.now(timezone.utc) + timedelta(seconds=ttl)
        return parse_ice_credentials(self._checked(response, body), fallback)

    async def list_regions(self) -> list[Region]:
        """List the Turnix TURN regions with their online/operational state."""
        response, body = await send(
            self._open_session(), "GET", self._regions_url, None, None, self._policy, self._closing
        )
        return parse_regions(self._checked(response, body))

    def _add_close_hook(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` when the client closes (used by helpers such as the credentials cache)."""
        self._close_hooks.append(hook)

    def _open_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError("this AsyncTurnix client is closed")
        if self._session is not None and self._session_loop is not asyncio.get_running_loop():
            raise RuntimeError(
                "this AsyncTurnix client is bound to the event loop it first ran in;"
                " create one client per event loop (e.g. per asyncio.run())"
            )
        if self._session is None:
            self._session_loop = asyncio.get_running_loop()
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl or True),
                middlewares=(self._auth,),
                timeout=self._policy.attempt_timeout,
                trace_configs=redacting(self._trace_configs),
                proxy=self._proxy,
                headers={"User-Agent": _USER_AGENT, "Accept": "application/json"},
                json_serialize=lambda value: json.dumps(value, separators=(",", ":")),  # shim
            )
            # aiohttp silently resends a GET once on a dropped keep-alive connection;
            # the retry loop already does that, and counts it as an attempt
            self._session._retry_connection = False
        return self._session

    def _checked(self, response: aiohttp.ClientResponse, body: bytes) -> bytes:
        """The body of a 2xx JSON response; any other answer raises its TurnixError."""
        status = response.status
        if status < 200 or status >= 300:
            raise api_error(
                status,
                body,
                response.headers,
                retry_after=parse_retry_after(response.headers),
                secret=self._auth.token,
            )
        content_type = response.headers.get(hdrs.CONTENT_TYPE)  # absent: take it as JSON
        if content_type not in _JSON_TYPES and not _is_json(response.content_type):
            raise ResponseValidationError(
                f"expected a JSON response, got Content-Type {response.content_type!r}"
            )
        return body


_JSON_TYPES = frozenset({None, "application/json", "application/json; charset=utf-8"})


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def _check_token(token: Any) -> str:
    if token is None:
        token = os.environ.get(TOKEN_ENV)
        if not token:
            raise ValueError(
                f"no Turnix API token: pass api_token= or set the {TOKEN_ENV} environment variable"
            )
    if not isinstance(token, str) or not token:
        raise ValueError("api_token must be a non-empty string")
    if not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        raise ValueError(
            "api_token must not contain whitespace, control or non-ASCII characters"
            " (was it pasted with a newline?)"
        )
    return token


def _check_base_url(value: Any) -> URL:
    problem = "base_url must be an absolute https URL such as " + DEFAULT_BASE_URL
    try:
        url = URL(value) if isinstance(value, str) and value.isprintable() else None
    except (TypeError, ValueError):
        url = None
    if (
        url is None
        or any(c.isspace() for c in value)
        or url.scheme not in ("http", "https")
        or not url.host
    ):
        raise ValueError(f"{problem} (got {value!r})")
    if url.user or url.password or url.query_string or url.fragment:
        raise ValueError(f"{problem}, without credentials, query or fragment")
    if url.scheme == "http" and not _is_loopback(url.host):
        raise ValueError(
            "base_url must use https; plain http is allowed only for localhost,"
            f" 127.0.0.0/8 and ::1 (got {value!r})"
        )
    if url.explicit_port is not None and url.is_default_port():
        url = url.with_port(None)  # https://h:443 is https://h
    return url.with_path(url.path.rstrip("/"))


def _is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

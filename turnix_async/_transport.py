"""The wire: one `aiohttp.ClientSession`, bearer auth, ONE attempt, aiohttp -> TurnixError.

Everything aiohttp lives here. An attempt is one `session.request` (redirect hops
included) under aiohttp's own `total` timeout, then a capped read of the
*decoded* body; it returns a plain `Reply` or raises a `TurnixError` whose text
has been scrubbed of every secret. Nothing here retries or knows an endpoint.
"""

from __future__ import annotations

import asyncio
import math
import re
import ssl as ssl_module
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import aiohttp
from aiohttp import ClientResponse
from aiohttp.http_exceptions import ContentEncodingError
from yarl import URL

from ._auth import BearerAuth, Downgrade, DroppedConnection
from ._errors import (
    ClientClosedError,
    ResponseValidationError,
    TurnixAPIError,
    TurnixConnectionError,
    TurnixError,
    TurnixTimeoutError,
    closed_during_call,
)
from ._redact import Redactor
from ._tracing import redacting
from ._wire import Reply, Request

__all__ = ["AiohttpTransport", "check_proxy", "check_ssl", "check_trace_configs"]


class AiohttpTransport:
    """Sends one attempt over a lazily created, pooled `aiohttp.ClientSession`."""

    def __init__(
        self,
        *,
        auth: BearerAuth,
        redactor: Redactor,
        user_agent: str,
        max_connections: int,
        max_response_size: int,
        ssl: ssl_module.SSLContext | None = None,
        proxy: str | URL | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
    ) -> None:
        self._auth = auth
        self._redactor = redactor
        self._user_agent = user_agent
        self._max_connections = max_connections
        self._limit = max_response_size
        self._ssl = ssl
        self._proxy = proxy
        self._trace_configs = list(trace_configs) if trace_configs else None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"AiohttpTransport(max_connections={self._max_connections}, closed={self._closed})"

    async def send(self, request: Request, *, timeout: float) -> Reply:
        """One attempt: a `Reply` for any status, else a scrubbed `TurnixError`."""
        session = self._open()
        try:
            async with session.request(
                request.method,
                request.url,
                data=None if request.body is None else _json_payload(request.body),
                headers=request.headers or None,  # None: no per-request merge to pay for
                timeout=self._timeout(timeout),
            ) as response:
                return await self._reply(response)
        except TurnixError as exc:
            error = exc
        except asyncio.CancelledError:
            if self._closed and not _cancelled_by_caller():
                raise closed_during_call() from None
            raise
        except asyncio.TimeoutError:  # TimeoutError on 3.11+, not on 3.10
            error = (
                closed_during_call()
                if self._closed
                else TurnixTimeoutError(f"no complete response within {timeout:g} s")
            )
        except Exception as exc:
            error = self._failure(request, exc)
        # no chain: aiohttp's exceptions hold the request's headers and the proxy URL, password
        # included, and `from None` only hides them (`__context__` still refers to them)
        error.__cause__ = error.__context__ = None
        if sys.version_info < (3, 11):
            # 3.10 can leave aiohttp's exception marked "being handled" in this task until it
            # next yields (seen under pytest-asyncio): a raise before that takes it as context
            await asyncio.sleep(0)
        raise error

    def __del__(self, _warn: Any = warnings.warn) -> None:
        """Say which object was left open, and how to close it (not aiohttp's generic words)."""
        session = self._session
        if session is None or session.closed:
            return
        _warn(
            "an AsyncTurnix client was garbage-collected without being closed: use"
            " `async with AsyncTurnix() as turnix:` or `await turnix.close()` (e.g. in your"
            " app's shutdown or lifespan handler)",
            ResourceWarning,
            source=self,
        )
        session.detach()  # closed now: aiohttp's own "Unclosed client session" would repeat it

    async def close(self) -> None:
        """Close the session; later sends raise `ClientClosedError`."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError("this AsyncTurnix client is closed")
        loop = asyncio.get_running_loop()
        if self._session is None:
            self._loop = loop
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl or True, limit=self._max_connections),
                middlewares=(self._auth,),
                trace_configs=redacting(self._trace_configs),
                proxy=self._proxy,
                headers={"User-Agent": self._user_agent, "Accept": "application/json"},
            )
        elif self._loop is not loop:
            raise RuntimeError(
                "this AsyncTurnix client is bound to the event loop it first ran in;"
                " create one client per event loop (e.g. per asyncio.run())"
            )
        return self._session

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            # ceil_threshold=inf: aiohttp would otherwise round long timeouts up to a second
            timeout = aiohttp.ClientTimeout(total=seconds, ceil_threshold=math.inf)
            if len(self._timeouts) < 8:  # the usual one, not every deadline remainder
                self._timeouts[seconds] = timeout
        return timeout

    async def _reply(self, response: ClientResponse) -> Reply:
        """Read the decoded body, at most `max_response_size` bytes of it."""
        status = response.status
        success = 200 <= status < 300
        encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
        length = response.content_length  # of the encoded body, when it is encoded
        if success and not encoded and length is not None and length > self._limit:
            raise ResponseValidationError(
                f"response body exceeds the {self._limit} byte limit ({length} bytes announced)"
            )
        try:
            if not encoded and length is not None and length <= self._limit:
                body = await response.read()  # the usual answer: its size is known and allowed
            else:
                body = await self._read_capped(response, success)
        except aiohttp.ClientPayloadError as exc:
            if success and not _undecodable(exc):
                raise  # cut short: a bad connection, retried
            if success:  # a bad body, not a bad connection: never retried
                raise ResponseValidationError(
                    "response body could not be decoded (content-encoding"
                    f" {self._redactor.scrub(response.headers.get('Content-Encoding', ''))!r})"
                ) from None
            # undecodable or cut short: the status decides the error (a 401 is not retried);
            # the message does without the body
            body = b""
        return Reply(status, response.headers, body)

    async def _read_capped(self, response: ClientResponse, success: bool) -> bytes:
        """The decoded body chunk by chunk, so that no more than the limit is ever held."""
        body = bytearray()
        async for chunk in response.content.iter_any():
            body += chunk
            if len(body) > self._limit:
                if success:
                    raise ResponseValidationError(
                        f"response body exceeds the {self._limit} byte limit"
                    )
                response.close()  # an error's first bytes are enough for its message
                break
        return bytes(body[: self._limit])

    def _failure(self, request: Request, exc: Exception) -> TurnixError:
        """The `TurnixError` for an aiohttp (or OS) failure, its text scrubbed."""

        def scrub(text: str) -> str:  # a proxy's user name may be its key: no userinfo shown
            return self._redactor.scrub(_USERINFO.sub("//***@", text))

        if self._closed:
            return closed_during_call()
        if isinstance(exc, aiohttp.TooManyRedirects):
            return TurnixAPIError(
                f"redirected too many times ({len(exc.history)} hops)",
                status=exc.history[-1].status if exc.history else 0,
            )
        if isinstance(exc, Downgrade):
            return TurnixConnectionError(scrub(str(exc)), retryable=False)
        if isinstance(exc, aiohttp.ClientSSLError):
            return TurnixConnectionError(f"TLS failure: {scrub(str(exc))}", retryable=False)
        if _undecodable(exc):  # e.g. br without Brotli: refused before the status is known
            return TurnixConnectionError(
                f"the answer's content-encoding cannot be decoded: {scrub(str(exc))}",
                retryable=False,  # the next answer is encoded the same (a 401 is sent once)
            )
        described = str(exc) if isinstance(exc, DroppedConnection) else _described(exc)
        path = URL(request.url).path
        return TurnixConnectionError(f"{request.method} {path} failed: {scrub(described)}")


_USERINFO = re.compile(r"//[^/\s'\"@]*@")  # `user:password@` in a URL within a message


def _json_payload(body: bytes) -> aiohttp.BytesPayload:
    """The body as JSON: the payload declares its type, so no header is merged per request."""
    return aiohttp.BytesPayload(body, content_type="application/json")


def _described(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _undecodable(exc: BaseException | None) -> bool:
    """Was this payload error a Content-Encoding (gzip, br...) that cannot be decoded?"""
    while exc is not None:
        if isinstance(exc, ContentEncodingError) or "content-encoding" in str(exc).lower():
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _cancelled_by_caller() -> bool:
    """Did someone cancel the current task (not just an aiohttp future inside it)?"""
    task = asyncio.current_task()
    if task is None or sys.version_info < (3, 11):
        return True  # 3.10 cannot tell: a cancellation stays a cancellation
    return task.cancelling() > 0


def check_ssl(value: Any) -> ssl_module.SSLContext | None:
    """An SSLContext that verifies the chain AND the host name, else ValueError."""
    if value is None:
        return None
    if not isinstance(value, ssl_module.SSLContext):
        raise ValueError(f"ssl must be an ssl.SSLContext or None (got {type(value).__name__})")
    if value.verify_mode != ssl_module.CERT_REQUIRED or not value.check_hostname:
        raise ValueError(
            "ssl must verify the server: an SSLContext with verify_mode=CERT_REQUIRED and"
            " check_hostname=True, such as ssl.create_default_context(cafile=...);"
            " certificate verification cannot be turned off"
        )
    return value


def check_proxy(value: Any) -> URL | None:
    """An absolute http(s) proxy URL, else ValueError (its password is never shown)."""
    if value is None:
        return None
    problem = "proxy must be an http:// or https:// URL such as 'http://proxy.example:3128'"
    if not isinstance(value, (str, URL)):
        raise ValueError(f"{problem} (got {type(value).__name__})")
    try:
        url = URL(value)
    except (TypeError, ValueError):
        raise ValueError(problem) from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(problem)
    return url


def check_trace_configs(value: Any) -> list[aiohttp.TraceConfig] | None:
    """A list or tuple of `aiohttp.TraceConfig`, else ValueError."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(config, aiohttp.TraceConfig) for config in value
    ):
        raise ValueError("trace_configs must be a list of aiohttp.TraceConfig")
    return list(value)

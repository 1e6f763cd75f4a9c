"""Transport policy as aiohttp client middlewares: bearer auth (same origin only) and retry.

The retry middleware is also the one place where aiohttp's exceptions become
`TurnixConnectionError` / `TurnixTimeoutError`, and where the body is read, so that
the per-attempt timeout and the size limit cover it and a reset mid-body is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import re
import sys
import time
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Final

import aiohttp
import attrs
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse, hdrs
from aiohttp.http_exceptions import ContentEncodingError
from yarl import URL

from ._errors import (
    ClientClosedError,
    ResponseValidationError,
    TurnixConnectionError,
    TurnixTimeoutError,
)

if sys.version_info >= (3, 11):
    from asyncio import timeout as _timeout
else:  # pragma: no cover - aiohttp depends on async-timeout on Python 3.10
    from async_timeout import timeout as _timeout

__all__ = [
    "BearerAuth",
    "CappedResponse",
    "RetryMiddleware",
    "RetryPolicy",
    "call_deadline",
    "parse_retry_after",
]

logger = logging.getLogger("turnix_async")

RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
RETRY_AFTER_STATUSES: Final = frozenset({429, 503})  # where Retry-After means "wait"

call_deadline: ContextVar[float | None] = ContextVar("turnix_call_deadline", default=None)
"""The loop time by which the current API call must end (set by AsyncTurnix per call)."""


class BearerAuth:
    """Adds `Authorization: Bearer <token>` to requests for the API's own origin only.

    aiohttp runs middlewares again on every redirect hop, so a redirect to another
    origin is sent without the token.
    """

    __slots__ = ("_header", "_origin", "token")  # no __dict__: vars() cannot reveal it

    def __init__(self, token: str, api_url: URL) -> None:
        self.token = token
        self._header = f"Bearer {token}"
        self._origin = _origin(api_url)

    def __repr__(self) -> str:
        scheme, host, port = self._origin
        return f"BearerAuth(origin='{scheme}://{host}:{port}', token=***)"

    async def __call__(self, req: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        if _origin(req.url) != self._origin:
            req.headers.popall(hdrs.AUTHORIZATION, None)
            return await handler(req)
        req.headers[hdrs.AUTHORIZATION] = self._header
        try:
            return await handler(req)
        finally:  # so the token does not linger in response.request_info
            req.headers.popall(hdrs.AUTHORIZATION, None)


def _origin(url: URL) -> tuple[str, str | None, int | None]:
    """Scheme, host and effective port: `https://h` and `https://h:443` are one origin."""
    return url.scheme, url.host, url.port


class CappedResponse(ClientResponse):
    """A response whose body can be read with a size limit, without buffering more."""

    captured: bytes | None = None  # the body (at most `limit` bytes) once read_capped ran

    async def read_capped(self, limit: int) -> bool:
        """Read and keep at most `limit` bytes; False if the body was longer (then closed).

        An oversized error body still yields its first `limit` bytes (for the message);
        an oversized 2xx body is refused without reading it.
        """
        if self.captured is not None:
            return True
        length = self.content_length
        complete = length is None or length <= limit
        chunks = bytearray()
        if complete and length is not None:  # the usual case: one read of a known length
            self.captured = await self.content.readexactly(length) if length else b""
            return True
        if complete or not 200 <= self.status < 300:
            async for chunk in self.content.iter_any():
                chunks += chunk
                if len(chunks) > limit:
                    complete = False
                    break
        self.captured = bytes(chunks[:limit])
        if not complete:
            self.close()
        return complete


@attrs.frozen
class RetryPolicy:
    """How hard one call tries: attempts, per-attempt timeout, total deadline, waits."""

    max_retries: int = 2
    timeout: float = 10.0
    deadline: float | None = None
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    retry_after_cap: float = 60.0
    max_response_size: int = 1024 * 1024

    def backoff(self, retry: int) -> float:
        """Exponential backoff with jitter: base x 2^retry, capped, times 0.5-1.0."""
        delay: float = min(self.backoff_max, self.backoff_base * 2.0**retry)
        return delay * random.uniform(0.5, 1.0)


_DELTA_SECONDS = re.compile(r"\d+(\.\d+)?")


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP-date), else None."""
    value = headers.get(hdrs.RETRY_AFTER)
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):  # a huge value is simply too long to wait
        return float(value) if len(value) < 300 else math.inf
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None  # not a valid Retry-After: use our own backoff
    if moment.tzinfo is None:  # the asctime form: HTTP dates are always GMT
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, moment.timestamp() - time.time())


class RetryMiddleware:
    """Retries connection errors, timeouts and 408/429/500/502/503/504; reads the body.

    Returns the last response when it stops on a status (the client maps it to an
    error) and raises `TurnixConnectionError`/`TurnixTimeoutError` when it stops on
    a transport failure. 401/403 and other statuses are returned at once.
    """

    __slots__ = ("closed", "policy")

    def __init__(self, policy: RetryPolicy, closed: asyncio.Event) -> None:
        self.policy = policy
        self.closed = closed  # set by AsyncTurnix.close(): stop retrying, wake from backoff

    async def __call__(self, req: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        policy = self.policy
        loop = asyncio.get_running_loop()
        stop_at = call_deadline.get()  # one deadline per API call, across redirect hops
        retry = 0
        while True:
            budget = policy.timeout
            if stop_at is not None:
                budget = min(budget, stop_at - loop.time())
                if budget <= 0:
                    raise TurnixTimeoutError(f"deadline of {policy.deadline} s reached")
            failure: TurnixConnectionError | None = None
            retry_after: float | None = None
            try:
                async with _timeout(budget):
                    response = await handler(req)
                    try:
                        complete = await response.read_capped(policy.max_response_size)  # type: ignore[attr-defined]
                    except BaseException:
                        response.close()
                        raise
            except asyncio.TimeoutError as exc:  # TimeoutError on 3.11+, not on 3.10
                if stop_at is not None and budget < policy.timeout:
                    raise TurnixTimeoutError(
                        f"deadline of {policy.deadline} s reached during attempt {retry + 1}"
                    ) from None
                failure = TurnixTimeoutError(f"no complete response within {budget:g} s")
                failure.__cause__ = exc
            except aiohttp.ClientSSLError as exc:
                raise TurnixConnectionError(f"TLS failure: {exc}") from exc
            except aiohttp.ClientPayloadError as exc:
                if _undecodable(exc):  # a bad body, not a bad connection: never retried
                    raise ResponseValidationError(f"response body: {exc}") from exc
                failure = TurnixConnectionError(_describe(exc))
                failure.__cause__ = exc
            except (aiohttp.ClientConnectionError, asyncio.IncompleteReadError) as exc:
                failure = TurnixConnectionError(_describe(exc))
                failure.__cause__ = exc
            except aiohttp.ClientError as exc:
                raise TurnixConnectionError(_describe(exc)) from exc
            else:
                if not complete and 200 <= response.status < 300:
                    raise ResponseValidationError(
                        f"response body exceeds the {policy.max_response_size} byte limit"
                    )
                if response.status not in RETRY_STATUSES:
                    return response
                if response.status in RETRY_AFTER_STATUSES:
                    retry_after = parse_retry_after(response.headers)
                if retry_after is not None and (
                    retry_after > policy.retry_after_cap
                    or (stop_at is not None and loop.time() + retry_after > stop_at)
                ):
                    return response  # the API asks for more than we may wait
            if self.closed.is_set():
                raise ClientClosedError("the AsyncTurnix client was closed during the call")
            if retry >= policy.max_retries:
                if failure is not None:
                    raise failure
                return response
            wait = retry_after if retry_after is not None else policy.backoff(retry)
            reason = str(failure) if failure is not None else f"HTTP {response.status}"
            if stop_at is not None and loop.time() + wait >= stop_at:
                raise TurnixTimeoutError(
                    f"deadline of {policy.deadline} s reached after {retry + 1} attempts"
                    f" (last: {reason})"
                ) from failure
            retry += 1
            logger.info(
                "retrying %s %s in %.2f s (attempt %d of %d failed: %s)",
                req.method,
                req.url.path,
                wait,
                retry,
                policy.max_retries + 1,
                reason,
            )
            await self._backoff(wait)

    async def _backoff(self, wait: float) -> None:
        """Sleep `wait` seconds, or raise ClientClosedError as soon as the client closes."""
        if wait <= 0:
            await asyncio.sleep(0)
        else:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.closed.wait(), wait)
        if self.closed.is_set():
            raise ClientClosedError("the AsyncTurnix client was closed during the call")


def _undecodable(exc: BaseException) -> bool:
    """Was this payload error a Content-Encoding (gzip, br...) that cannot be decoded?"""
    while exc is not None:
        if isinstance(exc, ContentEncodingError) or "content-encoding" in str(exc).lower():
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

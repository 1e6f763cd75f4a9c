"""Transport policy as aiohttp client middlewares: bearer auth (same origin only) and retry.

The retry middleware is also the one place where aiohttp's exceptions become
`TurnixConnectionError` / `TurnixTimeoutError`, and where the body is read, so that
the per-attempt timeout and the size limit cover it and a reset mid-body is retried.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Final

import aiohttp
import attrs
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse, hdrs
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

__all__ = ["BearerAuth", "CappedResponse", "RetryMiddleware", "RetryPolicy", "parse_retry_after"]

logger = logging.getLogger("turnix_async")

RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})


class BearerAuth:
    """Adds `Authorization: Bearer <token>` to requests for the API's own origin only.

    aiohttp runs middlewares again on every redirect hop, so a redirect to another
    origin is sent without the token.
    """

    __slots__ = ("_header", "_origin", "token")  # no __dict__: vars() cannot reveal it

    def __init__(self, token: str, origin: URL) -> None:
        self.token = token
        self._header = f"Bearer {token}"
        self._origin = origin

    def __repr__(self) -> str:
        return f"BearerAuth(origin={str(self._origin)!r}, token=***)"

    async def __call__(self, req: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        if req.url.origin() != self._origin:
            req.headers.popall(hdrs.AUTHORIZATION, None)
            return await handler(req)
        req.headers[hdrs.AUTHORIZATION] = self._header
        try:
            return await handler(req)
        finally:  # so the token does not linger in response.request_info
            req.headers.popall(hdrs.AUTHORIZATION, None)


class CappedResponse(ClientResponse):
    """A response whose body can be read with a size limit, without buffering more."""

    async def read_capped(self, limit: int) -> bool:
        """Read and keep at most `limit` bytes; False if the body was longer (then closed)."""
        if self._body is not None:
            return True
        length = self.content_length
        complete = length is None or length <= limit
        chunks = bytearray()
        if complete:
            async for chunk in self.content.iter_any():
                chunks += chunk
                if len(chunks) > limit:
                    complete = False
                    break
        self._body = bytes(chunks[:limit])
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


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP-date), else None."""
    value = headers.get(hdrs.RETRY_AFTER)
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            return None
        seconds = moment.timestamp() - time.time()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN, inf
        return None
    return max(0.0, seconds)


class RetryMiddleware:
    """Retries connection errors, timeouts and 408/429/500/502/503/504; reads the body.

    Returns the last response when it stops on a status (the client maps it to an
    error) and raises `TurnixConnectionError`/`TurnixTimeoutError` when it stops on
    a transport failure. 401/403 and other statuses are returned at once.
    """

    __slots__ = ("is_closed", "policy")

    def __init__(self, policy: RetryPolicy, is_closed: Callable[[], bool]) -> None:
        self.policy = policy
        self.is_closed = is_closed  # a closed client stops retrying at once

    async def __call__(self, req: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        policy = self.policy
        loop = asyncio.get_running_loop()
        stop_at = None if policy.deadline is None else loop.time() + policy.deadline
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
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
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
                retry_after = parse_retry_after(response.headers)
                if retry_after is not None and (
                    retry_after > policy.retry_after_cap
                    or (stop_at is not None and loop.time() + retry_after > stop_at)
                ):
                    return response  # the API asks for more than we may wait
            if self.is_closed():
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
            await asyncio.sleep(wait)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

"""Retries: one API call as attempts with jittered backoff, each under its own timeout.

This is also the one place where aiohttp's exceptions become `TurnixConnectionError`
/ `TurnixTimeoutError`, and where the body is read, so that the per-attempt timeout
and the size limit cover it and a reset mid-body is retried.

Each attempt is one `session.request` (redirects included) with aiohttp's own
`total` timeout, which spans connecting, the headers and the body. That timer is
one `call_at` per attempt, the same one a bare aiohttp session pays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import re
import time
from collections.abc import Mapping
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Any, Final

import aiohttp
import attrs
from aiohttp import hdrs
from aiohttp.http_exceptions import ContentEncodingError
from yarl import URL

from ._errors import (
    ClientClosedError,
    ResponseValidationError,
    TurnixAPIError,
    TurnixConnectionError,
    TurnixTimeoutError,
)
from ._response import read_capped
from ._testing_switch import waits_are_skipped

__all__ = ["RetryPolicy", "parse_retry_after", "send"]

logger = logging.getLogger("turnix_async")

RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
RETRY_AFTER_STATUSES: Final = frozenset({429, 503})  # where Retry-After means "wait"


def _attempt_timeout(seconds: float) -> aiohttp.ClientTimeout:
    # ceil_threshold=inf: aiohttp would otherwise round long timeouts up to a whole second
    return aiohttp.ClientTimeout(total=seconds, ceil_threshold=math.inf)


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
    attempt_timeout: aiohttp.ClientTimeout = attrs.field(
        init=False,
        eq=False,
        repr=False,
        default=attrs.Factory(lambda self: _attempt_timeout(self.timeout), takes_self=True),
    )  # built once, passed to every attempt

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


async def send(
    session: aiohttp.ClientSession,
    method: str,
    url: URL,
    payload: dict[str, Any] | None,
    headers: Mapping[str, str] | None,
    policy: RetryPolicy,
    closed: asyncio.Event,
) -> tuple[aiohttp.ClientResponse, bytes]:
    """Send one API call, retrying per `policy`; returns the last response and its body.

    It returns when it stops on a status (the caller maps a non-2xx one to an error)
    and raises `TurnixConnectionError`/`TurnixTimeoutError` when it stops on a
    transport failure. 401/403 and other statuses are returned at once. `closed` is
    set when the client closes: retrying stops and a backoff wait ends at once.
    """
    loop = asyncio.get_running_loop()
    stop_at = None if policy.deadline is None else loop.time() + policy.deadline
    retry = 0
    while True:
        timeout = policy.attempt_timeout
        if stop_at is not None:  # one budget for the call: the last attempt gets what is left
            budget = stop_at - loop.time()
            if budget <= 0:
                raise TurnixTimeoutError(f"deadline of {policy.deadline} s reached")
            if budget < policy.timeout:
                timeout = _attempt_timeout(budget)
        failure: TurnixConnectionError | None = None
        retry_after: float | None = None
        try:
            async with session.request(
                method, url, json=payload, headers=headers, timeout=timeout
            ) as response:
                body, complete = await read_capped(response, policy.max_response_size)
        except asyncio.TimeoutError as exc:  # TimeoutError on 3.11+, not on 3.10
            if timeout is not policy.attempt_timeout:
                raise TurnixTimeoutError(
                    f"deadline of {policy.deadline} s reached during attempt {retry + 1}"
                ) from None
            failure = TurnixTimeoutError(f"no complete response within {policy.timeout:g} s")
            failure.__cause__ = exc
        except aiohttp.ClientSSLError as exc:
            raise TurnixConnectionError(f"TLS failure: {exc}") from exc
        except aiohttp.ClientPayloadError as exc:
            if _undecodable(exc):  # a bad body, not a bad connection: never retried
                raise ResponseValidationError(f"response body: {exc}") from exc
            failure = _connection_error(method, url, exc)
        except (aiohttp.ClientConnectionError, asyncio.IncompleteReadError) as exc:
            failure = _connection_error(method, url, exc)
        except aiohttp.TooManyRedirects as exc:
            raise TurnixAPIError(
                f"redirected too many times ({len(exc.history)} hops) from {url.path}",
                status=exc.history[-1].status if exc.history else 0,
            ) from exc
        except aiohttp.ClientError as exc:
            raise _connection_error(method, url, exc) from exc
        except RuntimeError as exc:
            if closed.is_set():  # the session was closed by another task mid-call
                raise ClientClosedError("this AsyncTurnix client was closed") from exc
            raise
        else:
            status = response.status
            if not complete and 200 <= status < 300:
                raise ResponseValidationError(
                    f"response body exceeds the {policy.max_response_size} byte limit"
                )
            if status not in RETRY_STATUSES:
                return response, body
            if status in RETRY_AFTER_STATUSES:
                retry_after = parse_retry_after(response.headers)
            if retry_after is not None and (
                retry_after > policy.retry_after_cap
                or (stop_at is not None and loop.time() + retry_after > stop_at)
            ):
                return response, body  # the API asks for more than we may wait
        if closed.is_set():
            raise ClientClosedError("the AsyncTurnix client was closed during the call")
        if retry >= policy.max_retries:
            if failure is not None:
                raise failure
            return response, body
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
            method,
            url.path,
            wait,
            retry,
            policy.max_retries + 1,
            reason,
        )
        await _backoff(wait, closed)


async def _backoff(wait: float, closed: asyncio.Event) -> None:
    """Sleep `wait` seconds, or raise ClientClosedError as soon as the client closes."""
    if waits_are_skipped():  # a test suite turned waiting off (testing.instant_retries)
        wait = 0
    if wait <= 0:
        await asyncio.sleep(0)
    else:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(closed.wait(), wait)
    if closed.is_set():
        raise ClientClosedError("the AsyncTurnix client was closed during the call")


def _undecodable(exc: BaseException) -> bool:
    """Was this payload error a Content-Encoding (gzip, br...) that cannot be decoded?"""
    while exc is not None:
        if isinstance(exc, ContentEncodingError) or "content-encoding" in str(exc).lower():
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def _connection_error(method: str, url: URL, exc: BaseException) -> TurnixConnectionError:
    """`POST /path failed: ClientOSError: ...`, chained to the aiohttp exception."""
    described = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    error = TurnixConnectionError(f"{method} {url.path} failed: {described}")
    error.__cause__ = exc
    return error

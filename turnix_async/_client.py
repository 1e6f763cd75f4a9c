"""`AsyncTurnix`: the client's lifecycle and the two endpoint methods."""

from __future__ import annotations

import asyncio
import copy
import enum
import logging
import ssl as ssl_module
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from functools import partial
from types import TracebackType
from typing import TypeVar

import aiohttp
import attrs
from yarl import URL

from ._auth import BearerAuth
from ._budget import RetryBudget
from ._closing import Closing
from ._config import (
    DEFAULT_BASE_URL,
    checked_policy,
    checked_transport,
    not_found_hint,
    proxy_secrets,
    resolve_base_url,
    resolve_token,
    user_agent,
)
from ._convert import ice_request_body, parse_ice_credentials, parse_regions
from ._errors import (
    ClientClosedError,
    RateLimitError,
    TurnixError,
    TurnixTimeoutError,
    checked_body,
    closed_during_call,
    sdk_class_name,
    shown_request_id,
)
from ._log import configure_from_env
from ._models import IceCredentials, IceCredentialsRequest, Region
from ._redact import Redactor
from ._retry import Verdict, decide, describe
from ._retry_after import parse_retry_after
from ._slots import Slots
from ._testing_switch import waits_are_skipped
from ._throttle import AdaptiveThrottle, ThrottleWaitExceeded
from ._transport import AiohttpTransport, check_proxy, check_ssl, check_trace_configs
from ._validate import check_int, check_seconds
from ._wire import Reply, Request, Transport
from .instrumentation._hooks import CANCELLED, CallRecord, Hook, HookRunner, ThrottleDetails

__all__ = ["DEFAULT_BASE_URL", "AsyncTurnix"]

logger = logging.getLogger("turnix_async")

_NO_HEADERS: dict[str, str] = {}  # bodies are JSON: the transport says so on every request
T = TypeVar("T")


class _Keep(enum.Enum):
    """`with_options` leaves an option as it is unless it is given."""

    KEEP = "keep"


_KEEP = _Keep.KEEP


class AsyncTurnix:
    """Async client for the Turnix API; owns one `aiohttp.ClientSession`.

    Use it as `async with AsyncTurnix() as turnix:` or call `await turnix.close()`
    yourself. Create one per application and share it: it pools connections.

    Args:
        api_token: the API token; defaults to env `TURNIX_API_TOKEN`.
        base_url: defaults to env `TURNIX_BASE_URL`, else `https://turnix.io/api/v1`.
            Must be https (plain http only for localhost, 127.0.0.0/8 and ::1).
        insecure_http: allow plain http to any host (logs a WARNING); for a private
            network you trust, never for the internet.
        timeout: seconds for ONE attempt: connect, response and body, redirect hops
            included; waiting for a free connection is not part of it.
        max_retries: retries after the first attempt (connection errors, timeouts,
            408, 429, 500, 502, 503, 504).
        deadline: optional total seconds for one call, every attempt and wait included.
        max_connections: attempts in flight at once (the connection pool's size).
        queue_timeout: seconds one call may wait in the client (for a free
            connection) in all; the deadline, when set and shorter, bounds it instead.
        ssl: an `ssl.SSLContext` that verifies the server (e.g. with a corporate CA).
        proxy: an HTTP(S) proxy URL for every request.
        trace_configs: `aiohttp.TraceConfig`s for request tracing.
        backoff_base: the first backoff wait in seconds (doubles per retry, jittered).
        backoff_max: the longest backoff wait in seconds.
        retry_after_cap: a `Retry-After` longer than this is not waited: the call fails.
        max_response_size: bodies larger than this many (decoded) bytes are refused.
        app_info: your integration, e.g. `"acme-signaling/2.3"`, appended to the
            User-Agent so Turnix support can tell integrations apart.
        hooks: observers of every call and retry (`turnix_async.instrumentation`:
            Prometheus, OpenTelemetry, logging, or your own); a hook that raises is
            logged once and never affects a call.
        transport: send attempts through this `Transport` instead of aiohttp (tests:
            `turnix_async.testing.MockTransport`); `ssl`, `proxy`, `trace_configs` and
            `max_response_size` then do not apply.

    Raises:
        ValueError: a missing or malformed token, a non-https base URL, bad arguments.
    """

    def __init__(
        self,
        api_token: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 10.0,
        max_retries: int = 2,
        deadline: float | None = None,
        max_connections: int = 100,
        queue_timeout: float = 30.0,
        ssl: ssl_module.SSLContext | None = None,
        proxy: str | URL | None = None,
        trace_configs: list[aiohttp.TraceConfig] | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        retry_after_cap: float = 60.0,
        max_response_size: int = 1024 * 1024,
        transport: Transport | None = None,
        insecure_http: bool = False,
        hooks: Sequence[Hook] | None = None,
        app_info: str | None = None,
    ) -> None:
        configure_from_env()  # TURNIX_LOG
        token = resolve_token(api_token)
        url = resolve_base_url(base_url, insecure_http=insecure_http)
        self._policy = checked_policy(
            max_retries=max_retries,
            timeout=timeout,
            deadline=deadline,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            retry_after_cap=retry_after_cap,
        )
        self._queue_timeout = check_seconds("queue_timeout", queue_timeout, zero_ok=True)
        connections = check_int("max_connections", max_connections, minimum=1)
        proxy_url = check_proxy(proxy)
        self._redactor = Redactor([token, *proxy_secrets(proxy_url)])
        # every argument is checked, also those a custom transport makes moot
        agent = user_agent(app_info)
        response_limit = check_int("max_response_size", max_response_size, minimum=1)
        ssl_context = check_ssl(ssl)
        traces = check_trace_configs(trace_configs)
        self._transport: Transport
        if transport is not None:
            self._transport = checked_transport(transport)
        else:
            self._transport = AiohttpTransport(
                auth=BearerAuth(token, url),  # the only holder of the token
                redactor=self._redactor,
                user_agent=agent,
                max_connections=connections,
                max_response_size=response_limit,
                ssl=ssl_context,
                proxy=proxy_url,
                trace_configs=traces,
            )
        self._hooks = HookRunner(hooks)
        self._slots = Slots(connections)
        self._throttle = AdaptiveThrottle(sleep=self._sleep, on_event=self._throttle_event)
        self._budget = RetryBudget()
        self._closing = Closing()  # shared with the views; wakes retry waits on close
        self._base_url = url
        self._ice_url = str(url / "credentials" / "ice")
        self._regions_url = str(url / "regions")
        self._not_found_hint = not_found_hint(url)

    @property
    def base_url(self) -> str:
        """The API root every request goes to, without a trailing slash."""
        return str(self._base_url)

    @property
    def closed(self) -> bool:
        """True once `close()` was called (on this client or any view of it)."""
        return self._closing.is_set

    @property
    def throttle_rate(self) -> float | None:
        """Requests per second this client allows itself, learnt from 429s; None: no limit."""
        return self._throttle.rate

    def __repr__(self) -> str:
        return f"AsyncTurnix(base_url={self.base_url!r}, closed={self.closed})"

    def with_options(
        self,
        *,
        timeout: float | _Keep = _KEEP,
        max_retries: int | _Keep = _KEEP,
        deadline: float | _Keep | None = _KEEP,
        queue_timeout: float | _Keep = _KEEP,
        backoff_base: float | _Keep = _KEEP,
        backoff_max: float | _Keep = _KEEP,
        retry_after_cap: float | _Keep = _KEEP,
    ) -> AsyncTurnix:
        """A light view of this client with other per-call options (openai's `with_options`).

        The view shares this client's session, pool and lifecycle; this client is
        unchanged. Use it for some calls, e.g. a tighter `deadline` inside a web
        request: `await turnix.with_options(deadline=2).get_ice_credentials()`.
        Closing either closes both.

        Raises:
            ValueError: an option is out of range (as in the constructor).
        """
        current = attrs.asdict(self._policy)
        changes = {
            "timeout": timeout,
            "max_retries": max_retries,
            "deadline": deadline,
            "backoff_base": backoff_base,
            "backoff_max": backoff_max,
            "retry_after_cap": retry_after_cap,
        }
        view = copy.copy(self)
        view._policy = checked_policy(
            **{name: current[name] if value is _KEEP else value for name, value in changes.items()}
        )
        if queue_timeout is not _KEEP:
            view._queue_timeout = check_seconds("queue_timeout", queue_timeout, zero_ok=True)
        return view

    async def __aenter__(self) -> AsyncTurnix:
        if self.closed:
            raise ClientClosedError("this AsyncTurnix client is closed")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session; calls in flight end with `ClientClosedError`. Idempotent."""
        self._closing.set()
        self._slots.close()
        await self._transport.close()

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
        headers = _NO_HEADERS if request.client_ip is None else _client_ip(request.client_ip)
        return await self._fetch(
            "ice_credentials",
            Request("POST", self._ice_url, ice_request_body(request), headers),
            partial(parse_ice_credentials, fallback_expires_at=partial(_expiry, request.ttl)),
        )

    async def list_regions(self) -> list[Region]:
        """List the Turnix TURN regions with their online/operational state."""
        return await self._fetch("regions", Request("GET", self._regions_url), parse_regions)

    async def _fetch(self, endpoint: str, request: Request, parse: Callable[[bytes], T]) -> T:
        """One API call: attempts, then the reply checked and parsed; hooks told how it went."""
        if not self._hooks:
            return parse(self._checked(await self._call(request, None)))
        record = CallRecord(endpoint, asyncio.get_running_loop().time())
        try:
            result = parse(self._checked(await self._call(request, record)))
        except TurnixError as exc:
            self._hooks.call(record.details(sdk_class_name(exc)))
            raise
        except asyncio.CancelledError:  # the caller gave up: a call still, that took its time
            self._hooks.call(record.details(CANCELLED))
            raise
        self._hooks.call(record.details("ok"))
        return result

    async def _call(self, request: Request, record: CallRecord | None) -> Reply:
        """Attempts until one is final: the last `Reply`, or the last error raised."""
        if self.closed:
            raise ClientClosedError("this AsyncTurnix client is closed")
        policy, loop = self._policy, asyncio.get_running_loop()
        started = loop.time()
        stop_at = None if policy.deadline is None else started + policy.deadline
        queue_left, attempt = self._queue_timeout, 0
        last: Reply | TurnixError | None = None  # what the previous attempt ended with
        while True:
            attempt += 1
            time_left = None if stop_at is None else stop_at - loop.time()
            if time_left is not None and time_left <= 0:
                raise self._out_of_time(f"before attempt {attempt}", last)
            wait_limit = queue_left if time_left is None else min(queue_left, time_left)
            outcome, waited = await self._attempt(
                request, attempt, wait_limit, stop_at, record, last
            )
            last = outcome
            queue_left -= waited
            pause = None  # what a 429 asked for
            if isinstance(outcome, Reply):  # the throttle learns the API's limit from answers
                if outcome.status == 429:
                    pause = parse_retry_after(outcome.headers)
                    self._throttle.on_throttled(pause)
                else:
                    self._throttle.on_success()
            if record is not None:
                record.attempted(outcome, waited, self._redactor)
            if isinstance(outcome, Reply) and 200 <= outcome.status < 300:
                return self._final(request, outcome, attempt)
            decision = decide(
                outcome,
                attempt,
                policy,
                time_left=None if stop_at is None else stop_at - loop.time(),
                now=time.time(),
            )
            if self.closed:
                raise closed_during_call()
            if decision.verdict is Verdict.STOP:
                return self._final(request, outcome, attempt)
            if decision.verdict is Verdict.OUT_OF_TIME:
                raise self._out_of_time(f"after {attempt} attempts", outcome)
            wait, sleep = decision.wait, decision.wait  # reported, and slept here
            held = self._throttle.rate is not None  # not after a stray 429: it changed nothing
            if isinstance(outcome, Reply) and outcome.status == 429 and held:
                # the throttle now holds every send for the Retry-After, and paces the retry
                wait, sleep = pause or 0.0, 0.0
            elif not self._budget.try_spend():  # the API is failing: do not multiply the load
                logger.debug("retry budget spent: not retrying %s", self._reason(outcome))
                return self._final(request, outcome, attempt)
            logger.info(
                "retrying %s %s in %.2f s (attempt %d of %d failed: %s)",
                request.method,
                URL(request.url).path,
                wait,
                attempt,
                policy.max_retries + 1,
                self._reason(outcome),
            )
            if record is not None:
                self._hooks.retry(record.retrying(attempt, wait, describe(outcome)))
            await self._wait(0.0 if waits_are_skipped() else sleep)

    def _final(self, request: Request, outcome: Reply | TurnixError, attempts: int) -> Reply:
        """The reply a call ends with (its error is raised), logged at DEBUG with its id."""
        if isinstance(outcome, TurnixError):
            raise outcome
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s: HTTP %d after %d attempt(s)%s",
                request.method,
                URL(request.url).path,
                outcome.status,
                attempts,
                self._request_id(outcome),
            )
        return outcome

    def _out_of_time(self, when: str, last: Reply | TurnixError | None) -> TurnixTimeoutError:
        """The deadline's error: when it struck, and how the attempt before it ended."""
        text = f"deadline of {self._policy.deadline:g} s reached {when}"
        error = TurnixTimeoutError(text if last is None else f"{text} (last: {self._reason(last)})")
        error.__cause__ = last if isinstance(last, TurnixError) else None
        error.__suppress_context__ = True  # the cut attempt's own timeout says nothing more
        return error

    def _reason(self, outcome: Reply | TurnixError) -> str:
        """`HTTP 503 (request id ...)` or the error's (already scrubbed) text."""
        if isinstance(outcome, Reply):
            return describe(outcome) + self._request_id(outcome)
        return str(outcome)

    def _request_id(self, reply: Reply) -> str:
        request_id = shown_request_id(reply, self._redactor)
        return "" if request_id is None else f" (request id {request_id})"

    async def _attempt(
        self,
        request: Request,
        attempt: int,
        wait_limit: float,
        stop_at: float | None,
        record: CallRecord | None,
        last: Reply | TurnixError | None,
    ) -> tuple[Reply | TurnixError, float]:
        """One attempt: a free connection, the rate limit's go, the send; and the time waited."""
        policy, loop = self._policy, asyncio.get_running_loop()
        # the usual case costs no await: a free connection, and no rate limit engaged
        waited = 0.0 if self._slots.try_acquire() else await self._slots.acquire(wait_limit)
        try:
            if self._throttle.rate is not None:
                waited += await self._throttled(wait_limit - waited)
            if attempt == 1:
                self._budget.record_request()
            timeout = policy.timeout
            if stop_at is not None:  # the last attempt gets what is left of the deadline
                timeout = min(timeout, stop_at - loop.time())
                if timeout <= 0:  # e.g. the loop was busy: and 0 or less is "no limit" below
                    raise self._out_of_time(f"before attempt {attempt}", last)
            if record is not None:  # requests sent: a call that only waited sent none
                record.attempts = attempt
            try:
                reply = await self._transport.send(request, timeout=timeout)
            except TurnixTimeoutError as exc:
                if timeout < policy.timeout:
                    raise self._out_of_time(f"during attempt {attempt}", last)  # noqa: B904 (it sets the cause)
                return exc, waited
            except TurnixError as exc:
                return exc, waited
            if not isinstance(reply, Reply):  # a custom transport's bug, said as such
                raise TypeError(
                    f"{type(self._transport).__name__}.send returned a"
                    f" {type(reply).__name__}, not a Reply"
                )
            return reply, waited
        finally:
            self._slots.release()

    def _checked(self, reply: Reply) -> bytes:
        return checked_body(reply, self._redactor, hint=self._not_found_hint)

    async def _throttled(self, wait_limit: float) -> float:
        """Wait for the client-wide rate limit (if a 429 engaged it); returns the wait."""
        if waits_are_skipped():  # instant_retries(): a Retry-After pause is a wait like others
            return 0.0
        pause, cap = self._throttle.pause_left(), self._policy.retry_after_cap
        if pause > cap:  # as for the call that got it: a Retry-After above the cap is not waited
            raise RateLimitError(
                f"client-side: the API asked for a {pause:.3g} s pause (Retry-After),"
                f" longer than retry_after_cap ({cap:g} s)",
                status=429,
                retry_after=pause,
            )
        try:
            return await self._throttle.acquire(wait_limit)
        except ThrottleWaitExceeded as exc:
            if self.closed:
                raise closed_during_call() from None
            raise RateLimitError(
                str(exc), status=429, retry_after=exc.needed - exc.waited
            ) from None

    async def _sleep(self, seconds: float) -> None:
        """The throttle's sleep: ends with ClientClosedError as soon as the client closes."""
        await self._wait(seconds)

    def _throttle_event(self, event: str, rate: float | None) -> None:
        if self._hooks:
            self._hooks.throttle(ThrottleDetails(event, rate, "HTTP 429"))

    async def _wait(self, seconds: float) -> None:
        """Sleep between attempts, or raise ClientClosedError as soon as the client closes."""
        if seconds > 0:
            await self._closing.sleep(seconds)
        if self.closed:
            raise closed_during_call()


_DEFAULT_TTL = 30  # seconds: the API's default lifetime when no ttl is requested
_LONGEST_TTL = 100 * 365 * 86400  # further out than this cannot matter (and cannot overflow)


def _client_ip(address: str) -> dict[str, str]:
    """The end user's IP, for the API's region choice (never in the body)."""
    return {"X-TURN-CLIENT-IP": address}


def _expiry(ttl: int | None) -> datetime:
    """When an answer has no `expiresAt`: now + the requested ttl (or the API's 30 s)."""
    return datetime.now(timezone.utc) + timedelta(seconds=min(ttl or _DEFAULT_TTL, _LONGEST_TTL))

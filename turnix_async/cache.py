"""`IceCredentialsCache`: share ICE credentials between callers, one request per key at a time.

A signaling service that hands every joining peer a configuration must not send
hundreds of identical requests when hundreds of peers join at once, and must never
hand out credentials that are about to expire. The cache keys on the validated
`IceCredentialsRequest` (every `get_ice_credentials` argument), serves credentials
while more than `min_validity` seconds are left, and runs at most one upstream
request per key ("single-flight").
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from ._errors import ClientClosedError
from ._models import IceCredentials, IceCredentialsRequest
from ._validate import check_seconds

if TYPE_CHECKING:
    from ._client import AsyncTurnix

__all__ = ["CacheStats", "IceCredentialsCache"]

logger: logging.Logger = logging.getLogger("turnix_async")

_NEVER = math.inf
# A failed background refresh is tried again this many seconds later, doubling after each
# consecutive failure up to the longest wait (1, 2, 4 ... 60 s), so a refused refresh
# (a revoked token, an outage) costs one request per wait, not one per get().
_FIRST_RETRY = 1.0
_LONGEST_RETRY = 60.0


@attrs.frozen
class CacheStats:
    """What an `IceCredentialsCache` did since it was created: counters, and its size now.

    Every `get()` that gets past validation on an open cache is exactly one of a hit,
    a miss or a join; the requests it sent are `misses + refreshes` (plus retries).
    """

    hits: int  # get() calls answered from the cache
    misses: int  # get() calls that started a request (nothing servable was cached)
    joins: int  # get() calls that shared a request already in flight
    refreshes: int  # background refreshes started (refresh-ahead)
    refresh_failures: int  # background refreshes that failed (then the key backs off)
    evictions: int  # keys dropped to stay within max_entries
    entries: int  # keys cached now (len(cache))


@attrs.define
class _Entry:
    """Cached credentials with their deadlines as Unix timestamps, computed once on arrival."""

    credentials: IceCredentials
    fresh_until: float  # served while clock() < fresh_until (time_left > min_validity)
    refresh_at: float  # with refresh-ahead, a get() from here on refreshes in the background
    retry_wait: float = 0.0  # the back-off after the last failed refresh (0: none failed)


class IceCredentialsCache:
    """Caches `get_ice_credentials` results per argument set, with single-flight fetching.

    Use one per application, next to its `AsyncTurnix`, when many peers ask for
    credentials at once: concurrent `get()`s for the same arguments share one
    request, and cached credentials are served while they have more than
    `min_validity` seconds left. The cache follows its client: once the client is
    closed, so is the cache (its requests in flight end with `ClientClosedError`).
    `await cache.close()` closes the cache alone. The client keeps no reference to
    its caches: a dropped cache is simply collected.

    Args:
        client: the `AsyncTurnix` that fetches the credentials.
        min_validity: seconds of validity a caller is guaranteed; credentials with
            less time left are never returned from the cache.
        max_entries: how many argument sets are kept; the least recently used is
            evicted first.
        refresh_ahead: when True, a `get()` that finds credentials within
            `refresh_window` seconds of the `min_validity` limit still returns them,
            and starts one background refresh for that key. A refresh that fails is
            tried again 1 s later, then 2, 4 ... up to 60 s apart.
        refresh_window: seconds before the `min_validity` limit at which refresh-ahead
            starts; default `max(min_validity, 20% of the credentials' lifetime)`.
            Never more than half the usable lifetime, so a refresh is not started
            on every call.
        clock: the current time in seconds since the Unix epoch (default `time.time`),
            compared with `IceCredentials.expires_at` (so "valid long enough" means
            exactly `time_left > min_validity`); it also times the refresh back-off.
            Tests pass a fake one to move time.

    Raises:
        ValueError: `min_validity`, `max_entries` or `refresh_window` is out of range.
    """

    def __init__(
        self,
        client: AsyncTurnix,
        *,
        min_validity: float = 10.0,
        max_entries: int = 1024,
        refresh_ahead: bool = False,
        refresh_window: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._min_validity = check_seconds("min_validity", min_validity, zero_ok=True)
        if type(max_entries) is not int or max_entries < 1:
            raise ValueError(f"max_entries must be an int >= 1 (got {max_entries!r})")
        self._max_entries = max_entries
        self._refresh_ahead = bool(refresh_ahead)
        self._refresh_window = (
            None if refresh_window is None else check_seconds("refresh_window", refresh_window)
        )
        self._clock = clock
        self._entries: OrderedDict[IceCredentialsRequest, _Entry] = OrderedDict()
        self._flights: dict[IceCredentialsRequest, asyncio.Task[IceCredentials]] = {}
        self._tasks: set[asyncio.Task[IceCredentials]] = set()
        self._closed = False  # by close(); a closed client closes the cache too
        self._hits = self._misses = self._joins = 0
        self._refreshes = self._refresh_failures = self._evictions = 0

    def __repr__(self) -> str:
        return (
            f"IceCredentialsCache(entries={len(self)}, max_entries={self._max_entries},"
            f" min_validity={self._min_validity}, refresh_ahead={self._refresh_ahead},"
            f" closed={self.closed})"
        )

    def __len__(self) -> int:
        """How many argument sets currently have credentials the cache can serve."""
        return 0 if self.closed else len(self._entries)

    @property
    def closed(self) -> bool:
        """True once the cache or its client was closed."""
        return self._closed or self._client.closed

    def stats(self) -> CacheStats:
        """A snapshot of the counters (see `CacheStats`), e.g. for a metrics endpoint."""
        return CacheStats(
            hits=self._hits,
            misses=self._misses,
            joins=self._joins,
            refreshes=self._refreshes,
            refresh_failures=self._refresh_failures,
            evictions=self._evictions,
            entries=len(self),
        )

    async def get(
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
        """Credentials for these arguments with more than `min_validity` seconds left.

        Takes the same keyword arguments as `AsyncTurnix.get_ice_credentials`. Serves
        the cached credentials when they are valid long enough, else joins the one
        request in flight for these arguments or starts it. Cancelling this call does
        not cancel that request: its result still fills the cache for the others.

        Raises:
            ValueError: an argument is invalid (nothing is cached or sent).
            ClientClosedError: the cache or its client is closed.
            TurnixError: the request failed (every caller sharing it gets the same
                exception; errors are not cached, the next call tries again).
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
        if self.closed:
            self._entries.clear()  # nothing is ever served again
            raise ClientClosedError("this IceCredentialsCache (or its client) is closed")
        entry = self._entries.get(request)
        if entry is not None:
            now = self._clock()
            if now < entry.fresh_until:
                self._hits += 1
                self._entries.move_to_end(request)
                if now >= entry.refresh_at and request not in self._flights:
                    self._refreshes += 1
                    self._start_flight(request, background=True)
                return entry.credentials
            del self._entries[request]  # too close to expiry: never served again
        flight = self._flights.get(request)
        if flight is None:
            self._misses += 1
            flight = self._start_flight(request, background=False)
        else:
            self._joins += 1
        waiter: asyncio.Future[IceCredentials] = asyncio.get_running_loop().create_future()
        flight.add_done_callback(functools.partial(_relay, waiter))
        return await waiter

    def invalidate(
        self,
        *,
        initiator_client: str | None = None,
        receiver_client: str | None = None,
        room: str | None = None,
        ttl: int | None = None,
        fixed_region: str | None = None,
        preferred_region: str | None = None,
        client_ip: str | None = None,
    ) -> bool:
        """Forget the credentials for these arguments; the next `get()` fetches new ones.

        Use it when credentials for a key must no longer be handed out (e.g. a room
        was closed). A request already in flight for the key still answers its
        current callers, but its result is not cached.

        Returns:
            True if credentials were cached for these arguments.

        Raises:
            ValueError: an argument is invalid.
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
        self._flights.pop(request, None)
        return self._entries.pop(request, None) is not None

    def clear(self) -> None:
        """Forget every cached credential (requests in flight are not cached either)."""
        self._entries.clear()
        self._flights.clear()

    async def close(self) -> None:
        """Stop all requests in flight and empty the cache; safe to call more than once.

        Not needed when the client closes: that ends the requests in flight itself.
        Callers waiting on a stopped request get `ClientClosedError`; later `get()`
        calls raise it too.
        """
        self._closed = True
        self.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _start_flight(
        self, request: IceCredentialsRequest, *, background: bool
    ) -> asyncio.Task[IceCredentials]:
        """Start the one request for this key; its task outlives any single caller."""
        task = asyncio.get_running_loop().create_task(self._client.request_ice_credentials(request))
        self._flights[request] = task
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._flight_done, request, background))
        return task

    def _flight_done(
        self,
        request: IceCredentialsRequest,
        background: bool,
        task: asyncio.Task[IceCredentials],
    ) -> None:
        """Cache a success (unless forgotten meanwhile); retrieve a failure, back off."""
        self._tasks.discard(task)
        current = self._flights.get(request) is task
        if current:
            del self._flights[request]
        if task.cancelled():
            return
        error = task.exception()  # always retrieved: no "exception was never retrieved"
        if not current or self.closed:  # forgotten, or ended by closing: nothing to do
            return
        if error is None:
            self._store(request, task.result())
        elif background:
            self._refresh_failures += 1
            self._back_off(request, error)

    def _back_off(self, request: IceCredentialsRequest, error: BaseException) -> None:
        """Push the next refresh of this key back (see _FIRST_RETRY); log the failure once."""
        entry = self._entries.get(request)
        if entry is None:  # too close to expiry: the callers that waited got the error
            return
        entry.retry_wait = min(_LONGEST_RETRY, 2 * entry.retry_wait or _FIRST_RETRY)
        entry.refresh_at = self._clock() + entry.retry_wait
        logger.warning(
            "background refresh of ICE credentials failed (%s: %s); serving the cached"
            " ones, next refresh in %g s",
            type(error).__name__,
            error,
            entry.retry_wait,
        )

    def _store(self, request: IceCredentialsRequest, credentials: IceCredentials) -> None:
        """Cache `credentials` with their deadlines; evict the least recently used key."""
        now = self._clock()
        expires = credentials.expires_at.timestamp()
        fresh_until = expires - self._min_validity
        if fresh_until <= now:
            return  # already too short-lived to serve from the cache
        refresh_at = _NEVER
        if self._refresh_ahead:
            window = self._refresh_window
            if window is None:
                window = max(self._min_validity, 0.2 * (expires - now))
            refresh_at = fresh_until - min(window, (fresh_until - now) / 2)
        self._entries[request] = _Entry(credentials, fresh_until, refresh_at)
        self._entries.move_to_end(request)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
            self._evictions += 1


def _relay(waiter: asyncio.Future[IceCredentials], flight: asyncio.Task[IceCredentials]) -> None:
    """Pass a flight's outcome to one waiting caller (unless that caller gave up)."""
    if waiter.done():  # the caller was cancelled
        return
    if flight.cancelled():
        waiter.set_exception(ClientClosedError("the IceCredentialsCache was closed"))
    elif (error := flight.exception()) is not None:
        waiter.set_exception(error)
    else:
        waiter.set_result(flight.result())

"""`IceCredentialsCache`: share ICE credentials between callers, one request per key at a time.

A signaling service that hands every joining peer a configuration must not send
hundreds of identical requests when hundreds of peers join at once, and must never
hand out credentials that are about to expire. The cache keys on the full set of
`get_ice_credentials` arguments, serves credentials while more than `min_validity`
seconds are left, and runs at most one upstream request per key ("single-flight").
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import attrs

from ._errors import ClientClosedError
from ._models import IceCredentials, IceCredentialsRequest
from ._validate import check_seconds

if TYPE_CHECKING:
    from ._client import AsyncTurnix

__all__ = ["IceCredentialsCache"]

logger: logging.Logger = logging.getLogger("turnix_async")

_NEVER = math.inf

# The arguments of get_ice_credentials, in order: a validated request's fields.
_Key = tuple[str | None, str | None, str | None, int | None, str | None, str | None, str | None]


@attrs.frozen
class _Entry:
    """Cached credentials with their deadlines as Unix timestamps, computed once on arrival."""

    request: IceCredentialsRequest  # what a background refresh sends
    credentials: IceCredentials
    fresh_until: float  # served while clock() < fresh_until (time_left > min_validity)
    refresh_at: float  # with refresh-ahead, a get() from here on refreshes in the background


class IceCredentialsCache:
    """Caches `get_ice_credentials` results per argument set, with single-flight fetching.

    Use one per application, next to its `AsyncTurnix`, when many peers ask for
    credentials at once: concurrent `get()`s for the same arguments share one
    request, and cached credentials are served while they have more than
    `min_validity` seconds left. Closing the client (or `await cache.close()`)
    stops the cache's background work.

    Args:
        client: the `AsyncTurnix` that fetches the credentials.
        min_validity: seconds of validity a caller is guaranteed; credentials with
            less time left are never returned from the cache.
        max_entries: how many argument sets are kept; the least recently used is
            evicted first.
        refresh_ahead: when True, a `get()` that finds credentials within
            `refresh_window` seconds of the `min_validity` limit still returns them,
            and starts one background refresh for that key.
        refresh_window: seconds before the `min_validity` limit at which refresh-ahead
            starts; default `max(min_validity, 20% of the credentials' lifetime)`.
            Never more than half the usable lifetime, so a refresh is not started
            on every call.
        clock: the current time in seconds since the Unix epoch (default `time.time`),
            compared with `IceCredentials.expires_at` (so "valid long enough" means
            exactly `time_left > min_validity`); tests pass a fake one to move time.

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
        self._entries: OrderedDict[_Key, _Entry] = OrderedDict()
        self._flights: dict[_Key, asyncio.Task[IceCredentials]] = {}
        self._tasks: set[asyncio.Task[IceCredentials]] = set()
        self._closed = client.closed
        client._add_close_hook(_close_hook(weakref.ref(self)))

    def __repr__(self) -> str:
        return (
            f"IceCredentialsCache(entries={len(self._entries)}, max_entries={self._max_entries},"
            f" min_validity={self._min_validity}, refresh_ahead={self._refresh_ahead},"
            f" closed={self._closed})"
        )

    def __len__(self) -> int:
        """How many argument sets currently have credentials in the cache."""
        return len(self._entries)

    @property
    def closed(self) -> bool:
        """True once the cache or its client was closed."""
        return self._closed

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
        key = (
            initiator_client,
            receiver_client,
            room,
            ttl,
            fixed_region,
            preferred_region,
            client_ip,
        )
        # The hit path skips validation: only validated keys are stored, and a value of
        # another type never equals a valid one - except int-likes (True, 300.0) for
        # ttl, which go to validation here, as do unhashable values. After close()
        # nothing is stored.
        try:
            entry = self._entries.get(key) if ttl is None or ttl.__class__ is int else None
        except TypeError:
            entry = None
        if entry is not None:
            now = self._clock()
            if now < entry.fresh_until:
                self._entries.move_to_end(key)
                if now >= entry.refresh_at and key not in self._flights:
                    self._start_flight(key, entry.request, background=True)
                return entry.credentials
            del self._entries[key]  # too close to expiry: never served again
        request = IceCredentialsRequest(
            initiator_client=initiator_client,
            receiver_client=receiver_client,
            room=room,
            ttl=ttl,
            fixed_region=fixed_region,
            preferred_region=preferred_region,
            client_ip=client_ip,
        )
        if self._closed:
            raise ClientClosedError("this IceCredentialsCache (or its client) is closed")
        flight = self._flights.get(key) or self._start_flight(key, request, background=False)
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
        IceCredentialsRequest(  # validates, like get()
            initiator_client=initiator_client,
            receiver_client=receiver_client,
            room=room,
            ttl=ttl,
            fixed_region=fixed_region,
            preferred_region=preferred_region,
            client_ip=client_ip,
        )
        key = (
            initiator_client,
            receiver_client,
            room,
            ttl,
            fixed_region,
            preferred_region,
            client_ip,
        )
        self._flights.pop(key, None)
        return self._entries.pop(key, None) is not None

    def clear(self) -> None:
        """Forget every cached credential (requests in flight are not cached either)."""
        self._entries.clear()
        self._flights.clear()

    async def close(self) -> None:
        """Stop all requests in flight and empty the cache; safe to call more than once.

        Called for you when the client closes. Callers waiting on a stopped request
        get `ClientClosedError`; later `get()` calls raise it too.
        """
        self._closed = True
        self.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _start_flight(
        self, key: _Key, request: IceCredentialsRequest, *, background: bool
    ) -> asyncio.Task[IceCredentials]:
        """Start the one request for `key`; its task outlives any single caller."""
        task = asyncio.get_running_loop().create_task(self._client.request_ice_credentials(request))
        self._flights[key] = task
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._flight_done, key, request, background))
        return task

    def _flight_done(
        self,
        key: _Key,
        request: IceCredentialsRequest,
        background: bool,
        task: asyncio.Task[IceCredentials],
    ) -> None:
        """Cache a success (unless invalidated meanwhile); retrieve and log a failure."""
        self._tasks.discard(task)
        current = self._flights.get(key) is task
        if current:
            del self._flights[key]
        if task.cancelled():
            return
        error = task.exception()  # always retrieved: no "exception was never retrieved"
        if error is None:
            if current and not self._closed:
                self._store(key, request, task.result())
        elif background and not self._closed:
            logger.warning(
                "background refresh of ICE credentials failed (%s: %s); serving the cached"
                " ones and retrying on the next get()",
                type(error).__name__,
                error,
            )

    def _store(
        self, key: _Key, request: IceCredentialsRequest, credentials: IceCredentials
    ) -> None:
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
        self._entries[key] = _Entry(request, credentials, fresh_until, refresh_at)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


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


def _close_hook(ref: weakref.ref[IceCredentialsCache]) -> Callable[[], Awaitable[None]]:
    """A client close hook that does not keep the cache alive."""

    async def hook() -> None:
        cache = ref()
        if cache is not None:
            await cache.close()

    return hook

"""IceCredentialsCache: keys, expiry, single-flight, errors, cancellation, LRU, refresh, close.

The upstream is a real aiohttp server on 127.0.0.1 (the `loopback` fixture) whose
credentials endpoint mints `expiresAt` from a fake clock that the cache reads too,
so tests move time with `clock.advance()`. "In flight" windows are an asyncio.Event
that holds the answers (`upstream.hold()` ... `upstream.release()`): nothing sleeps.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import time
import tracemalloc
import weakref
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from aiohttp import web

from tests.loopback import ICE_BODY, TOKEN, ClientFactory, ScriptedServer
from turnix_async import (
    AsyncTurnix,
    AuthenticationError,
    BadRequestError,
    CacheStats,
    ClientClosedError,
    IceCredentials,
    IceCredentialsCache,
)

ICE_PATH = "/api/v1/credentials/ice"


class FakeClock:
    """A settable stand-in for `time.time`, shared by the cache and the upstream."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Upstream:
    """The credentials endpoint: answers `ttl` seconds from the fake clock, or a failure.

    While held, requests arrive (and are counted) but are answered only on release.
    """

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.received = 0
        self.failures: list[int] = []  # statuses of the next answers; then 200
        self._gate = asyncio.Event()
        self._gate.set()
        self._arrival = asyncio.Condition()

    def hold(self) -> None:
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def fail_next(self, *statuses: int) -> None:
        self.failures.extend(statuses)

    async def arrived(self, n: int) -> None:
        """Wait until `n` requests have reached the server."""
        async with self._arrival:
            await asyncio.wait_for(self._arrival.wait_for(lambda: self.received >= n), 5)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        fields = await request.json()
        async with self._arrival:
            self.received += 1
            self._arrival.notify_all()
        await self._gate.wait()
        if self.failures:
            status = self.failures.pop(0)  # the token in the body must never reach a log
            return web.json_response({"error": f"refused token {TOKEN}"}, status=status)
        expires = datetime.fromtimestamp(self.clock.now + fields.get("ttl", 30), timezone.utc)
        return web.json_response(
            {"iceServers": ICE_BODY["iceServers"], "expiresAt": expires.isoformat()}
        )


def flights() -> list[asyncio.Task[Any]]:
    """The cache's request tasks still alive in this loop."""
    return [
        task
        for task in asyncio.all_tasks()
        if "request_ice_credentials" in getattr(task.get_coro(), "__qualname__", "")
    ]


async def settle() -> None:
    """Wait until every request task has finished (and its callbacks ran)."""
    await asyncio.gather(*flights(), return_exceptions=True)
    await asyncio.sleep(0)


def left(credentials: IceCredentials, clock: FakeClock) -> float:
    """Seconds of validity left on the fake clock (what `time_left` would say)."""
    return credentials.expires_at.timestamp() - clock.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def upstream(loopback: ScriptedServer, clock: FakeClock) -> AsyncIterator[Upstream]:
    upstream = Upstream(clock)
    loopback.script(ICE_PATH, upstream.handle)
    yield upstream
    upstream.release()  # no handler left waiting when the server stops


@pytest.fixture
def client(make_client: ClientFactory, upstream: Upstream) -> AsyncTurnix:
    return make_client()


MakeCache = Callable[..., IceCredentialsCache]


@pytest.fixture
def make_cache(client: AsyncTurnix, clock: FakeClock) -> MakeCache:
    def factory(**options: Any) -> IceCredentialsCache:
        options.setdefault("clock", clock)
        return IceCredentialsCache(client, **options)

    return factory


# --- the API surface -------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "invalidate"])
def test_takes_exactly_the_arguments_of_get_ice_credentials(method: str) -> None:
    expected = inspect.signature(AsyncTurnix.get_ice_credentials).parameters
    actual = inspect.signature(getattr(IceCredentialsCache, method)).parameters
    assert list(actual) == list(expected)
    for name, parameter in actual.items():
        assert parameter.kind == expected[name].kind
        assert parameter.default == expected[name].default


@pytest.mark.parametrize(
    "options",
    [
        {"min_validity": -1},
        {"min_validity": float("nan")},
        {"max_entries": 0},
        {"max_entries": True},
        {"refresh_window": 0},
    ],
)
def test_rejects_bad_options(client: AsyncTurnix, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(options))):
        IceCredentialsCache(client, **options)


# --- hits, keys, expiry ----------------------------------------------------------


async def test_every_argument_is_part_of_the_key(
    make_cache: MakeCache, upstream: Upstream, loopback: ScriptedServer
) -> None:
    cache = make_cache()
    variants: list[dict[str, Any]] = [
        {},
        {"initiator_client": "alice"},
        {"receiver_client": "bob"},
        {"room": "lobby"},
        {"ttl": 120},
        {"fixed_region": "eu-central"},
        {"preferred_region": "us-east"},
        {"client_ip": "203.0.113.7"},
        {"client_ip": "203.0.113.8"},
        {"room": "lobby", "ttl": 120},
    ]
    results = [await cache.get(**kwargs) for kwargs in variants]
    assert len({id(result) for result in results}) == len(variants)
    assert len(cache) == len(variants)
    for kwargs, result in zip(variants, results, strict=True):
        assert await cache.get(**kwargs) is result
    assert upstream.received == len(variants)
    sent_ips = [headers.get("X-TURN-CLIENT-IP") for _, _, headers, _ in loopback.seen]
    assert sent_ips.count("203.0.113.7") == sent_ips.count("203.0.113.8") == 1


@pytest.mark.parametrize("min_validity", [10.0, 0.0])
async def test_served_only_while_time_left_exceeds_min_validity(
    make_cache: MakeCache, upstream: Upstream, clock: FakeClock, min_validity: float
) -> None:
    cache = make_cache(min_validity=min_validity)
    first = await cache.get(ttl=60)
    clock.advance(left(first, clock) - min_validity - 0.01)
    assert await cache.get(ttl=60) is first
    clock.now = first.expires_at.timestamp() - min_validity  # exactly min_validity left
    second = await cache.get(ttl=60)
    assert second is not first
    assert await cache.get(ttl=60) is second
    assert upstream.received == 2


async def test_wall_clock_by_default(
    client: AsyncTurnix, upstream: Upstream, clock: FakeClock
) -> None:
    cache = IceCredentialsCache(client, min_validity=10.0)
    fresh = await cache.get(ttl=300)
    assert await cache.get(ttl=300) is fresh
    clock.advance(-1000)  # the upstream now answers credentials that expired 700 s ago
    expired = await cache.get(ttl=301)
    assert await cache.get(ttl=301) is not expired
    assert upstream.received == 3


async def test_credentials_shorter_than_min_validity_are_not_cached(
    make_cache: MakeCache, upstream: Upstream
) -> None:
    cache = make_cache(min_validity=10.0)
    first = await cache.get(ttl=5)  # returned (the freshest there is), but never cached
    assert await cache.get(ttl=5) is not first
    assert upstream.received == 2
    assert len(cache) == 0


# --- single-flight ---------------------------------------------------------------


async def test_concurrent_callers_share_one_request(
    make_cache: MakeCache, upstream: Upstream
) -> None:
    cache = make_cache()
    upstream.hold()
    early = [asyncio.create_task(cache.get(room="webinar", ttl=300)) for _ in range(500)]
    await upstream.arrived(1)
    late = [asyncio.create_task(cache.get(room="webinar", ttl=300)) for _ in range(500)]
    await asyncio.sleep(0)  # the late callers are waiting too
    upstream.release()
    results = await asyncio.gather(*early, *late)
    assert all(result is results[0] for result in results)
    assert await cache.get(room="webinar", ttl=300) is results[0]
    assert upstream.received == 1


async def test_concurrent_callers_with_different_keys_do_not_share(
    make_cache: MakeCache, upstream: Upstream
) -> None:
    cache = make_cache()
    upstream.hold()
    callers_a = [asyncio.create_task(cache.get(room="a")) for _ in range(10)]
    callers_b = [asyncio.create_task(cache.get(room="b")) for _ in range(10)]
    await upstream.arrived(2)
    upstream.release()
    results_a, results_b = await asyncio.gather(*callers_a), await asyncio.gather(*callers_b)
    assert all(result is results_a[0] for result in results_a)
    assert all(result is results_b[0] for result in results_b)
    assert results_a[0] is not results_b[0]
    assert upstream.received == 2


async def test_a_failure_reaches_every_sharing_caller_and_is_not_cached(
    make_cache: MakeCache, upstream: Upstream
) -> None:
    cache = make_cache()
    upstream.fail_next(400)
    outcomes = await asyncio.gather(
        *(cache.get(room="lobby") for _ in range(50)), return_exceptions=True
    )
    assert isinstance(outcomes[0], BadRequestError)
    assert all(outcome is outcomes[0] for outcome in outcomes)
    assert len(cache) == 0
    credentials = await cache.get(room="lobby")  # the next call tries again
    assert await cache.get(room="lobby") is credentials
    assert upstream.received == 2


async def test_retries_happen_inside_the_one_flight(
    make_cache: MakeCache, upstream: Upstream
) -> None:
    cache = make_cache()
    upstream.fail_next(503, 503)  # the client retries twice by default
    results = await asyncio.gather(*(cache.get(room="lobby") for _ in range(20)))
    assert all(result is results[0] for result in results)
    assert upstream.received == 3


# --- cancellation ----------------------------------------------------------------


async def test_cancelling_one_caller_does_not_cancel_the_others(
    make_cache: MakeCache, upstream: Upstream
) -> None:
    cache = make_cache()
    upstream.hold()
    quitter = asyncio.create_task(cache.get(room="lobby"))
    stayers = [asyncio.create_task(cache.get(room="lobby")) for _ in range(5)]
    await upstream.arrived(1)
    quitter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await quitter
    upstream.release()
    results = await asyncio.gather(*stayers)
    assert all(result is results[0] for result in results)
    assert upstream.received == 1


async def test_flight_whose_callers_all_left_still_fills_the_cache(
    make_cache: MakeCache, upstream: Upstream
) -> None:
    cache = make_cache()
    upstream.hold()
    callers = [asyncio.create_task(cache.get(room="lobby")) for _ in range(3)]
    await upstream.arrived(1)
    for caller in callers:
        caller.cancel()
    await asyncio.gather(*callers, return_exceptions=True)
    upstream.release()
    await settle()
    assert not flights()  # no orphaned task
    assert len(cache) == 1
    await cache.get(room="lobby")
    assert upstream.received == 1


async def test_failed_flight_without_callers_reports_nothing(
    make_cache: MakeCache, upstream: Upstream
) -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    try:
        cache = make_cache()
        upstream.fail_next(400)
        caller = asyncio.create_task(cache.get(room="lobby"))
        await asyncio.sleep(0)  # the caller starts the flight and waits on it
        caller.cancel()
        await asyncio.gather(caller, return_exceptions=True)
        await settle()
        del caller
        gc.collect()
        await asyncio.sleep(0)
        assert reported == []  # no "Task exception was never retrieved"
        assert len(cache) == 0
        await cache.get(room="lobby")  # the failure was not cached
        assert upstream.received == 2
    finally:
        loop.set_exception_handler(None)


# --- bounds, clear, invalidate ---------------------------------------------------


async def test_least_recently_used_key_is_evicted(
    make_cache: MakeCache, upstream: Upstream
) -> None:
    cache = make_cache(max_entries=2)
    a = await cache.get(room="a")
    await cache.get(room="b")
    assert await cache.get(room="a") is a  # a is now more recent than b
    await cache.get(room="c")  # evicts b
    assert len(cache) == 2
    assert await cache.get(room="a") is a
    await cache.get(room="b")
    assert upstream.received == 4  # b was fetched again


async def test_invalidate_forgets_one_key_and_clear_all(
    make_cache: MakeCache, upstream: Upstream
) -> None:
    cache = make_cache()
    a = await cache.get(room="a", client_ip="192.0.2.1")
    b = await cache.get(room="b")
    assert cache.invalidate(room="a") is False  # another key: client_ip differs
    assert cache.invalidate(room="a", client_ip="192.0.2.1") is True
    assert cache.invalidate(room="a", client_ip="192.0.2.1") is False
    assert len(cache) == 1
    assert await cache.get(room="b") is b
    assert await cache.get(room="a", client_ip="192.0.2.1") is not a
    cache.clear()
    assert len(cache) == 0
    assert await cache.get(room="b") is not b
    assert upstream.received == 4


@pytest.mark.parametrize(
    "forget",
    [lambda cache: cache.invalidate(room="a"), lambda cache: cache.clear()],
    ids=["invalidate", "clear"],
)
async def test_forgetting_during_a_flight_keeps_its_result_out(
    make_cache: MakeCache, upstream: Upstream, forget: Callable[[IceCredentialsCache], Any]
) -> None:
    cache = make_cache()
    upstream.hold()
    early = asyncio.create_task(cache.get(room="a"))
    await upstream.arrived(1)
    forget(cache)
    late = asyncio.create_task(cache.get(room="a"))  # must not join the forgotten flight
    await upstream.arrived(2)
    upstream.release()
    early_result, late_result = await early, await late  # each answers its own callers...
    await settle()
    assert early_result is not late_result
    assert await cache.get(room="a") is late_result  # ...the forgotten one is not cached
    assert upstream.received == 2


# --- bad arguments ---------------------------------------------------------------

BAD_ARGUMENTS: list[dict[str, Any]] = [
    {"room": "has space"},
    {"initiator_client": "a/b"},
    {"receiver_client": 42},
    {"ttl": 0},
    {"fixed_region": ""},
    {"client_ip": "999.1.1.1"},
    {"room": ["lobby"]},  # unhashable: still a ValueError
]


@pytest.mark.parametrize("kwargs", BAD_ARGUMENTS)
async def test_bad_arguments_raise_like_get_ice_credentials(
    make_cache: MakeCache, client: AsyncTurnix, upstream: Upstream, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ValueError) as direct:
        await client.get_ice_credentials(**kwargs)
    cache = make_cache()
    with pytest.raises(ValueError) as cached:
        await cache.get(**kwargs)
    assert str(cached.value) == str(direct.value)
    with pytest.raises(ValueError) as invalidated:
        cache.invalidate(**kwargs)
    assert str(invalidated.value) == str(direct.value)
    assert upstream.received == 0
    assert not flights()


class IntLike(int):
    pass


@pytest.mark.parametrize(
    ("cached", "bad"),
    [(1, True), (300, 300.0), (300, IntLike(300))],
    ids=["bool", "float", "int-subclass"],
)
async def test_bad_ttl_equal_to_a_cached_one_is_still_rejected(
    make_cache: MakeCache, upstream: Upstream, cached: int, bad: Any
) -> None:
    cache = make_cache(min_validity=0.5)
    await cache.get(room="lobby", ttl=cached)
    assert bad == cached
    with pytest.raises(ValueError, match="ttl"):
        await cache.get(room="lobby", ttl=bad)
    assert upstream.received == 1


# --- refresh-ahead ---------------------------------------------------------------


async def test_no_refresh_ahead_by_default(
    make_cache: MakeCache, upstream: Upstream, clock: FakeClock
) -> None:
    cache = make_cache(min_validity=10.0)
    first = await cache.get(ttl=300)
    clock.advance(280)  # 20 s left: deep in what would be the window
    assert await cache.get(ttl=300) is first
    await settle()
    assert upstream.received == 1


async def test_refresh_ahead_serves_cached_and_refreshes_in_background(
    make_cache: MakeCache, upstream: Upstream, clock: FakeClock
) -> None:
    # ttl 300, min_validity 10: the window is max(10, 20% of 300) = 60 s before the
    # 10 s limit, so refreshing starts once 70 s or less are left.
    cache = make_cache(min_validity=10.0, refresh_ahead=True)
    first = await cache.get(room="hot", ttl=300)
    clock.advance(left(first, clock) - 70.5)
    assert await cache.get(room="hot", ttl=300) is first
    await settle()
    assert upstream.received == 1  # not yet in the window
    upstream.hold()
    clock.advance(1.0)  # 69.5 s left: in the window
    assert await cache.get(room="hot", ttl=300) is first
    await upstream.arrived(2)
    for _ in range(100):  # callers keep the still-valid credentials; one refresh only
        assert await cache.get(room="hot", ttl=300) is first
    upstream.release()
    await settle()
    second = await cache.get(room="hot", ttl=300)
    assert second is not first
    assert left(second, clock) > 299  # fetched at the new time
    await settle()
    assert upstream.received == 2  # the new credentials are out of the window


async def test_refresh_window_can_be_set(
    make_cache: MakeCache, upstream: Upstream, clock: FakeClock
) -> None:
    cache = make_cache(min_validity=10.0, refresh_ahead=True, refresh_window=5.0)
    first = await cache.get(ttl=300)
    clock.advance(left(first, clock) - 15.5)  # outside the 5 s window before the 10 s limit
    await cache.get(ttl=300)
    await settle()
    assert upstream.received == 1
    clock.advance(1.0)  # inside
    assert await cache.get(ttl=300) is first
    await settle()
    assert upstream.received == 2


async def test_refresh_window_is_at_most_half_the_usable_lifetime(
    make_cache: MakeCache, upstream: Upstream, clock: FakeClock
) -> None:
    # ttl 20, min_validity 10: usable 10 s; the window is capped to half of that
    # (5 s) instead of 10 s, so not every get() starts a refresh.
    cache = make_cache(min_validity=10.0, refresh_ahead=True)
    first = await cache.get(ttl=20)
    clock.advance(4.9)
    assert await cache.get(ttl=20) is first
    await settle()
    assert upstream.received == 1
    clock.advance(0.2)
    assert await cache.get(ttl=20) is first
    await settle()
    assert upstream.received == 2


async def test_background_refresh_failure_is_logged_not_raised(
    make_cache: MakeCache,
    upstream: Upstream,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="turnix_async")
    cache = make_cache(min_validity=10.0, refresh_ahead=True)
    first = await cache.get(ttl=300)
    clock.advance(250)
    upstream.fail_next(503, 503, 503)
    assert await cache.get(ttl=300) is first  # the caller is not affected
    await settle()
    assert upstream.received == 4  # 1 + the refresh's 3 attempts
    failures = [r for r in caplog.records if "background refresh" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].levelno == logging.WARNING
    assert "ServerError" in failures[0].getMessage()
    assert TOKEN not in caplog.text
    assert await cache.get(ttl=300) is first  # still valid


async def test_failing_refresh_backs_off_exponentially(
    make_cache: MakeCache,
    upstream: Upstream,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="turnix_async")
    cache = make_cache(min_validity=10.0, refresh_ahead=True)
    first = await cache.get(ttl=300)
    clock.advance(240)  # in the refresh window, 50 s before the credentials stop being served
    upstream.fail_next(*[401] * 100)  # e.g. a revoked token: every refresh fails

    async def hammer() -> int:
        """Many hits, each one after the previous refresh ended; requests they caused."""
        before = upstream.received
        for _ in range(50):
            assert await cache.get(ttl=300) is first
            await settle()
        return upstream.received - before

    assert await hammer() == 1
    for wait in (1.0, 2.0, 4.0, 8.0):  # the schedule, after each failure
        clock.advance(wait - 0.01)
        assert await hammer() == 0
        clock.advance(0.01)
        assert await hammer() == 1
    warnings = [r.getMessage() for r in caplog.records if "background refresh" in r.getMessage()]
    assert len(warnings) == 5  # one per failed refresh, not one per hit
    assert "next refresh in 16 s" in warnings[-1]
    upstream.failures.clear()
    clock.advance(16.0)
    assert await cache.get(ttl=300) is first
    await settle()
    assert await cache.get(ttl=300) is not first  # the refresh succeeded at last
    assert upstream.received == 7


async def test_stale_caller_joins_the_background_refresh(
    make_cache: MakeCache, upstream: Upstream, clock: FakeClock
) -> None:
    cache = make_cache(min_validity=10.0, refresh_ahead=True)
    first = await cache.get(ttl=300)
    clock.advance(250)
    upstream.hold()
    assert await cache.get(ttl=300) is first
    await upstream.arrived(2)
    clock.advance(45)  # now too close to expiry: callers must wait for the refresh
    waiting = asyncio.create_task(cache.get(ttl=300))
    await asyncio.sleep(0)
    assert not waiting.done()
    upstream.release()
    assert await waiting is not first
    assert upstream.received == 2


async def test_background_failure_reaches_only_callers_that_waited_for_it(
    make_cache: MakeCache, upstream: Upstream, clock: FakeClock
) -> None:
    cache = make_cache(min_validity=10.0, refresh_ahead=True)
    first = await cache.get(ttl=300)
    await cache.get(room="other", ttl=300)
    clock.advance(250)
    upstream.hold()
    upstream.fail_next(401)
    assert await cache.get(ttl=300) is first
    await upstream.arrived(3)
    clock.advance(45)  # stale: this caller joins the failing refresh
    waiting = asyncio.create_task(cache.get(ttl=300))
    await asyncio.sleep(0)
    upstream.release()
    with pytest.raises(AuthenticationError):
        await waiting
    await cache.get(room="other", ttl=300)  # another key, not affected
    assert upstream.received == 4  # (it was stale too, so it was simply fetched)


# --- stats -----------------------------------------------------------------------


async def test_stats_count_what_the_cache_did(
    make_cache: MakeCache, upstream: Upstream, clock: FakeClock
) -> None:
    cache = make_cache(min_validity=10.0, max_entries=1, refresh_ahead=True)
    assert cache.stats() == CacheStats(0, 0, 0, 0, 0, 0, 0)
    upstream.hold()
    callers = [asyncio.create_task(cache.get(room="a", ttl=300)) for _ in range(3)]
    await upstream.arrived(1)
    upstream.release()
    await asyncio.gather(*callers)  # 1 miss, 2 joins
    await cache.get(room="a", ttl=300)  # a hit
    clock.advance(240)
    upstream.fail_next(401)
    await cache.get(room="a", ttl=300)  # a hit that starts a refresh, which fails
    await settle()
    await cache.get(room="b", ttl=300)  # a miss that evicts "a"
    assert cache.stats() == CacheStats(
        hits=2, misses=2, joins=2, refreshes=1, refresh_failures=1, evictions=1, entries=1
    )
    await cache.close()
    assert cache.stats().entries == 0


# --- close -----------------------------------------------------------------------


async def test_client_close_closes_the_cache(
    make_client: ClientFactory,
    upstream: Upstream,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client()
    cache = IceCredentialsCache(client, min_validity=10.0, refresh_ahead=True, clock=clock)
    first = await cache.get(ttl=300)
    clock.advance(250)
    upstream.hold()
    assert await cache.get(ttl=300) is first
    await upstream.arrived(2)
    assert len(flights()) == 1
    waiting = asyncio.create_task(cache.get(room="other", ttl=300))
    await upstream.arrived(3)
    await client.close()
    with pytest.raises(ClientClosedError):  # the client ended the call it waited for
        await waiting
    await settle()  # the background refresh ended with the client too
    assert cache.closed
    assert len(cache) == 0
    with pytest.raises(ClientClosedError):
        await cache.get(ttl=300)
    assert "background refresh" not in caplog.text  # closing is not a failure


async def test_cache_close_fails_waiting_callers_with_client_closed_error(
    make_cache: MakeCache, upstream: Upstream, client: AsyncTurnix
) -> None:
    cache = make_cache()
    upstream.hold()
    started = asyncio.create_task(cache.get(room="a"))
    await upstream.arrived(1)
    not_started = asyncio.create_task(cache.get(room="b"))  # its request task never ran
    await asyncio.sleep(0)
    await cache.close()
    for caller in (started, not_started):
        with pytest.raises(ClientClosedError):
            await caller
    assert not flights()
    await cache.close()  # idempotent
    assert cache.closed
    with pytest.raises(ClientClosedError):
        await cache.get(room="a")
    with pytest.raises(ValueError):  # bad arguments are still reported as such
        await cache.get(room="has space")
    upstream.release()
    assert not client.closed  # the client stays usable
    assert (await client.get_ice_credentials(room="a")).ice_servers


async def test_cache_on_a_closed_client_is_closed(
    make_client: ClientFactory, upstream: Upstream
) -> None:
    client = make_client()
    await client.close()
    cache = IceCredentialsCache(client)
    assert cache.closed
    with pytest.raises(ClientClosedError):
        await cache.get()
    assert upstream.received == 0


async def test_dropped_caches_are_collected_and_leave_nothing_on_the_client(
    client: AsyncTurnix, clock: FakeClock
) -> None:
    cache = IceCredentialsCache(client, clock=clock)
    await cache.get()
    ref = weakref.ref(cache)
    del cache
    gc.collect()
    assert ref() is None
    IceCredentialsCache(client)  # anything built once per process is built now
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(2000):
            IceCredentialsCache(client)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 20_000  # bytes; a close hook per cache would hold ~300 each

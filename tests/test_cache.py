"""IceCredentialsCache: keys, expiry, single-flight, errors, cancellation, LRU, refresh, close.

Runs against the local Turnix server (`turnix_server`, a `FakeTurnixServer`) and its
request log. Time is a fake wall clock shared by the cache (`clock=`) and the server
(which mints `expiresAt` from it), so tests move time with `clock.advance()` instead of
sleeping. "In flight" windows use the server's `delay_next()`.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import turnix_async
from turnix_async import (
    AsyncTurnix,
    BadRequestError,
    ClientClosedError,
    IceCredentials,
    IceCredentialsCache,
    ServerError,
)
from turnix_async.testing import FakeTurnixServer

ICE_PATH = "/api/v1/credentials/ice"


class FakeClock:
    """A settable stand-in for `time.time`, shared by the cache and the local server."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def ice_requests(server: FakeTurnixServer) -> int:
    """How many POST /credentials/ice the server has received."""
    return sum(1 for request in server.requests if request.path == ICE_PATH)


async def arrived(server: FakeTurnixServer, n: int) -> None:
    """Wait until the server has received `n` credential requests."""
    for _ in range(5000):
        if ice_requests(server) >= n:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"expected {n} requests, got {ice_requests(server)}")


def flights() -> list[asyncio.Task[Any]]:
    """The cache's request tasks still alive in this loop."""
    return [
        task
        for task in asyncio.all_tasks()
        if "request_ice_credentials" in getattr(task.get_coro(), "__qualname__", "")
    ]


async def settle() -> None:
    """Wait until every request task has finished (and its callbacks ran)."""
    for _ in range(5000):
        if not flights():
            break
        await asyncio.sleep(0.001)
    assert not flights(), "a request task did not finish"
    await asyncio.sleep(0)


def left(credentials: IceCredentials, clock: FakeClock) -> float:
    """Seconds of validity left on the fake clock (what `time_left` would say)."""
    return credentials.expires_at.timestamp() - clock.now


@pytest.fixture
def clock() -> FakeClock:
    """The cache's clock; the local server mints `expiresAt` from it too (see turnix_server)."""
    return FakeClock()


@pytest.fixture
async def turnix_server(clock: FakeClock) -> AsyncIterator[FakeTurnixServer]:
    """The local server on the shared clock.

    Without it, credentials fetched after `advance()` would look almost expired,
    because the server would compute their expiry from the real time.
    """
    async with FakeTurnixServer(clock=clock) as server:
        yield server


@pytest.fixture
async def client(turnix_server: FakeTurnixServer) -> AsyncIterator[AsyncTurnix]:
    async with AsyncTurnix(
        turnix_server.api_token, base_url=turnix_server.base_url, backoff_base=0.01
    ) as turnix:
        yield turnix


MakeCache = Callable[..., IceCredentialsCache]


@pytest.fixture
def make_cache(client: AsyncTurnix, clock: FakeClock) -> MakeCache:
    def factory(**options: Any) -> IceCredentialsCache:
        options.setdefault("clock", clock)
        return IceCredentialsCache(client, **options)

    return factory


# --- the API surface -------------------------------------------------------------


def test_exported_from_the_package() -> None:
    assert "IceCredentialsCache" in turnix_async.__all__
    assert turnix_async.IceCredentialsCache is IceCredentialsCache


@pytest.mark.parametrize("method", ["get", "invalidate"])
def test_takes_exactly_the_arguments_of_get_ice_credentials(method: str) -> None:
    expected = inspect.signature(AsyncTurnix.get_ice_credentials).parameters
    actual = inspect.signature(getattr(IceCredentialsCache, method)).parameters
    assert list(actual) == list(expected)
    for name, parameter in actual.items():
        assert parameter.kind == expected[name].kind
        assert parameter.default == expected[name].default


async def test_arguments_are_keyword_only(make_cache: MakeCache) -> None:
    with pytest.raises(TypeError):
        await make_cache().get("alice")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "options",
    [
        {"min_validity": -1},
        {"min_validity": float("nan")},
        {"min_validity": float("inf")},
        {"min_validity": True},
        {"min_validity": "10"},
        {"max_entries": 0},
        {"max_entries": 1.5},
        {"max_entries": True},
        {"refresh_window": 0},
        {"refresh_window": -5},
    ],
)
def test_rejects_bad_options(client: AsyncTurnix, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        IceCredentialsCache(client, **options)


# --- hits, keys, expiry ----------------------------------------------------------


async def test_second_get_is_served_from_the_cache(
    make_cache: MakeCache, turnix_server: FakeTurnixServer
) -> None:
    cache = make_cache()
    first = await cache.get(room="lobby", ttl=300)
    assert await cache.get(room="lobby", ttl=300) is first
    assert ice_requests(turnix_server) == 1
    assert turnix_server.requests[0].json == {"room": "lobby", "ttl": 300}
    assert len(cache) == 1


async def test_every_argument_is_part_of_the_key(
    make_cache: MakeCache, turnix_server: FakeTurnixServer
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
    assert ice_requests(turnix_server) == len(variants)
    assert len({id(result) for result in results}) == len(variants)
    assert len(cache) == len(variants)
    for kwargs, result in zip(variants, results, strict=True):
        assert await cache.get(**kwargs) is result
    assert ice_requests(turnix_server) == len(variants)
    sent_ips = [request.headers.get("X-TURN-CLIENT-IP") for request in turnix_server.requests]
    assert sent_ips.count("203.0.113.7") == 1
    assert sent_ips.count("203.0.113.8") == 1


async def test_served_while_time_left_exceeds_min_validity(
    make_cache: MakeCache, turnix_server: FakeTurnixServer, clock: FakeClock
) -> None:
    cache = make_cache(min_validity=10.0)
    first = await cache.get(ttl=60)
    clock.advance(left(first, clock) - 10.0 - 0.2)  # 10.2 s left
    assert await cache.get(ttl=60) is first
    assert ice_requests(turnix_server) == 1
    clock.advance(0.4)  # 9.8 s left: not enough
    second = await cache.get(ttl=60)
    assert second is not first
    assert ice_requests(turnix_server) == 2
    assert await cache.get(ttl=60) is second


async def test_time_left_equal_to_min_validity_is_not_enough(
    make_cache: MakeCache, turnix_server: FakeTurnixServer, clock: FakeClock
) -> None:
    cache = make_cache(min_validity=10.0)
    first = await cache.get(ttl=60)
    clock.now = first.expires_at.timestamp() - 10.0
    assert await cache.get(ttl=60) is not first
    assert ice_requests(turnix_server) == 2


async def test_min_validity_zero_serves_until_expiry(
    make_cache: MakeCache, turnix_server: FakeTurnixServer, clock: FakeClock
) -> None:
    cache = make_cache(min_validity=0)
    first = await cache.get(ttl=30)
    clock.advance(left(first, clock) - 0.2)
    assert await cache.get(ttl=30) is first
    clock.advance(0.4)
    assert await cache.get(ttl=30) is not first
    assert ice_requests(turnix_server) == 2


async def test_real_clock_by_default(client: AsyncTurnix, turnix_server: FakeTurnixServer) -> None:
    cache = IceCredentialsCache(client, min_validity=10.0)
    first = await cache.get(ttl=300)
    assert await cache.get(ttl=300) is first
    assert ice_requests(turnix_server) == 1


async def test_credentials_shorter_than_min_validity_are_not_cached(
    make_cache: MakeCache, turnix_server: FakeTurnixServer
) -> None:
    cache = make_cache(min_validity=10.0)
    first = await cache.get(ttl=5)  # returned (the freshest there is), but never cached
    second = await cache.get(ttl=5)
    assert first is not second
    assert ice_requests(turnix_server) == 2
    assert len(cache) == 0


# --- single-flight ---------------------------------------------------------------


async def test_thousand_concurrent_callers_share_one_request(
    make_cache: MakeCache, turnix_server: FakeTurnixServer
) -> None:
    cache = make_cache()
    turnix_server.delay_next(0.2)  # every caller arrives while the request is in flight
    results = await asyncio.gather(*(cache.get(room="webinar", ttl=300) for _ in range(1000)))
    assert ice_requests(turnix_server) == 1
    assert all(result is results[0] for result in results)
    assert await cache.get(room="webinar", ttl=300) is results[0]
    assert ice_requests(turnix_server) == 1


async def test_callers_arriving_during_the_flight_join_it(
    make_cache: MakeCache, turnix_server: FakeTurnixServer
) -> None:
    cache = make_cache()
    turnix_server.delay_next(0.2)
    first = asyncio.create_task(cache.get(room="lobby"))
    await arrived(turnix_server, 1)
    late = asyncio.create_task(cache.get(room="lobby"))
    assert await first is await late
    assert ice_requests(turnix_server) == 1


async def test_concurrent_callers_with_different_keys_do_not_share(
    make_cache: MakeCache, turnix_server: FakeTurnixServer
) -> None:
    cache = make_cache()
    turnix_server.delay_next(0.1, n=2)
    results_a, results_b = await asyncio.gather(
        asyncio.gather(*(cache.get(room="a") for _ in range(10))),
        asyncio.gather(*(cache.get(room="b") for _ in range(10))),
    )
    assert ice_requests(turnix_server) == 2
    assert all(result is results_a[0] for result in results_a)
    assert all(result is results_b[0] for result in results_b)
    assert results_a[0] is not results_b[0]


async def test_concurrent_callers_get_the_same_exception(
    make_cache: MakeCache, turnix_server: FakeTurnixServer
) -> None:
    cache = make_cache()
    turnix_server.fail_next(1, status=400, body={"error": "bad room"})
    outcomes = await asyncio.gather(
        *(cache.get(room="lobby") for _ in range(50)), return_exceptions=True
    )
    assert ice_requests(turnix_server) == 1
    assert isinstance(outcomes[0], BadRequestError)
    assert all(outcome is outcomes[0] for outcome in outcomes)


async def test_errors_are_not_cached(
    make_cache: MakeCache, turnix_server: FakeTurnixServer
) -> None:
    cache = make_cache()
    turnix_server.fail_next(1, status=400)
    with pytest.raises(BadRequestError):
        await cache.get(room="lobby")
    assert len(cache) == 0
    credentials = await cache.get(room="lobby")
    assert ice_requests(turnix_server) == 2
    assert await cache.get(room="lobby") is credentials


async def test_retries_happen_inside_the_one_flight(
    make_cache: MakeCache, turnix_server: FakeTurnixServer
) -> None:
    cache = make_cache()
    turnix_server.fail_next(2, status=503)  # the client retries twice by default
    results = await asyncio.gather(*(cache.get(room="lobby") for _ in range(20)))
    assert ice_requests(turnix_server) == 3
    assert all(result is results[0] for result in results)


# --- cancellation ----------------------------------------------------------------


async def test_cancelling_one_waiter_does_not_cancel_the_others(
    make_cache: MakeCache, turnix_server: FakeTurnixServer
) -> None:
    cache = make_cache()
    turnix_server.delay_next(0.5)
    quitter = asyncio.create_task(cache.get(room="lobby"))
    stayers = [asyncio.create_task(cache.get(room="lobby")) for _ in range(5)]
    await arrived(turnix_server, 1)
    quitter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await quitter
    results = await asyncio.gather(*stayers)
    assert all(result is results[0] for result in results)
    assert ice_requests(turnix_server) == 1


async def test_a_caller_timing_out_leaves_the_flight_running(
    make_cache: MakeCache, turnix_server: FakeTurnixServer
) -> None:
    cache = make_cache()
    turnix_server.delay_next(0.2)
    with pytest.raises(asyncio.TimeoutError):  # TimeoutError on Python 3.11+
        await asyncio.wait_for(cache.get(room="lobby"), 0.05)
    assert len(flights()) == 1
    await settle()
    assert len(cache) == 1  # the abandoned flight still filled the cache
    await cache.get(room="lobby")
    assert ice_requests(turnix_server) == 1


async def test_flight_whose_waiters_all_left_completes_and_fills_the_cache(
    make_cache: MakeCache, turnix_server: FakeTurnixServer
) -> None:
    cache = make_cache()
    turnix_server.delay_next(0.2)
    callers = [asyncio.create_task(cache.get(room="lobby")) for _ in range(3)]
    await arrived(turnix_server, 1)
    for caller in callers:
        caller.cancel()
    await asyncio.gather(*callers, return_exceptions=True)
    await settle()
    assert not flights()  # no orphaned task
    assert len(cache) == 1
    await cache.get(room="lobby")
    assert ice_requests(turnix_server) == 1


async def test_failed_flight_without_waiters_reports_nothing(
    make_cache: MakeCache, turnix_server: FakeTurnixServer
) -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    try:
        cache = make_cache()
        turnix_server.fail_next(1, status=400)
        caller = asyncio.create_task(cache.get(room="lobby"))
        await asyncio.sleep(0)  # the caller starts the flight and waits on it
        caller.cancel()
        await asyncio.gather(caller, return_exceptions=True)
        await settle()
        del caller
        gc.collect()
        await asyncio.sleep(0)
        assert reported == []  # no "Task exception was never retrieved"
        assert ice_requests(turnix_server) == 1
        assert len(cache) == 0
        await cache.get(room="lobby")  # the failure was not cached
        assert ice_requests(turnix_server) == 2
    finally:
        loop.set_exception_handler(None)


# --- bounds, clear, invalidate ---------------------------------------------------


async def test_least_recently_used_key_is_evicted(
    make_cache: MakeCache, turnix_server: FakeTurnixServer
) -> None:
    cache = make_cache(max_entries=2)
    a = await cache.get(room="a")
    await cache.get(room="b")
    assert await cache.get(room="a") is a  # a is now more recent than b
    await cache.get(room="c")  # evicts b
    assert len(cache) == 2
    assert ice_requests(turnix_server) == 3
    assert await cache.get(room="a") is a
    await cache.get(room="b")
    assert ice_requests(turnix_server) == 4  # b was fetched again


async def test_size_never_exceeds_max_entries(make_cache: MakeCache) -> None:
    cache = make_cache(max_entries=5)
    await asyncio.gather(*(cache.get(room=f"room-{i}") for i in range(20)))
    assert len(cache) == 5


async def test_clear_empties_the_cache(
    make_cache: MakeCache, turnix_server: FakeTurnixServer
) -> None:
    cache = make_cache()
    first = await cache.get(room="a")
    await cache.get(room="b")
    cache.clear()
    assert len(cache) == 0
    assert await cache.get(room="a") is not first
    assert ice_requests(turnix_server) == 3


async def test_invalidate_forgets_one_key(
    make_cache: MakeCache, turnix_server: FakeTurnixServer
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
    assert ice_requests(turnix_server) == 3


async def test_invalidate_during_a_flight_keeps_its_result_out(
    make_cache: MakeCache, turnix_server: FakeTurnixServer
) -> None:
    cache = make_cache()
    turnix_server.delay_next(0.5)
    early = asyncio.create_task(cache.get(room="a"))
    await arrived(turnix_server, 1)
    cache.invalidate(room="a")
    late = asyncio.create_task(cache.get(room="a"))  # must not join the invalidated flight
    late_result = await late
    early_result = await early  # answers its own caller...
    await settle()
    assert early_result is not late_result
    assert await cache.get(room="a") is late_result  # ...but did not replace the newer one
    assert ice_requests(turnix_server) == 2


async def test_clear_during_a_flight_keeps_its_result_out(
    make_cache: MakeCache, turnix_server: FakeTurnixServer
) -> None:
    cache = make_cache()
    turnix_server.delay_next(0.5)
    caller = asyncio.create_task(cache.get(room="a"))
    await arrived(turnix_server, 1)
    cache.clear()
    await caller
    await settle()
    assert len(cache) == 0


async def test_invalidate_validates_its_arguments(make_cache: MakeCache) -> None:
    with pytest.raises(ValueError, match="room"):
        make_cache().invalidate(room="no spaces")


# --- bad arguments ---------------------------------------------------------------

BAD_ARGUMENTS: list[dict[str, Any]] = [
    {"room": "has space"},
    {"room": ""},
    {"room": "x" * 101},
    {"initiator_client": "a/b"},
    {"receiver_client": 42},
    {"ttl": 0},
    {"ttl": -1},
    {"ttl": 1.5},
    {"ttl": True},
    {"ttl": "30"},
    {"fixed_region": ""},
    {"preferred_region": "eu central"},
    {"client_ip": "not-an-ip"},
    {"client_ip": "999.1.1.1"},
    {"room": ["lobby"]},
    {"client_ip": {"ip": "192.0.2.1"}},
]


@pytest.mark.parametrize("kwargs", BAD_ARGUMENTS)
async def test_bad_arguments_raise_like_get_ice_credentials(
    make_cache: MakeCache,
    client: AsyncTurnix,
    turnix_server: FakeTurnixServer,
    kwargs: dict[str, Any],
) -> None:
    with pytest.raises(ValueError) as direct:
        await client.get_ice_credentials(**kwargs)
    cache = make_cache()
    with pytest.raises(ValueError) as cached:
        await cache.get(**kwargs)
    assert str(cached.value) == str(direct.value)
    assert turnix_server.requests == []
    assert len(cache) == 0
    assert not flights()


class IntLike(int):
    pass


@pytest.mark.parametrize(
    ("cached", "bad"),
    [(1, True), (300, 300.0), (300, IntLike(300))],
    ids=["bool", "float", "int-subclass"],
)
async def test_bad_ttl_equal_to_a_cached_one_is_still_rejected(
    make_cache: MakeCache, turnix_server: FakeTurnixServer, cached: int, bad: Any
) -> None:
    cache = make_cache(min_validity=0.5)
    await cache.get(room="lobby", ttl=cached)
    assert bad == cached
    with pytest.raises(ValueError, match="ttl"):
        await cache.get(room="lobby", ttl=bad)
    assert ice_requests(turnix_server) == 1


async def test_bad_arguments_on_a_closed_cache_still_raise_value_error(
    make_cache: MakeCache,
) -> None:
    cache = make_cache()
    await cache.close()
    with pytest.raises(ValueError):
        await cache.get(room="has space")


# --- refresh-ahead ---------------------------------------------------------------


async def test_no_refresh_ahead_by_default(
    make_cache: MakeCache, turnix_server: FakeTurnixServer, clock: FakeClock
) -> None:
    cache = make_cache(min_validity=10.0)
    first = await cache.get(ttl=300)
    clock.advance(280)  # 20 s left: deep in what would be the window
    assert await cache.get(ttl=300) is first
    await settle()
    assert ice_requests(turnix_server) == 1


async def test_refresh_ahead_serves_cached_and_refreshes_in_background(
    make_cache: MakeCache, turnix_server: FakeTurnixServer, clock: FakeClock
) -> None:
    # ttl 300, min_validity 10: the window is max(10, 20% of 300) = 60 s before the
    # 10 s limit, so refreshing starts once 70 s or less are left.
    cache = make_cache(min_validity=10.0, refresh_ahead=True)
    first = await cache.get(room="hot", ttl=300)
    clock.advance(left(first, clock) - 70.5)
    assert await cache.get(room="hot", ttl=300) is first
    await settle()
    assert ice_requests(turnix_server) == 1  # not yet in the window
    turnix_server.delay_next(0.5)
    clock.advance(1.0)  # 69.5 s left: in the window
    assert await cache.get(room="hot", ttl=300) is first
    await arrived(turnix_server, 2)
    for _ in range(100):  # callers keep the still-valid credentials; one refresh only
        assert await cache.get(room="hot", ttl=300) is first
    assert ice_requests(turnix_server) == 2
    await settle()
    second = await cache.get(room="hot", ttl=300)
    assert second is not first
    assert second.expires_at.timestamp() - clock.now > 299  # fetched at the new time
    await settle()
    assert ice_requests(turnix_server) == 2  # the new credentials are out of the window


async def test_refresh_window_can_be_set(
    make_cache: MakeCache, turnix_server: FakeTurnixServer, clock: FakeClock
) -> None:
    cache = make_cache(min_validity=10.0, refresh_ahead=True, refresh_window=5.0)
    first = await cache.get(ttl=300)
    clock.advance(left(first, clock) - 15.5)  # outside the 5 s window before the 10 s limit
    await cache.get(ttl=300)
    await settle()
    assert ice_requests(turnix_server) == 1
    clock.advance(1.0)  # inside
    assert await cache.get(ttl=300) is first
    await settle()
    assert ice_requests(turnix_server) == 2


async def test_refresh_window_is_at_most_half_the_usable_lifetime(
    make_cache: MakeCache, turnix_server: FakeTurnixServer, clock: FakeClock
) -> None:
    # ttl 20, min_validity 10: usable ~10 s; the window is capped to half of that
    # (~5 s) instead of 10 s, so not every get() starts a refresh.
    cache = make_cache(min_validity=10.0, refresh_ahead=True)
    first = await cache.get(ttl=20)
    usable = left(first, clock) - 10.0
    clock.advance(usable / 2 - 0.2)
    assert await cache.get(ttl=20) is first
    await settle()
    assert ice_requests(turnix_server) == 1
    clock.advance(0.4)
    assert await cache.get(ttl=20) is first
    await settle()
    assert ice_requests(turnix_server) == 2


async def test_background_refresh_failure_is_logged_and_retried(
    make_cache: MakeCache,
    turnix_server: FakeTurnixServer,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="turnix_async")
    token = turnix_server.api_token
    cache = make_cache(min_validity=10.0, refresh_ahead=True)
    first = await cache.get(ttl=300)
    clock.advance(250)
    turnix_server.fail_next(3, status=503, body={"error": f"bad token {token}"})
    assert await cache.get(ttl=300) is first  # the caller is not affected
    await settle()
    assert ice_requests(turnix_server) == 4  # 1 + the refresh's 3 attempts
    failures = [r for r in caplog.records if "background refresh" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].levelno == logging.WARNING
    assert "ServerError" in failures[0].getMessage()
    assert token not in caplog.text
    assert await cache.get(ttl=300) is first  # still valid, and the refresh is retried
    await settle()
    assert ice_requests(turnix_server) == 5
    assert await cache.get(ttl=300) is not first


async def test_stale_caller_joins_the_background_refresh(
    make_cache: MakeCache, turnix_server: FakeTurnixServer, clock: FakeClock
) -> None:
    cache = make_cache(min_validity=10.0, refresh_ahead=True)
    first = await cache.get(ttl=300)
    clock.advance(250)
    turnix_server.delay_next(0.5)
    assert await cache.get(ttl=300) is first
    await arrived(turnix_server, 2)
    clock.advance(45)  # now too close to expiry: callers must wait for the refresh
    waiting = asyncio.create_task(cache.get(ttl=300))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    second = await waiting
    assert second is not first
    assert ice_requests(turnix_server) == 2


async def test_background_failure_reaches_only_callers_that_waited_for_it(
    make_cache: MakeCache, turnix_server: FakeTurnixServer, clock: FakeClock
) -> None:
    cache = make_cache(min_validity=10.0, refresh_ahead=True)
    first = await cache.get(ttl=300)
    other = await cache.get(room="other", ttl=300)
    clock.advance(250)
    turnix_server.fail_next(3, status=503, retry_after=0.1)  # ~0.2 s until it gives up
    assert await cache.get(ttl=300) is first
    await arrived(turnix_server, 3)
    clock.advance(45)  # stale: this caller joins the failing refresh
    with pytest.raises(ServerError):
        await cache.get(ttl=300)
    other_again = await cache.get(room="other", ttl=300)  # another key, not affected
    assert other_again is not other  # (it was stale too, so it was simply fetched)


# --- close -----------------------------------------------------------------------


async def test_client_close_stops_background_refresh(
    turnix_server: FakeTurnixServer, clock: FakeClock
) -> None:
    client = AsyncTurnix(
        turnix_server.api_token, base_url=turnix_server.base_url, backoff_base=0.01
    )
    cache = IceCredentialsCache(client, min_validity=10.0, refresh_ahead=True, clock=clock)
    first = await cache.get(ttl=300)
    clock.advance(250)
    turnix_server.delay_next(5.0)
    assert await cache.get(ttl=300) is first
    await arrived(turnix_server, 2)
    assert len(flights()) == 1
    await client.close()
    assert not flights()
    assert cache.closed
    assert len(cache) == 0
    with pytest.raises(ClientClosedError):
        await cache.get(ttl=300)


async def test_cache_close_fails_waiting_callers_with_client_closed_error(
    make_cache: MakeCache, turnix_server: FakeTurnixServer, client: AsyncTurnix
) -> None:
    cache = make_cache()
    turnix_server.delay_next(5.0)
    started = asyncio.create_task(cache.get(room="a"))
    await arrived(turnix_server, 1)
    not_started = asyncio.create_task(cache.get(room="b"))  # its request task never ran
    await asyncio.sleep(0)
    await cache.close()
    for caller in (started, not_started):
        with pytest.raises(ClientClosedError):
            await caller
    assert not flights()
    await cache.close()  # idempotent
    assert not client.closed  # the client stays usable
    assert (await client.get_ice_credentials(room="a")).ice_servers


async def test_get_after_close_raises(make_cache: MakeCache) -> None:
    cache = make_cache()
    await cache.get(room="a")
    await cache.close()
    with pytest.raises(ClientClosedError):
        await cache.get(room="a")
    with pytest.raises(RuntimeError):  # ClientClosedError is also a RuntimeError
        await cache.get(room="a")


async def test_cache_on_a_closed_client_is_closed(turnix_server: FakeTurnixServer) -> None:
    client = AsyncTurnix(turnix_server.api_token, base_url=turnix_server.base_url)
    await client.close()
    cache = IceCredentialsCache(client)
    assert cache.closed
    with pytest.raises(ClientClosedError):
        await cache.get()
    assert turnix_server.requests == []


async def test_client_does_not_keep_a_dropped_cache_alive(
    client: AsyncTurnix, clock: FakeClock
) -> None:
    cache = IceCredentialsCache(client, clock=clock)
    await cache.get()
    ref = weakref.ref(cache)
    del cache
    gc.collect()
    assert ref() is None
    await client.close()  # the hook of the dropped cache is harmless

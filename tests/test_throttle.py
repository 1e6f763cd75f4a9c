"""AdaptiveThrottle: off until a 429, then paced, FIFO, learning the limit; and a storm simulation.

Everything runs on an event loop whose clock is virtual: a sleep advances the
clock instead of waiting, so seconds of pacing take microseconds and every run
is the same.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import random
import selectors
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import pytest

from turnix_async._budget import RetryBudget
from turnix_async._throttle import AdaptiveThrottle, ThrottleWaitExceeded

T = TypeVar("T")


class VirtualSelector(selectors.BaseSelector):
    """Never blocks: a select() with a timeout moves the virtual clock forward by it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._keys: dict[Any, selectors.SelectorKey] = {}

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        key = selectors.SelectorKey(fileobj, fd, events, data)
        self._keys[fileobj] = key
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._keys.pop(fileobj)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            raise RuntimeError("deadlock: every task waits and no timer is scheduled")
        self.now += max(timeout, 0.0)
        return []

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._keys


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.virtual = VirtualSelector()
        super().__init__(self.virtual)

    def time(self) -> float:
        return self.virtual.now


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    loop = VirtualLoop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def new_throttle(**options: Any) -> AdaptiveThrottle:
    return AdaptiveThrottle(clock=asyncio.get_running_loop().time, **options)


def test_unengaged_it_never_waits() -> None:
    async def forbidden_sleep(seconds: float) -> None:
        raise AssertionError("an unthrottled client must not wait")

    async def main() -> None:
        throttle = new_throttle(sleep=forbidden_sleep)
        for _ in range(1000):
            assert await throttle.acquire(0.0) == 0.0
            throttle.on_success()
        assert throttle.rate is None

    run(main)


def test_a_429_engages_below_the_accepted_rate_and_honours_retry_after(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[tuple[str, float | None]] = []

    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        throttle = new_throttle(on_event=lambda name, rate: events.append((name, rate)))
        for _ in range(100):  # 100 answers within the last second
            throttle.on_success()
        throttle.on_throttled(retry_after=2.0)
        throttle.on_throttled(retry_after=2.0)  # the same wave: no second cut
        assert throttle.rate == pytest.approx(70.0)
        start = loop.time()
        waits = [await throttle.acquire(None) for _ in range(3)]
        assert loop.time() - start >= 2.0  # nothing went out during the pause
        return waits

    with caplog.at_level(logging.DEBUG, logger="turnix_async"):
        waits = run(main)
    assert waits[0] >= 2.0 and all(w > 0 for w in waits[1:])  # paced one by one after it
    assert events == [("engaged", pytest.approx(70.0))]
    assert [r.levelno for r in caplog.records] == [logging.INFO]


def test_each_later_wave_of_429s_cuts_the_rate_once() -> None:
    async def main() -> list[float | None]:
        throttle = new_throttle()
        for _ in range(100):
            throttle.on_success()
        for _ in range(10):  # a wave of 429s: far more than a stray one
            throttle.on_throttled(None)
        rates = [throttle.rate]
        await asyncio.sleep(1.0)
        for _ in range(100):
            throttle.on_success()
        for _ in range(50):  # one wave
            throttle.on_throttled(None)
        rates.append(throttle.rate)
        return rates

    # the cut starts just below the 70/s the API took (x 0.95), then x beta
    assert run(main) == [pytest.approx(70.0), pytest.approx(70.0 * 0.95 * 0.7)]


def test_knowing_next_to_nothing_it_slow_starts_and_a_429_there_cuts_from_its_rate() -> None:
    async def main() -> tuple[float | None, float | None, float | None]:
        throttle = new_throttle(start_rate=2.0)
        throttle.on_success()  # one success is no limit to learn from
        throttle.on_throttled(None)
        engaged = throttle.rate
        for _ in range(40):  # a queue of demand: the rate doubles twice a second
            await throttle.acquire(None)
            throttle.on_success()
        reached = throttle.rate
        for _ in range(5):  # a wave: 5 of the last second's ~45 answers
            throttle.on_throttled(None)
        return engaged, reached, throttle.rate

    engaged, reached, cut = run(main)
    assert engaged == 2.0
    assert reached is not None and reached > 40.0
    # from the rate itself, not the successes of the last second, which lag the doubling
    assert cut == pytest.approx(reached * 0.95 * 0.7)


def test_a_wait_longer_than_the_limit_fails_at_once_and_holds_no_slot() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        throttle = new_throttle(start_rate=10.0)
        throttle.on_throttled(None)
        first = asyncio.ensure_future(throttle.acquire(None))
        await asyncio.sleep(0)
        start = loop.time()
        with pytest.raises(ThrottleWaitExceeded) as caught:
            await throttle.acquire(0.1)  # second in line at 10/s: about 0.2 s
        assert loop.time() == start  # decided before waiting
        assert caught.value.waited == 0.0 and caught.value.needed > 0.1
        assert caught.value.rate == 10.0
        await first
        assert await throttle.acquire(None) == pytest.approx(0.1)  # next slot, not one later

    run(main)


def test_waiters_are_served_in_order_and_a_cancelled_one_leaks_no_slot() -> None:
    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        throttle = new_throttle(start_rate=10.0, release_after=1000.0)
        throttle.on_throttled(None)
        served: list[int] = []

        async def peer(number: int) -> None:
            await throttle.acquire(None)
            served.append(number)

        tasks = [asyncio.ensure_future(peer(n)) for n in range(20)]
        await asyncio.sleep(0.35)
        tasks[5].cancel()
        tasks[6].cancel()
        start = loop.time()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert loop.time() - start == pytest.approx(1.5, abs=0.11)  # 15 left at 10/s
        return served

    assert run(main) == [n for n in range(20) if n not in (5, 6)]


def test_a_waiter_in_line_leaves_at_its_limit_when_a_pause_comes() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        throttle = new_throttle(start_rate=10.0, release_after=1000.0)
        throttle.on_throttled(None)
        head = asyncio.ensure_future(throttle.acquire(None))
        patient = asyncio.ensure_future(throttle.acquire(None))
        hasty = asyncio.ensure_future(throttle.acquire(1.0))  # fits at 10/s: about 0.3 s
        await asyncio.sleep(0)
        throttle.on_throttled(retry_after=30.0)  # now it would not
        start = loop.time()
        with pytest.raises(ThrottleWaitExceeded):
            await hasty
        assert loop.time() - start == pytest.approx(1.0)
        await asyncio.gather(head, patient)
        assert loop.time() - start == pytest.approx(30.2)  # slots 1 and 2: hasty left no gap

    run(main)


def test_it_grows_while_it_holds_callers_back_and_lets_go_when_nobody_waits() -> None:
    events: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        throttle = new_throttle(on_event=lambda name, rate: events.append(name))
        for _ in range(50):
            throttle.on_success()
        for _ in range(5):  # a wave of 429s, not a stray one
            throttle.on_throttled(None)
        assert throttle.rate == pytest.approx(35.0)
        for _ in range(200):  # a queue of demand: the rate climbs back past 50
            await throttle.acquire(None)
            throttle.on_success()
        assert throttle.rate is not None and throttle.rate > 50.0
        for _ in range(30):  # demand far below the rate: nobody waits, then released
            await asyncio.sleep(0.25)
            await throttle.acquire(None)
            throttle.on_success()
        assert throttle.rate is None
        start = loop.time()
        assert await throttle.acquire(0.0) == 0.0 and loop.time() == start

    run(main)
    assert events == ["engaged", "released"]


def test_an_endless_retry_after_pauses_for_max_pause_only() -> None:
    async def main() -> float:
        throttle = new_throttle(max_pause=60.0)
        throttle.on_throttled(retry_after=math.inf)
        return await throttle.acquire(None)

    assert 60.0 <= run(main) <= 61.0


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(ValueError, match="beta"):
        AdaptiveThrottle(beta=1.5)
    with pytest.raises(ValueError, match="min_rate"):
        AdaptiveThrottle(min_rate=0.0)


# --- the storm, simulated --------------------------------------------------------------


class FixedWindowAPI:
    """The API side: `limit` requests per one-second window, 429 + Retry-After past it."""

    def __init__(self, limit: int, *, outage: bool = False) -> None:
        self.limit = limit
        self.outage = outage
        self.requests = 0
        self._window = -1
        self._used = 0

    def answer(self, now: float) -> tuple[int, float | None]:
        self.requests += 1
        if self.outage:
            return 503, None
        window = math.floor(now)
        if window != self._window:
            self._window, self._used = window, 0
        if self._used >= self.limit:
            return 429, float(math.ceil(window + 1 - now))  # whole seconds, as HTTP sends
        self._used += 1
        return 200, None


async def simulated_call(
    throttle: AdaptiveThrottle,
    budget: RetryBudget,
    api: FixedWindowAPI,
    pool: asyncio.Semaphore,
    *,
    deadline: float = 40.0,
    max_retries: int = 2,
    rtt: float = 0.004,
    jitter: random.Random,
) -> str:
    """The call sequence the report asks the client's retry loop to make."""
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + deadline
    failures = 0
    first = True
    while True:
        async with pool:  # a free connection first, so nothing is queued behind the throttle
            try:
                await throttle.acquire(stop_at - loop.time())
            except ThrottleWaitExceeded:
                return "ThrottleWaitExceeded"
            if first:
                budget.record_request()
                first = False
            await asyncio.sleep(rtt / 2 * jitter.uniform(0.5, 1.5))
            status, retry_after = api.answer(loop.time())
            await asyncio.sleep(rtt / 2 * jitter.uniform(0.5, 1.5))
        if status == 429:
            throttle.on_throttled(retry_after)
            continue  # the throttle holds the retry until Retry-After and paces it
        throttle.on_success()
        if status == 200:
            return "ok"
        if failures >= max_retries or not budget.try_spend():
            return "ServerError"
        await asyncio.sleep(0.5 * 2**failures)  # the retry loop's own backoff
        failures += 1


def storm(
    processes: int, peers: int, limit: int, *, outage: bool = False, seed: int = 1
) -> dict[str, float]:
    async def main() -> dict[str, float]:
        loop = asyncio.get_running_loop()
        api = FixedWindowAPI(limit, outage=outage)
        start = loop.time()
        jitter = random.Random(seed)
        calls = []
        for _ in range(processes):  # each process: its own client, throttle, budget, pool
            throttle = AdaptiveThrottle(clock=loop.time)
            budget = RetryBudget(clock=loop.time)
            pool = asyncio.Semaphore(100)
            calls += [
                simulated_call(throttle, budget, api, pool, jitter=jitter) for _ in range(peers)
            ]
        outcomes = collections.Counter(await asyncio.gather(*calls))
        total = processes * peers
        return {
            "served": outcomes["ok"] / total,
            "requests": api.requests / total,
            "wall": (loop.time() - start) / (total / limit),
        }

    return run(main)


@pytest.mark.parametrize(
    ("processes", "peers", "limit", "max_requests", "max_wall"),
    [(1, 2000, 200, 1.3, 1.35), (1, 800, 100, 1.3, 1.35), (3, 250, 100, 1.4, 1.5)],
    ids=["storm-2000-vs-200", "storm-800-vs-100", "fleet-3x250-vs-100"],
)
def test_a_reconnect_storm_is_served_within_the_targets(
    processes: int, peers: int, limit: int, max_requests: float, max_wall: float
) -> None:
    result = storm(processes, peers, limit)
    assert result["served"] >= 0.99, result
    assert result["requests"] <= max_requests, result
    assert result["wall"] <= max_wall, result


def test_an_outage_is_not_multiplied() -> None:
    result = storm(1, 1000, 200, outage=True)
    assert result["served"] == 0.0
    assert result["requests"] <= 1.3, result


def test_a_stray_429_among_many_successes_changes_nothing() -> None:
    async def main() -> tuple[float | None, float | None]:
        throttle = new_throttle()
        for _ in range(100):
            throttle.on_success()
        throttle.on_throttled(None)  # 1 % of the answers, no pause: a proxy's hiccup
        stray = throttle.rate
        throttle.on_throttled(retry_after=2.0)  # the API asks for a pause: always honoured
        return stray, throttle.rate

    stray, paused = run(main)
    assert stray is None and paused is not None

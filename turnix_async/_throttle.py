"""`AdaptiveThrottle`: the client-wide send limiter that a 429 switches on.

The API's limit is per token and of unknown size, so it is learnt from the answers
(as botocore's adaptive retry mode and TCP congestion control do). Until the first
429 the throttle is off and `acquire` is one attribute check. A 429 engages it:
its `Retry-After` pauses every send, the rate starts just below the rate of
successful answers of the last second (or, if that is too few to tell, slow-starts
from a cautious rate), each further wave of 429s cuts it multiplicatively
(x `beta`) from just below the rate the API took, and successes probe back up
CUBIC-style: fast to that last known limit, flat near it, then doubling past it
(a client sharing the limit finds what the others free). Growth only counts time
when the limiter is actually holding callers back, and the throttle releases
itself once nobody had to wait for `release_after` seconds. Waiters are FIFO.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from collections.abc import Awaitable, Callable

__all__ = ["AdaptiveThrottle", "ThrottleWaitExceeded"]

logger = logging.getLogger("turnix_async")

EventHook = Callable[[str, "float | None"], None]

STRAY_SHARE = 0.05  # 429s rarer than this among the answers (and with no pause) are strays


class ThrottleWaitExceeded(Exception):
    """The client-side rate limit would hold this call longer than it may wait.

    Internal: the client turns it into the `RateLimitError` its caller sees.
    """

    def __init__(self, waited: float, needed: float, rate: float) -> None:
        super().__init__(
            f"the client-side rate limit ({rate:.3g} requests/s, learnt from HTTP 429 answers)"
            f" would hold this call {needed:.3g} s, longer than it may wait"
        )
        self.waited = waited  # seconds already spent waiting before giving up
        self.needed = needed  # the estimated total wait it would have taken
        self.rate = rate


class AdaptiveThrottle:
    """One per client: paces sends once the API answered 429, learns the limit, lets go.

    Args:
        clock: monotonic seconds (the event loop's or `time.monotonic`).
        sleep: awaitable sleep; tests inject a fake one.
        on_event: called with ("engaged", rate) and ("released", None).
        beta: the factor a wave of 429s multiplies the rate by.
        min_rate: the rate never drops below this (requests/s).
        start_rate: the first rate when no success was seen before the first 429.
        release_after: seconds without a wait and without a 429 after which it lets go.
        decrease_interval: at most one decrease per this many seconds (one wave, one cut).
        burst: seconds of sending the bucket may save up (at least one request).
        max_pause: a longer `Retry-After` pauses this long (then one probe asks again).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_event: EventHook | None = None,
        beta: float = 0.7,
        min_rate: float = 0.5,
        start_rate: float = 2.0,
        release_after: float = 5.0,
        decrease_interval: float = 0.25,
        burst: float = 0.1,
        max_pause: float = 60.0,
    ) -> None:
        if not 0.0 < beta < 1.0:
            raise ValueError(f"beta must be between 0 and 1 (got {beta!r})")
        for name, value in (
            ("min_rate", min_rate),
            ("start_rate", start_rate),
            ("release_after", release_after),
            ("burst", burst),
            ("max_pause", max_pause),
        ):
            if not 0.0 < value < math.inf:
                raise ValueError(f"{name} must be a positive number (got {value!r})")
        if not 0.0 <= decrease_interval < math.inf:
            raise ValueError(f"decrease_interval must be 0 or more (got {decrease_interval!r})")
        self._clock = clock
        self._sleep = sleep
        self._on_event = on_event
        self._beta = beta
        self._min_rate = min_rate
        self._start_rate = max(start_rate, min_rate)
        self._release_after = release_after
        self._decrease_interval = decrease_interval
        self._burst = burst
        self._max_pause = max_pause
        # None = not engaged; the one attribute the hot path looks at
        self._rate: float | None = None
        # successes in the current and the previous one-second bucket (measured always)
        self._ok_bucket_end = -math.inf
        self._ok_current = 0
        self._ok_previous = 0
        self._refused_current = 0  # 429s, in the same buckets
        self._refused_previous = 0
        # token bucket; tokens accrue from `_filled_at`, which a pause moves into the future
        self._tokens = 0.0
        self._filled_at = 0.0
        self._paused_until = -math.inf
        # FIFO: only the head waiter sleeps (for the next token); the rest wait their turn
        self._head_busy = False
        self._queue: collections.deque[asyncio.Future[None]] = collections.deque()
        # rate control
        self._w_max: float | None = None  # the rate at the last cut; None = still slow start
        self._epoch_rate = 0.0  # the rate the current growth epoch started from
        self._epoch_time = 0.0  # seconds of growth (limiter binding) since the last cut
        self._grown_at = 0.0
        self._next_cut_at = -math.inf
        self._last_wait_at = -math.inf
        self._calibrating = False  # successes of the engaging wave still raise w_max
        self._engaged_on = 0.0  # successes counted so far for the engaging wave
        self._last_throttled_at = -math.inf

    @property
    def rate(self) -> float | None:
        """Requests per second currently allowed, or None when not engaged (no limit)."""
        return self._rate

    def pause_left(self) -> float:
        """Seconds until the pause the API's last `Retry-After` asked for ends (0.0: none)."""
        return max(self._paused_until - self._clock(), 0.0)

    async def acquire(self, wait_limit: float | None = None) -> float:
        """Wait for a send slot; returns the seconds waited (0.0 when not engaged).

        Raises `ThrottleWaitExceeded` as soon as the wait is known to exceed
        `wait_limit` seconds, without waiting that long first.
        """
        if self._rate is None:
            return 0.0
        return await self._wait_turn(wait_limit)

    def on_success(self) -> None:
        """A 2xx (or any answer that is not a 429) arrived: measure it, maybe grow."""
        now = self._clock()
        if now >= self._ok_bucket_end:
            self._roll_ok_buckets(now)
        self._ok_current += 1
        if self._rate is not None:
            if self._calibrating and now < self._next_cut_at:
                self._calibrate()
                return
            self._calibrating = False
            self._grow(now)
            self._maybe_release(now)

    def on_throttled(self, retry_after: float | None = None) -> None:
        """A 429 arrived: engage, honour `retry_after` (seconds) for every send, maybe cut.

        A 429 without a pause among many successes (under `STRAY_SHARE` of the last
        second's answers) is a stray, not the API's limit: it is counted, nothing more.
        Otherwise a proxy's occasional 429 would cut the rate again and again.
        """
        now = self._clock()
        if now >= self._ok_bucket_end:
            self._roll_ok_buckets(now)
        self._refused_current += 1
        pauses = retry_after is not None and retry_after > 0  # NaN and "now" pause nothing
        if not pauses and self._refused_share(now) < STRAY_SHARE:
            return
        self._last_throttled_at = now
        if retry_after is not None and pauses:
            retry_after = min(retry_after, self._max_pause)
        if retry_after is not None and pauses and now + retry_after > self._paused_until:
            self._paused_until = now + retry_after
            self._tokens = 0.0
            self._filled_at = self._paused_until
        if self._rate is None:
            self._engage(now)
        elif now >= self._next_cut_at:
            self._cut(now)
        self._next_cut_at = max(self._next_cut_at, self._paused_until)

    # --- waiting -------------------------------------------------------------------

    async def _wait_turn(self, wait_limit: float | None) -> float:
        start = self._clock()
        rate = self._rate
        assert rate is not None
        self._refill(start, rate)
        if wait_limit is not None:
            needed = self._expected_wait(start, rate, len(self._queue) + self._head_busy)
            if needed > wait_limit and needed > _EPSILON:
                raise ThrottleWaitExceeded(0.0, needed, rate)
        if self._head_busy:  # wait in line; the head hands over when it leaves
            await self._wait_in_line(start, wait_limit, rate)
        else:
            self._head_busy = True
        try:  # the head: the only waiter that sleeps, for the next token
            while True:
                now = self._clock()
                if not self._queue:
                    self._maybe_release(now)
                rate = self._rate
                if rate is None:  # released: nobody had to wait for a while
                    return now - start
                self._refill(now, rate)
                if self._tokens > 1.0 - _EPSILON:
                    self._tokens -= 1.0
                    return now - start
                delay = max(self._paused_until - now, 0.0) + (1.0 - self._tokens) / rate
                waited = now - start
                if wait_limit is not None and waited + delay > wait_limit:
                    raise ThrottleWaitExceeded(waited, waited + delay, rate)
                self._last_wait_at = now
                await self._sleep(delay)
        finally:  # served, refused or cancelled: the next in line becomes the head
            self._pass_head()

    async def _wait_in_line(self, start: float, wait_limit: float | None, rate: float) -> None:
        """Wait until the head hands over; give the place up on cancellation or wait_limit."""
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(turn)
        timer = None
        if wait_limit is not None:
            timer = asyncio.ensure_future(self._sleep(wait_limit - (self._clock() - start)))
        made_head = False
        try:
            if timer is None:
                await turn
            else:
                await asyncio.wait((turn, timer), return_when=asyncio.FIRST_COMPLETED)
                if timer.done() and not timer.cancelled() and timer.exception() is not None:
                    raise timer.exception()  # type: ignore[misc]  # the sleep's own error
            made_head = turn.done()
        finally:
            if timer is not None:
                timer.cancel()
            if not made_head:
                if turn.done() and not turn.cancelled():  # made head just as it left
                    self._pass_head()
                turn.cancel()  # a place given up is skipped: it holds no slot
        if not made_head:
            waited = self._clock() - start
            raise ThrottleWaitExceeded(waited, waited + self._expected_wait(start, rate, 0), rate)

    def _expected_wait(self, now: float, rate: float, ahead: int) -> float:
        """An optimistic estimate (the rate grows while callers wait): only a sure miss fails."""
        needed = max(ahead + 1 - self._tokens, 0.0)
        pause = max(self._paused_until - now, 0.0)
        if needed == 0.0:
            return pause
        if self._w_max is None:  # slow start: the rate doubles `_DOUBLINGS` times a second
            d = _DOUBLINGS
            return pause + math.log2(1.0 + d * math.log(2.0) * needed / rate) / d
        w_max, k, t0 = self._w_max, self._cubic_k(), self._epoch_time  # CUBIC: solve for the time
        assert w_max is not None

        def sent(t: float) -> float:
            return w_max * t + _CUBIC_SCALE / 4.0 * (t - k) ** 4

        low, high = 0.0, needed / rate
        for _ in range(40):
            middle = (low + high) / 2.0
            if sent(t0 + middle) - sent(t0) >= needed:
                high = middle
            else:
                low = middle
        return pause + high

    def _pass_head(self) -> None:
        while self._queue:
            turn = self._queue.popleft()
            if not turn.done():  # a cancelled waiter is skipped: it holds no slot
                turn.set_result(None)
                return
        self._head_busy = False

    def _refill(self, now: float, rate: float) -> None:
        if now > self._filled_at:
            capacity = max(1.0, rate * self._burst)
            self._tokens = min(capacity, self._tokens + (now - self._filled_at) * rate)
            self._filled_at = now

    # --- rate control ----------------------------------------------------------------

    def _roll_ok_buckets(self, now: float) -> None:
        fresh = now < self._ok_bucket_end + 1.0  # the current bucket becomes the previous
        self._ok_previous = self._ok_current if fresh else 0
        self._refused_previous = self._refused_current if fresh else 0
        self._ok_current = self._refused_current = 0
        self._ok_bucket_end = math.floor(now) + 1.0

    def _refused_share(self, now: float) -> float:
        """The share of 429s among the answers of (about) the last second."""
        still_in_window = self._ok_bucket_end - now
        refused = self._refused_current + self._refused_previous * still_in_window
        return refused / (refused + self._measured_ok_rate(now))

    def _measured_ok_rate(self, now: float) -> float:
        """Successes over (about) the last second: a sliding-window estimate."""
        if now >= self._ok_bucket_end:
            self._roll_ok_buckets(now)
        still_in_window = self._ok_bucket_end - now  # share of the previous bucket that counts
        return self._ok_current + self._ok_previous * still_in_window

    def _engage(self, now: float) -> None:
        rate = self._start_from(self._measured_ok_rate(now))
        self._epoch_time = 0.0
        self._grown_at = now
        self._tokens = 0.0
        self._filled_at = max(now, self._paused_until)
        self._next_cut_at = now + self._decrease_interval
        self._calibrating = True
        logger.info(
            "HTTP 429: client-side rate limit engaged at %.3g requests/s%s",
            rate,
            "" if now >= self._paused_until else f", sends paused {self._paused_until - now:.3g} s",
        )
        self._notify("engaged", rate)

    def _calibrate(self) -> None:
        """A success from the wave that hit the limit: it was accepted, so it counts too."""
        self._start_from(self._engaged_on + 1.0)

    def _start_from(self, accepted: float) -> float:
        """Just below what the API accepted, then CUBIC; slow start if that is below it."""
        self._engaged_on = accepted
        if accepted * self._beta > self._start_rate:
            self._w_max, rate = accepted, accepted * self._beta
        else:  # (almost) nothing accepted lately: one success is no limit to learn from
            self._w_max, rate = None, self._start_rate
        self._rate = self._epoch_rate = max(self._rate or 0.0, rate)
        return self._rate

    def _cut(self, now: float) -> None:
        assert self._rate is not None
        # from what the API accepted, not what was allowed: the limit may be shared; but in
        # slow start the rate doubles faster than a one-second measurement follows, and it
        # only grew while callers waited: there, the rate is what the API took
        accepted = self._rate
        if self._w_max is not None:
            accepted = min(accepted, self._measured_ok_rate(now))
        self._w_max = max(accepted * _SETTLE, self._min_rate)  # a level the API did not refuse
        self._set_rate(now, max(self._min_rate, self._w_max * self._beta))
        self._epoch_rate = self._rate
        self._epoch_time = 0.0
        self._grown_at = now
        self._next_cut_at = now + self._decrease_interval
        logger.debug("HTTP 429: client-side rate limit cut to %.3g requests/s", self._rate)

    def _grow(self, now: float) -> None:
        elapsed, self._grown_at = now - self._grown_at, now
        binding = self._head_busy or now - self._last_wait_at < 1.0
        if now < self._paused_until or not binding:
            return  # growth only counts time in which the limit held someone back
        self._epoch_time += elapsed
        t = self._epoch_time
        if self._w_max is None:  # slow start: doubles twice a second
            target = self._epoch_rate * 2.0 ** (_DOUBLINGS * t)
        else:  # CUBIC: back to w_max after k seconds, flat near it, then probing past it
            past = t - self._cubic_k()
            target = self._w_max + _CUBIC_SCALE * past**3
            if past > _PLATEAU:  # no 429 long after reaching w_max: capacity freed up, find it
                target = max(target, self._w_max * 2.0 ** (_DOUBLINGS * (past - _PLATEAU)))
        self._set_rate(now, min(max(target, self._min_rate), _MAX_RATE))

    def _cubic_k(self) -> float:
        """Seconds CUBIC takes from the cut (beta x w_max) back to w_max."""
        assert self._w_max is not None
        return float((self._w_max * (1.0 - self._beta) / _CUBIC_SCALE) ** (1.0 / 3.0))

    def _set_rate(self, now: float, rate: float) -> None:
        if self._rate is not None:
            self._refill(now, self._rate)  # tokens saved so far accrued at the old rate
        self._rate = rate

    def _maybe_release(self, now: float) -> None:
        quiet_since = max(self._last_wait_at, self._last_throttled_at, self._paused_until)
        if now - quiet_since < self._release_after or self._queue:
            return
        self._rate = None
        self._w_max = None
        logger.info("client-side rate limit released: no call waited for %.3g s", now - quiet_since)
        self._notify("released", None)

    def _notify(self, event: str, rate: float | None) -> None:
        """Tell the observer; an observer that fails changes nothing here."""
        if self._on_event is not None:
            try:
                self._on_event(event, rate)
            except Exception:
                logger.exception("the on_event observer of the rate limiter failed")


_CUBIC_SCALE = 0.4  # CUBIC's C (as botocore), requests/s per s^3
_DOUBLINGS = 2.0  # per second: slow start, and probing once CUBIC has left w_max behind
_PLATEAU = 0.5  # seconds CUBIC may stay near w_max before that probing starts
_SETTLE = 0.95  # w_max below the rate that drew a 429: a level that rate still exceeded
_MAX_RATE = 1e6  # keeps the arithmetic finite; far above any API limit
_EPSILON = 1e-9  # float slack: 0.9999999999 tokens is a token

"""The pure retry decision and Retry-After parsing: no network, no clock."""

from __future__ import annotations

import math

import pytest

from turnix_async import (
    AuthenticationError,
    ClientClosedError,
    ResponseValidationError,
    TurnixConnectionError,
    TurnixError,
    TurnixTimeoutError,
)
from turnix_async._retry import RetryPolicy, Verdict, decide, describe
from turnix_async._retry_after import parse_retry_after
from turnix_async._wire import Reply

POLICY = RetryPolicy(max_retries=2, backoff_base=0.5, backoff_max=8.0, retry_after_cap=60.0)
NOW = 1_900_000_000.0


def verdict(
    outcome: Reply | TurnixError, attempt: int = 1, time_left: float | None = None
) -> Verdict:
    return decide(outcome, attempt, POLICY, time_left=time_left, now=NOW, jitter=0.0).verdict


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status: int) -> None:
    assert verdict(Reply(status)) is Verdict.RETRY


@pytest.mark.parametrize("status", [200, 400, 401, 403, 404, 409, 422, 501])
def test_other_statuses_stop_at_once(status: int) -> None:
    assert verdict(Reply(status)) is Verdict.STOP


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (TurnixConnectionError("reset"), Verdict.RETRY),
        (TurnixTimeoutError("slow"), Verdict.RETRY),
        (TurnixConnectionError("TLS failure", retryable=False), Verdict.STOP),
        (ClientClosedError("closed"), Verdict.STOP),
        (ResponseValidationError("bad body"), Verdict.STOP),
        (AuthenticationError("no", status=401), Verdict.STOP),
    ],
)
def test_failures_are_retried_only_when_another_attempt_can_help(
    failure: TurnixError, expected: Verdict
) -> None:
    assert verdict(failure) is expected


def test_retries_stop_after_max_retries() -> None:
    assert [verdict(Reply(503), attempt) for attempt in (1, 2, 3)] == [
        Verdict.RETRY,
        Verdict.RETRY,
        Verdict.STOP,
    ]


def test_backoff_doubles_is_capped_and_jittered_between_half_and_all() -> None:
    waits = [
        decide(Reply(503), n, RetryPolicy(max_retries=9), time_left=None, now=NOW, jitter=j).wait
        for n, j in [(1, 0.0), (2, 0.0), (3, 0.999999), (9, 0.999999)]
    ]
    assert waits == pytest.approx([0.25, 0.5, 2.0, 8.0])


def test_retry_after_replaces_the_backoff_on_429_and_503_only() -> None:
    headers = {"Retry-After": "3"}
    assert decide(Reply(429, headers), 1, POLICY, time_left=None, now=NOW).wait == 3.0
    assert decide(Reply(503, headers), 1, POLICY, time_left=None, now=NOW).wait == 3.0
    assert decide(Reply(500, headers), 1, POLICY, time_left=None, now=NOW, jitter=0).wait == 0.25


def test_a_retry_after_beyond_the_cap_or_the_time_left_stops_at_once() -> None:
    assert verdict(Reply(429, {"Retry-After": "61"})) is Verdict.STOP
    assert verdict(Reply(429, {"Retry-After": "5"}), time_left=4.0) is Verdict.STOP


def test_a_backoff_that_does_not_fit_the_deadline_is_out_of_time() -> None:
    assert verdict(Reply(503), time_left=0.1) is Verdict.OUT_OF_TIME


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("3", 3.0),
        (" 1.5 ", 1.5),
        ("0", 0.0),
        ("9" * 400, math.inf),
        ("Sun, 06 Nov 2030 08:49:37 GMT", None),  # relative to NOW below
        ("٣", None),  # Arabic-Indic 3: HTTP digits are ASCII
        ("3 seconds", None),
        ("-1", None),
        ("", None),
    ],
)
def test_retry_after_forms(value: str, seconds: float | None) -> None:
    parsed = parse_retry_after({"Retry-After": value}, NOW)
    if value.startswith("Sun"):
        assert parsed is not None and parsed > 0
    else:
        assert parsed == seconds


def test_an_http_date_in_the_past_means_no_wait() -> None:
    assert parse_retry_after({"Retry-After": "Sun, 06 Nov 1994 08:49:37 GMT"}, NOW) == 0.0


def test_reasons_are_short_and_bounded() -> None:
    assert describe(Reply(503)) == "HTTP 503"
    assert describe(TurnixTimeoutError("no complete response within 10 s")) == "TurnixTimeoutError"

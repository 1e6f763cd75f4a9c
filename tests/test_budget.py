"""RetryBudget: retries stay a small share of recent calls, with a floor for a lone call."""

from __future__ import annotations

import pytest

from turnix_async._budget import RetryBudget


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_lone_call_retries_a_blip() -> None:
    budget = RetryBudget(clock=FakeClock())
    budget.record_request()
    assert [budget.try_spend(), budget.try_spend()] == [True, True]  # two 503s, then the 200


def test_an_outage_gets_a_fifth_of_the_calls_as_retries_plus_the_floor() -> None:
    budget = RetryBudget(ratio=0.2, min_retries=10, clock=FakeClock())
    for _ in range(1000):
        budget.record_request()
    granted = sum(budget.try_spend() for _ in range(3000))  # every call wants 3 retries
    assert granted == 0.2 * 1000 + 10
    assert budget.available == 0


def test_calls_and_retries_leave_the_window() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.5, window=10.0, min_retries=0, clock=clock)
    for _ in range(10):
        budget.record_request()
    assert sum(budget.try_spend() for _ in range(10)) == 5
    clock.now += 5.0
    assert not budget.try_spend()  # the calls still count, and so do the retries
    clock.now += 5.0
    assert budget.available == 0  # both calls and retries dropped out together
    budget.record_request()
    budget.record_request()
    assert sum(budget.try_spend() for _ in range(5)) == 1
    clock.now += 1000.0  # a long idle gap clears the whole ring at once
    assert budget.available == 0
    budget.record_request()
    budget.record_request()
    assert budget.available == 1


@pytest.mark.parametrize(
    ("field", "value"), [("ratio", -0.1), ("window", 0.0), ("min_retries", -1)]
)
def test_bad_settings_name_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        RetryBudget(**{field: value})  # type: ignore[arg-type]

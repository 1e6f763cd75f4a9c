"""Checks for numeric constructor arguments: a clear ValueError naming the argument."""

from __future__ import annotations

import math
from typing import Any


def check_seconds(name: str, value: Any, *, zero_ok: bool = False) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not zero_ok)
    ):
        bound = ">= 0" if zero_ok else "> 0"
        raise ValueError(f"{name} must be a finite number of seconds {bound} (got {value!r})")
    return float(value)


def check_int(name: str, value: Any, *, minimum: int) -> int:
    if type(value) is not int or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum} (got {value!r})")
    return value

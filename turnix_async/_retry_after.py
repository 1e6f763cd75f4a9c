"""The `Retry-After` header: delta-seconds or an HTTP date, in ASCII as HTTP is."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from datetime import timezone
from email.utils import parsedate_to_datetime

__all__ = ["RETRY_AFTER_STATUSES", "parse_retry_after"]

RETRY_AFTER_STATUSES = frozenset({429, 503})  # where Retry-After means "wait"

_DELTA_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")  # not \d: "٣" is no HTTP digit


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header, else None (absent or not valid).

    `now` is the current Unix time for the HTTP-date form (default `time.time()`).
    """
    value = headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):  # a huge value is simply too long to wait
        return float(value) if len(value) < 300 else math.inf
    if not value.isascii():
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None  # not a valid Retry-After: use our own backoff
    if moment.tzinfo is None:  # the asctime form: HTTP dates are always GMT
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))

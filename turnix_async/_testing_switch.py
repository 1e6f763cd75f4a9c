"""The process-wide testing switch: retries happen at once, without waiting.

Like stamina's `set_testing`: a test suite turns waiting off for every client in
the process (an app's own default client included), so a test that injects two
503s does not sleep through the backoff. Only waits are skipped; attempts,
budgets and errors stay exactly as in production.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["instant_retries", "waits_are_skipped"]

_depth = 0


def waits_are_skipped() -> bool:
    """True while `instant_retries()` is active anywhere in the process."""
    return _depth > 0


@contextlib.contextmanager
def instant_retries() -> Iterator[None]:
    """Within this block, every `AsyncTurnix` retries without backoff or `Retry-After` waits."""
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1

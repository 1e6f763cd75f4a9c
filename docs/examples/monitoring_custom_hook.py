"""A hook of your own: any object with on_call, on_retry and/or on_throttle."""

import asyncio
import collections
import logging

from turnix_async import AsyncTurnix
from turnix_async.instrumentation import CallDetails, LoggingHooks, RetryDetails


class CallStats:
    """Tallies outcomes and retry reasons in memory, e.g. for a /healthz page."""

    def __init__(self) -> None:
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.retry_reasons: collections.Counter[str] = collections.Counter()

    def on_call(self, details: CallDetails) -> None:  # in the caller's task: be quick
        self.outcomes[details.outcome] += 1

    def on_retry(self, details: RetryDetails) -> None:
        self.retry_reasons[details.reason] += 1


async def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    stats = CallStats()
    # the token from TURNIX_API_TOKEN
    async with AsyncTurnix(hooks=[stats, LoggingHooks()]) as turnix:
        await turnix.get_ice_credentials(room="lobby")
        await turnix.list_regions()
    print("outcomes:", dict(stats.outcomes), "retries:", dict(stats.retry_reasons))


if __name__ == "__main__":
    asyncio.run(main())

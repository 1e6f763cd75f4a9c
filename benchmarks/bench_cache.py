"""What `IceCredentialsCache` costs on a hit, and what it saves in a herd.

    .venv/bin/python benchmarks/bench_cache.py            # under half a minute
    .venv/bin/python benchmarks/bench_cache.py --quick    # smoke run, a few seconds

What it measures (the figures are in docs/caching.md):

* hit cost: `await cache.get(room=..., ttl=...)` on a warm key, in a tight loop of
  `--hits` calls, repeated `--repeats` times with the garbage collector off (as
  `timeit` does); reported as the median (and min/max) microseconds per call.
  The same for a call with all seven arguments, and for comparison one uncached
  `get_ice_credentials()` round trip to the local server.
* herd: `--callers` concurrent `get()`s for one key while the server holds the
  answer for 50 ms: how many requests reach the server (the goal is exactly 1),
  and the wall time. For contrast, the same callers without the cache.

The server is `turnix_async.testing.FakeTurnixServer` in this process, on
127.0.0.1. The last line of output is the JSON of all results.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from turnix_async import AsyncTurnix, IceCredentialsCache
from turnix_async.testing import FakeTurnixServer

ROOM = "bench-room"
TTL = 300
ALL_ARGUMENTS: dict[str, Any] = {
    "initiator_client": "alice",
    "receiver_client": "bob",
    "room": ROOM,
    "ttl": TTL,
    "fixed_region": "eu-central",
    "preferred_region": "eu-west",
    "client_ip": "203.0.113.7",
}


async def per_call_us(
    call: Callable[[], Awaitable[object]], calls: int, repeats: int
) -> list[float]:
    """Microseconds per call for each of `repeats` loops of `calls` sequential awaits."""
    results = []
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            for _ in range(calls):
                await call()
            elapsed = time.perf_counter() - start
        finally:
            gc.enable()
        results.append(elapsed / calls * 1e6)
    return results


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(samples), 3),
        "min": round(min(samples), 3),
        "max": round(max(samples), 3),
    }


async def herd(server: FakeTurnixServer, callers: int, *, cached: bool) -> dict[str, Any]:
    """`callers` concurrent requests for one key while the server holds the answer 50 ms."""
    async with AsyncTurnix(server.api_token, base_url=server.base_url) as turnix:
        cache = IceCredentialsCache(turnix)

        async def fetch() -> object:
            if cached:
                return await cache.get(room=ROOM, ttl=TTL)
            return await turnix.get_ice_credentials(room=ROOM, ttl=TTL)

        server.reset()
        server.delay_next(0.05, n=callers)
        start = time.perf_counter()
        results = await asyncio.gather(*(fetch() for _ in range(callers)))
        elapsed = time.perf_counter() - start
        requests = len(server.requests)
        server.reset()
    return {
        "callers": callers,
        "requests": requests,
        "distinct_results": len({id(result) for result in results}),
        "wall_ms": round(elapsed * 1e3, 1),
    }


async def measure(quick: bool, hits: int, repeats: int, callers: int) -> dict[str, Any]:
    results: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "hits_per_loop": hits,
        "repeats": repeats,
    }
    async with FakeTurnixServer() as server:
        async with AsyncTurnix(server.api_token, base_url=server.base_url) as turnix:
            cache = IceCredentialsCache(turnix)
            await cache.get(room=ROOM, ttl=TTL)
            await cache.get(**ALL_ARGUMENTS)
            results["hit_us"] = summary(
                await per_call_us(lambda: cache.get(room=ROOM, ttl=TTL), hits, repeats)
            )
            results["hit_all_arguments_us"] = summary(
                await per_call_us(lambda: cache.get(**ALL_ARGUMENTS), hits, repeats)
            )
            results["uncached_request_us"] = summary(
                await per_call_us(
                    lambda: turnix.get_ice_credentials(room=ROOM, ttl=TTL),
                    100 if quick else 500,
                    3,
                )
            )
        results["herd_cached"] = await herd(server, callers, cached=True)
        results["herd_uncached"] = await herd(server, callers, cached=False)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="IceCredentialsCache: hit cost and herd")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter loops")
    parser.add_argument("--hits", type=int, help="calls per timing loop")
    parser.add_argument("--repeats", type=int, help="timing loops")
    parser.add_argument("--callers", type=int, default=1000, help="concurrent callers")
    args = parser.parse_args()
    hits = args.hits or (20_000 if args.quick else 200_000)
    repeats = args.repeats or (5 if args.quick else 9)
    results = asyncio.run(measure(args.quick, hits, repeats, args.callers))

    print(f"python {results['python']} on {results['machine']}")
    for name, label in (
        ("hit_us", "cache hit, room+ttl"),
        ("hit_all_arguments_us", "cache hit, all 7 arguments"),
        ("uncached_request_us", "uncached request (local server)"),
    ):
        figure = results[name]
        print(
            f"{label:34} median {figure['median']:9.2f} us"
            f"  (min {figure['min']:.2f}, max {figure['max']:.2f})"
        )
    for name, label in (("herd_cached", "with cache"), ("herd_uncached", "without cache")):
        outcome = results[name]
        print(
            f"herd of {outcome['callers']} callers, {label:13}: {outcome['requests']:5} requests,"
            f" {outcome['distinct_results']:5} distinct results, {outcome['wall_ms']:8.1f} ms"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()

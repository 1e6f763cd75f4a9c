"""What `IceCredentialsCache` costs on a hit, and what it saves in a herd.

    .venv/bin/python benchmarks/bench_cache.py                  # about 20 seconds
    .venv/bin/python benchmarks/bench_cache.py --quick          # smoke run, a few seconds
    .venv/bin/python benchmarks/bench_cache.py --instructions   # + valgrind counts

* hit: `await cache.get(...)` on a warm key in a loop of `--hits` calls, repeated
  `--repeats` times with the garbage collector off; the median microseconds per
  call, for `room` + `ttl` and for all seven arguments. `--instructions` also
  counts one hit's user-space instructions with valgrind (cachegrind): the same on
  a busy or an idle machine, unlike the microseconds.
* herd: `--callers` concurrent `get()`s for one key while the server holds the
  answer for 50 ms, with and without the cache: requests sent, wall time.

The server is `turnix_async.testing.FakeTurnixServer` in this process, on
127.0.0.1. The figures are in docs/caching.md; the last line printed is their JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any

from turnix_async import AsyncTurnix, IceCredentialsCache
from turnix_async.testing import FakeTurnixServer

ARGUMENT_SETS: dict[str, dict[str, Any]] = {
    "room_ttl": {"room": "bench-room", "ttl": 300},
    "all_arguments": {
        "initiator_client": "alice",
        "receiver_client": "bob",
        "room": "bench-room",
        "ttl": 300,
        "fixed_region": "eu-central",
        "client_ip": "203.0.113.7",
    },
}


async def hit_us(cache: IceCredentialsCache, kwargs: dict[str, Any], hits: int) -> float:
    """Microseconds per call of one loop of `hits` sequential hits."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(hits):
            await cache.get(**kwargs)
        return (time.perf_counter() - start) / hits * 1e6
    finally:
        gc.enable()


async def herd(server: FakeTurnixServer, callers: int, *, cached: bool) -> dict[str, Any]:
    """`callers` concurrent requests for one key while the server holds the answer 50 ms."""
    kwargs = ARGUMENT_SETS["room_ttl"]
    async with AsyncTurnix(server.api_token, base_url=server.base_url) as turnix:
        cache = IceCredentialsCache(turnix)
        fetch = cache.get if cached else turnix.get_ice_credentials
        server.reset()
        server.delay_next(0.05, n=callers)
        start = time.perf_counter()
        await asyncio.gather(*(fetch(**kwargs) for _ in range(callers)))
        elapsed = time.perf_counter() - start
        requests = len(server.requests)
    return {"callers": callers, "requests": requests, "wall_ms": round(elapsed * 1e3, 1)}


async def measure(hits: int, repeats: int, callers: int) -> dict[str, Any]:
    results: dict[str, Any] = {"python": platform.python_version(), "hits": hits}
    async with FakeTurnixServer() as server:
        async with AsyncTurnix(server.api_token, base_url=server.base_url) as turnix:
            cache = IceCredentialsCache(turnix)
            for name, kwargs in ARGUMENT_SETS.items():
                await cache.get(**kwargs)
                loops = [await hit_us(cache, kwargs, hits) for _ in range(repeats)]
                results[f"hit_{name}_us"] = round(statistics.median(loops), 3)
        results["herd_cached"] = await herd(server, callers, cached=True)
        results["herd_uncached"] = await herd(server, callers, cached=False)
    return results


async def hits_only(name: str, hits: int) -> None:
    """Runs under cachegrind: one miss, then `hits` hits."""
    server = FakeTurnixServer()
    async with server, AsyncTurnix(server.api_token, base_url=server.base_url) as turnix:
        cache = IceCredentialsCache(turnix)
        for _ in range(hits + 1):
            await cache.get(**ARGUMENT_SETS[name])


def instructions_per_hit(name: str) -> float:
    """Instructions of 20,000 hits minus those of none, per hit (start-up cancels out)."""
    valgrind = ["valgrind", "--tool=cachegrind", "--cache-sim=no"]
    valgrind.append("--cachegrind-out-file=/dev/null")
    counts = []
    for hits in (0, 20_000):
        output = subprocess.run(
            [*valgrind, sys.executable, __file__, "--hits-only", name, str(hits)],
            capture_output=True,
            text=True,
            check=True,
        )
        found = re.search(r"I\s+refs:\s+([\d,]+)", output.stderr)
        if found is None:
            raise RuntimeError(f"no instruction count from cachegrind:\n{output.stderr[-2000:]}")
        counts.append(int(found.group(1).replace(",", "")))
    return (counts[1] - counts[0]) / 20_000


def main() -> None:
    parser = argparse.ArgumentParser(description="IceCredentialsCache: hit cost and herd")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter loops")
    parser.add_argument("--instructions", action="store_true", help="count with valgrind")
    parser.add_argument("--hits", type=int, help="calls per timing loop")
    parser.add_argument("--repeats", type=int, help="timing loops")
    parser.add_argument("--callers", type=int, default=1000, help="concurrent callers")
    parser.add_argument("--hits-only", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hits_only:
        asyncio.run(hits_only(args.hits_only[0], int(args.hits_only[1])))
        return
    hits = args.hits or (20_000 if args.quick else 200_000)
    repeats = args.repeats or (5 if args.quick else 9)
    results = asyncio.run(measure(hits, repeats, args.callers))
    if args.instructions:
        if shutil.which("valgrind") is None:
            raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
        for name in ARGUMENT_SETS:
            results[f"hit_{name}_instructions"] = round(instructions_per_hit(name))

    print(f"python {results['python']}, median of {repeats} loops of {hits} hits")
    for name in ARGUMENT_SETS:
        counted = results.get(f"hit_{name}_instructions")
        extra = f", {counted:,} instructions" if counted else ""
        print(f"cache hit, {name:14} {results[f'hit_{name}_us']:7.2f} us{extra}")
    for key in ("herd_cached", "herd_uncached"):
        outcome = results[key]
        print(
            f"{key:14} {outcome['callers']} callers: {outcome['requests']:5} requests,"
            f" {outcome['wall_ms']:8.1f} ms"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()

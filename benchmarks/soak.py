"""Soak run: many calls at high concurrency against a faulty loopback server in another process.

    .venv/bin/python benchmarks/soak.py                # 100,000 calls, concurrency 200, 5 % faults
    .venv/bin/python benchmarks/soak.py --calls 20000  # shorter

Reports calls that succeeded, typed errors by class, untyped exceptions (must be
0), hangs (calls that outlived their deadline by 5 s; must be 0), RSS after
warm-up and at the end, and open file descriptors before and after. Loopback
only, bounded in count and time: it stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import multiprocessing
import os
import random
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from turnix_async import AsyncTurnix, TurnixError

ICE_BODY = {
    "iceServers": [
        {"urls": ["stun:stun.example.test:3478"]},
        {"urls": ["turn:eu.example.test:3478?transport=udp"], "username": "u", "credential": "c"},
    ],
    "expiresAt": "2099-01-01T00:00:00Z",
}


def serve(port: int, fault_rate: float, seed: int) -> None:
    """The faulty server: resets, 503s, 429s and slow answers at `fault_rate` in total."""
    from aiohttp import web

    chance = random.Random(seed)
    body = json.dumps(ICE_BODY).encode()

    async def ice(request: web.Request) -> web.StreamResponse:
        await request.read()
        roll = chance.random() / fault_rate if fault_rate else 1.0
        if roll < 0.3:
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        if roll < 0.6:
            return web.json_response({"error": "busy"}, status=503)
        if roll < 0.8:
            return web.json_response(
                {"error": "slow down"}, status=429, headers={"Retry-After": "0"}
            )
        if roll < 1.0:
            await asyncio.sleep(0.2)
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/api/v1/credentials/ice", ice)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, shutdown_timeout=0.1)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def soak(port: int, calls: int, concurrency: int) -> dict[str, object]:
    outcomes: collections.Counter[str] = collections.Counter()
    deadline = 10.0
    async with AsyncTurnix(
        "soak-token",
        base_url=f"http://127.0.0.1:{port}/api/v1",
        timeout=2.0,
        max_retries=6,
        deadline=deadline,
        backoff_base=0.01,
    ) as client:
        fds_before = open_fds()
        remaining = iter(range(calls))
        warm_rss = 0.0

        async def one(i: int) -> None:
            try:
                await asyncio.wait_for(
                    client.get_ice_credentials(room=f"r{i % 97}", ttl=60), deadline + 5
                )
                outcomes["ok"] += 1
            except asyncio.TimeoutError:
                outcomes["hang"] += 1
            except TurnixError as exc:
                outcomes[type(exc).__name__] += 1
            except Exception as exc:  # must never happen: counted as untyped
                outcomes[f"untyped:{type(exc).__name__}"] += 1

        async def worker() -> None:
            nonlocal warm_rss
            for i in remaining:
                await one(i)
                if i == min(5000, calls // 10):
                    warm_rss = rss_mib()

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
        end_rss = rss_mib()
    await asyncio.sleep(0.1)
    fds_after = open_fds()
    untyped = sum(n for key, n in outcomes.items() if key.startswith("untyped:"))
    return {
        "calls": calls,
        "concurrency": concurrency,
        "seconds": round(elapsed, 1),
        "calls_per_second": round(calls / elapsed),
        "ok": outcomes["ok"],
        "typed_errors": {
            k: v
            for k, v in outcomes.items()
            if k not in ("ok", "hang") and not k.startswith("untyped:")
        },
        "untyped_exceptions": untyped,
        "hangs": outcomes["hang"],
        "rss_mib_after_warmup": round(warm_rss, 1),
        "rss_mib_at_end": round(end_rss, 1),
        "fds_before": fds_before,
        "fds_after_close": fds_after,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--fault-rate", type=float, default=0.05)
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    args = parser.parse_args()
    port = free_port()
    server = multiprocessing.Process(target=serve, args=(port, args.fault_rate, 1), daemon=True)
    server.start()
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        result = asyncio.run(soak(port, args.calls, args.concurrency))
    finally:
        server.terminate()
        server.join(5)
    result["fault_rate"] = args.fault_rate
    if not args.json:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    print(json.dumps(result))
    healthy = (
        result["untyped_exceptions"] == 0
        and result["hangs"] == 0
        and result["fds_before"] >= result["fds_after_close"]  # type: ignore[operator]
    )
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())

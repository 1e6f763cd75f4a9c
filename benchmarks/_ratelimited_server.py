"""A loopback Turnix API with a rate limit, for `overload.py`; runs in its own process.

    POST /api/v1/credentials/ice   200 the ICE JSON; 401 without `Authorization: Bearer`;
                                   429 past the limit; 503 in outage mode
    GET  /stats                    {"requests": n, "ok": n, "throttled": n, ...} as JSON

The limit is a fixed window: `--limit` requests per `--window` seconds, counted
per server (so every client process shares it, as a per-token limit is shared
by every replica). A 429 carries `Retry-After` per `--retry-after`: `window`
(the whole seconds until the window ends, rounded up, as HTTP allows only whole
seconds: with a 1 s window always 1, so a client that honours it also misses the
start of the next window), `exact` (the fraction of a second left: not valid HTTP,
only to measure what that rounding costs), `none`, or a fixed number of seconds.
`--outage` answers 503 to everything; `--delay` holds every answer that long. It
binds 127.0.0.1, prints `PORT <n>` once listening, and stops when its stdin closes
or after `--lifetime` seconds.

    python benchmarks/_ratelimited_server.py [--limit 200] [--window 1] [--retry-after window|exact]
        [--outage] [--delay 0] [--port 0] [--lifetime 600]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import math
import os
import sys
import time

from aiohttp import web

ICE_BODY = {
    "iceServers": [
        {"urls": ["stun:stun.turnix.io:3478"]},
        {
            "username": "35bb4eb4-b518-4059-9399-272efdefc5d9",
            "credential": "7ea616da55d417f4aaf6427016140416",
            "urls": ["turn:eu-central.turnix.io:3478?transport=udp"],
        },
    ],
    "expiresAt": "2030-06-04T12:00:30Z",
}


class FixedWindow:
    """At most `limit` accepted requests in each `window`-second slice of the clock."""

    def __init__(self, limit: int | None, window: float) -> None:
        self.limit = limit
        self.window = window
        self._index = -1
        self._used = 0

    def admit(self, now: float) -> float | None:
        """None if admitted, else the seconds until the window ends."""
        if self.limit is None:
            return None
        index = math.floor(now / self.window)
        if index != self._index:
            self._index, self._used = index, 0
        if self._used >= self.limit:
            return (index + 1) * self.window - now
        self._used += 1
        return None


def build_app(args: argparse.Namespace) -> web.Application:
    stats: collections.Counter[str] = collections.Counter()
    limiter = FixedWindow(args.limit, args.window)

    def retry_after(remaining: float) -> dict[str, str]:
        if args.retry_after == "none":
            return {}
        if args.retry_after == "window":
            return {"Retry-After": str(max(1, math.ceil(remaining)))}
        if args.retry_after == "exact":  # not HTTP (whole seconds only): what rounding costs
            return {"Retry-After": f"{remaining:.3f}"}
        return {"Retry-After": args.retry_after}

    async def ice(request: web.Request) -> web.StreamResponse:
        await request.read()
        stats["requests"] += 1
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            stats["unauthorized"] += 1
            return web.json_response({"error": "missing token"}, status=401)
        if args.delay:
            await asyncio.sleep(args.delay)
        if args.outage:
            stats["unavailable"] += 1
            return web.json_response({"error": "maintenance"}, status=503)
        remaining = limiter.admit(time.monotonic())
        if remaining is not None:
            stats["throttled"] += 1
            return web.json_response(
                {"error": "rate limit exceeded"}, status=429, headers=retry_after(remaining)
            )
        stats["ok"] += 1
        return web.json_response(ICE_BODY)

    async def show_stats(request: web.Request) -> web.StreamResponse:
        return web.json_response(dict(stats))

    app = web.Application()
    app.router.add_post("/api/v1/credentials/ice", ice)
    app.router.add_get("/stats", show_stats)
    return app


async def serve(args: argparse.Namespace) -> None:
    runner = web.AppRunner(build_app(args), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port, backlog=4096)
    await site.start()
    assert runner.addresses
    print(f"PORT {runner.addresses[0][1]}", flush=True)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def stdin_ready() -> None:
        if not os.read(sys.stdin.fileno(), 4096) and not stop.done():
            stop.set_result(None)

    loop.add_reader(sys.stdin.fileno(), stdin_ready)
    loop.call_later(args.lifetime, lambda: stop.done() or stop.set_result(None))
    try:
        await stop
    finally:
        loop.remove_reader(sys.stdin.fileno())
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="requests per window")
    parser.add_argument("--window", type=float, default=1.0, help="window length (s)")
    parser.add_argument("--retry-after", default="window", help="window | exact | none | SECONDS")
    parser.add_argument("--outage", action="store_true", help="answer 503 to everything")
    parser.add_argument("--delay", type=float, default=0.0, help="hold each answer (s)")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--lifetime", type=float, default=600.0, help="stop after (s)")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()

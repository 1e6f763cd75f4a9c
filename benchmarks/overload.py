"""Overload scenarios: reconnect storms against a rate limit, an outage, a saturated pool, a fleet.

    .venv/bin/python benchmarks/overload.py                     # every scenario, ~2-4 minutes
    .venv/bin/python benchmarks/overload.py --scenario storm-2000 --json

Each scenario starts `_ratelimited_server.py` in its own process and fires every
peer at once through the public client (`AsyncTurnix(token, base_url=...,
deadline=40)`), each peer with its own room and client IP, as a signaling service
does after a reconnect storm. Reported per scenario: the share of peers served,
requests the API saw per peer, the wall time over the physical limit (peers /
limit for a rate limit, answer delay x rounds for the pool) and the error classes
of the failures. Loopback only; every server stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import math
import multiprocessing
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import attrs

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from turnix_async import AsyncTurnix, TurnixError  # noqa: E402

TOKEN = "bench-overload-token"


@attrs.frozen
class Scenario:
    name: str
    peers: int  # per process
    server: tuple[str, ...]  # _ratelimited_server.py arguments
    limit_seconds: float | None  # the physical limit: the fastest any client could finish
    processes: int = 1
    client: dict[str, Any] = attrs.field(factory=dict)


SCENARIOS = [
    Scenario("storm-2000", 2000, ("--limit", "200"), 2000 / 200),
    Scenario("storm-800", 800, ("--limit", "100"), 800 / 100),
    Scenario("outage", 1000, ("--outage",), None),
    Scenario(
        "pool",
        600,
        ("--delay", "0.5"),
        math.ceil(600 / 100) * 0.5,  # 100 connections, 0.5 s answers
        client={"timeout": 2.0},
    ),
    Scenario("fleet", 250, ("--limit", "100"), 3 * 250 / 100, processes=3),
]


def client_ip(number: int) -> str:
    return f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"


async def run_peers(base_url: str, peers: int, first: int, options: dict[str, Any]) -> Any:
    """Every peer at once through one client; returns the outcome of each, counted."""
    async with AsyncTurnix(TOKEN, base_url=base_url, deadline=40, **options) as client:

        async def peer(number: int) -> str:
            try:
                await client.get_ice_credentials(room=f"room-{number}", client_ip=client_ip(number))
            except TurnixError as exc:
                return type(exc).__name__
            return "ok"

        return collections.Counter(await asyncio.gather(*(peer(first + n) for n in range(peers))))


def process_main(
    base_url: str, peers: int, first: int, options: dict[str, Any], start_at: float
) -> tuple[dict[str, int], float]:
    """One fleet process: wait for the common start, run its peers, say when it finished."""
    time.sleep(max(0.0, start_at - time.time()))
    outcomes = asyncio.run(run_peers(base_url, peers, first, options))
    return dict(outcomes), time.time()


def start_server(arguments: tuple[str, ...]) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [sys.executable, str(HERE / "_ratelimited_server.py"), *arguments],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline()
    if not line.startswith("PORT "):
        server.kill()
        raise RuntimeError(f"the server did not start: {line!r}")
    return server, f"http://127.0.0.1:{int(line.split()[1])}"


def run_scenario(scenario: Scenario) -> dict[str, Any]:
    server, root = start_server(scenario.server)
    try:
        base_url = f"{root}/api/v1"
        if scenario.processes == 1:
            started = time.perf_counter()
            outcomes = asyncio.run(run_peers(base_url, scenario.peers, 0, scenario.client))
            wall = time.perf_counter() - started
        else:
            start_at = time.time() + 3.0  # every process imported and waiting by then
            jobs = [
                (base_url, scenario.peers, n * scenario.peers, scenario.client, start_at)
                for n in range(scenario.processes)
            ]
            with multiprocessing.get_context("spawn").Pool(scenario.processes) as pool:
                results = pool.starmap(process_main, jobs)
            outcomes = collections.Counter()
            for counted, _ in results:
                outcomes.update(counted)
            wall = max(finished for _, finished in results) - start_at
        with urllib.request.urlopen(f"{root}/stats", timeout=10) as answer:
            stats = json.load(answer)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)
    peers, limit = scenario.peers * scenario.processes, scenario.limit_seconds
    errors = {name: count for name, count in outcomes.items() if name != "ok"}
    return {
        "scenario": scenario.name,
        "peers": peers,
        "served": outcomes["ok"] / peers,
        "requests_per_peer": stats.get("requests", 0) / peers,
        "wall_s": wall,
        "wall_over_limit": None if limit is None else wall / limit,
        "errors": dict(sorted(errors.items())),
        "server": stats,
    }


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario | peers | served | requests / peer | wall | wall / limit | failures |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ratio = "-" if r["wall_over_limit"] is None else f"{r['wall_over_limit']:.2f}x"
        failures = ", ".join(f"{name} {count}" for name, count in r["errors"].items()) or "-"
        lines.append(
            f"| {r['scenario']} | {r['peers']} | {r['served']:.1%} | {r['requests_per_peer']:.2f}"
            f" | {r['wall_s']:.1f} s | {ratio} | {failures} |"
        )
    return "\n".join(lines)


def main() -> None:
    names = [s.name for s in SCENARIOS]
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scenario", action="append", choices=names, help="repeatable")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    chosen = [s for s in SCENARIOS if args.scenario is None or s.name in args.scenario]
    results = []
    for scenario in chosen:
        results.append(run_scenario(scenario))
        if not args.json:
            print(f"{scenario.name}: done in {results[-1]['wall_s']:.1f} s", file=sys.stderr)
    print(json.dumps(results, indent=2) if args.json else table(results))


if __name__ == "__main__":
    main()

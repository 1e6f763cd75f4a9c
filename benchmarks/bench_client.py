"""What does `AsyncTurnix` cost over raw aiohttp, per call?

    .venv/bin/python benchmarks/bench_client.py                 # about 1 minute (idle machine)
    .venv/bin/python benchmarks/bench_client.py --json          # the same, JSON on stdout
    .venv/bin/python benchmarks/bench_client.py --instructions  # + valgrind counts, c=32

Both clients make the same call — POST a small JSON body with a bearer token to
`/credentials/ice`, parse the JSON answer — against `_server.py`, which runs in
another process. Raw aiohttp is one `ClientSession` and `response.json()`; the SDK
is `AsyncTurnix.get_ice_credentials()` (public API only). At concurrency 1, 32 and
256 the two take turns in interleaved rounds (raw sdk, sdk raw, ...), the same
number of calls each. The main figure is this process's CPU time per call
(`time.process_time()`), which a busy machine disturbs far less than wall time;
the SDK/raw ratio is taken per round and reported as median [min-max].

`--instructions` re-runs concurrency 32 in fresh interpreters under
`valgrind --tool=cachegrind` and reports user-space instructions per call (the
difference of two runs of different lengths, so start-up and warm-up cancel).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

SERVER = Path(__file__).resolve().with_name("_server.py")
TOKEN = "tk_bench_0123456789abcdef"
ROOM = "bench-room"
TTL = 120
CONCURRENCIES = (1, 32, 256)
CPU_TARGET = {32: 1.10, 256: 1.10}  # SDK/raw client CPU per call, median of the rounds
IMPORT_TARGET_MS = 20.0

Call = Callable[[], Awaitable[None]]
Close = Callable[[], Awaitable[None]]


@contextmanager
def bench_server() -> Iterator[str]:
    """Start `_server.py` in its own process; yield the API base URL; stop it on exit."""
    process = subprocess.Popen(
        [sys.executable, str(SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        line = process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"benchmark server did not start (said {line!r})")
        yield f"http://127.0.0.1:{line.split()[1]}/api/v1"
    finally:
        process.stdin.close()  # the server stops when its stdin closes
        process.wait(timeout=10)
        process.stdout.close()


async def make_client(name: str, base_url: str) -> tuple[Call, Close]:
    """One call of the named client ("raw" or "sdk") and how to close it."""
    if name == "raw":
        session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"})
        url = f"{base_url}/credentials/ice"
        body = {"room": ROOM, "ttl": TTL}

        async def raw_call() -> None:
            async with session.post(url, json=body) as response:
                response.raise_for_status()
                data = await response.json()
            if not data["iceServers"][0]["urls"]:
                raise RuntimeError("no ICE servers")

        return raw_call, session.close

    from turnix_async import AsyncTurnix

    turnix = AsyncTurnix(TOKEN, base_url=base_url)

    async def sdk_call() -> None:
        credentials = await turnix.get_ice_credentials(room=ROOM, ttl=TTL)
        if not credentials.ice_servers[0].urls:
            raise RuntimeError("no ICE servers")

    return sdk_call, turnix.close


async def run_batch(call: Call, calls: int, concurrency: int) -> tuple[float, float]:
    """(process CPU seconds, wall seconds) for `calls` calls made by `concurrency` workers."""
    remaining = calls

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, calls))))
    return time.process_time() - cpu, time.perf_counter() - wall


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


async def per_call_costs(base_url: str, rounds: int, calls: int) -> dict[str, Any]:
    """Interleaved rounds of raw and sdk at each concurrency: µs per call and SDK/raw."""
    names = ["raw", "sdk"]
    clients = {name: await make_client(name, base_url) for name in names}
    results: dict[str, Any] = {}
    try:
        for concurrency in CONCURRENCIES:
            for name in names:  # warm-up: open the pool's connections, fill caches
                await run_batch(clients[name][0], max(300, 2 * concurrency), concurrency)
            cpu: dict[str, list[float]] = {name: [] for name in names}
            wall: dict[str, list[float]] = {name: [] for name in names}
            for index in range(rounds):
                for name in names if index % 2 == 0 else names[::-1]:
                    cpu_s, wall_s = await run_batch(clients[name][0], calls, concurrency)
                    cpu[name].append(cpu_s / calls * 1e6)
                    wall[name].append(wall_s / calls * 1e6)
            results[str(concurrency)] = {
                "cpu_us_per_call": {name: spread(cpu[name]) for name in names},
                "wall_us_per_call": {name: spread(wall[name]) for name in names},
                "cpu_ratio": spread([s / r for s, r in zip(cpu["sdk"], cpu["raw"], strict=True)]),
                "wall_ratio": spread(
                    [s / r for s, r in zip(wall["sdk"], wall["raw"], strict=True)]
                ),
            }
            print(f"  concurrency {concurrency} done", file=sys.stderr, flush=True)
    finally:
        for _, close in clients.values():
            await close()
    return results


def import_overhead(runs: int) -> dict[str, float]:
    """Best-of-`runs` ms of each import, each in a fresh interpreter, interleaved.

    The overhead is timed directly (aiohttp imported first, untimed), not as the
    difference of two noisy ~300 ms figures; bytecode is compiled once beforehand.
    """
    plans = {  # name: (imported first, untimed; timed)
        "aiohttp": ("", "import aiohttp"),
        "turnix_async after aiohttp": ("import aiohttp", "from turnix_async import AsyncTurnix"),
        "turnix_async after aiohttp, attrs, cattrs": (
            "import aiohttp, attrs, cattrs",
            "from turnix_async import AsyncTurnix",
        ),
    }
    with tempfile.TemporaryDirectory(prefix="turnix-bench-") as scratch:
        env = {**os.environ, "PYTHONPYCACHEPREFIX": scratch}
        env.pop("PYTHONDONTWRITEBYTECODE", None)

        def once(first: str, timed: str) -> float:
            code = f"{first}\nimport time\nt = time.perf_counter()\n{timed}\n"
            code += "print(time.perf_counter() - t)"
            command = [sys.executable, "-c", code]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            return float(done.stdout) * 1000.0

        for plan in plans.values():  # compile the bytecode once, untimed
            once(*plan)
        best = dict.fromkeys(plans, float("inf"))
        for _ in range(runs):
            for name, plan in plans.items():
                best[name] = min(best[name], once(*plan))
    return best


def instructions(base_url: str, short: int = 200, long: int = 1200) -> dict[str, float]:
    """User-space instructions per call at concurrency 32, counted by valgrind."""
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    counts: dict[str, float] = {}
    for name in ("raw", "sdk"):
        total = []
        for calls in (short, long):
            command = ["valgrind", "--tool=cachegrind", "--cache-sim=no"]
            command += ["--cachegrind-out-file=/dev/null", sys.executable, __file__]
            command += ["--instructions-child", name, base_url, str(calls)]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
            if found is None:
                raise RuntimeError(f"no instruction count from valgrind:\n{done.stderr[-2000:]}")
            total.append(int(found.group(1).replace(",", "")))
        counts[name] = (total[1] - total[0]) / (long - short)
        print(f"  instructions {name} done", file=sys.stderr, flush=True)
    counts["sdk/raw"] = counts["sdk"] / counts["raw"]
    return counts


async def instructions_child(name: str, base_url: str, calls: int) -> None:
    """What runs under valgrind: a warm-up, then `calls` calls at concurrency 32."""
    call, close = await make_client(name, base_url)
    try:
        await run_batch(call, 200, 32)
        await run_batch(call, calls, 32)
    finally:
        await close()


def table(results: dict[str, Any]) -> str:
    info = results["machine"]
    lines = [
        f"turnix_async {info['turnix_async']}, aiohttp {info['aiohttp']}, "
        f"{info['python']}, {info['cpus']} CPUs; {results['rounds']} rounds x "
        f"{results['calls']} calls per client per concurrency",
        "",
        "             client CPU us/call                     wall us/call",
        "concurrency    raw     sdk  sdk/raw [min-max]          raw     sdk  sdk/raw",
    ]
    for concurrency, level in results["per_call"].items():
        cpu, wall = level["cpu_us_per_call"], level["wall_us_per_call"]
        ratio = level["cpu_ratio"]
        lines.append(
            f"{concurrency:>11} {cpu['raw']['median']:6.1f} {cpu['sdk']['median']:7.1f}"
            f"  {ratio['median']:.3f} [{ratio['min']:.3f}-{ratio['max']:.3f}]"
            f"   {wall['raw']['median']:7.1f} {wall['sdk']['median']:7.1f}"
            f"  {level['wall_ratio']['median']:.3f}"
        )
    imports = results.get("imports_ms")
    if imports:
        lines += ["", f"import, best of {results['import_runs']} fresh interpreters:"]
        lines += [f"  {name:<42} {ms:6.1f} ms" for name, ms in imports.items()]
    counted = results.get("instructions_per_call")
    if counted:
        lines += [
            "",
            f"instructions per call, c=32 (valgrind): raw {counted['raw'] / 1000:.1f}k, "
            f"sdk {counted['sdk'] / 1000:.1f}k, sdk/raw {counted['sdk/raw']:.3f}",
        ]
    lines += ["", "targets:"]
    lines += [
        f"  {target}: {'met' if met else 'NOT met'}" for target, met in results["targets"].items()
    ]
    lines.append(f"elapsed {results['elapsed_s']:.0f} s")
    return "\n".join(lines)


def verdict(results: dict[str, Any]) -> dict[str, bool]:
    """Each target of docs/performance.md, with this run's figure: met or not."""
    checks = []
    for concurrency, target in CPU_TARGET.items():
        ratio = results["per_call"][str(concurrency)]["cpu_ratio"]["median"]
        checks.append(
            (f"c={concurrency} sdk/raw CPU per call {ratio:.3f} <= {target}", ratio <= target)
        )
    imports = results.get("imports_ms")
    if imports:
        ms = imports["turnix_async after aiohttp"]
        checks.append(
            (f"import overhead {ms:.1f} ms <= {IMPORT_TARGET_MS:.0f} ms", ms <= IMPORT_TARGET_MS)
        )
    return dict(checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds per level")
    parser.add_argument("--calls", type=int, default=1500, help="calls per client per round")
    parser.add_argument("--import-runs", type=int, default=10, help="fresh interpreters each")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--instructions", action="store_true", help="also count, c=32")
    parser.add_argument("--instructions-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.instructions_child:
        name, base_url, calls = args.instructions_child
        asyncio.run(instructions_child(name, base_url, int(calls)))
        return

    import turnix_async

    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": {
            "turnix_async": turnix_async.__version__,
            "aiohttp": aiohttp.__version__,
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "cpus": os.cpu_count(),
        },
        "rounds": args.rounds,
        "calls": args.calls,
        "import_runs": args.import_runs,
    }
    with bench_server() as base_url:
        results["per_call"] = asyncio.run(per_call_costs(base_url, args.rounds, args.calls))
        if args.instructions:
            results["instructions_per_call"] = instructions(base_url)
    if args.import_runs > 0:
        results["imports_ms"] = import_overhead(args.import_runs)
    results["targets"] = verdict(results)
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(results, indent=1) if args.json else table(results))


if __name__ == "__main__":
    main()

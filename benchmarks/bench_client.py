"""Side-by-side benchmark: raw aiohttp vs `AsyncTurnix` vs a hand-rolled httpx client.

    .venv/bin/python benchmarks/bench_client.py            # full run, a few minutes
    .venv/bin/python benchmarks/bench_client.py --quick    # smoke run, well under a minute
    .venv/bin/python benchmarks/bench_client.py --markdown # also print the docs tables

What it measures (see docs/performance.md for the method and the latest figures):

* throughput: the three clients do the same work (POST a small JSON body, parse
  the JSON, touch the ICE servers) against `_server.py`, a minimal keep-alive
  server in a separate process, at concurrency 1, 32 and 256. After a warm-up,
  rounds are interleaved, the order reversed every other round (raw sdk httpx,
  httpx sdk raw, ...), with the same number of requests per client per round.
  Reported: median requests/s of each client, and the per-round wall-time ratios
  sdk/raw and httpx/raw (median, min, max). On a machine with two or more cores
  the server is pinned to CPU 0 and this process (with its children) to CPU 1.
* import time: median of fresh interpreters timing `import aiohttp, attrs, cattrs`
  and `import turnix_async` (which includes them); the difference is the overhead.
* memory: one idle client (after its first request) and 10,000 in-flight calls
  (the server holds every answer), each in a fresh interpreter, as RSS growth and
  as Python heap growth (tracemalloc).

`--profile` adds a cProfile (or `--profile pyinstrument`) of the SDK at
concurrency 32, and `--breakdown` times each SDK step on its own. `--variant DIR`
(repeatable) benchmarks a modified copy of the package (DIR/turnix_async) as one
more client named after DIR, interleaved with the others, to measure a proposed
change in the same run.

Everything stays on 127.0.0.1; the server stops with this process (or after its
`--lifetime`). The last line of output is the JSON of all results.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
SERVER = HERE / "_server.py"
TOKEN = "tk_bench_0123456789abcdef"
ROOM = "bench-room"
TTL = 120
BODY = {"room": ROOM, "ttl": TTL}
API_PATH = "/api/v1"

TARGETS = {"1": 1.10, "32": 1.05, "256": 1.05}
IMPORT_TARGET_MS = 30.0
INFLIGHT_CALLS = 10_000

Call = Callable[[], Awaitable[None]]
Close = Callable[[], Awaitable[None]]


# ---------------------------------------------------------------- server process


@contextmanager
def bench_server(*, delay: float = 0.0, cpu: int | None = None, lifetime: float = 900.0):
    """Start `_server.py` in its own process; yield its port; stop it on exit."""
    command = [sys.executable, str(SERVER), "--delay", str(delay), "--lifetime", str(lifetime)]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"benchmark server did not start (said {line!r})")
        yield int(line.split()[1])
    finally:
        if process.stdin is not None:
            process.stdin.close()  # the server stops when its stdin closes
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


# ---------------------------------------------------------------- the three clients


def load_variant(root: Path, index: int) -> ModuleType:
    """Import DIR/turnix_async as `turnix_variant_<index>`, beside the real package."""
    package = root / "turnix_async"
    module_name = f"turnix_variant_{index}"
    spec = importlib.util.spec_from_file_location(
        module_name, package / "__init__.py", submodule_search_locations=[str(package)]
    )
    if spec is None or spec.loader is None:
        raise SystemExit(f"--variant: no turnix_async package in {root}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


async def make_raw(base: str) -> tuple[Call, Close]:
    session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"})
    url = f"{base}/credentials/ice"

    async def call() -> None:
        async with session.post(url, json=BODY) as response:
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
            data = await response.json()
        if not data["iceServers"][0]["urls"]:
            raise RuntimeError("no ICE servers")

    return call, session.close


async def make_sdk(base: str, package: ModuleType | None = None) -> tuple[Call, Close]:
    if package is None:
        import turnix_async as package
    turnix = package.AsyncTurnix(TOKEN, base_url=base)

    async def call() -> None:
        credentials = await turnix.get_ice_credentials(room=ROOM, ttl=TTL)
        if not credentials.ice_servers[0].urls:
            raise RuntimeError("no ICE servers")

    return call, turnix.close


async def make_httpx(base: str) -> tuple[Call, Close]:
    import httpx

    client = httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"})
    url = f"{base}/credentials/ice"

    async def call() -> None:
        response = await client.post(url, json=BODY)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}")
        data = response.json()
        if not data["iceServers"][0]["urls"]:
            raise RuntimeError("no ICE servers")

    return call, client.aclose


Variants = dict[str, ModuleType]


async def make_client(name: str, base: str, variants: Variants | None) -> tuple[Call, Close]:
    if name == "raw":
        return await make_raw(base)
    if name == "sdk":
        return await make_sdk(base)
    if name == "httpx":
        return await make_httpx(base)
    if variants and name in variants:
        return await make_sdk(base, variants[name])
    raise ValueError(name)


# ---------------------------------------------------------------- throughput


async def run_batch(call: Call, requests: int, concurrency: int) -> tuple[float, float]:
    """Wall time and process CPU time of `requests` calls made by `concurrency` workers."""
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, requests))))
    return time.perf_counter() - started, time.process_time() - cpu


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


async def throughput(
    port: int,
    names: list[str],
    concurrencies: list[int],
    rounds: int,
    seconds: float,
    fixed_requests: int | None,
    variants: Variants,
    log: Callable[[str], None],
) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}{API_PATH}"
    clients = {name: await make_client(name, base, variants) for name in names}
    results: dict[str, Any] = {}
    try:
        for concurrency in concurrencies:
            # warm-up: open the pools, fill caches; raw's pace sizes the rounds
            warm = max(200, 2 * concurrency)
            pace = 0.0
            for name in names:
                await run_batch(clients[name][0], warm, concurrency)
            if "raw" in names:  # raw aiohttp's pace (best of 3) sizes the rounds
                for _ in range(3):
                    elapsed, _ = await run_batch(clients["raw"][0], warm, concurrency)
                    pace = max(pace, warm / elapsed)
            requests = fixed_requests or max(2 * concurrency, int(pace * seconds) or 1000)
            times: dict[str, list[float]] = {name: [] for name in names}
            cpus: dict[str, list[float]] = {name: [] for name in names}
            for round_index in range(rounds):
                # A B C, then C B A: a drift in machine speed hits every client alike
                for name in names if round_index % 2 == 0 else names[::-1]:
                    gc.collect()
                    wall, cpu = await run_batch(clients[name][0], requests, concurrency)
                    times[name].append(wall)
                    cpus[name].append(cpu)
            level: dict[str, Any] = {"requests_per_round": requests, "rounds": rounds}
            for name in names:
                level[name] = {
                    "rps": summary([requests / t for t in times[name]]),
                    "cpu_us_per_request": summary([c / requests * 1e6 for c in cpus[name]]),
                    "seconds": times[name],
                    "cpu_seconds": cpus[name],
                }
            for name in names:
                if name != "raw":
                    ratios = [t / r for t, r in zip(times[name], times["raw"], strict=True)]
                    level[f"{name}/raw"] = summary(ratios)
                    ratios = [c / r for c, r in zip(cpus[name], cpus["raw"], strict=True)]
                    level[f"{name}/raw cpu"] = summary(ratios)
            if "sdk" in names and "httpx" in names:
                ratios = [s / h for s, h in zip(times["sdk"], times["httpx"], strict=True)]
                level["sdk/httpx"] = summary(ratios)
            for name in variants:
                if name in names and "sdk" in names:
                    ratios = [v / s for v, s in zip(times[name], times["sdk"], strict=True)]
                    level[f"{name}/sdk"] = summary(ratios)
                    ratios = [v / s for v, s in zip(cpus[name], cpus["sdk"], strict=True)]
                    level[f"{name}/sdk cpu"] = summary(ratios)
            results[str(concurrency)] = level
            log(format_level(concurrency, level, names))
    finally:
        for _, close in clients.values():
            await close()
    return results


def format_level(concurrency: int, level: dict[str, Any], names: list[str]) -> str:
    lines = [f"c={concurrency} requests/round={level['requests_per_round']}"]
    lines += [
        f"  {name:>12} {level[name]['rps']['median']:8.0f} req/s"
        f"  {level[name]['cpu_us_per_request']['median']:7.1f} cpu-us/req"
        for name in names
    ]
    lines += [
        f"  {key:>16} median {value['median']:.3f}  [{value['min']:.3f} - {value['max']:.3f}]"
        for key, value in level.items()
        if "/" in key
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- import time


def child_env(pythonpath: Path | None, pycache: str) -> dict[str, str]:
    """A clean environment for child interpreters: bytecode cached (outside the tree)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = pycache
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    else:
        env.pop("PYTHONPATH", None)
    return env


def time_import(statement: str, env: dict[str, str], cwd: str, after: str = "") -> float:
    """ms to run `statement` in a fresh interpreter (after `after`, which is not timed)."""
    code = (
        f"{after}\nimport time\nt = time.perf_counter()\n{statement}\n"
        "print(time.perf_counter() - t)"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, check=True
    )
    return float(output.stdout.strip()) * 1000.0


DEPS = "import aiohttp, attrs, cattrs"


def import_times(runs: int, variant_roots: dict[str, Path]) -> dict[str, Any]:
    """Median import times (ms) over `runs` fresh interpreters each, interleaved.

    `deps` and `turnix_async` are whole imports; the overhead is measured directly:
    each interpreter imports aiohttp, attrs and cattrs first, then times
    `import turnix_async` alone (less noisy than subtracting two ~300 ms medians).
    """
    with tempfile.TemporaryDirectory(prefix="turnix-bench-") as scratch:
        pycache = os.path.join(scratch, "pycache")
        # key: (statement, untimed prefix, PYTHONPATH root)
        plans: dict[str, tuple[str, str, Path | None]] = {
            "deps": (DEPS, "", None),
            "turnix_async": ("import turnix_async", "", None),
            "overhead": ("import turnix_async", DEPS, None),
        }
        for name, root in variant_roots.items():
            plans[f"{name} overhead"] = ("import turnix_async", DEPS, root)
        envs = {key: child_env(root, pycache) for key, (_, _, root) in plans.items()}
        for key, (statement, after, _) in plans.items():  # compile the bytecode cache once
            time_import(statement, envs[key], scratch, after)
        samples: dict[str, list[float]] = {key: [] for key in plans}
        for _ in range(runs):
            for key, (statement, after, _) in plans.items():
                samples[key].append(time_import(statement, envs[key], scratch, after))
        result: dict[str, Any] = {
            key: {"median_ms": statistics.median(values), "samples_ms": values}
            for key, values in samples.items()
        }
        result["overhead_ms"] = result["overhead"]["median_ms"]
        result["difference_of_medians_ms"] = (
            result["turnix_async"]["median_ms"] - result["deps"]["median_ms"]
        )
        result["top_own_imports"] = import_detail(envs["turnix_async"], scratch)
    return result


def import_detail(env: dict[str, str], cwd: str, top: int = 10) -> list[dict[str, Any]]:
    """`-X importtime`: the modules `import turnix_async` adds on top of its three deps."""
    output = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import aiohttp, attrs, cattrs, turnix_async"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in output.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.split(":", 1)[1].split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        rows.append((name.strip(), depth, int(self_us), int(cumulative_us)))
    # the rows after the top-level `cattrs` line were imported for turnix_async
    start = next(i for i, row in enumerate(rows) if row[:2] == ("cattrs", 0)) + 1
    own = sorted(rows[start:], key=lambda row: row[2], reverse=True)[:top]
    return [{"module": name, "self_us": us, "cumulative_us": cum} for name, _, us, cum in own]


# ---------------------------------------------------------------- memory


def rss_bytes() -> int:
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def memory_child(name: str, mode: str, port: int, trace: bool) -> dict[str, Any]:
    """Runs in a fresh interpreter: memory growth of one client, idle or with 10k calls."""
    import httpx  # noqa: F401  - import everything first: imports are not the client's cost

    import turnix_async  # noqa: F401

    name, variants = child_spec(name)
    base = f"http://127.0.0.1:{port}{API_PATH}"

    def measure() -> int:
        gc.collect()
        return tracemalloc.get_traced_memory()[0] if trace else rss_bytes()

    if trace:
        tracemalloc.start()
    before = measure()
    call, close = await make_client(name, base, variants)
    try:
        if mode == "idle":
            await call()
            return {"bytes": measure() - before}
        tasks = [asyncio.ensure_future(call()) for _ in range(INFLIGHT_CALLS)]
        await asyncio.sleep(1.5)  # every task started; the pool's 100 sent and held
        if any(task.done() for task in tasks):
            failed = next(task for task in tasks if task.done())
            raise RuntimeError(f"an in-flight call finished early: {failed!r}")
        grown = measure() - before
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return {"bytes": grown, "per_call": grown / INFLIGHT_CALLS}
    finally:
        await close()


def child_spec(spec: str) -> tuple[str, Variants]:
    """A child process's client: `raw`, `sdk`, `httpx` or `variant=DIR`."""
    if not spec.startswith("variant="):
        return spec, {}
    root = Path(spec.split("=", 1)[1])
    return root.name, {root.name: load_variant(root, 0)}


def memory(names: list[str], variant_roots: dict[str, Path], cpu: int | None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="turnix-bench-") as scratch:
        env = child_env(None, os.path.join(scratch, "pycache"))
        for mode, delay in (("idle", 0.0), ("inflight", 30.0)):
            with bench_server(delay=delay, cpu=cpu, lifetime=120) as port:
                for name in names:
                    if mode == "inflight" and name == "httpx":
                        continue  # httpcore's pool queue is quadratic in waiting requests
                    entry: dict[str, Any] = {}
                    for trace in (False, True):
                        command = [
                            sys.executable,
                            str(Path(__file__).resolve()),
                            "--memory-child",
                            f"variant={variant_roots[name]}" if name in variant_roots else name,
                            mode,
                            str(port),
                        ] + (["--trace"] if trace else [])
                        output = subprocess.run(
                            command,
                            env=env,
                            cwd=scratch,
                            capture_output=True,
                            text=True,
                            timeout=120,
                        )
                        if output.returncode != 0:
                            raise RuntimeError(f"memory child failed:\n{output.stderr}")
                        entry["heap" if trace else "rss"] = json.loads(
                            output.stdout.strip().splitlines()[-1]
                        )
                    result.setdefault(mode, {})[name] = entry
    return result


# ---------------------------------------------------------------- profile / breakdown


def group_of(filename: str) -> str:
    for marker, group in (
        ("turnix_async", "turnix_async"),
        ("turnix_variant_", "turnix_async"),
        ("<attrs generated", "attrs (generated)"),
        ("<cattrs generated", "cattrs (generated)"),
        ("site-packages/cattrs", "cattrs"),
        ("site-packages/attr", "attrs"),
        ("site-packages/aiohttp", "aiohttp"),
        ("site-packages/yarl", "yarl"),
        ("site-packages/multidict", "multidict"),
        ("site-packages/httpx", "httpx"),
        ("site-packages/httpcore", "httpcore"),
        ("asyncio", "asyncio"),
        ("json", "json"),
    ):
        if marker in filename:
            return group
    if filename == "~":
        return "builtins (C)"
    return "other"


async def profile_clients(
    port: int,
    names: list[str],
    concurrency: int,
    requests: int,
    kind: str,
    variants: Variants,
) -> dict[str, Any]:
    """Profile each client, interleaved in chunks; µs per request by code owner and function.

    cProfile: one profiler per client, enabled only while that client's chunk runs,
    chunks alternating (raw, sdk, raw, sdk, ...) so that machine noise hits both alike.
    The `diff` lists the functions whose self time grows most from raw to sdk.
    """
    import cProfile
    import pstats

    base = f"http://127.0.0.1:{port}{API_PATH}"
    clients = {name: await make_client(name, base, variants) for name in names}
    chunks = 10
    per_chunk = max(concurrency, requests // chunks)
    walls = dict.fromkeys(names, 0.0)
    result: dict[str, Any] = {}
    try:
        for name in names:
            await run_batch(clients[name][0], max(200, 4 * concurrency), concurrency)
        if kind == "pyinstrument":
            from pyinstrument import Profiler

            for name in names:
                gc.collect()
                profiler = Profiler(interval=0.0002, async_mode="disabled")
                profiler.start()
                wall, _ = await run_batch(clients[name][0], requests, concurrency)
                profiler.stop()
                result[name] = {
                    "wall_us_per_request": wall / requests * 1e6,
                    "text": profiler.output_text(unicode=False, color=False, show_all=False),
                }
            return result
        profilers = {name: cProfile.Profile() for name in names}
        for _ in range(chunks):
            for name in names:
                gc.collect()
                profilers[name].enable()
                walls[name] += (await run_batch(clients[name][0], per_chunk, concurrency))[0]
                profilers[name].disable()
    finally:
        for _, close in clients.values():
            await close()
    total = per_chunk * chunks
    per_function: dict[str, dict[str, tuple[float, float, float]]] = {}
    for name in names:
        stats = pstats.Stats(profilers[name])
        groups: dict[str, float] = {}
        rows = []
        functions: dict[str, tuple[float, float, float]] = {}
        for (filename, line, function), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
            group = group_of(filename)
            groups[group] = groups.get(group, 0.0) + tottime
            where = f"{_short(filename)}:{line}({function})"
            functions[where] = (tottime / total * 1e6, cumtime / total * 1e6, calls / total)
            rows.append((tottime, calls, cumtime, where, group))
        rows.sort(reverse=True)
        per_function[name] = functions
        result[name] = {
            "wall_us_per_request": walls[name] / total * 1e6,
            "groups_us_per_request": {
                group: value / total * 1e6
                for group, value in sorted(groups.items(), key=lambda item: -item[1])
            },
            "top": [
                {
                    "self_us": tottime / total * 1e6,
                    "cum_us": cumtime / total * 1e6,
                    "calls_per_request": calls / total,
                    "function": where,
                    "group": group,
                }
                for tottime, calls, cumtime, where, group in rows[:40]
            ],
        }
    if "raw" in names:
        for name in names:
            if name == "raw":
                continue
            raw = per_function["raw"]
            diff = []
            for where, (self_us, cum_us, calls) in per_function[name].items():
                base_self, _, base_calls = raw.get(where, (0.0, 0.0, 0.0))
                diff.append((self_us - base_self, where, self_us, cum_us, calls - base_calls))
            diff.sort(reverse=True)
            result[name]["diff_vs_raw"] = [
                {
                    "extra_self_us": extra,
                    "self_us": self_us,
                    "cum_us": cum_us,
                    "extra_calls_per_request": calls,
                    "function": where,
                }
                for extra, where, self_us, cum_us, calls in diff[:30]
            ]
    return result


def _short(filename: str) -> str:
    for marker in ("site-packages/", "lib/python3", "/work/main/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def breakdown(loops: int = 5_000) -> dict[str, float]:
    """µs per call of the SDK's own steps, each alone (best of 7), and of raw's equivalents."""
    import timeit

    from turnix_async import IceCredentialsRequest, _convert

    sys.path.insert(0, str(HERE))
    from _server import ICE_BODY

    body = json.dumps(ICE_BODY, separators=(",", ":")).encode()
    request = IceCredentialsRequest(room=ROOM, ttl=TTL)
    encode = getattr(_convert, "dumps", json.dumps)  # the session's serializer, if any

    def request_bytes() -> bytes:
        value = _convert.request_body(request)
        return value if isinstance(value, bytes) else encode(value).encode()

    steps: dict[str, Callable[[], object]] = {
        "IceCredentialsRequest(room=..., ttl=...) (validation)": lambda: IceCredentialsRequest(
            room=ROOM, ttl=TTL
        ),
        "request body: request_body() and its JSON encoding": request_bytes,
        "raw: json.dumps(body).encode()": lambda: json.dumps(BODY).encode(),
        "parse_ice_credentials(body)": lambda: _convert.parse_ice_credentials(body, TTL),
        "raw: json.loads(body.decode())": lambda: json.loads(body.decode()),
    }
    result = {
        label: min(timeit.repeat(step, number=loops, repeat=7)) / loops * 1e6
        for label, step in steps.items()
    }

    async def nothing() -> None:
        return None

    async def timeouts() -> float:
        from asyncio import timeout

        best = math.inf
        for _ in range(7):
            started = time.perf_counter()
            for _ in range(loops):
                await nothing()
            baseline = time.perf_counter() - started
            started = time.perf_counter()
            for _ in range(loops):
                async with timeout(10.0):
                    await nothing()
            best = min(best, time.perf_counter() - started - baseline)
        return best / loops * 1e6

    result["asyncio.timeout(10) enter+exit"] = asyncio.run(timeouts())
    return result


# ---------------------------------------------------------------- instructions (valgrind)


async def instructions_child(name: str, port: int, requests: int, concurrency: int) -> None:
    """Runs under cachegrind: a warm-up, then `requests` calls of one client."""
    name, variants = child_spec(name)
    call, close = await make_client(name, f"http://127.0.0.1:{port}{API_PATH}", variants)
    try:
        await run_batch(call, 300, concurrency)
        await run_batch(call, requests, concurrency)
    finally:
        await close()


def instructions(
    names: list[str], variant_roots: dict[str, Path], concurrency: int, cpu: int | None
) -> dict[str, float]:
    """User-space instructions per request (cachegrind), immune to a busy machine.

    Each client runs twice in a fresh interpreter under `valgrind --tool=cachegrind`,
    with 1,000 and 3,000 requests; the difference / 2,000 is one request's cost
    without start-up, imports and warm-up. Kernel time (send/recv) is not counted,
    so the ratios are larger than the wall-time ratios.
    """
    import re
    import shutil

    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
    result: dict[str, float] = {}
    env = dict(os.environ, PYTHONHASHSEED="0")
    with bench_server(cpu=cpu) as port:
        for name in names:
            spec = f"variant={variant_roots[name]}" if name in variant_roots else name
            counts = []
            for requests in (1000, 3000):
                command = [
                    "valgrind",
                    "--tool=cachegrind",
                    "--cache-sim=no",
                    "--cachegrind-out-file=/dev/null",
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--instructions-child",
                    spec,
                    str(port),
                    str(requests),
                    str(concurrency),
                ]
                output = subprocess.run(
                    command, env=env, capture_output=True, text=True, timeout=900
                )
                found = re.search(r"I\s+refs:\s+([\d,]+)", output.stderr)
                if output.returncode != 0 or found is None:
                    raise RuntimeError(f"cachegrind run failed:\n{output.stderr[-3000:]}")
                counts.append(int(found.group(1).replace(",", "")))
            result[name] = (counts[1] - counts[0]) / 2000
    return result


# ---------------------------------------------------------------- report


def machine(variant_roots: dict[str, Path]) -> dict[str, Any]:
    import attrs

    import turnix_async

    cpu_model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        cpu_model = platform.processor()
    try:
        import httpx

        httpx_version = httpx.__version__
    except ImportError:
        httpx_version = "not installed"
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "aiohttp": aiohttp.__version__,
        "httpx": httpx_version,
        "attrs": attrs.__version__,
        "cattrs": importlib.metadata.version("cattrs"),
        "turnix_async": f"{turnix_async.__version__} ({Path(turnix_async.__file__).parent})",
        "variants": {name: str(root) for name, root in variant_roots.items()},
        "event_loop": type(asyncio.new_event_loop()).__name__,
    }


def markdown(results: dict[str, Any]) -> str:
    info = results["machine"]
    lines = [
        f"Machine: {info['cpus']} cores ({info['cpu_model']}), {info['platform']}; "
        f"{info['implementation']} {info['python']}, aiohttp {info['aiohttp']}, "
        f"httpx {info['httpx']}, attrs {info['attrs']}, cattrs {info['cattrs']}; "
        f"{info['event_loop']}; pinning: {results['pinning']}.",
        "",
    ]
    tp = results.get("throughput")
    if tp:
        first = next(iter(tp.values()))
        names = [n for n in first if isinstance(first[n], dict) and "rps" in first[n]]
        header = ["concurrency", "requests x rounds"]
        header += [f"{n} req/s" for n in names]
        header += [f"{n}/raw time (med [min-max])" for n in names if n != "raw"]
        header += ["target sdk/raw", "met"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for concurrency, level in tp.items():
            ratio = level.get("sdk/raw")
            target = TARGETS.get(concurrency)
            met = ""
            if ratio and target:
                faster = (
                    level["sdk"]["rps"]["median"]
                    >= level.get("httpx", level["sdk"])["rps"]["median"]
                )
                met = "yes" if ratio["median"] <= target and faster else "no"
            row = [concurrency, f"{level['requests_per_round']} x {level['rounds']}"]
            row += [f"{level[n]['rps']['median']:,.0f}" for n in names]
            row += [
                f"{level[n + '/raw']['median']:.3f} [{level[n + '/raw']['min']:.3f}-"
                f"{level[n + '/raw']['max']:.3f}]"
                for n in names
                if n != "raw"
            ]
            row += [f"<= {target:.2f}" if target else "", met]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    imports = results.get("imports")
    if imports:
        runs = len(imports["deps"]["samples_ms"])
        lines += [
            f"| import (median of {runs} fresh interpreters each) | ms |",
            "|---|---|",
            f"| `import aiohttp, attrs, cattrs` | {imports['deps']['median_ms']:.1f} |",
            "| `import turnix_async` (includes them) | "
            f"{imports['turnix_async']['median_ms']:.1f} |",
            f"| `import turnix_async` after the three (target <= {IMPORT_TARGET_MS:.0f}) | "
            f"{imports['overhead_ms']:.1f} |",
        ]
        for key, entry in imports.items():
            if key.endswith(" overhead"):
                lines.append(f"| {key} (variant) | {entry['median_ms']:.1f} |")
        own = imports.get("top_own_imports", [])[:4]
        if own:
            shown = ", ".join(f"{row['module']} {row['self_us'] / 1000:.1f}" for row in own)
            lines += ["", f"Largest own modules (`-X importtime` self, ms): {shown}."]
        lines.append("")
    mem = results.get("memory")
    if mem:
        lines += [
            "| memory | client | RSS growth | Python heap growth (tracemalloc) |",
            "|---|---|---|---|",
        ]
        for mode, label in (("idle", "one idle client"), ("inflight", "10,000 in-flight calls")):
            for name, entry in mem.get(mode, {}).items():
                rss, heap = entry["rss"], entry["heap"]
                extra = ""
                if mode == "inflight":
                    extra = f" ({heap['per_call'] / 1024:.1f} KiB/call)"
                lines.append(
                    f"| {label} | {name} | {rss['bytes'] / 2**20:.1f} MiB | "
                    f"{heap['bytes'] / 2**20:.2f} MiB{extra} |"
                )
        lines.append("")
    counted = results.get("instructions")
    if counted:
        raw = counted.get("raw")
        lines += [
            "| instructions per request, c=32 (cachegrind) | k instructions | x raw |",
            "|---|---|---|",
        ]
        for name, count in counted.items():
            ratio = f"{count / raw:.3f}" if raw else ""
            lines.append(f"| {name} | {count / 1000:.1f} | {ratio} |")
        lines.append("")
    steps = results.get("breakdown_us")
    if steps:
        lines += ["| step, alone (best of 7) | us per call |", "|---|---|"]
        lines += [f"| {label} | {us:.2f} |" for label, us in steps.items()]
        lines.append("")
    profile = results.get("profile")
    if profile:
        for name, data in profile.items():
            if "diff_vs_raw" not in data:
                continue
            lines += [
                f"cProfile, c=32, interleaved with raw: {name} minus raw, self time"
                " (us per request, inflated by the profiler)",
                "",
                "```text",
                f"{'extra':>7} {'self':>7} {'cum':>8} {'+calls':>6}  function",
            ]
            lines += [
                f"{row['extra_self_us']:7.2f} {row['self_us']:7.2f} {row['cum_us']:8.2f}"
                f" {row['extra_calls_per_request']:6.2f}  {row['function']}"
                for row in data["diff_vs_raw"][:15]
            ]
            lines += ["```", ""]
    return "\n".join(lines)


def print_profile(profile: dict[str, Any], out: Callable[[str], None]) -> None:
    for name, data in profile.items():
        out(f"\n== profile: {name}, {data['wall_us_per_request']:.1f} us/request under profiler")
        if "text" in data:
            out(data["text"])
            continue
        out(
            "self time by owner (us/request): "
            + ", ".join(f"{group} {us:.1f}" for group, us in data["groups_us_per_request"].items())
        )
        out(f"{'self us':>8} {'cum us':>8} {'calls':>6}  function")
        for row in data["top"][:25]:
            out(
                f"{row['self_us']:8.2f} {row['cum_us']:8.2f} {row['calls_per_request']:6.2f}"
                f"  {row['function']}"
            )
        if "diff_vs_raw" in data:
            out(f"-- {name} minus raw, by self time (us/request under the profiler)")
            out(f"{'extra':>8} {'self us':>8} {'cum us':>8} {'+calls':>6}  function")
            for row in data["diff_vs_raw"][:25]:
                out(
                    f"{row['extra_self_us']:8.2f} {row['self_us']:8.2f} {row['cum_us']:8.2f}"
                    f" {row['extra_calls_per_request']:6.2f}  {row['function']}"
                )


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="raw aiohttp vs AsyncTurnix vs httpx, over loopback",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="short smoke run (3 rounds)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (>= 5)")
    parser.add_argument(
        "--seconds",
        type=float,
        default=0.6,
        help="sizes the rounds: requests per round = raw aiohttp's pace x this",
    )
    parser.add_argument("--requests", type=int, default=None, help="fixed requests per round")
    parser.add_argument("--concurrency", default="1,32,256", help="comma-separated levels")
    parser.add_argument("--clients", default="raw,sdk,httpx", help="comma-separated clients")
    parser.add_argument("--import-runs", type=int, default=10, help="fresh interpreters each")
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument("--no-imports", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server/client cores")
    parser.add_argument(
        "--profile",
        nargs="?",
        const="cprofile",
        choices=["cprofile", "pyinstrument"],
        help="profile raw and sdk at concurrency 32",
    )
    parser.add_argument("--breakdown", action="store_true", help="time each SDK step alone")
    parser.add_argument(
        "--variant",
        type=Path,
        action="append",
        default=[],
        help="DIR holding a modified turnix_async (repeatable)",
    )
    parser.add_argument("--markdown", action="store_true", help="print the docs tables")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--from-json", type=Path, help="render a saved result, run nothing")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count instructions per request at concurrency 32 (valgrind)",
    )
    parser.add_argument("--memory-child", nargs=3, metavar=("CLIENT", "MODE", "PORT"))
    parser.add_argument("--instructions-child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds, args.import_runs = 3, 0.2, 5
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.instructions_child:
        name, port, requests, concurrency = args.instructions_child
        asyncio.run(instructions_child(name, int(port), int(requests), int(concurrency)))
        return
    if args.memory_child:
        name, mode, port = args.memory_child
        print(json.dumps(asyncio.run(memory_child(name, mode, int(port), args.trace))))
        return
    if args.from_json:
        results = json.loads(args.from_json.read_text())
        print(markdown(results))
        return

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    started = time.perf_counter()
    server_cpu: int | None = None
    pinning = "none"
    if not args.no_pin and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        server_cpu = 0
        os.sched_setaffinity(0, {1})  # children (memory, imports) inherit CPU 1
        pinning = "server on CPU 0, clients on CPU 1"

    variant_roots = {root.resolve().name: root.resolve() for root in args.variant}
    if len(variant_roots) != len(args.variant) or {"raw", "sdk", "httpx"} & set(variant_roots):
        raise SystemExit("--variant directories need distinct names other than raw/sdk/httpx")
    variants = {
        name: load_variant(root, index) for index, (name, root) in enumerate(variant_roots.items())
    }
    names = [name.strip() for name in args.clients.split(",") if name.strip()]
    names += [name for name in variants if name not in names]
    concurrencies = [int(level) for level in args.concurrency.split(",")]
    results: dict[str, Any] = {"machine": machine(variant_roots), "pinning": pinning}
    log(f"machine: {json.dumps(results['machine'])}; pinning: {pinning}")

    if not args.no_throughput:
        with bench_server(cpu=server_cpu) as port:
            results["throughput"] = asyncio.run(
                throughput(
                    port,
                    names,
                    concurrencies,
                    args.rounds,
                    args.seconds,
                    args.requests,
                    variants,
                    log,
                )
            )
    if args.profile:
        with bench_server(cpu=server_cpu) as port:
            profiled = ["raw", "sdk", *variants]
            profile = asyncio.run(
                profile_clients(port, profiled, 32, args.requests or 10_000, args.profile, variants)
            )
        results["profile"] = profile
        print_profile(profile, log)
    if args.instructions:
        counted = [name for name in names if name != "httpx"]
        results["instructions"] = instructions(counted, variant_roots, 32, server_cpu)
        for name, count in results["instructions"].items():
            ratio = count / results["instructions"].get("raw", count)
            log(f"instructions c=32 {name:>12} {count / 1000:8.1f} k/request  x{ratio:.3f} raw")
    if args.breakdown:
        results["breakdown_us"] = breakdown()
        for label, us in results["breakdown_us"].items():
            log(f"{us:8.2f} us  {label}")
    if not args.no_imports:
        results["imports"] = import_times(args.import_runs, variant_roots)
        imports = results["imports"]
        log(
            f"import: deps {imports['deps']['median_ms']:.1f} ms, turnix_async "
            f"{imports['turnix_async']['median_ms']:.1f} ms, turnix_async after its deps "
            f"{imports['overhead_ms']:.1f} ms"
        )
    if not args.no_memory:
        results["memory"] = memory(names, variant_roots, server_cpu)
        for mode, entries in results["memory"].items():
            for name, entry in entries.items():
                log(
                    f"memory {mode:8} {name:6} rss +{entry['rss']['bytes'] / 2**20:.2f} MiB, "
                    f"heap +{entry['heap']['bytes'] / 2**20:.2f} MiB"
                )
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    log(f"elapsed: {results['elapsed_s']} s")
    results["verdict"] = verdict(results)
    log("verdict: " + json.dumps(results["verdict"]))
    if args.markdown:
        print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, separators=(",", ":")))


def verdict(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for concurrency, level in results.get("throughput", {}).items():
        if "sdk/raw" in level and concurrency in TARGETS:
            out[f"c{concurrency} sdk/raw <= {TARGETS[concurrency]}"] = (
                level["sdk/raw"]["median"] <= TARGETS[concurrency]
            )
        if "sdk" in level and "httpx" in level:
            out[f"c{concurrency} sdk >= httpx"] = (
                level["sdk"]["rps"]["median"] >= level["httpx"]["rps"]["median"]
            )
    if "imports" in results:
        out[f"import overhead <= {IMPORT_TARGET_MS:.0f} ms"] = (
            results["imports"]["overhead_ms"] <= IMPORT_TARGET_MS
        )
    return out


if __name__ == "__main__":
    main()

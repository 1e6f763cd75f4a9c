"""TLS, proxy, tracing and logging options in one place."""

import asyncio
import logging
import os
import ssl
from types import SimpleNamespace
from typing import Any

import aiohttp

from turnix_async import AsyncTurnix


def tls_context() -> ssl.SSLContext:
    """Verify with the system CAs plus, if set, a corporate CA bundle."""
    context = ssl.create_default_context()
    if bundle := os.environ.get("CORPORATE_CA_BUNDLE"):
        context.load_verify_locations(cafile=bundle)
    return context


def timing_trace() -> aiohttp.TraceConfig:
    """Measure every HTTP attempt (the token is redacted from every trace signal)."""
    trace = aiohttp.TraceConfig()

    async def start(session: Any, ctx: SimpleNamespace, params: Any) -> None:
        ctx.started = asyncio.get_running_loop().time()

    async def end(session: Any, ctx: SimpleNamespace, params: Any) -> None:
        elapsed = asyncio.get_running_loop().time() - ctx.started
        status = params.response.status
        print(f"{params.method} {params.url.path} -> {status} in {elapsed:.3f} s")

    trace.on_request_start.append(start)
    trace.on_request_end.append(end)
    return trace


async def main() -> None:
    # retries log one INFO line each on "turnix_async"
    logging.basicConfig(level=logging.INFO)
    use_tls = os.environ.get("TURNIX_BASE_URL", "https://").startswith("https://")
    async with AsyncTurnix(
        timeout=5.0,  # per attempt: connect + headers + body
        max_retries=3,  # after the first attempt
        deadline=20.0,  # per call, every attempt and wait included
        ssl=tls_context() if use_tls else None,
        proxy=os.environ.get("HTTPS_PROXY"),  # e.g. http://proxy.internal:3128
        trace_configs=[timing_trace()],
    ) as turnix:
        creds = await turnix.get_ice_credentials(ttl=60)
        print(len(creds.ice_servers), "ICE servers")


if __name__ == "__main__":
    asyncio.run(main())

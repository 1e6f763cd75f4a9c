"""User `aiohttp.TraceConfig`s, behind a proxy that never shows them the API token.

aiohttp hands `on_request_headers_sent` the live request headers, Authorization
included; the proxy forwards every signal to the user's config unchanged except
that one, whose headers it redacts (the token, and a proxy's Basic credentials).
"""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import hdrs
from aiohttp.tracing import TraceRequestHeadersSentParams
from multidict import CIMultiDict

__all__ = ["redacting"]

# every signal a TraceConfig offers: its public `on_...` properties
_SIGNALS = tuple(
    name
    for name, value in vars(aiohttp.TraceConfig).items()
    if name.startswith("on_") and isinstance(value, property)
)


def redacting(configs: list[aiohttp.TraceConfig] | None) -> list[aiohttp.TraceConfig] | None:
    """Proxies for `configs` that forward every signal, with Authorization redacted."""
    if not configs:
        return None
    return [_proxy(config) for config in configs]


def _proxy(user: aiohttp.TraceConfig) -> aiohttp.TraceConfig:
    factory: Any = user.trace_config_ctx  # builds the same ctx objects the user expects
    proxy = aiohttp.TraceConfig(trace_config_ctx_factory=factory)
    for name in _SIGNALS:
        getattr(proxy, name).append(_forwarder(getattr(user, name)))
    user.freeze()  # aiohttp freezes configs it is given; this one it never sees
    return proxy


def _forwarder(signal: Any) -> Any:
    async def forward(session: aiohttp.ClientSession, ctx: Any, params: Any) -> None:
        if isinstance(params, TraceRequestHeadersSentParams):
            params = TraceRequestHeadersSentParams(
                params.method, params.url, _redacted(params.headers)
            )
        await signal.send(session, ctx, params)

    return forward


def _redacted(headers: CIMultiDict[str]) -> CIMultiDict[str]:
    copy = CIMultiDict(headers)
    if hdrs.AUTHORIZATION in copy:
        copy[hdrs.AUTHORIZATION] = "Bearer ***"
    if hdrs.PROXY_AUTHORIZATION in copy:  # a plain-http proxy's user and password, base64
        copy[hdrs.PROXY_AUTHORIZATION] = "Basic ***"
    return copy

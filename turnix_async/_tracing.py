"""User `aiohttp.TraceConfig`s, behind a proxy that never shows them the API token.

aiohttp hands `on_request_headers_sent` the live request headers, Authorization
included; the proxy forwards every signal to the user's config unchanged except
that one, whose headers it redacts (the token, and a proxy's Basic credentials). A
callback that raises is logged once and ignored, as a hook is: the app's observer
failing must not fail, or repeat, the call it observes.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from aiohttp import hdrs
from aiohttp.tracing import TraceRequestHeadersSentParams
from multidict import CIMultiDict

__all__ = ["redacting"]

logger = logging.getLogger("turnix_async")

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
    logged = False

    async def forward(session: aiohttp.ClientSession, ctx: Any, params: Any) -> None:
        nonlocal logged
        if isinstance(params, TraceRequestHeadersSentParams):
            params = TraceRequestHeadersSentParams(
                params.method, params.url, _redacted(params.headers)
            )
        try:
            await signal.send(session, ctx, params)
        except Exception:
            if not logged:
                logged = True
                logger.warning(
                    "a trace_configs callback raised; it is ignored (logged once)", exc_info=True
                )

    return forward


def _redacted(headers: CIMultiDict[str]) -> CIMultiDict[str]:
    copy = CIMultiDict(headers)
    if hdrs.AUTHORIZATION in copy:
        copy[hdrs.AUTHORIZATION] = "Bearer ***"
    if hdrs.PROXY_AUTHORIZATION in copy:  # a plain-http proxy's user and password, base64
        copy[hdrs.PROXY_AUTHORIZATION] = "Basic ***"
    return copy

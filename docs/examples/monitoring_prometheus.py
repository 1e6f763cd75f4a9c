"""aiohttp: count every Turnix call in Prometheus, and serve the metrics on /metrics."""

from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
)

from turnix_async import AsyncTurnix, TurnixError
from turnix_async.instrumentation import LoggingHooks, PrometheusHooks

TURNIX = web.AppKey("turnix", AsyncTurnix)
METRICS = web.AppKey("metrics", CollectorRegistry)


async def turnix_client(app: web.Application) -> AsyncIterator[None]:
    hooks = [PrometheusHooks(app[METRICS]), LoggingHooks()]
    async with AsyncTurnix(hooks=hooks) as turnix:  # token from TURNIX_API_TOKEN
        app[TURNIX] = turnix
        yield


async def ice(request: web.Request) -> web.Response:
    try:
        creds = await request.app[TURNIX].get_ice_credentials(
            room=request.query.get("room"), ttl=300, client_ip=request.remote
        )
    except TurnixError as exc:  # counted in turnix_calls_total{outcome="<the error>"}
        raise web.HTTPBadGateway(text="TURN credentials unavailable") from exc
    return web.json_response(creds.to_rtc_configuration())


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_app(registry: CollectorRegistry = REGISTRY) -> web.Application:
    app = web.Application()
    app[METRICS] = registry  # the default registry also has the process metrics
    app.cleanup_ctx.append(turnix_client)
    app.router.add_post("/ice", ice)
    app.router.add_get("/metrics", metrics)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), port=8080)

"""FastAPI: one OpenTelemetry span per Turnix call, inside the span of the request."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from opentelemetry import trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from turnix_async import AsyncTurnix, TurnixError
from turnix_async.instrumentation import OpenTelemetryHooks


def create_app(
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> FastAPI:
    """None: the global providers that your OpenTelemetry setup installed."""
    tracer = trace.get_tracer("ice-service", tracer_provider=tracer_provider)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hooks = [OpenTelemetryHooks(tracer_provider, meter_provider)]
        async with AsyncTurnix(hooks=hooks) as turnix:  # token from TURNIX_API_TOKEN
            app.state.turnix = turnix
            yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/ice")
    async def ice(request: Request, room: str | None = None) -> dict[str, Any]:
        turnix: AsyncTurnix = request.app.state.turnix
        # opentelemetry-instrumentation-fastapi would open this request span for you
        with tracer.start_as_current_span("POST /ice"):
            try:
                creds = await turnix.get_ice_credentials(room=room, ttl=300)
            except TurnixError as exc:  # the span has status ERROR and error.type
                raise HTTPException(status_code=502, detail="TURN unavailable") from exc
        return dict(creds.to_rtc_configuration())

    return app


app = create_app()  # uvicorn monitoring_opentelemetry:app

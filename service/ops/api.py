"""What an app gets from service.ops: request ids, a log line per request, and its own metrics at /metrics."""

from __future__ import annotations

from fastapi import FastAPI, Response

from service.ops.metrics import CONTENT_TYPE, Metrics
from service.ops.requests import RequestObserver


def install(app: FastAPI) -> None:
    """Give an app (its runtime and job runner already set) a request id and a log line for each request, and its own
    metrics at `/metrics` (Prometheus text, not in the OpenAPI schema). Call it last, so that the request id is set
    before any other middleware runs."""
    metrics = Metrics()
    runtime = app.state.runtime
    runtime.model_call_observers.append(metrics.observe_model_call)
    metrics.watch(runtime, {name: kind.table for name, kind in app.state.jobs.kinds.items()})
    app.state.metrics = metrics
    app.add_middleware(RequestObserver, metrics=metrics)

    @app.get("/metrics", include_in_schema=False)
    def _metrics() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

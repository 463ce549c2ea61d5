"""Prometheus metrics for one app (its own registry, so many apps can live in one process, as in the tests).

Counted as they happen: HTTP requests and their latency by route template, model calls by provider, model and
outcome with their tokens and latency. Read from the database at scrape time: jobs by kind and status, the job
queue's depth, suggestions by kind and status, webhook deliveries by status; and the model's line (calls running,
waiting)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from pipelines.llm import StructuredResult
from service.core.enums import DeliveryStatus, JobStatus
from service.core.runtime import Runtime
from service.core.tables import Suggestion, WebhookDelivery

METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
MODEL_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
CONTENT_TYPE = CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)


def outcome(result: StructuredResult) -> str:
    """ok; invalid (the reply stayed invalid after the re-asks); unavailable (the model could not run); error."""
    if result.ok:
        return "ok"
    error = result.error or ""
    if error.startswith("invalid output"):
        return "invalid"
    return "unavailable" if error.startswith("the model is not available") else "error"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "refinery_http_requests", "HTTP requests answered.", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "refinery_http_request_duration_seconds",
            "Time to answer an HTTP request (a streamed reply: to its end).",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.model_calls = Counter(
            "refinery_model_calls",
            "Structured model calls, re-asks included.",
            ["provider", "model", "outcome"],
            registry=r,
        )
        self.model_tokens = Counter(
            "refinery_model_tokens",
            "Tokens the model read (prompt) and wrote (completion).",
            ["provider", "model", "type"],
            registry=r,
        )
        self.model_latency = Histogram(
            "refinery_model_call_duration_seconds",
            "Time a structured model call took, waiting in line included.",
            ["provider", "model"],
            buckets=MODEL_BUCKETS,
            registry=r,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_model_call(self, result: StructuredResult) -> None:
        record = result.record
        labels = (record.provider, record.model)
        self.model_calls.labels(*labels, outcome(result)).inc()
        self.model_tokens.labels(*labels, "prompt").inc(record.input_tokens)
        self.model_tokens.labels(*labels, "completion").inc(record.output_tokens)
        self.model_latency.labels(*labels).observe(record.latency_s)

    def watch(self, runtime: Runtime, job_tables: Mapping[str, type[Any]]) -> None:
        """Also report, at each scrape, what the database and the model's line hold now."""
        self.registry.register(StateCollector(runtime, job_tables))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class StateCollector(Collector):
    """Gauges read at scrape time: job counts and queue depth, suggestion counts, the model's line."""

    def __init__(self, runtime: Runtime, job_tables: Mapping[str, type[Any]]) -> None:
        self.runtime = runtime
        self.job_tables = job_tables

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("refinery_database_up", "1 when this scrape could read the database, else 0.")
        try:
            families = list(self._database())
            up.add_metric([], 1)
        except Exception:  # a scrape must answer even when the database does not
            log.warning("metrics: the database could not be read", exc_info=True)
            families = []
            up.add_metric([], 0)
        yield up
        yield from families
        yield from self._model_line()

    def _database(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("refinery_jobs", "Background jobs by kind and status.", labels=["kind", "status"])
        depth = GaugeMetricFamily("refinery_job_queue_depth", "Background jobs waiting to run (queued).")
        suggestions = GaugeMetricFamily(
            "refinery_suggestions", "Suggestions by kind and status.", labels=["kind", "status"]
        )
        queued = 0
        with self.runtime.db.session() as session:
            for kind, table in self.job_tables.items():
                counts = dict(session.execute(select(table.status, func.count()).group_by(table.status)).all())
                for status in JobStatus:
                    jobs.add_metric([kind, status], counts.get(status, 0))
                queued += counts.get(JobStatus.queued, 0)
            by_kind = (Suggestion.kind, Suggestion.status)
            for kind, status, count in session.execute(select(*by_kind, func.count()).group_by(*by_kind)):
                suggestions.add_metric([kind, status], count)
            sent = dict(
                session.execute(select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)).all()
            )
        deliveries = GaugeMetricFamily(
            "refinery_webhook_deliveries",
            "Webhook deliveries by status: pending (to be tried), delivered, failed (every attempt refused).",
            labels=["status"],
        )
        for status in DeliveryStatus:
            deliveries.add_metric([status], sent.get(status, 0))
        depth.add_metric([], queued)
        yield from (jobs, depth, suggestions, deliveries)

    def _model_line(self) -> Iterator[Metric]:
        status = self.runtime.model_status()
        if "running" in status:
            running = GaugeMetricFamily("refinery_model_calls_running", "Model calls the model is working on now.")
            running.add_metric([], status["running"])
            waiting = GaugeMetricFamily("refinery_model_calls_waiting", "Model calls waiting in line for a slot.")
            waiting.add_metric([], status["waiting"])
            yield from (running, waiting)

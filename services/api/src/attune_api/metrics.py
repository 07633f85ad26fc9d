"""Prometheus metrics of the API, and pipeline gauges read from PostgreSQL and NATS at scrape time."""

from __future__ import annotations

import logging

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from prometheus_client import Counter, Gauge, Histogram

from attune_shared.bus import BusSpec
from attune_shared.repos.analytics import AnalyticsRepository
from attune_shared.statuses import ACTIVE_STATUSES

log = logging.getLogger("attune.api.metrics")

HTTP_REQUESTS = Counter(
    "attune_api_requests_total",
    "HTTP requests, by method, route template and status code",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "attune_api_request_seconds",
    "HTTP request duration (streams: their lifetime), by method and route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WEBHOOKS = Counter(
    "attune_api_webhooks_total",
    "Webhook calls, by outcome (accepted, unauthorized, forbidden_address, rate_limited, not_found, too_slow, "
    "too_large, invalid, disabled, unavailable)",
    ["outcome"],
)
EXECUTIONS_REQUESTED = Counter(
    "attune_api_executions_requested_total", "Executions requested through the API"
)
SSE_CLIENTS = Gauge("attune_api_sse_clients", "Connected SSE clients, by stream", ["stream"])
SSE_DROPPED = Counter("attune_api_sse_dropped_total", "SSE clients dropped for falling behind", ["stream"])
ACTIVE_EXECUTIONS = Gauge(
    "attune_executions_active", "Executions in a non-terminal status (read at scrape time)", ["status"]
)
WORKERS = Gauge("attune_workers", "Worker rows by status (read at scrape time)", ["status"])
STREAM_MESSAGES = Gauge("attune_stream_messages", "Messages held by each JetStream stream", ["stream"])
CONSUMER_PENDING = Gauge(
    "attune_consumer_pending", "Messages not yet delivered to each durable consumer (lag)", ["consumer"]
)
CONSUMER_ACK_PENDING = Gauge(
    "attune_consumer_ack_pending",
    "Messages delivered but not yet acknowledged, per durable consumer",
    ["consumer"],
)


async def refresh_pipeline_gauges(pool: asyncpg.Pool, nc: NatsClient, spec: BusSpec) -> None:
    """Read the pipeline's state: active executions and workers by status, stream sizes, consumer lag."""
    try:
        analytics = AnalyticsRepository(pool)
        for status, n in (await analytics.executions_by_status(sorted(ACTIVE_STATUSES))).items():
            ACTIVE_EXECUTIONS.labels(status).set(n)
        workers = dict.fromkeys(("active", "inactive", "busy", "error"), 0)
        workers.update(await analytics.workers_by_status())
        for status, n in workers.items():
            WORKERS.labels(status).set(n)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.warning("metrics.database_unavailable", extra={"error": str(exc)})
    try:
        jsm = nc.jsm()
        for stream in spec.streams():
            STREAM_MESSAGES.labels(stream.name).set((await jsm.stream_info(stream.name)).state.messages)
        for consumer in spec.consumers():
            info = await jsm.consumer_info(consumer.stream, consumer.durable)
            CONSUMER_PENDING.labels(consumer.durable).set(info.num_pending or 0)
            CONSUMER_ACK_PENDING.labels(consumer.durable).set(info.num_ack_pending or 0)
    except (NatsError, TimeoutError, OSError) as exc:
        log.warning("metrics.nats_unavailable", extra={"error": str(exc)})

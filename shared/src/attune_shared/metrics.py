"""Prometheus metrics of the pipeline, defined once; each service exposes the ones it updates."""

from __future__ import annotations

from functools import cache

from prometheus_client import Counter, Gauge, Histogram

from attune_shared import health

DEAD_LETTERS = Counter(
    "attune_dead_letters_total", "Messages dead-lettered, by reason", ["service", "reason"]
)
MESSAGES_SETTLED = Counter(
    "attune_messages_settled_total",
    "Bus messages settled, by outcome (ack, retry, dead_letter)",
    ["service", "outcome"],
)
EVENTS_STORED = Counter("attune_events_stored_total", "Events stored by the sensor", ["trigger_ref"])
TRIGGER_MESSAGES = Counter(
    "attune_trigger_messages_total",
    "Trigger messages consumed, by outcome (event, duplicate, rejected)",
    ["outcome"],
)
INGEST_BATCH_SECONDS = Histogram(
    "attune_ingest_batch_seconds",
    "Time to store one batch of events",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1),
)

TIMER_FIRES = Counter(
    "attune_timer_fires_total",
    "Timer slots published by the timer leader, by outcome (published, duplicate, skipped)",
    ["trigger_ref", "outcome"],
)
TIMERS = Gauge("attune_timers", "Timers scheduled by this sensor replica (one per enabled timer rule)")
TIMER_LEADER = Gauge("attune_timer_leader", "1 while this sensor replica holds the timer lease")

ENFORCEMENTS = Counter(
    "attune_enforcements_resolved_total", "Enforcements resolved by the executor, by status", ["status"]
)
EXECUTIONS_FINISHED = Counter(
    "attune_executions_finished_total", "Executions that reached a terminal status", ["action_ref", "status"]
)
ACTION_SECONDS = Histogram(
    "attune_action_duration_seconds",
    "Run time of actions, by runner type",
    ["runner_type"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600),
)


@cache
def action_seconds(runner_type: str) -> Histogram:
    """:data:`ACTION_SECONDS` of one runner type (``labels()`` takes a lock and a lookup per call;
    an action run observes it every time)."""
    return ACTION_SECONDS.labels(runner_type)


RUNNING_ACTIONS = Gauge("attune_executor_running_actions", "Actions this executor is running now")
CRITERIA_ERRORS = Counter(
    "attune_rule_criteria_errors_total",
    "Events a rule's criteria could not be applied to (an operator raised, a pattern did not render)",
    ["rule_ref"],
)
POLICY_DECISIONS = Counter(
    "attune_policy_decisions_total", "Policy decisions of the scheduler (admit, queue, cancel)", ["decision"]
)


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    """Expose ``/metrics``, ``/health/live`` and ``/health/ready`` on ``host:port`` (port 0 = do nothing)."""
    if port:
        health.serve(port, host)

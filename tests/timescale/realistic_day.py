"""A realistic day of pipeline rows, written straight into one day's chunks by set-based SQL.

Shape of a production day (one chunk per hypertable): a few dozen triggers, rules and actions with a
skewed share of the traffic (a handful of busy ones, a long tail), one enforcement and one execution
per event, and per execution the five history rows the history triggers write (0006, 0020): INSERT,
requested -> scheduling, scheduling -> scheduled (worker), scheduled -> running (started_at),
running -> completed | failed (result). Event ids are stream sequences for most sensors and
``source:uuid`` for StackStorm sensors, as the bus assigns them. History rows are generated rather
than left to the trigger because it stamps ``now()``, and a day of rows needs a day of timestamps.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

TRIGGERS = 30
ACTIONS = 40
WORKERS = 8

# one plan row per event: the ids, the times and the catalog picks every table derives from
_PLAN_TABLE = """
CREATE TEMP TABLE day_plan (
    i INT, event_id BIGINT, enforcement_id BIGINT, execution_id BIGINT, created TIMESTAMPTZ, trig INT, act INT,
    worker BIGINT, host INT, failed BOOLEAN, queued INTERVAL, took INTERVAL, st2 BOOLEAN
) ON COMMIT DROP
"""
_PLAN = """
INSERT INTO day_plan
SELECT i,
       nextval('event_id_seq') AS event_id,
       nextval('enforcement_id_seq') AS enforcement_id,
       nextval('execution_id_seq') AS execution_id,
       $1::timestamptz + (i * 86400.0 / $2) * INTERVAL '1 second' AS created,
       -- squared uniform: a few busy triggers and actions, a long tail
       1 + floor($3 * random() ^ 2)::int AS trig,
       1 + floor($4 * random() ^ 2)::int AS act,
       ($5::bigint[])[1 + floor(cardinality($5) * random())::int] AS worker,
       (2 + floor(random() * 40))::int AS host,
       (random() < 0.04) AS failed,
       (5 + random() * 20) * INTERVAL '1 millisecond' AS queued,
       (50 + random() * random() * 3000) * INTERVAL '1 millisecond' AS took,
       (random() < 0.3) AS st2
FROM generate_series(1, $2) AS i
"""

_EVENTS = """
INSERT INTO event (id, created, trigger, trigger_ref, config, payload, source, source_ref, dedup_id)
SELECT event_id, created, trig, 'monitoring.check_' || trig, '{}',
       jsonb_build_object('host', 'web-' || host, 'check', 'check_' || trig,
                          'severity', (ARRAY['info', 'warning', 'critical'])[1 + (i % 7 = 0)::int + (i % 31 = 0)::int],
                          'value', round((random() * 100)::numeric, 2),
                          'message', 'check_' || trig || ' on web-' || host || ' reported a change'),
       CASE WHEN st2 THEN 100 + trig END,
       CASE WHEN st2 THEN 'monitoring.sensor_' || trig END,
       CASE WHEN st2 THEN 'monitoring.sensor_' || trig || ':' || md5(i::text) ELSE (1000000 + i)::text END
FROM day_plan
"""

_ENFORCEMENTS = """
INSERT INTO enforcement (id, created, rule, rule_ref, trigger_ref, event, config, status, condition, criteria,
                         resolved_at)
SELECT enforcement_id, created, act, 'monitoring.on_check_' || trig, 'monitoring.check_' || trig, event_id,
       jsonb_build_object('host', 'web-' || host, 'cmd', 'remediate check_' || trig),
       'processed', 'all', jsonb_build_object('trigger.severity', jsonb_build_object('type', 'neq', 'pattern', 'info')),
       created + queued
FROM day_plan
"""

_EXECUTIONS = """
INSERT INTO execution (id, created, updated, action, action_ref, config, status, result, enforcement, rule_ref,
                       trigger_ref, worker, started_at)
SELECT execution_id, created, created + queued + took, act, 'ops.action_' || act,
       jsonb_build_object('host', 'web-' || host, 'cmd', 'remediate check_' || trig),
       CASE WHEN failed THEN 'failed' ELSE 'completed' END,
       jsonb_build_object('succeeded', NOT failed, 'return_code', failed::int, 'stderr', '',
                          'stdout', 'remediated check_' || trig || ' on web-' || host),
       enforcement_id, 'monitoring.on_check_' || trig, 'monitoring.check_' || trig, worker, created + queued
FROM day_plan
"""

# the history trigger wrote each execution's INSERT row stamped now(): the day's rows replace it
_NOW_STAMPED_HISTORY = "DELETE FROM execution_history WHERE entity_id IN (SELECT execution_id FROM day_plan)"

_EXECUTION_HISTORY = """
INSERT INTO execution_history (created, operation, entity_id, entity_ref, changed_fields, old_values, new_values)
SELECT h.created, h.operation, p.execution_id, 'ops.action_' || p.act, h.changed_fields, h.old_values, h.new_values
FROM day_plan p
CROSS JOIN LATERAL (VALUES
    (p.created, 'INSERT', ARRAY['status'], '{}'::jsonb,
     jsonb_build_object('status', 'requested', 'action_ref', 'ops.action_' || p.act,
                        'enforcement', p.enforcement_id)),
    (p.created + p.queued, 'UPDATE', ARRAY['status'], jsonb_build_object('status', 'requested'),
     jsonb_build_object('status', 'scheduling')),
    (p.created + p.queued, 'UPDATE', ARRAY['status', 'worker'],
     jsonb_build_object('status', 'scheduling', 'worker', NULL),
     jsonb_build_object('status', 'scheduled', 'worker', p.worker)),
    (p.created + p.queued, 'UPDATE', ARRAY['status', 'started_at'],
     jsonb_build_object('status', 'scheduled', 'started_at', NULL),
     jsonb_build_object('status', 'running', 'started_at', p.created + p.queued)),
    (p.created + p.queued + p.took, 'UPDATE', ARRAY['status', 'result'],
     jsonb_build_object('status', 'running', 'result', NULL),
     jsonb_build_object('status', CASE WHEN p.failed THEN 'failed' ELSE 'completed' END,
                        'result', jsonb_build_object('succeeded', NOT p.failed, 'return_code', p.failed::int,
                                                     'stderr', '',
                                                     'stdout', 'remediated check_' || p.trig || ' on web-' || p.host)))
) AS h(created, operation, changed_fields, old_values, new_values)
ORDER BY h.created
"""

# the workers' day: each goes inactive and back a few times (a restart, a lost heartbeat) (workers' ids are reserved from their sequence, so
# no real worker of the session shares them)
_WORKER_HISTORY = """
INSERT INTO worker_history (created, operation, entity_id, entity_ref, changed_fields, old_values, new_values)
SELECT $1::timestamptz + (k * 86400.0 / $2) * INTERVAL '1 second',
       'UPDATE', ($3::bigint[])[1 + k % cardinality($3)], 'worker-' || (1 + k % cardinality($3)), ARRAY['status'],
       jsonb_build_object('status', CASE WHEN k % 2 = 0 THEN 'active' ELSE 'inactive' END),
       jsonb_build_object('status', CASE WHEN k % 2 = 0 THEN 'inactive' ELSE 'active' END)
FROM generate_series(1, $2) AS k
"""


async def load_day(conn: asyncpg.Connection, day: datetime, events: int) -> None:
    """Write one day (``day`` at 00:00 UTC onwards) of ``events`` events and all that follows from them."""
    async with conn.transaction():
        await conn.execute(_PLAN_TABLE)
        workers = [
            r[0]
            for r in await conn.fetch("SELECT nextval('worker_id_seq') FROM generate_series(1, $1)", WORKERS)
        ]
        await conn.execute(_PLAN, day, events, TRIGGERS, ACTIONS, workers)
        for statement in (_EVENTS, _ENFORCEMENTS, _EXECUTIONS, _NOW_STAMPED_HISTORY, _EXECUTION_HISTORY):
            await conn.execute(statement)
        await conn.execute(_WORKER_HISTORY, day, 3 * WORKERS, workers)

-- attune:unless timescaledb
-- Hourly rollups as plain views, for PostgreSQL without TimescaleDB. Same names and columns as
-- the continuous aggregates of 0004; computed on read. Retention is the batched delete job of
-- attune_shared.retention, run by the executor.

CREATE OR REPLACE VIEW event_volume_hourly AS
SELECT date_trunc('hour', created, 'UTC') AS bucket, trigger_ref, count(*) AS event_count
FROM event
GROUP BY 1, 2;

CREATE OR REPLACE VIEW enforcement_volume_hourly AS
SELECT date_trunc('hour', created, 'UTC') AS bucket, rule_ref, count(*) AS enforcement_count
FROM enforcement
GROUP BY 1, 2;

CREATE OR REPLACE VIEW execution_volume_hourly AS
SELECT date_trunc('hour', created, 'UTC') AS bucket, action_ref, status, count(*) AS execution_count
FROM execution
GROUP BY 1, 2, 3;

CREATE OR REPLACE VIEW execution_status_hourly AS
SELECT date_trunc('hour', created, 'UTC') AS bucket, entity_ref AS action_ref,
       new_values ->> 'status' AS new_status, count(*) AS transition_count
FROM execution_history
WHERE 'status' = ANY (changed_fields)
GROUP BY 1, 2, 3;

CREATE OR REPLACE VIEW execution_throughput_hourly AS
SELECT date_trunc('hour', created, 'UTC') AS bucket, entity_ref AS action_ref, count(*) AS execution_count
FROM execution_history
WHERE operation = 'INSERT'
GROUP BY 1, 2;

CREATE OR REPLACE VIEW worker_status_hourly AS
SELECT date_trunc('hour', created, 'UTC') AS bucket, entity_ref AS worker_name,
       new_values ->> 'status' AS new_status, count(*) AS transition_count
FROM worker_history
WHERE 'status' = ANY (changed_fields)
GROUP BY 1, 2, 3;

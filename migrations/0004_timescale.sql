-- attune:requires timescaledb
-- Hypertables, columnstore (compression), retention and continuous aggregates.
-- Applied only where the TimescaleDB extension is installed; it also upgrades a database first
-- migrated without it (the plain views of 0003 are replaced by continuous aggregates).

SELECT create_hypertable('event', by_range('created', INTERVAL '1 day'),
                         create_default_indexes => false, if_not_exists => true, migrate_data => true);
SELECT create_hypertable('enforcement', by_range('created', INTERVAL '1 day'),
                         create_default_indexes => false, if_not_exists => true, migrate_data => true);
SELECT create_hypertable('execution', by_range('created', INTERVAL '1 day'),
                         create_default_indexes => false, if_not_exists => true, migrate_data => true);
SELECT create_hypertable('execution_history', by_range('created', INTERVAL '1 day'),
                         create_default_indexes => false, if_not_exists => true, migrate_data => true);
SELECT create_hypertable('worker_history', by_range('created', INTERVAL '7 days'),
                         create_default_indexes => false, if_not_exists => true, migrate_data => true);

ALTER TABLE event SET (timescaledb.enable_columnstore = true,
    timescaledb.segmentby = 'trigger_ref', timescaledb.orderby = 'created DESC, id DESC');
ALTER TABLE enforcement SET (timescaledb.enable_columnstore = true,
    timescaledb.segmentby = 'rule_ref', timescaledb.orderby = 'created DESC, id DESC');
ALTER TABLE execution SET (timescaledb.enable_columnstore = true,
    timescaledb.segmentby = 'action_ref', timescaledb.orderby = 'created DESC, id DESC');
ALTER TABLE execution_history SET (timescaledb.enable_columnstore = true,
    timescaledb.segmentby = 'entity_id', timescaledb.orderby = 'created DESC, id DESC');
ALTER TABLE worker_history SET (timescaledb.enable_columnstore = true,
    timescaledb.segmentby = 'entity_id', timescaledb.orderby = 'created DESC, id DESC');

CALL add_columnstore_policy('event', after => INTERVAL '7 days', if_not_exists => true);
CALL add_columnstore_policy('enforcement', after => INTERVAL '7 days', if_not_exists => true);
CALL add_columnstore_policy('execution', after => INTERVAL '7 days', if_not_exists => true);
CALL add_columnstore_policy('execution_history', after => INTERVAL '7 days', if_not_exists => true);
CALL add_columnstore_policy('worker_history', after => INTERVAL '7 days', if_not_exists => true);

SELECT add_retention_policy('event', drop_after => INTERVAL '90 days', if_not_exists => true);
SELECT add_retention_policy('enforcement', drop_after => INTERVAL '90 days', if_not_exists => true);
SELECT add_retention_policy('execution', drop_after => INTERVAL '90 days', if_not_exists => true);
SELECT add_retention_policy('execution_history', drop_after => INTERVAL '90 days', if_not_exists => true);
SELECT add_retention_policy('worker_history', drop_after => INTERVAL '180 days', if_not_exists => true);

DROP VIEW IF EXISTS event_volume_hourly, enforcement_volume_hourly, execution_volume_hourly,
    execution_status_hourly, execution_throughput_hourly, worker_status_hourly;

-- Continuous aggregates are created WITH NO DATA (allowed inside the migration's transaction)
-- and filled by their refresh policies; materialized_only = false adds the recent,
-- not yet materialized hours at query time.
CREATE MATERIALIZED VIEW event_volume_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', created) AS bucket, trigger_ref, count(*) AS event_count
FROM event
GROUP BY 1, 2
WITH NO DATA;

CREATE MATERIALIZED VIEW enforcement_volume_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', created) AS bucket, rule_ref, count(*) AS enforcement_count
FROM enforcement
GROUP BY 1, 2
WITH NO DATA;

CREATE MATERIALIZED VIEW execution_volume_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', created) AS bucket, action_ref, status, count(*) AS execution_count
FROM execution
GROUP BY 1, 2, 3
WITH NO DATA;

CREATE MATERIALIZED VIEW execution_status_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', created) AS bucket, entity_ref AS action_ref,
       new_values ->> 'status' AS new_status, count(*) AS transition_count
FROM execution_history
WHERE 'status' = ANY (changed_fields)
GROUP BY 1, 2, 3
WITH NO DATA;

CREATE MATERIALIZED VIEW execution_throughput_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', created) AS bucket, entity_ref AS action_ref, count(*) AS execution_count
FROM execution_history
WHERE operation = 'INSERT'
GROUP BY 1, 2
WITH NO DATA;

CREATE MATERIALIZED VIEW worker_status_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', created) AS bucket, entity_ref AS worker_name,
       new_values ->> 'status' AS new_status, count(*) AS transition_count
FROM worker_history
WHERE 'status' = ANY (changed_fields)
GROUP BY 1, 2, 3
WITH NO DATA;

SELECT add_continuous_aggregate_policy('event_volume_hourly', start_offset => INTERVAL '7 days',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '30 minutes', if_not_exists => true);
SELECT add_continuous_aggregate_policy('enforcement_volume_hourly', start_offset => INTERVAL '7 days',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '30 minutes', if_not_exists => true);
SELECT add_continuous_aggregate_policy('execution_volume_hourly', start_offset => INTERVAL '7 days',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '30 minutes', if_not_exists => true);
SELECT add_continuous_aggregate_policy('execution_status_hourly', start_offset => INTERVAL '7 days',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '30 minutes', if_not_exists => true);
SELECT add_continuous_aggregate_policy('execution_throughput_hourly', start_offset => INTERVAL '7 days',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '30 minutes', if_not_exists => true);
SELECT add_continuous_aggregate_policy('worker_status_hourly', start_offset => INTERVAL '30 days',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour', if_not_exists => true);

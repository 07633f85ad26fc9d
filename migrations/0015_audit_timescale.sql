-- attune:requires timescaledb
-- The audit log as a hypertable (weekly chunks), compressed after 7 days, dropped after 365.
SELECT create_hypertable('audit_log', by_range('created', INTERVAL '7 days'),
                         create_default_indexes => false, if_not_exists => true, migrate_data => true);
ALTER TABLE audit_log SET (timescaledb.enable_columnstore = true,
    timescaledb.segmentby = 'action', timescaledb.orderby = 'created DESC, id DESC');
CALL add_columnstore_policy('audit_log', after => INTERVAL '7 days', if_not_exists => true);
SELECT add_retention_policy('audit_log', drop_after => INTERVAL '365 days', if_not_exists => true);

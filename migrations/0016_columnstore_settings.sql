-- attune:requires timescaledb
-- Columnstore (compression) settings chosen from how each hypertable is read and how many rows
-- share a segment in a day's chunk (docs/decisions.md, "Compression", has the measured ratios).
--
-- A segment compresses well only when it holds many rows: TimescaleDB packs up to 1,000 rows of
-- one segment into a batch and compresses each column across the batch. The history tables were
-- segmented by entity_id, but an execution has about five history rows (a worker a handful a
-- week), so every batch held five rows and a chunk compressed 1.0x (measured 9.29 MB -> 9.32 MB).
-- They are now one segment ordered by entity_id: the rows of one entity stay together in one
-- batch, and the batch's min/max of entity_id (kept for order-by columns) lets the one read of
-- these tables, "the history of entity N" (for_entity), decompress only that batch. The hourly
-- roll-ups read the history through continuous aggregates, which are materialized before a chunk
-- is compressed (7 days), so no segment is needed for them.
--
-- event, enforcement and execution keep their settings: segmented by trigger_ref, rule_ref and
-- action_ref (the API's list filters), a busy ref has thousands of rows a day, and the order by
-- created DESC, id DESC serves the newest-first lists and the (id, created) lookups.
--
-- Chunks compressed before this migration keep the settings they were compressed with (TimescaleDB
-- records them per chunk); new chunks take these. To recompress an old chunk:
--   CALL convert_to_rowstore('<chunk>'); CALL convert_to_columnstore('<chunk>');

ALTER TABLE execution_history SET (timescaledb.segmentby = '', timescaledb.orderby = 'entity_id, created DESC, id DESC');
ALTER TABLE worker_history SET (timescaledb.segmentby = '', timescaledb.orderby = 'entity_id, created DESC, id DESC');

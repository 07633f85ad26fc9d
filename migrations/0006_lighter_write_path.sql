-- A lighter write path for the pipeline (measured: PostgreSQL was the bottleneck of the noop
-- pipeline, mostly index maintenance and row versions).
--
-- 1. No separate `created` index on the time-series tables: lookups go by the (id, created) keys,
--    lists by id (the primary key), and on TimescaleDB time ranges by chunk. Every row version of
--    an execution wrote one index entry fewer; every history row too.
-- 2. An execution starts with ONE update (requested -> running) instead of three. The history
--    trigger still records requested -> scheduling -> scheduled (worker) -> running (started_at):
--    `execution_start` marks its update with the transaction-local setting `attune.start`, and the
--    trigger expands such an update into the three status rows. Nothing else can observe the
--    intermediate statuses of one transaction, so the rows are exactly what three updates wrote.

DROP INDEX IF EXISTS event_created_idx;
DROP INDEX IF EXISTS enforcement_created_idx;
DROP INDEX IF EXISTS execution_created_idx;
DROP INDEX IF EXISTS execution_history_created_idx;
DROP INDEX IF EXISTS worker_history_created_idx;

CREATE OR REPLACE FUNCTION execution_history_record() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed TEXT[] := '{}';
    old_v   JSONB := '{}';
    new_v   JSONB := '{}';
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO execution_history (created, operation, entity_id, entity_ref, changed_fields, old_values, new_values)
        VALUES (now(), 'INSERT', NEW.id, NEW.action_ref, ARRAY['status'], '{}',
                jsonb_strip_nulls(jsonb_build_object(
                    'status', NEW.status, 'action_ref', NEW.action_ref, 'enforcement', NEW.enforcement,
                    'parent', NEW.parent, 'original_execution', NEW.original_execution,
                    'executor', NEW.executor, 'worker', NEW.worker)));
        RETURN NULL;
    END IF;

    IF OLD.status = 'requested' AND NEW.status = 'running'
       AND current_setting('attune.start', true) = 'on' THEN
        -- one update standing for requested -> scheduling -> scheduled -> running
        INSERT INTO execution_history (created, operation, entity_id, entity_ref, changed_fields, old_values, new_values)
        VALUES
            (now(), 'UPDATE', NEW.id, NEW.action_ref, ARRAY['status'],
             jsonb_build_object('status', 'requested'), jsonb_build_object('status', 'scheduling')),
            (now(), 'UPDATE', NEW.id, NEW.action_ref, ARRAY['status', 'worker'],
             jsonb_build_object('status', 'scheduling', 'worker', OLD.worker),
             jsonb_build_object('status', 'scheduled', 'worker', NEW.worker)),
            (now(), 'UPDATE', NEW.id, NEW.action_ref, ARRAY['status', 'started_at'],
             jsonb_build_object('status', 'scheduled', 'started_at', OLD.started_at),
             jsonb_build_object('status', 'running', 'started_at', NEW.started_at));
        RETURN NULL;
    END IF;

    IF OLD.status IS DISTINCT FROM NEW.status THEN
        changed := array_append(changed, 'status');
        old_v := old_v || jsonb_build_object('status', OLD.status);
        new_v := new_v || jsonb_build_object('status', NEW.status);
    END IF;
    IF OLD.result IS DISTINCT FROM NEW.result THEN
        changed := array_append(changed, 'result');
        old_v := old_v || jsonb_build_object('result', history_value(OLD.result));
        new_v := new_v || jsonb_build_object('result', history_value(NEW.result));
    END IF;
    IF OLD.worker IS DISTINCT FROM NEW.worker THEN
        changed := array_append(changed, 'worker');
        old_v := old_v || jsonb_build_object('worker', OLD.worker);
        new_v := new_v || jsonb_build_object('worker', NEW.worker);
    END IF;
    IF OLD.started_at IS DISTINCT FROM NEW.started_at THEN
        changed := array_append(changed, 'started_at');
        old_v := old_v || jsonb_build_object('started_at', OLD.started_at);
        new_v := new_v || jsonb_build_object('started_at', NEW.started_at);
    END IF;
    IF OLD.run_after IS DISTINCT FROM NEW.run_after THEN
        changed := array_append(changed, 'run_after');
        old_v := old_v || jsonb_build_object('run_after', OLD.run_after);
        new_v := new_v || jsonb_build_object('run_after', NEW.run_after);
    END IF;

    IF cardinality(changed) > 0 THEN
        INSERT INTO execution_history (created, operation, entity_id, entity_ref, changed_fields, old_values, new_values)
        VALUES (now(), 'UPDATE', NEW.id, NEW.action_ref, changed, old_v, new_v);
    END IF;
    RETURN NULL;
END;
$$;

-- Start executions in one round trip and one row version each: requested (and due) -> running,
-- recorded in history as requested -> scheduling -> scheduled -> running (see above). Rows are
-- locked in id order first, so concurrent calls on overlapping executions cannot deadlock;
-- executions not `requested` (claimed elsewhere, cancelled) or whose run_after lies ahead are left
-- alone. Returns the rows now running.
CREATE OR REPLACE FUNCTION execution_start(p_ids BIGINT[], p_created TIMESTAMPTZ[], p_worker BIGINT, p_started TIMESTAMPTZ)
RETURNS SETOF execution
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM execution x JOIN unnest(p_ids, p_created) AS u(id, created)
        ON x.id = u.id AND x.created = u.created ORDER BY x.id FOR UPDATE OF x;
    PERFORM set_config('attune.start', 'on', true);
    RETURN QUERY
        UPDATE execution e SET status = 'running', worker = p_worker, started_at = p_started
        FROM unnest(p_ids, p_created) AS u(id, created)
        WHERE e.id = u.id AND e.created = u.created AND e.status = 'requested'
          AND (e.run_after IS NULL OR e.run_after <= now())
        RETURNING e.*;
    PERFORM set_config('attune.start', '', true);
END;
$$;

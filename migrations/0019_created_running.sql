-- An execution the executor creates and starts in the same moment is inserted `running` (its worker
-- and started_at set), instead of inserted `requested` and then started by `execution_start`: one
-- row version instead of two, and no second statement (measured: the start was half of the
-- PostgreSQL time of a noop execution). The history records exactly what an insert and a start
-- record: the insert as `requested`, then requested -> scheduling -> scheduled -> running. Nothing
-- else could observe the intermediate statuses of one transaction.

CREATE OR REPLACE FUNCTION execution_history_record() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed TEXT[] := '{}';
    old_v   JSONB := '{}';
    new_v   JSONB := '{}';
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status = 'running' THEN
            INSERT INTO execution_history (created, operation, entity_id, entity_ref, changed_fields, old_values, new_values)
            VALUES
                (now(), 'INSERT', NEW.id, NEW.action_ref, ARRAY['status'], '{}',
                 jsonb_strip_nulls(jsonb_build_object(
                    'status', 'requested', 'action_ref', NEW.action_ref, 'enforcement', NEW.enforcement,
                    'parent', NEW.parent, 'original_execution', NEW.original_execution,
                    'executor', NEW.executor))),
                (now(), 'UPDATE', NEW.id, NEW.action_ref, ARRAY['status'],
                 jsonb_build_object('status', 'requested'), jsonb_build_object('status', 'scheduling')),
                (now(), 'UPDATE', NEW.id, NEW.action_ref, ARRAY['status', 'worker'],
                 jsonb_build_object('status', 'scheduling', 'worker', NULL),
                 jsonb_build_object('status', 'scheduled', 'worker', NEW.worker)),
                (now(), 'UPDATE', NEW.id, NEW.action_ref, ARRAY['status', 'started_at'],
                 jsonb_build_object('status', 'scheduled', 'started_at', NULL),
                 jsonb_build_object('status', 'running', 'started_at', NEW.started_at));
            RETURN NULL;
        END IF;
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

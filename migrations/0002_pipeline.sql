-- The pipeline's time-series tables: event, enforcement, execution and the two history tables.
--
-- Every one of them is keyed (id, created) and partitioned on `created` when TimescaleDB is
-- present (0004). No foreign key targets them; the columns that point at one are plain
-- BIGINT ids paired with readable *_ref columns, joined in the application.
--
-- Rows caused by one event share its `created`: an enforcement takes its event's `created`, and
-- the top-level execution of an enforcement takes the enforcement's. TimescaleDB only enforces
-- uniqueness on keys that include the partition column; with the shared timestamp,
-- UNIQUE (rule, event, created) is exactly "one enforcement per rule and event", and the partial
-- unique index on (enforcement, created) is exactly "one top-level execution per enforcement".
-- It also keeps an event and its consequences in the same chunk, so they compress and expire together.

CREATE TABLE event (
    id          BIGSERIAL,
    created     TIMESTAMPTZ NOT NULL DEFAULT now(),
    trigger     BIGINT,
    trigger_ref TEXT NOT NULL,
    config      JSONB NOT NULL DEFAULT '{}',
    payload     JSONB NOT NULL DEFAULT '{}',
    source      BIGINT,
    source_ref  TEXT,
    rule        BIGINT,
    rule_ref    TEXT,
    trace_tag   TEXT,
    dedup_id    TEXT NOT NULL,
    PRIMARY KEY (id, created),
    UNIQUE (dedup_id, created)
);
COMMENT ON TABLE event IS 'immutable: no updated column and no update path';
COMMENT ON COLUMN event.created IS 'the time the trigger message was stored by NATS, so a redelivered message maps to the same row';
COMMENT ON COLUMN event.dedup_id IS 'Nats-Msg-Id of the trigger message, or its stream sequence when it had none';
CREATE INDEX event_created_idx ON event (created DESC);
CREATE INDEX event_trigger_ref_idx ON event (trigger_ref, created DESC);

CREATE TABLE enforcement (
    id              BIGSERIAL,
    created         TIMESTAMPTZ NOT NULL,
    rule            BIGINT,
    rule_ref        TEXT NOT NULL,
    trigger_ref     TEXT NOT NULL,
    event           BIGINT,
    config          JSONB NOT NULL DEFAULT '{}',
    status          TEXT NOT NULL DEFAULT 'created' CHECK (status IN ('created', 'processed', 'disabled')),
    condition       TEXT NOT NULL DEFAULT 'all' CHECK (condition IN ('all', 'any')),
    criteria        JSONB NOT NULL DEFAULT '{}',
    failure_reason  TEXT,
    trace_tag       TEXT,
    resolved_at     TIMESTAMPTZ,
    PRIMARY KEY (id, created),
    UNIQUE (rule, event, created),
    CHECK ((status = 'created') = (resolved_at IS NULL))
);
COMMENT ON COLUMN enforcement.created IS 'the created of its event (see the note at the top of this file)';
COMMENT ON COLUMN enforcement.config IS 'the rendered action parameters';
COMMENT ON COLUMN enforcement.resolved_at IS 'set with the one transition created -> processed | disabled; NULL while pending';
CREATE INDEX enforcement_created_idx ON enforcement (created DESC);
CREATE INDEX enforcement_rule_ref_idx ON enforcement (rule_ref, created DESC);
CREATE INDEX enforcement_event_idx ON enforcement (event);
CREATE INDEX enforcement_pending_idx ON enforcement (created) WHERE status = 'created';

CREATE TABLE execution (
    id                  BIGSERIAL,
    created             TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated             TIMESTAMPTZ NOT NULL DEFAULT now(),
    action              BIGINT,
    action_ref          TEXT NOT NULL,
    config              JSONB NOT NULL DEFAULT '{}',
    status              TEXT NOT NULL DEFAULT 'requested' CHECK (status IN (
                            'requested', 'scheduling', 'scheduled', 'running', 'completed', 'failed',
                            'canceling', 'cancelled', 'timeout', 'abandoned')),
    result              JSONB,
    enforcement         BIGINT,
    rule_ref            TEXT,
    trigger_ref         TEXT,
    parent              BIGINT,
    original_execution  BIGINT,
    executor            BIGINT,
    worker              BIGINT,
    started_at          TIMESTAMPTZ,
    timeout_seconds     INTEGER CHECK (timeout_seconds IS NULL OR timeout_seconds > 0),
    retry_count         INTEGER NOT NULL DEFAULT 0,
    max_retries         INTEGER NOT NULL DEFAULT 0,
    retry_reason        TEXT,
    run_after           TIMESTAMPTZ,
    trace_tag           TEXT,
    PRIMARY KEY (id, created)
);
COMMENT ON COLUMN execution.config IS 'the flat parameter map the action runs with';
COMMENT ON COLUMN execution.executor IS 'identity that requested it (API); NULL for rule-born executions';
COMMENT ON COLUMN execution.run_after IS 'not scheduled before this time (retry backoff)';
CREATE UNIQUE INDEX execution_one_per_enforcement_idx ON execution (enforcement, created)
    WHERE enforcement IS NOT NULL AND parent IS NULL AND original_execution IS NULL;
CREATE INDEX execution_created_idx ON execution (created DESC);
CREATE INDEX execution_action_ref_idx ON execution (action_ref, created DESC);
CREATE INDEX execution_active_idx ON execution (status, updated)
    WHERE status IN ('requested', 'scheduling', 'scheduled', 'running', 'canceling');
CREATE INDEX execution_enforcement_idx ON execution (enforcement) WHERE enforcement IS NOT NULL;
CREATE INDEX execution_parent_idx ON execution (parent) WHERE parent IS NOT NULL;
CREATE INDEX execution_original_idx ON execution (original_execution) WHERE original_execution IS NOT NULL;

CREATE TRIGGER execution_set_updated BEFORE UPDATE ON execution FOR EACH ROW EXECUTE FUNCTION set_updated();

CREATE TABLE execution_history (
    id              BIGSERIAL,
    created         TIMESTAMPTZ NOT NULL DEFAULT now(),
    operation       TEXT NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
    entity_id       BIGINT NOT NULL,
    entity_ref      TEXT,
    changed_fields  TEXT[] NOT NULL DEFAULT '{}',
    old_values      JSONB NOT NULL DEFAULT '{}',
    new_values      JSONB NOT NULL DEFAULT '{}',
    PRIMARY KEY (id, created)
);
CREATE INDEX execution_history_entity_idx ON execution_history (entity_id, created DESC);
CREATE INDEX execution_history_created_idx ON execution_history (created DESC);

CREATE TABLE worker_history (
    id              BIGSERIAL,
    created         TIMESTAMPTZ NOT NULL DEFAULT now(),
    operation       TEXT NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
    entity_id       BIGINT NOT NULL,
    entity_ref      TEXT,
    changed_fields  TEXT[] NOT NULL DEFAULT '{}',
    old_values      JSONB NOT NULL DEFAULT '{}',
    new_values      JSONB NOT NULL DEFAULT '{}',
    PRIMARY KEY (id, created)
);
CREATE INDEX worker_history_entity_idx ON worker_history (entity_id, created DESC);
CREATE INDEX worker_history_created_idx ON worker_history (created DESC);

-- A result larger than this is recorded in history as {digest, size, type}, not copied.
CREATE OR REPLACE FUNCTION history_value(value JSONB) RETURNS JSONB
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN value IS NULL THEN 'null'::jsonb
        WHEN octet_length(value::text) <= 2048 THEN value
        ELSE jsonb_build_object(
            'digest', 'md5:' || md5(value::text),
            'size', octet_length(value::text),
            'type', jsonb_typeof(value),
            'summarized', true)
    END
$$;

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

CREATE TRIGGER execution_history_trigger AFTER INSERT OR UPDATE ON execution
    FOR EACH ROW EXECUTE FUNCTION execution_history_record();

CREATE OR REPLACE FUNCTION worker_history_record() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed TEXT[] := '{}';
    old_v   JSONB := '{}';
    new_v   JSONB := '{}';
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO worker_history (created, operation, entity_id, entity_ref, changed_fields, old_values, new_values)
        VALUES (now(), 'INSERT', NEW.id, NEW.name, ARRAY['status'], '{}',
                jsonb_build_object('name', NEW.name, 'status', NEW.status, 'host', NEW.host, 'pid', NEW.pid,
                                   'worker_type', NEW.worker_type, 'concurrency', NEW.concurrency));
        RETURN NULL;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO worker_history (created, operation, entity_id, entity_ref, changed_fields, old_values, new_values)
        VALUES (now(), 'DELETE', OLD.id, OLD.name, '{}',
                jsonb_build_object('name', OLD.name, 'status', OLD.status), '{}');
        RETURN NULL;
    END IF;

    -- last_heartbeat and updated are deliberately not tracked: a heartbeat writes no history.
    IF OLD.name IS DISTINCT FROM NEW.name THEN
        changed := array_append(changed, 'name');
        old_v := old_v || jsonb_build_object('name', OLD.name);
        new_v := new_v || jsonb_build_object('name', NEW.name);
    END IF;
    IF OLD.status IS DISTINCT FROM NEW.status THEN
        changed := array_append(changed, 'status');
        old_v := old_v || jsonb_build_object('status', OLD.status);
        new_v := new_v || jsonb_build_object('status', NEW.status);
    END IF;
    IF OLD.host IS DISTINCT FROM NEW.host THEN
        changed := array_append(changed, 'host');
        old_v := old_v || jsonb_build_object('host', OLD.host);
        new_v := new_v || jsonb_build_object('host', NEW.host);
    END IF;
    IF OLD.pid IS DISTINCT FROM NEW.pid THEN
        changed := array_append(changed, 'pid');
        old_v := old_v || jsonb_build_object('pid', OLD.pid);
        new_v := new_v || jsonb_build_object('pid', NEW.pid);
    END IF;
    IF OLD.capabilities IS DISTINCT FROM NEW.capabilities THEN
        changed := array_append(changed, 'capabilities');
        old_v := old_v || jsonb_build_object('capabilities', OLD.capabilities);
        new_v := new_v || jsonb_build_object('capabilities', NEW.capabilities);
    END IF;
    IF OLD.concurrency IS DISTINCT FROM NEW.concurrency THEN
        changed := array_append(changed, 'concurrency');
        old_v := old_v || jsonb_build_object('concurrency', OLD.concurrency);
        new_v := new_v || jsonb_build_object('concurrency', NEW.concurrency);
    END IF;

    IF cardinality(changed) > 0 THEN
        INSERT INTO worker_history (created, operation, entity_id, entity_ref, changed_fields, old_values, new_values)
        VALUES (now(), 'UPDATE', NEW.id, NEW.name, changed, old_v, new_v);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER worker_history_trigger AFTER INSERT OR UPDATE OR DELETE ON worker
    FOR EACH ROW EXECUTE FUNCTION worker_history_record();

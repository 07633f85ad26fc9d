-- Workflows (Orquesta): the definitions registered with their packs, one row per workflow
-- execution holding the conductor's state, and the durable de-duplication of the child
-- executions a workflow starts. Children are ordinary executions with `parent` set to the
-- workflow's execution and their task named.
--
-- `execution` is a time-series table (a hypertable on TimescaleDB): the columns pointing at it
-- are plain BIGINTs paired with its `created`, never foreign keys (see 0002).

-- The statuses of workflows and inquiries: pending (waiting for a person), pausing, paused,
-- resuming. The new check allows more than the old one, so existing rows are not re-checked
-- (NOT VALID: no scan of a large table, and no decompression of columnstore chunks).
ALTER TABLE execution DROP CONSTRAINT execution_status_check;
ALTER TABLE execution ADD CONSTRAINT execution_status_check CHECK (status IN (
    'requested', 'scheduling', 'scheduled', 'running', 'completed', 'failed', 'canceling',
    'cancelled', 'timeout', 'abandoned', 'pending', 'pausing', 'paused', 'resuming')) NOT VALID;

ALTER TABLE execution
    ADD COLUMN workflow_def BIGINT,
    ADD COLUMN task_name TEXT,
    ADD COLUMN task_item INTEGER;
COMMENT ON COLUMN execution.workflow_def IS 'the workflow_definition this execution runs (set when the workflow starts); NULL for an action';
COMMENT ON COLUMN execution.task_name IS 'for a child of a workflow (parent set): the task it runs';
COMMENT ON COLUMN execution.task_item IS 'for a child of a with-items task: the item index';

-- Workflow actions (`runner_type: orquesta`) are accepted; runner types are checked where actions
-- are defined (the pack loader, the API).
ALTER TABLE action DROP CONSTRAINT IF EXISTS action_runner_type_check;

CREATE TABLE workflow_definition (
    id           BIGSERIAL PRIMARY KEY,
    ref          TEXT NOT NULL UNIQUE,
    pack         BIGINT NOT NULL REFERENCES pack (id) ON DELETE CASCADE,
    pack_ref     TEXT NOT NULL,
    action       BIGINT NOT NULL UNIQUE REFERENCES action (id) ON DELETE CASCADE,
    description  TEXT NOT NULL DEFAULT '',
    entry_point  TEXT NOT NULL,
    source       TEXT NOT NULL,
    definition   JSONB,
    errors       JSONB NOT NULL DEFAULT '[]',
    digest       TEXT NOT NULL,
    created      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated      TIMESTAMPTZ NOT NULL DEFAULT now()
);
COMMENT ON TABLE workflow_definition IS 'one per workflow action, registered with its pack; ref = the action''s ref';
COMMENT ON COLUMN workflow_definition.entry_point IS 'the workflow file, relative to the pack''s actions/ folder';
COMMENT ON COLUMN workflow_definition.source IS 'the workflow file as written';
COMMENT ON COLUMN workflow_definition.definition IS 'the workflow as JSON (the YAML read; NULL when the file is not a YAML mapping); the graph is derived from it';
COMMENT ON COLUMN workflow_definition.errors IS 'inspection errors at registration (Orquesta''s entries); a workflow with any fails when run';
COMMENT ON COLUMN workflow_definition.digest IS 'sha256 of the definition''s canonical JSON';
CREATE INDEX workflow_definition_pack_idx ON workflow_definition (pack);
CREATE TRIGGER workflow_definition_set_updated BEFORE UPDATE ON workflow_definition
    FOR EACH ROW EXECUTE FUNCTION set_updated();

CREATE TABLE workflow_execution (
    id                 BIGSERIAL PRIMARY KEY,
    execution          BIGINT NOT NULL UNIQUE,
    execution_created  TIMESTAMPTZ NOT NULL,
    workflow_def       BIGINT REFERENCES workflow_definition (id) ON DELETE SET NULL,
    definition         JSONB NOT NULL,
    digest             TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN (
                           'requested', 'scheduled', 'running', 'completed', 'failed', 'canceling',
                           'cancelled', 'timeout', 'abandoned', 'pending', 'pausing', 'paused', 'resuming')),
    state              JSONB NOT NULL,
    result             JSONB,
    deadline           TIMESTAMPTZ,
    closed_at          TIMESTAMPTZ,
    created            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated            TIMESTAMPTZ NOT NULL DEFAULT now()
);
COMMENT ON TABLE workflow_execution IS 'one per running or finished workflow execution; written under its row lock only';
COMMENT ON COLUMN workflow_execution.definition IS 'the workflow as it was when this execution started (re-registering does not change a running workflow)';
COMMENT ON COLUMN workflow_execution.status IS 'the workflow''s status as the conductor last decided it; the execution follows it';
COMMENT ON COLUMN workflow_execution.state IS 'the conductor''s state (contexts, task entries, staged tasks, errors); never children''s results';
COMMENT ON COLUMN workflow_execution.result IS 'the execution''s result once the workflow is over';
COMMENT ON COLUMN workflow_execution.deadline IS 'started + the execution''s timeout: the maintenance leader ends it `timeout` past this';
COMMENT ON COLUMN workflow_execution.closed_at IS 'when the execution''s terminal status was recorded; open rows are what the reconciler watches';
CREATE INDEX workflow_execution_open_idx ON workflow_execution (updated) WHERE closed_at IS NULL;
CREATE INDEX workflow_execution_deadline_idx ON workflow_execution (deadline)
    WHERE closed_at IS NULL AND deadline IS NOT NULL;
CREATE INDEX workflow_execution_created_idx ON workflow_execution (execution_created);
CREATE TRIGGER workflow_execution_set_updated BEFORE UPDATE ON workflow_execution
    FOR EACH ROW EXECUTE FUNCTION set_updated();

-- One child execution per task entry, item and retry attempt (the conductor's dispatch key),
-- written in the same transaction as the state that asked for it: whatever is redelivered or
-- replayed, a key is dispatched once.
CREATE TABLE workflow_task_dispatch (
    workflow_execution  BIGINT NOT NULL REFERENCES workflow_execution (id) ON DELETE CASCADE,
    dispatch_key        TEXT NOT NULL,
    execution           BIGINT NOT NULL,
    execution_created   TIMESTAMPTZ NOT NULL,
    reported            TEXT,
    created             TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_execution, dispatch_key)
);
COMMENT ON COLUMN workflow_task_dispatch.dispatch_key IS '<task>.r<route>.e<entry>[.i<item>].a<attempt>';
COMMENT ON COLUMN workflow_task_dispatch.execution IS 'the child execution (the latest of its retry chain when the executor retried it)';
COMMENT ON COLUMN workflow_task_dispatch.reported IS 'the child status last given to the conductor; NULL before any';
CREATE INDEX workflow_task_dispatch_execution_idx ON workflow_task_dispatch (execution);
CREATE INDEX workflow_task_dispatch_open_idx ON workflow_task_dispatch (workflow_execution)
    WHERE reported IS NULL OR reported NOT IN ('completed', 'failed', 'cancelled', 'timeout', 'abandoned');

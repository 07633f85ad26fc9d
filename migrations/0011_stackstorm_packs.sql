-- StackStorm packs as StackStorm writes them: runner types, pack metadata, pack sensors run as
-- supervised processes, and refs whose names hold dots.

-- A component's name may hold dots (StackStorm's `core.st2.webhook`, a policy named
-- `my_action.concurrency`); the pack part of a ref is unchanged.
ALTER TABLE trigger DROP CONSTRAINT trigger_ref_check,
    ADD CONSTRAINT trigger_ref_check CHECK (ref ~ '^[a-z0-9][a-z0-9_-]*\.[A-Za-z0-9_][A-Za-z0-9_.-]*$');
ALTER TABLE sensor DROP CONSTRAINT sensor_ref_check,
    ADD CONSTRAINT sensor_ref_check CHECK (ref ~ '^[a-z0-9][a-z0-9_-]*\.[A-Za-z0-9_][A-Za-z0-9_.-]*$');
ALTER TABLE action DROP CONSTRAINT action_ref_check,
    ADD CONSTRAINT action_ref_check CHECK (ref ~ '^[a-z0-9][a-z0-9_-]*\.[A-Za-z0-9_][A-Za-z0-9_.-]*$');
ALTER TABLE rule DROP CONSTRAINT rule_ref_check,
    ADD CONSTRAINT rule_ref_check CHECK (ref ~ '^[a-z0-9][a-z0-9_-]*\.[A-Za-z0-9_][A-Za-z0-9_.-]*$');
ALTER TABLE policy DROP CONSTRAINT policy_ref_check,
    ADD CONSTRAINT policy_ref_check CHECK (ref ~ '^[a-z0-9][a-z0-9_-]*\.[A-Za-z0-9_][A-Za-z0-9_.-]*$');

-- Runner types are checked where actions are defined (pack loader, API): this project's own and
-- StackStorm's. An action whose runner this executor does not run registers as written and fails
-- at run time with a message naming the runner.
ALTER TABLE action DROP CONSTRAINT action_runner_type_check;
ALTER TABLE action
    ADD COLUMN notify JSONB NOT NULL DEFAULT '{}',
    ADD COLUMN output_schema JSONB NOT NULL DEFAULT '{}';
COMMENT ON COLUMN action.notify IS 'StackStorm notify: {on-complete|on-success|on-failure: {message, data, routes}}';

-- What pack.yaml says beyond the catalog columns (author, email, keywords, dependencies,
-- python_versions, stackstorm_version, …), and where an installed pack came from.
ALTER TABLE pack
    ADD COLUMN metadata JSONB NOT NULL DEFAULT '{}',
    ADD COLUMN source TEXT;
COMMENT ON COLUMN pack.source IS 'what `attune pack install` was given (git URL@ref, directory, archive); NULL when registered in place';

-- StackStorm sensors: a Python class in a file of the pack, polled every poll_interval seconds
-- when it is a PollingSensor.
ALTER TABLE sensor
    ADD COLUMN class_name TEXT NOT NULL DEFAULT '',
    ADD COLUMN poll_interval INTEGER CHECK (poll_interval IS NULL OR poll_interval > 0);

-- The process of each pack sensor, written by the sensor replica that runs it (one at a time,
-- under a lease): whether it runs, how often it was restarted and why it last stopped.
CREATE TABLE sensor_process (
    sensor_ref     TEXT PRIMARY KEY REFERENCES sensor (ref) ON DELETE CASCADE ON UPDATE CASCADE,
    status         TEXT NOT NULL CHECK (status IN ('starting', 'running', 'backoff', 'stopped', 'failed')),
    host           TEXT NOT NULL DEFAULT '',
    pid            INTEGER,
    restarts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    last_error_at  TIMESTAMPTZ,
    started_at     TIMESTAMPTZ,
    updated        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TRIGGER sensor_process_set_updated BEFORE UPDATE ON sensor_process
    FOR EACH ROW EXECUTE FUNCTION set_updated();

-- Datastore keys of python actions and sensors are named `<pack>.<Class>:<name>` (StackStorm's
-- local keys).
ALTER TABLE key DROP CONSTRAINT key_ref_check,
    ADD CONSTRAINT key_name_check CHECK (name ~ '^[A-Za-z0-9_][A-Za-z0-9_.:-]*$');

-- The audit log: who did what to which target, when, from where, and how it ended. Append-only:
-- rows are never updated; they are deleted only by retention (TimescaleDB drops whole chunks, see
-- 0015; without it the purge deletes old rows after `SET LOCAL attune.retention = 'on'`).
-- identity_id and api_key_id are plain columns, not foreign keys: a record outlives its key.
CREATE TABLE audit_log (
    id           BIGSERIAL,
    created      TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor        TEXT NOT NULL,
    identity_id  BIGINT,
    api_key_id   BIGINT,
    action       TEXT NOT NULL,
    target       TEXT,
    outcome      TEXT NOT NULL CHECK (outcome IN ('success', 'denied', 'error')),
    status       INTEGER,
    source       TEXT NOT NULL CHECK (source IN ('api', 'cli')),
    remote_addr  TEXT,
    request_id   TEXT,
    details      JSONB NOT NULL DEFAULT '{}',
    PRIMARY KEY (id, created)
);
COMMENT ON COLUMN audit_log.actor IS 'the login (API), or cli:<OS user> for commands run on the database';
COMMENT ON COLUMN audit_log.status IS 'the HTTP status of an API call; the exit status of a CLI command';
CREATE INDEX audit_log_created_idx ON audit_log (created DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, created DESC);
CREATE INDEX audit_log_action_idx ON audit_log (action, created DESC);

CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('attune.retention', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- API keys: a scope (`read` keys may only read) beside the role; `expires_at` exists since 0001.
ALTER TABLE api_key ADD COLUMN scope TEXT NOT NULL DEFAULT 'write' CHECK (scope IN ('read', 'write'));

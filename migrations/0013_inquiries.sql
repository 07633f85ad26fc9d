-- Inquiries (StackStorm's core.ask): an execution waiting for a person's answer. The inquiry's id
-- is its execution's id (as in StackStorm); `execution_created` completes the execution's key (a
-- plain column: `execution` is a hypertable, never an FK target).
CREATE TABLE inquiry (
    id                 BIGINT PRIMARY KEY,
    execution_created  TIMESTAMPTZ NOT NULL,
    action_ref         TEXT NOT NULL,
    parent             BIGINT,
    route              TEXT NOT NULL DEFAULT '',
    response_schema    JSONB NOT NULL,
    roles              TEXT[] NOT NULL DEFAULT '{}',
    users              TEXT[] NOT NULL DEFAULT '{}',
    ttl                INTEGER NOT NULL,
    status             TEXT NOT NULL DEFAULT 'pending'
                           CHECK (status IN ('pending', 'responded', 'timeout', 'cancelled')),
    response           JSONB,
    responded_by       TEXT,
    responded_at       TIMESTAMPTZ,
    timeout_at         TIMESTAMPTZ,
    created            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated            TIMESTAMPTZ NOT NULL DEFAULT now()
);
COMMENT ON COLUMN inquiry.parent IS 'the workflow execution the asking task belongs to, if any';
COMMENT ON COLUMN inquiry.ttl IS 'minutes to answer (StackStorm''s unit); 0 or less: never times out';
COMMENT ON COLUMN inquiry.timeout_at IS 'created + ttl; NULL when it never times out';
CREATE INDEX inquiry_pending_idx ON inquiry (timeout_at) WHERE status = 'pending';
CREATE INDEX inquiry_status_idx ON inquiry (status, id DESC);
CREATE TRIGGER inquiry_set_updated BEFORE UPDATE ON inquiry FOR EACH ROW EXECUTE FUNCTION set_updated();

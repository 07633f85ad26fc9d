-- Executor support: policy admissions (concurrency slots, FIFO queues, rate limits) and a
-- one-round-trip start of executions.
--
-- Durable admission state of execution policies (concurrency and rate limits).
--
-- One row per (policy, execution) the scheduler decided on:
--   queued  - waiting for a concurrency slot of its group, first in first out by the time the
--             execution was requested (`execution_created`, then `execution`);
--   active  - admitted at `admitted_at`: holds a concurrency slot while its execution is not
--             terminal, and counts towards the policy's rate limit while inside the window.
-- Slots are counted by joining the execution's current status, so an execution that ends by any
-- path (completed, cancelled through the API, abandoned by the monitor) frees its slot without a
-- release step. Decisions for one (policy, group) are serialized with a transaction-scoped advisory
-- lock. The executor's maintenance loop deletes rows nothing needs any more.
--
-- `execution` and `execution_created` point at a time-series row (no foreign key, see 0002).

CREATE TABLE policy_admission (
    id                 BIGSERIAL PRIMARY KEY,
    policy             BIGINT NOT NULL REFERENCES policy (id) ON DELETE CASCADE,
    group_key          TEXT NOT NULL DEFAULT '',
    execution          BIGINT NOT NULL,
    execution_created  TIMESTAMPTZ NOT NULL,
    action_ref         TEXT NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('queued', 'active')),
    enqueued_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    admitted_at        TIMESTAMPTZ,
    UNIQUE (policy, execution, execution_created),
    CHECK ((state = 'active') = (admitted_at IS NOT NULL))
);
COMMENT ON TABLE policy_admission IS 'concurrency slots, FIFO queues and rate-limit admissions of execution policies';
COMMENT ON COLUMN policy_admission.group_key IS 'JSON array of the execution parameters named by the policy''s concurrency_group_by; empty without grouping';
CREATE INDEX policy_admission_group_idx ON policy_admission (policy, group_key, state);
CREATE INDEX policy_admission_queue_idx ON policy_admission (policy, group_key, execution_created, execution)
    WHERE state = 'queued';
CREATE INDEX policy_admission_admitted_idx ON policy_admission (policy, admitted_at) WHERE state = 'active';
CREATE INDEX policy_admission_execution_idx ON policy_admission (execution);

-- Start executions in one round trip: requested -> scheduling -> scheduled (worker) -> running
-- (started_at), three compare-and-set updates, so execution_history records each status. Only for
-- executions that need no policy decision between scheduling and scheduled. Rows are locked in id
-- order first, so concurrent calls on overlapping executions cannot deadlock; executions not
-- `requested` (claimed elsewhere, cancelled) or whose run_after lies ahead are left alone.
-- Returns the rows now running.
CREATE OR REPLACE FUNCTION execution_start(p_ids BIGINT[], p_created TIMESTAMPTZ[], p_worker BIGINT, p_started TIMESTAMPTZ)
RETURNS SETOF execution
LANGUAGE plpgsql AS $$
DECLARE
    claimed_ids BIGINT[];
    claimed_created TIMESTAMPTZ[];
BEGIN
    PERFORM 1 FROM execution x JOIN unnest(p_ids, p_created) AS u(id, created)
        ON x.id = u.id AND x.created = u.created ORDER BY x.id FOR UPDATE OF x;
    WITH claimed AS (
        UPDATE execution e SET status = 'scheduling'
        FROM unnest(p_ids, p_created) AS u(id, created)
        WHERE e.id = u.id AND e.created = u.created AND e.status = 'requested'
          AND (e.run_after IS NULL OR e.run_after <= now())
        RETURNING e.id, e.created)
    SELECT array_agg(c.id), array_agg(c.created) INTO claimed_ids, claimed_created FROM claimed c;
    IF claimed_ids IS NULL THEN
        RETURN;
    END IF;
    UPDATE execution e SET status = 'scheduled', worker = p_worker
    FROM unnest(claimed_ids, claimed_created) AS u(id, created)
    WHERE e.id = u.id AND e.created = u.created AND e.status = 'scheduling';
    RETURN QUERY
        UPDATE execution e SET status = 'running', started_at = p_started
        FROM unnest(claimed_ids, claimed_created) AS u(id, created)
        WHERE e.id = u.id AND e.created = u.created AND e.status = 'scheduled'
        RETURNING e.*;
END;
$$;

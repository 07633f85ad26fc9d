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

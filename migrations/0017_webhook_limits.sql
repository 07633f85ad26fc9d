-- Webhook limits per trigger: a rate limit (deliveries per window, counted across API replicas
-- in webhook_rate) and an allow-list of client addresses (issue 19).
ALTER TABLE trigger
    ADD COLUMN webhook_rate_limit   INTEGER CHECK (webhook_rate_limit > 0),
    ADD COLUMN webhook_rate_window  INTEGER NOT NULL DEFAULT 60 CHECK (webhook_rate_window > 0),
    ADD COLUMN webhook_allowed_ips  TEXT[];
COMMENT ON COLUMN trigger.webhook_rate_limit IS 'webhook deliveries accepted per window; NULL: no limit';
COMMENT ON COLUMN trigger.webhook_rate_window IS 'the rate limit''s window, in seconds';
COMMENT ON COLUMN trigger.webhook_allowed_ips IS 'addresses or CIDR networks webhooks may come from; NULL: any';

-- One row per limited trigger: the current window and the deliveries counted in it.
CREATE TABLE webhook_rate (
    trigger       BIGINT PRIMARY KEY REFERENCES trigger (id) ON DELETE CASCADE,
    window_start  TIMESTAMPTZ NOT NULL,
    deliveries    INTEGER NOT NULL
);

-- Secrets at rest, two more places (the others: key.value, trigger.webhook_secret,
-- enforcement.secrets, execution.secrets).
-- A workflow whose input holds secrets (secret parameters, values read with decrypt) keeps its
-- conductor's state encrypted: the contexts would otherwise hold those values in clear.
ALTER TABLE workflow_execution ADD COLUMN secrets TEXT;
COMMENT ON COLUMN workflow_execution.secrets IS 'the conductor''s state, encrypted (Fernet), when the workflow holds secrets; `state` is then {"sealed": true}';
-- A pack config's secret values (`secret: true` in its schema) are stored masked in `config`.
ALTER TABLE pack ADD COLUMN config_secrets TEXT;
COMMENT ON COLUMN pack.config_secrets IS 'the whole config, encrypted (Fernet), when it holds secret values; `config` shows them as ********';

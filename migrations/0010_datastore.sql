-- The datastore as automations read it (StackStorm's key-value store): keys in the `system` scope
-- or in one user's `user` scope, values that are strings or JSON, secrets encrypted at rest, and an
-- optional expiry after which readers no longer see a key (the maintenance leader purges it).
ALTER TABLE key RENAME COLUMN ref TO name;
ALTER TABLE key DROP CONSTRAINT key_ref_key;
ALTER TABLE key ADD COLUMN scope TEXT NOT NULL DEFAULT 'system' CHECK (scope IN ('system', 'user'));
-- the user a `user` key belongs to (an identity's login); '' for `system` keys
ALTER TABLE key ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE key ADD CONSTRAINT key_owner_of_scope CHECK ((scope = 'system') = (owner = ''));
-- the value is the JSON text of a non-string value (numbers, objects, lists, booleans, null)
ALTER TABLE key ADD COLUMN is_json BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE key ADD COLUMN expires_at TIMESTAMPTZ;
CREATE UNIQUE INDEX key_scope_owner_name ON key (scope, owner, name);
CREATE INDEX key_expires_at ON key (expires_at) WHERE expires_at IS NOT NULL;
COMMENT ON COLUMN key.encrypted IS 'a secret: value is ciphertext (Fernet, key derived from the service secret)';

-- Secret parameters (`secret: true` in the action's schema, or rendered from a secret with
-- `decrypt_kv`) never stand in clear in a row: `config` holds "********" for them, and `secrets`
-- the ciphertext of their values, opened only to hand them to the action.
ALTER TABLE enforcement ADD COLUMN secrets TEXT;
ALTER TABLE execution ADD COLUMN secrets TEXT;

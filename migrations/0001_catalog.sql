-- Catalog: packs and their components, workers, secrets, identities and API keys.
-- Ordinary tables; foreign keys only where both sides are ordinary tables.

CREATE OR REPLACE FUNCTION set_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated := now();
    RETURN NEW;
END;
$$;

CREATE TABLE pack (
    id             BIGSERIAL PRIMARY KEY,
    ref            TEXT NOT NULL UNIQUE CHECK (ref ~ '^[a-z0-9][a-z0-9_-]*$'),
    label          TEXT NOT NULL DEFAULT '',
    description    TEXT NOT NULL DEFAULT '',
    version        TEXT NOT NULL DEFAULT '0.1.0'
                   CHECK (version ~ '^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$'),
    config_schema  JSONB NOT NULL DEFAULT '{}',
    config         JSONB NOT NULL DEFAULT '{}',
    path           TEXT,
    created        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated        TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE trigger (
    id                 BIGSERIAL PRIMARY KEY,
    ref                TEXT NOT NULL UNIQUE CHECK (ref ~ '^[a-z0-9][a-z0-9_-]*\.[A-Za-z0-9_][A-Za-z0-9_-]*$'),
    pack               BIGINT REFERENCES pack (id) ON DELETE CASCADE,
    pack_ref           TEXT NOT NULL,
    label              TEXT NOT NULL DEFAULT '',
    description        TEXT NOT NULL DEFAULT '',
    enabled            BOOLEAN NOT NULL DEFAULT true,
    parameters_schema  JSONB NOT NULL DEFAULT '{}',
    payload_schema     JSONB NOT NULL DEFAULT '{}',
    webhook_enabled    BOOLEAN NOT NULL DEFAULT false,
    webhook_secret     TEXT,
    is_adhoc           BOOLEAN NOT NULL DEFAULT false,
    created            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated            TIMESTAMPTZ NOT NULL DEFAULT now()
);
COMMENT ON COLUMN trigger.webhook_secret IS 'HMAC-SHA256 secret for webhooks, encrypted with the service secret';
COMMENT ON COLUMN trigger.is_adhoc IS 'created through the API; pack registration never removes it';

CREATE TABLE sensor (
    id             BIGSERIAL PRIMARY KEY,
    ref            TEXT NOT NULL UNIQUE CHECK (ref ~ '^[a-z0-9][a-z0-9_-]*\.[A-Za-z0-9_][A-Za-z0-9_-]*$'),
    pack           BIGINT REFERENCES pack (id) ON DELETE CASCADE,
    pack_ref       TEXT NOT NULL,
    label          TEXT NOT NULL DEFAULT '',
    description    TEXT NOT NULL DEFAULT '',
    runner_type    TEXT NOT NULL DEFAULT 'builtin',
    entry_point    TEXT NOT NULL DEFAULT '',
    trigger_types  TEXT[] NOT NULL DEFAULT '{}',
    enabled        BOOLEAN NOT NULL DEFAULT true,
    config         JSONB NOT NULL DEFAULT '{}',
    is_adhoc       BOOLEAN NOT NULL DEFAULT false,
    created        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated        TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE action (
    id                 BIGSERIAL PRIMARY KEY,
    ref                TEXT NOT NULL UNIQUE CHECK (ref ~ '^[a-z0-9][a-z0-9_-]*\.[A-Za-z0-9_][A-Za-z0-9_-]*$'),
    pack               BIGINT REFERENCES pack (id) ON DELETE CASCADE,
    pack_ref           TEXT NOT NULL,
    label              TEXT NOT NULL DEFAULT '',
    description        TEXT NOT NULL DEFAULT '',
    runner_type        TEXT NOT NULL CHECK (runner_type IN ('builtin', 'shell', 'python', 'http')),
    entry_point        TEXT NOT NULL DEFAULT '',
    parameters_schema  JSONB NOT NULL DEFAULT '{}',
    output_format      TEXT NOT NULL DEFAULT 'text' CHECK (output_format IN ('json', 'yaml', 'text')),
    timeout_seconds    INTEGER CHECK (timeout_seconds IS NULL OR timeout_seconds > 0),
    max_retries        INTEGER NOT NULL DEFAULT 0 CHECK (max_retries >= 0),
    enabled            BOOLEAN NOT NULL DEFAULT true,
    is_adhoc           BOOLEAN NOT NULL DEFAULT false,
    created            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated            TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE rule (
    id              BIGSERIAL PRIMARY KEY,
    ref             TEXT NOT NULL UNIQUE CHECK (ref ~ '^[a-z0-9][a-z0-9_-]*\.[A-Za-z0-9_][A-Za-z0-9_-]*$'),
    pack            BIGINT REFERENCES pack (id) ON DELETE CASCADE,
    pack_ref        TEXT NOT NULL,
    label           TEXT NOT NULL DEFAULT '',
    description     TEXT NOT NULL DEFAULT '',
    trigger         BIGINT REFERENCES trigger (id) ON DELETE SET NULL,
    trigger_ref     TEXT NOT NULL,
    trigger_params  JSONB NOT NULL DEFAULT '{}',
    criteria        JSONB NOT NULL DEFAULT '{}',
    condition       TEXT NOT NULL DEFAULT 'all' CHECK (condition IN ('all', 'any')),
    action          BIGINT REFERENCES action (id) ON DELETE SET NULL,
    action_ref      TEXT NOT NULL,
    action_params   JSONB NOT NULL DEFAULT '{}',
    enabled         BOOLEAN NOT NULL DEFAULT true,
    is_adhoc        BOOLEAN NOT NULL DEFAULT false,
    created         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX rule_trigger_ref_idx ON rule (trigger_ref) WHERE enabled;

CREATE TABLE policy (
    id                         BIGSERIAL PRIMARY KEY,
    ref                        TEXT NOT NULL UNIQUE CHECK (ref ~ '^[a-z0-9][a-z0-9_-]*\.[A-Za-z0-9_][A-Za-z0-9_-]*$'),
    pack                       BIGINT REFERENCES pack (id) ON DELETE CASCADE,
    pack_ref                   TEXT NOT NULL,
    description                TEXT NOT NULL DEFAULT '',
    action                     BIGINT REFERENCES action (id) ON DELETE SET NULL,
    action_ref                 TEXT NOT NULL,
    enabled                    BOOLEAN NOT NULL DEFAULT true,
    concurrency_limit          INTEGER CHECK (concurrency_limit IS NULL OR concurrency_limit > 0),
    concurrency_method         TEXT NOT NULL DEFAULT 'enqueue' CHECK (concurrency_method IN ('enqueue', 'cancel')),
    concurrency_group_by       TEXT[] NOT NULL DEFAULT '{}',
    rate_limit_max             INTEGER CHECK (rate_limit_max IS NULL OR rate_limit_max > 0),
    rate_limit_window_seconds  INTEGER CHECK (rate_limit_window_seconds IS NULL OR rate_limit_window_seconds > 0),
    is_adhoc                   BOOLEAN NOT NULL DEFAULT false,
    created                    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated                    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (concurrency_limit IS NOT NULL OR rate_limit_max IS NOT NULL),
    CHECK ((rate_limit_max IS NULL) = (rate_limit_window_seconds IS NULL))
);
CREATE INDEX policy_action_ref_idx ON policy (action_ref) WHERE enabled;

CREATE TABLE worker (
    id              BIGSERIAL PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    worker_type     TEXT NOT NULL DEFAULT 'executor',
    host            TEXT NOT NULL DEFAULT '',
    pid             INTEGER,
    status          TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'busy', 'error')),
    capabilities    JSONB NOT NULL DEFAULT '{}',
    concurrency     INTEGER NOT NULL DEFAULT 16,
    last_heartbeat  TIMESTAMPTZ NOT NULL DEFAULT now(),
    created         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated         TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE key (
    id           BIGSERIAL PRIMARY KEY,
    ref          TEXT NOT NULL UNIQUE CHECK (ref ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]*$'),
    description  TEXT NOT NULL DEFAULT '',
    value        TEXT NOT NULL,
    encrypted    BOOLEAN NOT NULL DEFAULT true,
    created      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated      TIMESTAMPTZ NOT NULL DEFAULT now()
);
COMMENT ON COLUMN key.value IS 'ciphertext (Fernet, key derived from the service secret) when encrypted';

CREATE TABLE identity (
    id            BIGSERIAL PRIMARY KEY,
    login         TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL DEFAULT '',
    attributes    JSONB NOT NULL DEFAULT '{}',
    frozen        BOOLEAN NOT NULL DEFAULT false,
    created       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE api_key (
    id            BIGSERIAL PRIMARY KEY,
    identity      BIGINT NOT NULL REFERENCES identity (id) ON DELETE CASCADE,
    name          TEXT NOT NULL DEFAULT '',
    prefix        TEXT NOT NULL,
    key_hash      TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    expires_at    TIMESTAMPTZ,
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ,
    created       TIMESTAMPTZ NOT NULL DEFAULT now()
);
COMMENT ON COLUMN api_key.key_hash IS 'SHA-256 of the key; the key itself is shown once and never stored';

CREATE TRIGGER pack_set_updated BEFORE UPDATE ON pack FOR EACH ROW EXECUTE FUNCTION set_updated();
CREATE TRIGGER trigger_set_updated BEFORE UPDATE ON trigger FOR EACH ROW EXECUTE FUNCTION set_updated();
CREATE TRIGGER sensor_set_updated BEFORE UPDATE ON sensor FOR EACH ROW EXECUTE FUNCTION set_updated();
CREATE TRIGGER action_set_updated BEFORE UPDATE ON action FOR EACH ROW EXECUTE FUNCTION set_updated();
CREATE TRIGGER rule_set_updated BEFORE UPDATE ON rule FOR EACH ROW EXECUTE FUNCTION set_updated();
CREATE TRIGGER policy_set_updated BEFORE UPDATE ON policy FOR EACH ROW EXECUTE FUNCTION set_updated();
CREATE TRIGGER worker_set_updated BEFORE UPDATE ON worker FOR EACH ROW EXECUTE FUNCTION set_updated();
CREATE TRIGGER key_set_updated BEFORE UPDATE ON key FOR EACH ROW EXECUTE FUNCTION set_updated();
CREATE TRIGGER identity_set_updated BEFORE UPDATE ON identity FOR EACH ROW EXECUTE FUNCTION set_updated();

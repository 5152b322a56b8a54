-- ferry consumer schema, version 7: API keys for ferry-consumer's own API (its listings, health
-- details, /metrics).
-- A key is stored only as the SHA-256 of its text (hex): keys are 256-bit random strings, not
-- passwords, so a fast hash suffices (docs/security.md, "API keys and roles"). Managed with
-- ferryctl keys create|list|revoke; each instance reads the active rows every
-- FERRY_AUTH_REFRESH_MS, so a revocation reaches every instance within seconds.
CREATE TABLE ferry_consumer.api_key (
    name text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._-]{1,63}$'),
    key_hash text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    roles text[] NOT NULL CHECK (cardinality(roles) > 0
        AND roles <@ ARRAY['producer', 'consumer', 'operator', 'reader']::text[]),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

-- The services' database role (created by another migration where it is used) reads the keys;
-- skipped where that role does not exist.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ferry_service') THEN
        GRANT SELECT, INSERT, UPDATE ON ferry_consumer.api_key TO ferry_service;
    END IF;
END
$$;

-- API clients: who may read what. The token itself is shown once; only its SHA-256 is stored.
CREATE TABLE api_clients (
    id          bigserial   PRIMARY KEY,
    name        text        NOT NULL UNIQUE,
    roles       text[]      NOT NULL,
    -- '{*}': every tenant.
    tenants     text[]      NOT NULL,
    clearance   smallint    NOT NULL CHECK (clearance BETWEEN 1 AND 3),
    token_hash  bytea       NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    rotated_at  timestamptz,
    revoked_at  timestamptz
);

-- Device registry: one row per registered device, and its lifecycle history (append-only).

CREATE TABLE devices (
    device_id          text        PRIMARY KEY,
    serial_number      text        NOT NULL UNIQUE,
    type               text        NOT NULL,
    vendor             text,
    model              text,
    firmware_version   text,
    tenant             text        NOT NULL,
    placement          text,
    -- A pseudonymous reference only: never a name or a personal identity number (checked at registration).
    care_recipient_ref text,
    tags               text[]      NOT NULL DEFAULT '{}',
    lifecycle_state    text        NOT NULL DEFAULT 'registered'
        CHECK (lifecycle_state IN ('registered', 'provisioned', 'active', 'suspended', 'decommissioned')),
    -- One-time claim code for zero-touch onboarding: salted hash only, with an expiry.
    claim_code_hash    bytea,
    claim_code_salt    bytea,
    claim_expires_at   timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX devices_tenant_type ON devices (tenant, type, device_id);
CREATE INDEX devices_state ON devices (lifecycle_state, device_id);

CREATE TABLE device_history (
    id          bigserial   PRIMARY KEY,
    device_id   text        NOT NULL REFERENCES devices (device_id),
    from_state  text,
    to_state    text        NOT NULL,
    action      text        NOT NULL,
    actor       text        NOT NULL,
    reason      text,
    at          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX device_history_device ON device_history (device_id, id);

-- History is never rewritten.
CREATE FUNCTION cip_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER device_history_append_only BEFORE UPDATE OR DELETE ON device_history
    FOR EACH ROW EXECUTE FUNCTION cip_refuse_change();
CREATE TRIGGER device_history_no_truncate BEFORE TRUNCATE ON device_history
    FOR EACH STATEMENT EXECUTE FUNCTION cip_refuse_change();

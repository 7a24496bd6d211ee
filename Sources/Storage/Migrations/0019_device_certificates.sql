-- Device certificates the gateway signed with the device CA (CSR onboarding and renewal), and their revocation.
-- The CRL the broker checks is built from this table: a suspended device's certificates are on hold (taken off
-- the list again when it is resumed), a decommissioned device's are revoked for good.
CREATE TABLE device_certificates (
    serial            text        PRIMARY KEY CHECK (serial ~ '^[0-9A-F]{2,40}$'),
    device_id         text        NOT NULL REFERENCES devices (device_id),
    fingerprint       text        NOT NULL UNIQUE CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    not_before        timestamptz NOT NULL,
    not_after         timestamptz NOT NULL CHECK (not_after > not_before),
    issued_at         timestamptz NOT NULL DEFAULT now(),
    -- How it was asked for: claim (onboarding with a CSR) or renewal (by the device over its own account).
    issued_by         text        NOT NULL CHECK (issued_by IN ('claim', 'renewal')),
    revoked_at        timestamptz,
    -- RFC 5280 reason: certificateHold (reversible: suspension) or cessationOfOperation (decommissioned).
    revocation_reason text        CHECK (revocation_reason IN ('certificateHold', 'cessationOfOperation')),
    CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
);
CREATE INDEX device_certificates_device ON device_certificates (device_id, not_after);
CREATE INDEX device_certificates_revoked ON device_certificates (revoked_at) WHERE revoked_at IS NOT NULL;

-- The CRL's number must grow with every list the gateway signs (RFC 5280 5.2.3), across restarts and instances.
CREATE SEQUENCE device_crl_number;

INSERT INTO gateway_access_rules VALUES
    ('device_certificates', 'SELECT, INSERT, UPDATE', 'issued and put on hold or revoked by the gateway; never deleted');

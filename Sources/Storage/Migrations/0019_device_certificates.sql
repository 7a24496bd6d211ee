-- Device certificates the gateway signed with the device CA (CSR onboarding and renewal), and their revocation.
-- The CRL the broker checks is built from this table: a suspended device's certificates are on hold (taken off
-- the list again when it is resumed), a decommissioned device's are revoked for good. The lifecycle drives this
-- here, in the database, in the same transaction as the lifecycle change, whoever makes it (a gateway with or
-- without the device CA, an operator's SQL); the gateway with the CA writes the list when it is behind.
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
    -- RFC 5280 reason: certificateHold (reversible: suspension) or cessationOfOperation (for good).
    revocation_reason text        CHECK (revocation_reason IN ('certificateHold', 'cessationOfOperation')),
    CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
);
CREATE INDEX device_certificates_device ON device_certificates (device_id, not_after);
CREATE INDEX device_certificates_revoked ON device_certificates (revoked_at) WHERE revoked_at IS NOT NULL;

-- What the written CRL is behind: version counts every change of what the list must say; the writer records the
-- version it wrote (a counter, not a time: a clock that steps back cannot make a change look written).
CREATE TABLE device_crl (
    id                boolean     PRIMARY KEY DEFAULT true CHECK (id),
    version           bigint      NOT NULL DEFAULT 1,
    published_version bigint,
    published_number  bigint,
    published_at      timestamptz
);
INSERT INTO device_crl DEFAULT VALUES;

-- The CRL's number must grow with every list the gateway signs (RFC 5280 5.2.3), across restarts and instances.
CREATE SEQUENCE device_crl_number;

-- A certificate is issued only to a device in the state its origin needs, checked under a lock on the device's
-- row: a renewal racing a suspension either lands before it (and is held with the others) or is refused, and
-- concurrent renewals (several gateways) are counted one after another against the cap of 3 unexpired
-- certificates that were not revoked for good.
CREATE FUNCTION cip_device_certificates_issue() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    state text;
    held  bigint;
BEGIN
    SELECT lifecycle_state INTO state FROM devices WHERE device_id = NEW.device_id FOR UPDATE;
    IF (NEW.issued_by = 'claim' AND state IS DISTINCT FROM 'registered')
       OR (NEW.issued_by = 'renewal' AND state NOT IN ('provisioned', 'active')) THEN
        RAISE EXCEPTION 'device_certificates: the device is % (a % needs %)', coalesce(state, 'unknown'), NEW.issued_by,
            CASE NEW.issued_by WHEN 'claim' THEN 'registered' ELSE 'provisioned or active' END
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT count(*) INTO held FROM device_certificates
    WHERE device_id = NEW.device_id AND not_after > now() AND revocation_reason IS DISTINCT FROM 'cessationOfOperation';
    IF held >= 3 THEN
        RAISE EXCEPTION 'device_certificates: the device already holds % certificates that have not expired; a renewal is accepted once one of them has expired or was revoked', held
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'device_certificates: a certificate is issued unrevoked' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER device_certificates_issue BEFORE INSERT ON device_certificates
    FOR EACH ROW EXECUTE FUNCTION cip_device_certificates_issue();

-- Only the revocation of a certificate changes, and a revocation for good is final.
CREATE FUNCTION cip_device_certificates_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.serial, NEW.device_id, NEW.fingerprint, NEW.not_before, NEW.not_after, NEW.issued_at, NEW.issued_by)
       IS DISTINCT FROM (OLD.serial, OLD.device_id, OLD.fingerprint, OLD.not_before, OLD.not_after, OLD.issued_at, OLD.issued_by) THEN
        RAISE EXCEPTION 'device_certificates: only revoked_at and revocation_reason change' USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.revocation_reason = 'cessationOfOperation'
       AND (NEW.revocation_reason, NEW.revoked_at) IS DISTINCT FROM (OLD.revocation_reason, OLD.revoked_at) THEN
        RAISE EXCEPTION 'device_certificates: % was revoked for good', OLD.serial USING ERRCODE = 'check_violation';
    END IF;
    IF (NEW.revocation_reason, NEW.revoked_at) IS DISTINCT FROM (OLD.revocation_reason, OLD.revoked_at) THEN
        UPDATE device_crl SET version = version + 1;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER device_certificates_change BEFORE UPDATE ON device_certificates
    FOR EACH ROW EXECUTE FUNCTION cip_device_certificates_change();
CREATE TRIGGER device_certificates_no_delete BEFORE DELETE ON device_certificates
    FOR EACH ROW EXECUTE FUNCTION cip_refuse_change();
CREATE TRIGGER device_certificates_no_truncate BEFORE TRUNCATE ON device_certificates
    FOR EACH STATEMENT EXECUTE FUNCTION cip_refuse_change();

-- The lifecycle decides what the CRL says about a device's certificates: suspended → on hold, provisioned or
-- active again → holds lifted, decommissioned → revoked for good.
CREATE FUNCTION cip_device_certificates_follow_lifecycle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.lifecycle_state = 'suspended' THEN
        UPDATE device_certificates SET revoked_at = now(), revocation_reason = 'certificateHold'
        WHERE device_id = NEW.device_id AND revoked_at IS NULL AND not_after > now();
    ELSIF NEW.lifecycle_state IN ('provisioned', 'active') THEN
        UPDATE device_certificates SET revoked_at = NULL, revocation_reason = NULL
        WHERE device_id = NEW.device_id AND revocation_reason = 'certificateHold';
    ELSIF NEW.lifecycle_state = 'decommissioned' THEN
        UPDATE device_certificates SET revoked_at = coalesce(revoked_at, now()), revocation_reason = 'cessationOfOperation'
        WHERE device_id = NEW.device_id AND revocation_reason IS DISTINCT FROM 'cessationOfOperation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER devices_certificates_follow_lifecycle AFTER UPDATE OF lifecycle_state ON devices
    FOR EACH ROW WHEN (OLD.lifecycle_state IS DISTINCT FROM NEW.lifecycle_state)
    EXECUTE FUNCTION cip_device_certificates_follow_lifecycle();

-- A claim in progress, so that a second gateway (or a second claim with the same code) never touches the
-- broker account of a claim another one is carrying out.
CREATE TABLE device_claim_reservations (
    device_id  text        PRIMARY KEY REFERENCES devices (device_id),
    token      text        NOT NULL,
    expires_at timestamptz NOT NULL
);

INSERT INTO gateway_access_rules VALUES
    ('device_certificates', 'SELECT, INSERT, UPDATE', 'issued, then put on hold or revoked; never deleted'),
    ('device_crl', 'SELECT, UPDATE', 'one row: whether the written CRL is behind'),
    ('device_claim_reservations', 'SELECT, INSERT, UPDATE, DELETE', 'a claim in progress, removed when it ends');

-- Access grants for digital locks: which staff member (pseudonymous reference) may open which lock, when.
-- A grant is an absolute window (valid_from/valid_to, either may be open) and optionally a weekly recurring
-- window in the city's local time (weekly_days: ISO weekdays 1 = Monday ... 7 = Sunday; minutes after local
-- midnight; an end at or before the start runs past midnight). Revoked grants stay: the access log shows them.
CREATE TABLE lock_grants (
    id             bigserial   PRIMARY KEY,
    device_id      text        NOT NULL REFERENCES devices (device_id),
    staff_ref      text        NOT NULL CHECK (length(staff_ref) BETWEEN 1 AND 64),
    valid_from     timestamptz,
    valid_to       timestamptz,
    weekly_days    smallint[],
    weekly_start   smallint    CHECK (weekly_start BETWEEN 0 AND 1439),
    weekly_end     smallint    CHECK (weekly_end BETWEEN 0 AND 1439),
    source         text        NOT NULL CHECK (source IN ('visit-plan', 'alarm', 'manual')),
    visit_ref      text,
    -- Visit-plan grants: the planned visit (the grant's window is it widened by the margin); an import replaces
    -- the visit-plan grants whose planned start is in its period.
    planned_start  timestamptz,
    planned_end    timestamptz,
    granted_by     text        NOT NULL,
    reason         text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoked_by     text,
    CHECK (valid_to IS NULL OR valid_from IS NULL OR valid_to > valid_from),
    CHECK ((weekly_days IS NULL) = (weekly_start IS NULL) AND (weekly_days IS NULL) = (weekly_end IS NULL)),
    CHECK (weekly_days IS NULL OR (cardinality(weekly_days) BETWEEN 1 AND 7 AND weekly_days <@ '{1,2,3,4,5,6,7}'))
);

-- The decision reads the grants of one staff member on one lock (revoked ones too: a question about the past
-- is answered as it stood then).
CREATE INDEX lock_grants_decision ON lock_grants (device_id, staff_ref);
CREATE INDEX lock_grants_device ON lock_grants (device_id, id DESC);
CREATE INDEX lock_grants_plan ON lock_grants (planned_start) WHERE source = 'visit-plan' AND revoked_at IS NULL;

-- Grants are evidence of who could enter a home when: never deleted, and changed only by revoking them once.
CREATE FUNCTION cip_lock_grants_revoke_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
       AND (to_jsonb(NEW) - 'revoked_at' - 'revoked_by') = (to_jsonb(OLD) - 'revoked_at' - 'revoked_by') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'lock_grants is append-only: a grant is only ever revoked (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER lock_grants_revoke_only BEFORE UPDATE OR DELETE ON lock_grants
    FOR EACH ROW EXECUTE FUNCTION cip_lock_grants_revoke_only();
CREATE TRIGGER lock_grants_no_truncate BEFORE TRUNCATE ON lock_grants
    FOR EACH STATEMENT EXECUTE FUNCTION cip_lock_grants_revoke_only();

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
    granted_by     text        NOT NULL,
    reason         text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoked_by     text,
    CHECK (valid_to IS NULL OR valid_from IS NULL OR valid_to > valid_from),
    CHECK ((weekly_days IS NULL) = (weekly_start IS NULL) AND (weekly_days IS NULL) = (weekly_end IS NULL)),
    CHECK (weekly_days IS NULL OR (cardinality(weekly_days) BETWEEN 1 AND 7 AND weekly_days <@ '{1,2,3,4,5,6,7}'))
);

-- The unlock decision reads the live grants of one staff member on one lock.
CREATE INDEX lock_grants_decision ON lock_grants (device_id, staff_ref) WHERE revoked_at IS NULL;
CREATE INDEX lock_grants_device ON lock_grants (device_id, id DESC);

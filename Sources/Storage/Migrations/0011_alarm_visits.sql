-- Alarm visits: the operator who acknowledges a care alarm names a responder (a pseudonymous staff reference),
-- who gets an `alarm` grant on the care recipient's locks until the alarm is resolved plus a margin.
-- (0010 is another change's number.)

-- The responder now sent to the alarm; their grants are the lock_grants rows of source 'alarm' whose visit_ref is
-- the alarm id.
ALTER TABLE alarms ADD COLUMN responder_ref text CHECK (length(responder_ref) BETWEEN 1 AND 64);

-- A new timeline entry: a responder assigned (or changed), with the locks they were granted.
ALTER TABLE alarm_changes DROP CONSTRAINT alarm_changes_change_check;
ALTER TABLE alarm_changes ADD CONSTRAINT alarm_changes_change_check
    CHECK (change IN ('opened', 'retriggered', 'acknowledged', 'resolved', 'cancelled', 'escalated', 'responder_assigned'));

-- An alarm's grants are read with the alarm (body, list, stream) and ended at its resolution. The grants trigger
-- (0009) already accepts a revocation at a future instant (resolution + margin): nothing to change there.
CREATE INDEX lock_grants_alarm ON lock_grants (visit_ref) WHERE source = 'alarm';

-- One narrow change to 0009's rule "revoked once": a revocation still ahead (an alarm grant's end at resolution
-- + margin) may be brought forward to now, so that revoking such a grant by hand takes effect at once. It can
-- never be put off, cleared, or moved into the past: what a grant allowed before is kept as it was.
CREATE OR REPLACE FUNCTION cip_lock_grants_revoke_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.revoked_at IS NOT NULL
       AND (to_jsonb(NEW) - 'revoked_at' - 'revoked_by') = (to_jsonb(OLD) - 'revoked_at' - 'revoked_by')
       AND (OLD.revoked_at IS NULL
            OR (OLD.revoked_at > statement_timestamp() AND NEW.revoked_at < OLD.revoked_at
                AND NEW.revoked_at >= statement_timestamp())) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'lock_grants is append-only: a grant is only ever revoked (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

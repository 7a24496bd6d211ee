-- Hardening after a review of issue 14 (a new migration: 0014-0017 may be applied somewhere already).

-- 1. An alarm's age for the purge comes from its timeline; the gateway's role must not be able to date a change:
--    only the table's owner (migrations, an operator's repair) may give `at`, everyone else gets the time of the
--    transaction (what the column's default always gave the gateway, which never sets it).
CREATE FUNCTION cip_alarm_change_time() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_user <> (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = TG_RELID) THEN
        NEW.at := now();
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER alarm_changes_time BEFORE INSERT ON alarm_changes FOR EACH ROW EXECUTE FUNCTION cip_alarm_change_time();

-- 2. The chain's head: the statement trigger takes it from the rows the statement inserted (nothing inserted,
--    nothing written), and the row trigger follows the head a transaction keeps only when that names an entry
--    of this very statement (a forged setting can neither move the head nor fork the chain).
CREATE OR REPLACE FUNCTION cip_audit_chain() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    kept text := current_setting('cip.audit_head', true);
    head_id_now bigint;
    previous bytea;
    kept_id bigint;
BEGIN
    SELECT head_id, head_hash INTO head_id_now, previous FROM audit_chain FOR UPDATE;
    IF kept IS NOT NULL AND kept ~ '^[0-9a-f]{64}:[0-9]{1,19}$' THEN
        kept_id := split_part(kept, ':', 2)::bigint;
        -- Entries of this statement are past the head (the head moves at the statement's end) and visible to it.
        IF kept_id > head_id_now AND EXISTS (
            SELECT 1 FROM audit_log WHERE id = kept_id AND hash = decode(split_part(kept, ':', 1), 'hex')) THEN
            previous := decode(split_part(kept, ':', 1), 'hex');
        END IF;
    END IF;
    NEW.id := nextval('audit_log_id_seq');
    NEW.prev_hash := previous;
    NEW.hash := sha256(previous || cip_audit_canonical(NEW));
    PERFORM set_config('cip.audit_head', encode(NEW.hash, 'hex') || ':' || NEW.id, true);
    RETURN NEW;
END $$;

DROP TRIGGER audit_log_chain_head ON audit_log;
CREATE OR REPLACE FUNCTION cip_audit_chain_head() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE audit_chain SET head_id = newest.id, head_hash = newest.hash
    FROM (SELECT id, hash FROM inserted ORDER BY id DESC LIMIT 1) newest;
    RETURN NULL;
END $$;
CREATE TRIGGER audit_log_chain_head AFTER INSERT ON audit_log REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION cip_audit_chain_head();

-- 3. A time no request can have (a clock gone wrong, or a forged line) is refused: it would also break the
--    verification's arithmetic and hold the purge of everything behind it.
ALTER TABLE audit_log ADD CONSTRAINT audit_log_at_plausible
    CHECK (at > '2000-01-01 00:00:00+00' AND at < '2200-01-01 00:00:00+00') NOT VALID;

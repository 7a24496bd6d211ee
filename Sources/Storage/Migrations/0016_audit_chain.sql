-- A tamper-evident audit trail (issue 14): every entry carries the SHA-256 of the entry before it and of itself,
-- chained in id order by the database (one chain whatever number of gateways write), so that an edited, removed
-- or inserted row breaks the chain at that row; `cip-gateway audit verify` recomputes it. Retention removes the
-- oldest entries through its purge function, which moves the anchor (the hash the first remaining entry follows).

ALTER TABLE audit_log ADD COLUMN prev_hash bytea, ADD COLUMN hash bytea;

-- The head of the chain and the anchor; one row. Only the triggers and the purge function write it (as the owner).
CREATE TABLE audit_chain (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    head_id     bigint  NOT NULL,
    head_hash   bytea   NOT NULL,
    anchor_id   bigint  NOT NULL,
    anchor_hash bytea   NOT NULL
);

-- The bytes an entry's hash covers: every column but the hashes, each as its length in bytes, ':' and its text, so
-- that no content of one field can pass for another's; the subjects likewise element by element (a NULL element as
-- '-'), after their number of dimensions; times as microseconds since 1970. `Access.AuditChain.canonical` builds
-- the same bytes.
CREATE FUNCTION cip_audit_canonical(e audit_log) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT convert_to(
        (SELECT string_agg(octet_length(f) || ':' || f, '' ORDER BY n)
         FROM unnest(ARRAY[
             e.id::text,
             ((extract(epoch FROM e.at) * 1000000)::numeric(20, 0))::text,
             e.client, e.roles, e.method, e.endpoint, e.path,
             coalesce(array_ndims(e.subjects), 0)::text
                 || coalesce((SELECT string_agg(coalesce(octet_length(x) || ':' || x, '-'), '' ORDER BY i)
                              FROM unnest(e.subjects) WITH ORDINALITY AS s(x, i)), ''),
             e.records::text, e.class::text, e.status::text
         ]) WITH ORDINALITY AS fields(f, n)),
        'UTF8')
$$;

-- Chains each new entry. The first entry of a transaction takes the head's row lock (held to the commit: writers
-- queue, and ids are taken inside it, so the chain order is the id order); the transaction's later entries follow
-- the head it keeps in a transaction-local setting, and the head row is written once per statement (below).
CREATE FUNCTION cip_audit_chain() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    kept text := current_setting('cip.audit_head', true);
    previous bytea;
BEGIN
    IF kept IS NULL OR kept = '' THEN
        SELECT head_hash INTO previous FROM audit_chain FOR UPDATE;
    ELSE
        previous := decode(split_part(kept, ':', 1), 'hex');
    END IF;
    NEW.id := nextval('audit_log_id_seq');
    NEW.prev_hash := previous;
    NEW.hash := sha256(previous || cip_audit_canonical(NEW));
    PERFORM set_config('cip.audit_head', encode(NEW.hash, 'hex') || ':' || NEW.id, true);
    RETURN NEW;
END $$;

CREATE FUNCTION cip_audit_chain_head() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    kept text := current_setting('cip.audit_head', true);
BEGIN
    IF kept IS NOT NULL AND kept <> '' THEN
        UPDATE audit_chain SET head_hash = decode(split_part(kept, ':', 1), 'hex'), head_id = split_part(kept, ':', 2)::bigint;
    END IF;
    RETURN NULL;
END $$;

-- Entries written before the chain existed are chained now, in id order (the head written once, at the end).
DO $$
DECLARE
    previous bytea := sha256(''::bytea);
    last_id bigint := 0;
    entry audit_log;
BEGIN
    INSERT INTO audit_chain VALUES (true, 0, previous, 0, previous);
    -- The one time entries are written to: this migration, as the owner, before the chain's triggers exist.
    ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;
    FOR entry IN SELECT * FROM audit_log ORDER BY id LOOP
        entry.prev_hash := previous;
        entry.hash := sha256(previous || cip_audit_canonical(entry));
        UPDATE audit_log SET prev_hash = entry.prev_hash, hash = entry.hash WHERE id = entry.id;
        previous := entry.hash;
        last_id := entry.id;
    END LOOP;
    UPDATE audit_chain SET head_id = last_id, head_hash = previous;
    ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only;
END $$;

ALTER TABLE audit_log ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN hash SET NOT NULL;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION cip_audit_chain();
CREATE TRIGGER audit_log_chain_head AFTER INSERT ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION cip_audit_chain_head();
-- The trigger numbers entries inside the chain's lock (an id taken before it could commit out of chain order).
ALTER TABLE audit_log ALTER COLUMN id DROP DEFAULT;
INSERT INTO gateway_access_rules VALUES ('audit_chain', 'SELECT', 'the chain''s head and anchor; written by the triggers and the purge only');

-- Audit entries older than `retention_days` (never less than the floor), oldest first, as a prefix of the chain
-- (the first `max_rows` entries, up to the first not yet expired), so that what remains still starts at the anchor,
-- which moves to the last entry removed.
CREATE FUNCTION cip_retention_purge_audit(retention_days integer, max_rows integer)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    expired_before timestamptz;
    removed bigint;
    last_id bigint;
    last_hash bytea;
BEGIN
    SELECT now() - make_interval(days => greatest(retention_days, audit_days)) INTO expired_before FROM retention_floors;
    WITH first AS (SELECT id, at, hash FROM audit_log ORDER BY id LIMIT max_rows),
         kept AS (SELECT min(id) AS id FROM first WHERE at >= expired_before)
    SELECT id, hash INTO last_id, last_hash FROM first
    WHERE id < coalesce((SELECT id FROM kept), 9223372036854775807)
    ORDER BY id DESC LIMIT 1;
    IF last_id IS NULL THEN RETURN 0; END IF;
    PERFORM set_config('cip.retention_purge', 'on', true);
    DELETE FROM audit_log WHERE id <= last_id;
    GET DIAGNOSTICS removed = ROW_COUNT;
    UPDATE audit_chain SET anchor_id = last_id, anchor_hash = last_hash;
    PERFORM set_config('cip.retention_purge', 'off', true);
    RETURN removed;
END $$;

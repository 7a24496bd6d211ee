-- A tamper-evident audit trail (issue 14): every entry carries the SHA-256 of the entry before it and of itself,
-- chained in id order by the database (one chain whatever number of gateways write), so that an edited, removed
-- or inserted row breaks the chain at that row; `cip-gateway audit verify` recomputes it. Retention removes the
-- oldest entries through its purge function, which moves the anchor (the hash the first remaining entry follows).

ALTER TABLE audit_log ADD COLUMN prev_hash bytea, ADD COLUMN hash bytea;

-- The head of the chain and the anchor; one row. Only the trigger and the purge function write it (as the owner).
CREATE TABLE audit_chain (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    head_id     bigint  NOT NULL,
    head_hash   bytea   NOT NULL,
    anchor_id   bigint  NOT NULL,
    anchor_hash bytea   NOT NULL
);

-- The bytes an entry's hash covers: every column but the hashes, each as its length in bytes, ':' and its text
-- (unambiguous whatever a client name or a path contains); times as microseconds since 1970, subjects joined by
-- U+001F. `Access.AuditChain.canonical` builds the same bytes.
CREATE FUNCTION cip_audit_canonical(e audit_log) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT convert_to(
        (SELECT string_agg(octet_length(f) || ':' || f, '' ORDER BY n)
         FROM unnest(ARRAY[
             e.id::text,
             ((extract(epoch FROM e.at) * 1000000)::numeric(20, 0))::text,
             e.client, e.roles, e.method, e.endpoint, e.path,
             array_to_string(e.subjects, chr(31)),
             e.records::text, e.class::text, e.status::text
         ]) WITH ORDINALITY AS fields(f, n)),
        'UTF8')
$$;

-- Chains each new entry. The row lock on the head orders concurrent writers; ids are taken inside it, so the chain
-- order is the id order.
CREATE FUNCTION cip_audit_chain() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    previous bytea;
BEGIN
    SELECT head_hash INTO previous FROM audit_chain FOR UPDATE;
    NEW.id := nextval('audit_log_id_seq');
    NEW.prev_hash := previous;
    NEW.hash := sha256(previous || cip_audit_canonical(NEW));
    UPDATE audit_chain SET head_id = NEW.id, head_hash = NEW.hash;
    RETURN NEW;
END $$;

-- Entries written before the chain existed are chained now, in id order.
DO $$
DECLARE
    previous bytea := sha256(''::bytea);
    entry audit_log;
BEGIN
    INSERT INTO audit_chain VALUES (true, 0, previous, 0, previous);
    -- The one time entries are written to: this migration, as the owner, before the chain's trigger exists.
    ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;
    FOR entry IN SELECT * FROM audit_log ORDER BY id LOOP
        entry.prev_hash := previous;
        entry.hash := sha256(previous || cip_audit_canonical(entry));
        UPDATE audit_log SET prev_hash = entry.prev_hash, hash = entry.hash WHERE id = entry.id;
        previous := entry.hash;
        UPDATE audit_chain SET head_id = entry.id, head_hash = previous;
    END LOOP;
    ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only;
END $$;

ALTER TABLE audit_log ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN hash SET NOT NULL;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION cip_audit_chain();
-- The trigger numbers entries inside the chain's lock (an id taken before it could commit out of chain order).
ALTER TABLE audit_log ALTER COLUMN id DROP DEFAULT;
INSERT INTO gateway_access_rules VALUES ('audit_chain', 'SELECT', 'the chain''s head and anchor; written by the trigger and the purge only');

-- Retention's audit purge moves the anchor to the last entry it removed.
CREATE OR REPLACE FUNCTION cip_retention_purge_audit(expired_before timestamptz, max_rows integer)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    removed bigint;
    last_id bigint;
    last_hash bytea;
BEGIN
    IF expired_before > now() - interval '365 days' THEN
        RAISE EXCEPTION 'the audit trail is kept at least 365 days';
    END IF;
    -- Only a prefix of the chain goes (the first `max_rows` entries, up to the first one not yet expired), so that
    -- what remains still starts at the anchor.
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

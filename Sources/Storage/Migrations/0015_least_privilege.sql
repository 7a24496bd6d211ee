-- Least privilege (issue 14): migrations run as the database's owner; `serve` runs as a login that is a member of
-- the role `cip_gateway`, which may do only what the gateway needs. The rules are one table, by table: a table
-- without a rule makes `cip_apply_gateway_grants()` fail, and with it the migration that added the table, so a
-- new table is never reachable by accident (deny by default). The migrator calls it after every migration.

-- What the gateway may do, per table: one row per table, added by the migration that adds the table. Append-only
-- records: read and add, never change or remove (retention purges them through SECURITY DEFINER functions). No
-- table may be truncated or dropped by the gateway.
CREATE TABLE gateway_access_rules (
    table_name text PRIMARY KEY,
    privileges text NOT NULL CHECK (privileges ~ '^(SELECT|INSERT|UPDATE|DELETE)(, (SELECT|INSERT|UPDATE|DELETE))*$'),
    why        text NOT NULL
);
INSERT INTO gateway_access_rules VALUES
    ('gateway_access_rules', 'SELECT', 'the rules themselves'),
    ('schema_migrations', 'SELECT', 'readiness and the pending check'),
    ('audit_log', 'SELECT, INSERT', 'append-only: who read what'),
    ('device_history', 'SELECT, INSERT', 'append-only: what happened to a device'),
    ('alarm_changes', 'SELECT, INSERT', 'append-only: an alarm''s timeline'),
    ('alarms', 'SELECT, INSERT, UPDATE', 'an alarm''s state changes; never deleted but by retention'),
    ('devices', 'SELECT, INSERT, UPDATE', 'the registry; devices are decommissioned, never deleted'),
    ('api_clients', 'SELECT, INSERT, UPDATE', 'tokens are rotated and revoked, never deleted'),
    ('alarm_engine_cursor', 'SELECT, UPDATE', 'one row'),
    ('lock_monitor_cursor', 'SELECT, UPDATE', 'one row'),
    ('retention_lease', 'SELECT, UPDATE', 'one row'),
    ('lock_grants', 'SELECT, INSERT, UPDATE', 'grants are revoked, never deleted'),
    ('lock_commands', 'SELECT, INSERT, UPDATE', 'commands end, never deleted'),
    ('lock_sequences', 'SELECT, INSERT, UPDATE', 'per lock, upserted'),
    ('observations', 'SELECT, INSERT, DELETE', 'values; retention deletes'),
    ('raw_messages', 'SELECT, INSERT, DELETE', 'messages as received; retention deletes'),
    ('dead_letters', 'SELECT, INSERT, DELETE', 'refusals; retention deletes'),
    ('events', 'SELECT, INSERT, DELETE', 'device events; retention deletes'),
    ('latest_observations', 'SELECT, INSERT, UPDATE, DELETE', 'upserted; retention deletes'),
    ('device_status', 'SELECT, INSERT, UPDATE, DELETE', 'supervision''s state'),
    ('unknown_devices', 'SELECT, INSERT, UPDATE, DELETE', 'the inventory of unknown ids'),
    ('lock_sequence_gaps', 'SELECT, INSERT, UPDATE, DELETE', 'gaps close when late events arrive'),
    ('lock_grant_lists', 'SELECT, INSERT, UPDATE, DELETE', 'what each lock was sent'),
    ('safe_zones', 'SELECT, INSERT, UPDATE, DELETE', 'zones are edited and deleted through the API'),
    ('geofence_state', 'SELECT, INSERT, UPDATE, DELETE', 'per device, upserted'),
    ('retention_purged_partitions', 'SELECT, INSERT, UPDATE, DELETE', 'retention''s progress'),
    ('retention_runs', 'SELECT, INSERT', 'retention''s runs'),
    ('retention_floors', 'SELECT', 'the owner''s floors; the purge functions enforce them');

CREATE FUNCTION cip_apply_gateway_grants() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    missing text;
    item record;
BEGIN
    SELECT string_agg(c.relname, ', ' ORDER BY c.relname) INTO missing
    FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND NOT EXISTS (SELECT 1 FROM gateway_access_rules r WHERE r.table_name = c.relname);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'no access rule for the gateway role on: % (add a row to gateway_access_rules in the same migration)', missing;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cip_gateway') THEN
        RAISE NOTICE 'role cip_gateway does not exist: grants not applied (single-role deployment)';
        RETURN;
    END IF;
    -- Tables and each day partition (retention deletes from a partition by name) get their table's rule.
    FOR item IN
        SELECT c.relname AS name, r.privileges
        FROM pg_class c
        LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
        LEFT JOIN pg_class parent ON parent.oid = i.inhparent
        JOIN gateway_access_rules r ON r.table_name = coalesce(parent.relname, c.relname)
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
    LOOP
        EXECUTE format('REVOKE ALL ON %I FROM cip_gateway', item.name);
        EXECUTE format('GRANT %s ON %I TO cip_gateway', item.privileges, item.name);
    END LOOP;
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO cip_gateway;
    -- The purge and partition functions run as the owner; only the gateway may call them.
    FOR item IN
        SELECT p.oid::regprocedure AS name FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace
          AND (p.proname LIKE 'cip\_retention\_%' OR p.proname = 'cip_ensure_daily_partitions')
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', item.name);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO cip_gateway', item.name);
    END LOOP;
END $$;

-- Only the owner (migrations) applies the rules.
REVOKE EXECUTE ON FUNCTION cip_apply_gateway_grants() FROM PUBLIC;

-- Day partitions are created by the gateway's hourly maintenance, which is not the owner: the function runs as the
-- owner, creates partitions of observations and raw_messages only, and gives each its table's rule.
CREATE OR REPLACE FUNCTION cip_ensure_daily_partitions(parent regclass, from_day date, to_day date)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    day date := from_day;
    created integer := 0;
    partition_name text;
BEGIN
    IF parent NOT IN ('observations'::regclass, 'raw_messages'::regclass) THEN
        RAISE EXCEPTION 'day partitions are made for observations and raw_messages only, not %', parent;
    END IF;
    IF to_day - from_day > 3700 THEN
        RAISE EXCEPTION 'at most 3700 day partitions at once';
    END IF;
    WHILE day < to_day LOOP
        partition_name := format('%s_p%s', parent::text, to_char(day, 'YYYYMMDD'));
        IF to_regclass(partition_name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                partition_name, parent,
                (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'));
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cip_gateway') THEN
                -- The rule of both parents (cip_apply_gateway_grants).
                EXECUTE format('GRANT SELECT, INSERT, DELETE ON %I TO cip_gateway', partition_name);
            END IF;
            created := created + 1;
        END IF;
        day := day + 1;
    END LOOP;
    RETURN created;
END $$;

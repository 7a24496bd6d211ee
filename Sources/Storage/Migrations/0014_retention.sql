-- Retention (issue 14): the gateway deletes what it may no longer keep. Telemetry tables are purged by plain
-- batched deletes; partitions are dropped, and the append-only care records (alarms and their timeline, device
-- history, the audit trail) are purged, only through the functions below, which refuse anything younger than a
-- floor no configuration can lower.

-- The append-only triggers let one thing through: a DELETE inside a purge function (which sets this flag for its
-- own transaction). TRUNCATE and UPDATE stay refused for everyone.
CREATE OR REPLACE FUNCTION cip_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('cip.retention_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE FUNCTION cip_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('cip.retention_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'rows of % are never deleted', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;

-- Drops one daily partition (`<parent>_pYYYYMMDD`) of observations or raw_messages when its whole day lies before
-- `expired_before`; returns the rows it held. The lock wait is bounded: under load the next run tries again.
CREATE FUNCTION cip_retention_drop_partition(parent text, partition_name text, expired_before timestamptz)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    day date;
    held bigint;
BEGIN
    IF parent NOT IN ('observations', 'raw_messages') THEN
        RAISE EXCEPTION 'retention drops partitions of observations and raw_messages only, not %', parent;
    END IF;
    IF partition_name !~ ('^' || parent || '_p[0-9]{8}$') THEN
        RAISE EXCEPTION '% is not a daily partition of %', partition_name, parent;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                   WHERE i.inhparent = parent::regclass AND c.relname = partition_name) THEN
        RETURN 0;
    END IF;
    day := to_date(right(partition_name, 8), 'YYYYMMDD');
    IF (day + 1)::timestamp AT TIME ZONE 'UTC' > expired_before THEN
        RAISE EXCEPTION 'partition % holds data of % that is not yet expired', partition_name, day;
    END IF;
    IF expired_before > now() - interval '1 day' THEN
        RAISE EXCEPTION 'retention keeps at least a day of %', parent;
    END IF;
    SET LOCAL lock_timeout = '2s';
    EXECUTE format('SELECT count(*) FROM %I', partition_name) INTO held;
    EXECUTE format('DROP TABLE %I', partition_name);
    RETURN held;
END $$;

-- Closed alarms (resolved or cancelled before `expired_before`) with their timelines, oldest first, at most
-- `max_alarms` per call; open and acknowledged alarms are never purged. Returns the rows deleted (both tables).
CREATE FUNCTION cip_retention_purge_alarms(expired_before timestamptz, max_alarms integer)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    ids bigint[];
    changes bigint;
    removed bigint;
BEGIN
    IF expired_before > now() - interval '30 days' THEN
        RAISE EXCEPTION 'alarms are kept at least 30 days';
    END IF;
    SELECT array_agg(id) INTO ids FROM (
        SELECT id FROM alarms
        WHERE state IN ('resolved', 'cancelled') AND coalesce(resolved_at, cancelled_at) < expired_before
        ORDER BY id LIMIT max_alarms) expired;
    IF ids IS NULL THEN RETURN 0; END IF;
    PERFORM set_config('cip.retention_purge', 'on', true);
    DELETE FROM alarm_changes WHERE alarm_id = ANY(ids);
    GET DIAGNOSTICS changes = ROW_COUNT;
    DELETE FROM alarms WHERE id = ANY(ids);
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('cip.retention_purge', 'off', true);
    RETURN changes + removed;
END $$;

-- Device history older than `expired_before`, except each device's newest entry (what it is now). The history
-- is what links a device's data to a care recipient; it goes when the data it explains has gone.
CREATE FUNCTION cip_retention_purge_device_history(expired_before timestamptz, max_rows integer)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    removed bigint;
BEGIN
    IF expired_before > now() - interval '30 days' THEN
        RAISE EXCEPTION 'device history is kept at least 30 days';
    END IF;
    PERFORM set_config('cip.retention_purge', 'on', true);
    DELETE FROM device_history WHERE id IN (
        SELECT h.id FROM device_history h
        WHERE h.at < expired_before
          AND h.id < (SELECT max(n.id) FROM device_history n WHERE n.device_id = h.device_id)
        ORDER BY h.id LIMIT max_rows);
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('cip.retention_purge', 'off', true);
    RETURN removed;
END $$;

-- Audit entries older than `expired_before`, oldest first. An audit trail is kept at least a year.
CREATE FUNCTION cip_retention_purge_audit(expired_before timestamptz, max_rows integer)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    removed bigint;
BEGIN
    IF expired_before > now() - interval '365 days' THEN
        RAISE EXCEPTION 'the audit trail is kept at least 365 days';
    END IF;
    PERFORM set_config('cip.retention_purge', 'on', true);
    DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < expired_before ORDER BY id LIMIT max_rows);
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('cip.retention_purge', 'off', true);
    RETURN removed;
END $$;

-- Partitions already purged of one retention group (quantities with the same retention), so that a day is scanned
-- once per group, not at every run. A change of the group's quantities scans again, and so do rows inserted into
-- the day since (`inserted_rows`, the partition's insert count when its purge began: a device that was offline for
-- a month sends old values; statistics may be reset, and a different count only means one more scan).
CREATE TABLE retention_purged_partitions (
    partition_name text        NOT NULL,
    retention_days integer     NOT NULL,
    quantities     text[]      NOT NULL,
    inserted_rows  bigint      NOT NULL,
    rows_deleted   bigint      NOT NULL,
    purged_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partition_name, retention_days)
);

-- One row per retention run: when, what it deleted per table, and the error that stopped it, if one did.
CREATE TABLE retention_runs (
    id          bigserial   PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    deleted     jsonb       NOT NULL DEFAULT '{}',
    error       text
);

CREATE INDEX dead_letters_received ON dead_letters (received_at);
CREATE INDEX device_history_at ON device_history (at, id);

-- One gateway purges at a time: it holds this lease and renews it at every step; a crashed holder's lease runs out.
CREATE TABLE retention_lease (
    singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    holder     text        NOT NULL,
    expires_at timestamptz NOT NULL
);
INSERT INTO retention_lease VALUES (true, '', '-infinity');

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

-- The owner's floors: no purge function removes anything younger, whatever the gateway asks. The gateway's role
-- reads them; only the owner changes them (to keep care records shorter than five years, say so here first).
CREATE TABLE retention_floors (
    singleton          boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    -- A whole day of observations is dropped only past this (the catalogue's longest retention).
    observation_days   integer NOT NULL CHECK (observation_days >= 1),
    raw_message_days   integer NOT NULL CHECK (raw_message_days >= 1),
    care_record_days   integer NOT NULL CHECK (care_record_days >= 30),
    audit_days         integer NOT NULL CHECK (audit_days >= 365)
);
INSERT INTO retention_floors VALUES (true, 730, 1, 1826, 1826);

-- Drops one daily partition (`<parent>_pYYYYMMDD`) of observations or raw_messages when its whole day lies before
-- `expired_before`; returns the rows it held. The lock wait is bounded: under load the next run tries again.
CREATE FUNCTION cip_retention_drop_partition(parent text, partition_name text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    day date;
    floor_days integer;
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
    SELECT CASE parent WHEN 'observations' THEN observation_days ELSE raw_message_days END INTO floor_days FROM retention_floors;
    IF (day + 1)::timestamp AT TIME ZONE 'UTC' > now() - make_interval(days => floor_days) THEN
        RAISE EXCEPTION 'partition % is younger than the floor of % days', partition_name, floor_days;
    END IF;
    -- DROP waits for every reader of the parent; a short wait, or ingest would queue behind it.
    SET LOCAL lock_timeout = '100ms';
    EXECUTE format('SELECT count(*) FROM %I', partition_name) INTO held;
    EXECUTE format('DROP TABLE %I', partition_name);
    RETURN held;
END $$;

-- Closed alarms with their timelines, oldest first, at most `max_alarms` per call: closed (resolved or cancelled)
-- more than `retention_days` ago (never less than the floor), as their append-only timeline says; open and
-- acknowledged alarms are never purged. Returns the rows deleted (both tables).
CREATE FUNCTION cip_retention_purge_alarms(retention_days integer, max_alarms integer)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    expired_before timestamptz;
    ids bigint[];
    changes bigint;
    removed bigint;
BEGIN
    SELECT now() - make_interval(days => greatest(retention_days, care_record_days)) INTO expired_before FROM retention_floors;
    SELECT array_agg(id) INTO ids FROM (
        SELECT a.id FROM alarms a
        WHERE a.state IN ('resolved', 'cancelled')
          AND (SELECT max(c.at) FROM alarm_changes c WHERE c.alarm_id = a.id AND c.change IN ('resolved', 'cancelled')) < expired_before
          AND a.raised_at < expired_before
        ORDER BY a.id LIMIT max_alarms) expired;
    IF ids IS NULL THEN RETURN 0; END IF;
    PERFORM set_config('cip.retention_purge', 'on', true);
    DELETE FROM alarm_changes WHERE alarm_id = ANY(ids);
    GET DIAGNOSTICS changes = ROW_COUNT;
    DELETE FROM alarms WHERE id = ANY(ids);
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('cip.retention_purge', 'off', true);
    RETURN changes + removed;
END $$;

-- Device history older than `retention_days` (never less than the floor), except each device's newest entry (what
-- it is now). The history is what links a device's data to a care recipient; it goes when that data has gone.
CREATE FUNCTION cip_retention_purge_device_history(retention_days integer, max_rows integer)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    expired_before timestamptz;
    removed bigint;
BEGIN
    SELECT now() - make_interval(days => greatest(retention_days, care_record_days)) INTO expired_before FROM retention_floors;
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

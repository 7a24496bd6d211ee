-- Alarms for the alarm team: one row per alarm (its current state) and an append-only timeline of changes,
-- which is also the live stream (the change id is the Server-Sent Events id).

CREATE TABLE alarms (
    id                bigserial   PRIMARY KEY,
    device_id         text        NOT NULL,
    type              text        NOT NULL,             -- the catalogue event that raised it
    kind              text        NOT NULL CHECK (kind IN ('care', 'technical')),
    priority          smallint    NOT NULL CHECK (priority BETWEEN 1 AND 5),
    state             text        NOT NULL DEFAULT 'open'
        CHECK (state IN ('open', 'acknowledged', 'resolved', 'cancelled')),
    tenant            text,
    raised_at         timestamptz NOT NULL,             -- when the device observed the first trigger
    opened_at         timestamptz NOT NULL DEFAULT now(),
    last_triggered_at timestamptz NOT NULL,
    trigger_count     integer     NOT NULL DEFAULT 1,
    ack_deadline      timestamptz NOT NULL,             -- opened_at + the priority's time-to-acknowledge target
    escalated_at      timestamptz,
    acknowledged_at   timestamptz,
    acknowledged_by   text,
    resolved_at       timestamptz,
    resolved_by       text,
    outcome           text,
    note              text,
    cancelled_at      timestamptz,
    attributes        jsonb       NOT NULL DEFAULT '{}',
    confidentiality   smallint    NOT NULL CHECK (confidentiality BETWEEN 1 AND 3),
    source_event_id   bigint      NOT NULL
);

-- At most one active alarm per device and type: a repeated trigger counts on it.
CREATE UNIQUE INDEX alarms_one_active ON alarms (device_id, type) WHERE state IN ('open', 'acknowledged');
CREATE INDEX alarms_queue ON alarms (priority, raised_at, id) WHERE state IN ('open', 'acknowledged');
CREATE INDEX alarms_raised ON alarms (raised_at, id);
CREATE INDEX alarms_escalation ON alarms (ack_deadline) WHERE state = 'open' AND escalated_at IS NULL;

CREATE TABLE alarm_changes (
    id       bigserial   PRIMARY KEY,
    alarm_id bigint      NOT NULL REFERENCES alarms (id),
    change   text        NOT NULL
        CHECK (change IN ('opened', 'retriggered', 'acknowledged', 'resolved', 'cancelled', 'escalated')),
    actor    text        NOT NULL,
    at       timestamptz NOT NULL DEFAULT now(),
    details  jsonb       NOT NULL DEFAULT '{}'
);

CREATE INDEX alarm_changes_alarm ON alarm_changes (alarm_id, id);

CREATE TRIGGER alarm_changes_append_only BEFORE UPDATE OR DELETE ON alarm_changes
    FOR EACH ROW EXECUTE FUNCTION cip_refuse_change();
CREATE TRIGGER alarm_changes_no_truncate BEFORE TRUNCATE ON alarm_changes
    FOR EACH STATEMENT EXECUTE FUNCTION cip_refuse_change();

-- Alarms are never deleted.
CREATE FUNCTION cip_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'rows of % are never deleted', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER alarms_no_delete BEFORE DELETE ON alarms FOR EACH ROW EXECUTE FUNCTION cip_refuse_delete();
CREATE TRIGGER alarms_no_truncate BEFORE TRUNCATE ON alarms FOR EACH STATEMENT EXECUTE FUNCTION cip_refuse_delete();

-- How far the alarm engine has read the events table; moved in the same transaction as the alarms it wrote.
-- It starts after the events already stored: what happened before alarms existed is history, not a call to act.
CREATE TABLE alarm_engine_cursor (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_event bigint  NOT NULL
);
INSERT INTO alarm_engine_cursor SELECT true, coalesce(max(id), 0) FROM events;

-- New events wake the alarm engine; new alarm changes wake every gateway's stream.
CREATE FUNCTION cip_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cip_events', '');
    RETURN NULL;
END $$;
CREATE TRIGGER events_notify AFTER INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION cip_notify_events();

CREATE FUNCTION cip_notify_alarm_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cip_alarm_changes', '');
    RETURN NULL;
END $$;
CREATE TRIGGER alarm_changes_notify AFTER INSERT ON alarm_changes
    FOR EACH STATEMENT EXECUTE FUNCTION cip_notify_alarm_changes();

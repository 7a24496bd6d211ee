-- Ingest pipeline: observations (time-partitioned), latest values, raw messages, dead letters.

-- Creates one partition per UTC day for [from_day, to_day) of a table partitioned by a timestamptz range.
-- Rows outside every day partition land in the table's DEFAULT partition.
CREATE FUNCTION cip_ensure_daily_partitions(parent regclass, from_day date, to_day date)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    day date := from_day;
    created integer := 0;
    partition_name text;
BEGIN
    WHILE day < to_day LOOP
        partition_name := format('%s_p%s', parent::text, to_char(day, 'YYYYMMDD'));
        IF to_regclass(partition_name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                partition_name, parent,
                (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'));
            created := created + 1;
        END IF;
        day := day + 1;
    END LOOP;
    RETURN created;
END $$;

-- One row per accepted SenML record (or, later, per normalized value).
CREATE TABLE observations (
    device_id     text             NOT NULL,
    quantity      text             NOT NULL,
    value_number  double precision,
    value_string  text,
    value_boolean boolean,
    value_data    bytea,
    value_sum     double precision,
    unit          text,
    observed_at   timestamptz      NOT NULL,
    received_at   timestamptz      NOT NULL,
    -- Identifies the message a record came from; with record_index it makes a replayed write a no-op.
    message_key   bytea            NOT NULL,
    record_index  integer          NOT NULL
) PARTITION BY RANGE (observed_at);

-- One index does both jobs: idempotent writes (message_key, record_index are unique on their own) and the
-- read API's "this device, newest first" scans.
CREATE UNIQUE INDEX observations_device_time
    ON observations (device_id, observed_at, quantity, message_key, record_index);

-- Catches what no day partition holds: data from before the first partition (devices that were offline for long).
-- Timestamps far in the future are refused at ingest, so no day partition created later can conflict with it.
CREATE TABLE observations_default PARTITION OF observations DEFAULT;

CREATE TABLE latest_observations (
    device_id     text             NOT NULL,
    quantity      text             NOT NULL,
    value_number  double precision,
    value_string  text,
    value_boolean boolean,
    value_data    bytea,
    value_sum     double precision,
    unit          text,
    observed_at   timestamptz      NOT NULL,
    received_at   timestamptz      NOT NULL,
    message_key   bytea            NOT NULL,
    PRIMARY KEY (device_id, quantity)
) WITH (fillfactor = 70);  -- room on each page for HOT updates: rows are rewritten all the time

-- Every message as it arrived, for troubleshooting (short retention; partitions are dropped when old).
CREATE TABLE raw_messages (
    device_id        text,
    topic            text        NOT NULL,
    payload          bytea       NOT NULL,
    received_at      timestamptz NOT NULL,
    message_key      bytea       NOT NULL,
    journal_sequence bigint      NOT NULL,
    outcome          text        NOT NULL CHECK (outcome IN ('accepted', 'partial', 'rejected')),
    records_accepted integer     NOT NULL,
    records_rejected integer     NOT NULL
) PARTITION BY RANGE (received_at);

CREATE UNIQUE INDEX raw_messages_device_time
    ON raw_messages (device_id, received_at, message_key) NULLS NOT DISTINCT;

CREATE TABLE raw_messages_default PARTITION OF raw_messages DEFAULT;

-- What could not be accepted, with the reason. record_index -1: the whole message.
CREATE TABLE dead_letters (
    id           bigserial   PRIMARY KEY,
    received_at  timestamptz NOT NULL,
    topic        text        NOT NULL,
    device_id    text,
    payload      bytea       NOT NULL,
    reason       text        NOT NULL,
    record_index integer     NOT NULL DEFAULT -1,
    message_key  bytea       NOT NULL,
    UNIQUE (message_key, record_index)
);

CREATE INDEX dead_letters_device ON dead_letters (device_id, id);

-- Values normalized through the catalogue carry their confidentiality class; events get a table of their own.

ALTER TABLE observations ADD COLUMN confidentiality smallint CHECK (confidentiality BETWEEN 1 AND 3);
ALTER TABLE latest_observations ADD COLUMN confidentiality smallint CHECK (confidentiality BETWEEN 1 AND 3);

-- Device events (alarm triggers, cancellations, heartbeats, lock events...) in arrival order: `id` is the order
-- in which the alarm rules consume them.
CREATE TABLE events (
    id              bigserial   PRIMARY KEY,
    device_id       text        NOT NULL,
    event           text        NOT NULL,
    observed_at     timestamptz NOT NULL,
    received_at     timestamptz NOT NULL,
    attributes      jsonb       NOT NULL DEFAULT '{}',
    confidentiality smallint    NOT NULL CHECK (confidentiality BETWEEN 1 AND 3),
    message_key     bytea       NOT NULL,
    source_path     text        NOT NULL,
    UNIQUE (message_key, event, source_path)
);

CREATE INDEX events_device_time ON events (device_id, observed_at);

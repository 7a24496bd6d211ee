-- Remote commands to locks, the lock's own event numbering, and the lock monitor's place in the event stream.

-- One row per remote unlock/lock request, refused ones too: the access log shows what was asked, by whom, for
-- which staff member, and how it ended. A refused request never reaches the lock.
CREATE TABLE lock_commands (
    id            text        PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    device_id     text        NOT NULL REFERENCES devices (device_id),
    action        text        NOT NULL CHECK (action IN ('unlock', 'lock')),
    staff_ref     text        NOT NULL CHECK (length(staff_ref) BETWEEN 1 AND 64),
    requested_by  text        NOT NULL,
    requested_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    -- The grant that allowed it (none for a refusal).
    grant_id      bigint,
    status        text        NOT NULL CHECK (status IN ('refused', 'pending', 'succeeded', 'failed', 'expired')),
    reason        text        CHECK (reason IS NULL OR length(reason) <= 500),
    -- When the broker took it (QoS 1); null until then, so a restart publishes what was not yet published.
    published_at  timestamptz,
    finished_at   timestamptz,
    CHECK (expires_at > requested_at),
    CHECK ((status = 'pending') = (finished_at IS NULL))
);
CREATE INDEX lock_commands_device ON lock_commands (device_id, requested_at);
CREATE INDEX lock_commands_pending ON lock_commands (expires_at) WHERE status = 'pending';

-- Locks number their events; the highest number seen per lock, and the numbers never delivered (gaps). A late
-- event inside a gap narrows it; a gap stays until every number in it arrived.
CREATE TABLE lock_sequences (
    device_id      text        PRIMARY KEY REFERENCES devices (device_id),
    last_sequence  bigint      NOT NULL CHECK (last_sequence >= 0),
    last_event_id  bigint      NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE TABLE lock_sequence_gaps (
    id             bigserial   PRIMARY KEY,
    device_id      text        NOT NULL REFERENCES devices (device_id),
    first_missing  bigint      NOT NULL,
    last_missing   bigint      NOT NULL,
    -- The event whose number showed the gap, and when it was seen.
    detected_by    bigint      NOT NULL,
    detected_at    timestamptz NOT NULL,
    CHECK (first_missing >= 0 AND last_missing >= first_missing)
);
CREATE INDEX lock_sequence_gaps_device ON lock_sequence_gaps (device_id, first_missing);

-- The lock monitor reads `events` in id order from here, like the alarm engine from its own cursor.
CREATE TABLE lock_monitor_cursor (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_event bigint  NOT NULL
);
INSERT INTO lock_monitor_cursor (last_event) VALUES (0);

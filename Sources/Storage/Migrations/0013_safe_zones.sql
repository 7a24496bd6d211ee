-- Safe zones of GPS alarms: per device, a circle or a simple polygon, an optional weekly schedule in the city's
-- local time (empty: always in force) and per-zone tuning. Zone geometry tells where a person lives: class 3.
CREATE TABLE safe_zones (
    id                 bigserial   PRIMARY KEY,
    device_id          text        NOT NULL REFERENCES devices (device_id),
    name               text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- The shape as the geofence module encodes it ({"circle": {...}} or {"polygon": {...}}).
    shape              jsonb       NOT NULL,
    -- Weekly windows [{"days": [1..7], "startMinute": m, "endMinute": m}]; empty: always.
    schedule           jsonb       NOT NULL DEFAULT '[]',
    exit_buffer_m      double precision CHECK (exit_buffer_m IS NULL OR exit_buffer_m BETWEEN 0 AND 5000),
    max_accuracy_m     double precision NOT NULL DEFAULT 100 CHECK (max_accuracy_m BETWEEN 1 AND 5000),
    confirm_fixes      integer     NOT NULL DEFAULT 2 CHECK (confirm_fixes BETWEEN 1 AND 100),
    confirm_seconds    integer     NOT NULL DEFAULT 60 CHECK (confirm_seconds BETWEEN 0 AND 86400),
    created_by         text        NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX safe_zones_device ON safe_zones (device_id);

-- The geofence evaluation of each device with zones (the geofence module's state, JSON), so a restart neither
-- forgets an excursion in progress nor raises it twice.
CREATE TABLE geofence_state (
    device_id   text        PRIMARY KEY REFERENCES devices (device_id),
    state       jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- A return into the zone is noted on the exit alarm's timeline (it does not resolve it: an operator does).
ALTER TABLE alarm_changes DROP CONSTRAINT alarm_changes_change_check;
ALTER TABLE alarm_changes ADD CONSTRAINT alarm_changes_change_check
    CHECK (change IN ('opened', 'retriggered', 'acknowledged', 'resolved', 'cancelled', 'escalated', 'responder_assigned',
                      'zone_returned'));

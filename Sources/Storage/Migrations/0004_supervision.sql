-- Supervision, quarantine, broker enforcement and directory coherence.

-- What the gateway learns about a registered device from its messages (written in batches, never per message).
CREATE TABLE device_status (
    device_id          text        PRIMARY KEY REFERENCES devices (device_id),
    connectivity       text        NOT NULL DEFAULT 'unknown'
        CHECK (connectivity IN ('unknown', 'online', 'offline')),
    connectivity_since timestamptz,
    last_seen          timestamptz,
    battery            double precision,
    signal_strength    double precision,
    reported_firmware  text,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX device_status_connectivity ON device_status (connectivity, device_id);
CREATE INDEX device_status_battery ON device_status (battery) WHERE battery IS NOT NULL;

-- Device ids that published without being registered: their messages are quarantined (kept as raw messages,
-- never stored as observations) and counted here for the administrators.
CREATE TABLE unknown_devices (
    device_id     text        PRIMARY KEY,
    first_seen    timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL,
    message_count bigint      NOT NULL,
    last_topic    text        NOT NULL
);

CREATE INDEX unknown_devices_last_seen ON unknown_devices (last_seen DESC, device_id);

ALTER TABLE raw_messages DROP CONSTRAINT raw_messages_outcome_check;
ALTER TABLE raw_messages ADD CONSTRAINT raw_messages_outcome_check
    CHECK (outcome IN ('accepted', 'partial', 'rejected', 'quarantined'));

-- The lifecycle state the broker last enforced for the device (dynamic security); where it lags behind
-- `lifecycle_state`, the gateway enforces again.
ALTER TABLE devices ADD COLUMN broker_state text;

-- Every gateway instance keeps the registry in memory; a change anywhere tells them all which device to reload.
CREATE FUNCTION cip_notify_device_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cip_devices', COALESCE(NEW.device_id, OLD.device_id));
    RETURN NULL;
END $$;

CREATE TRIGGER devices_notify AFTER INSERT OR UPDATE OR DELETE ON devices
    FOR EACH ROW EXECUTE FUNCTION cip_notify_device_change();

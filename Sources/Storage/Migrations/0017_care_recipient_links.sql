-- Which device served which care recipient, when (issue 14): data a device produced is attributed to a care
-- recipient only while it was linked to them. A link opens when a device is registered with a reference or gets
-- one, and closes when the reference changes or is cleared, or the device is decommissioned. The trigger on
-- `devices` keeps it, whatever path changed the device; retention removes closed links once the data they explain
-- has gone (the care-record retention).

CREATE TABLE care_recipient_links (
    id                 bigserial   PRIMARY KEY,
    device_id          text        NOT NULL REFERENCES devices (device_id),
    care_recipient_ref text        NOT NULL,
    linked_at          timestamptz NOT NULL,
    unlinked_at        timestamptz,
    CHECK (unlinked_at IS NULL OR unlinked_at >= linked_at)
);
CREATE INDEX care_recipient_links_ref ON care_recipient_links (care_recipient_ref, linked_at);
CREATE UNIQUE INDEX care_recipient_links_open ON care_recipient_links (device_id) WHERE unlinked_at IS NULL;

CREATE FUNCTION cip_care_recipient_links() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    linked boolean := NEW.care_recipient_ref IS NOT NULL AND NEW.lifecycle_state <> 'decommissioned';
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.care_recipient_ref IS NOT DISTINCT FROM OLD.care_recipient_ref
           AND (NEW.lifecycle_state = 'decommissioned') = (OLD.lifecycle_state = 'decommissioned') THEN
            RETURN NEW;
        END IF;
        UPDATE care_recipient_links SET unlinked_at = clock_timestamp()
        WHERE device_id = NEW.device_id AND unlinked_at IS NULL;
    END IF;
    IF linked THEN
        INSERT INTO care_recipient_links (device_id, care_recipient_ref, linked_at)
        VALUES (NEW.device_id, NEW.care_recipient_ref, clock_timestamp());
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER devices_care_recipient_links AFTER INSERT OR UPDATE OF care_recipient_ref, lifecycle_state ON devices
    FOR EACH ROW EXECUTE FUNCTION cip_care_recipient_links();

-- Devices linked before links were kept: linked since they were registered.
INSERT INTO care_recipient_links (device_id, care_recipient_ref, linked_at)
SELECT device_id, care_recipient_ref, created_at FROM devices
WHERE care_recipient_ref IS NOT NULL AND lifecycle_state <> 'decommissioned';

INSERT INTO gateway_access_rules VALUES
    ('care_recipient_links', 'SELECT', 'kept by the trigger on devices; removed by retention''s purge function');

-- Closed links whose data has gone: unlinked more than `retention_days` ago (never less than the care-record floor).
CREATE FUNCTION cip_retention_purge_links(retention_days integer, max_rows integer)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    expired_before timestamptz;
    removed bigint;
BEGIN
    SELECT now() - make_interval(days => greatest(retention_days, care_record_days)) INTO expired_before FROM retention_floors;
    DELETE FROM care_recipient_links WHERE id IN (
        SELECT id FROM care_recipient_links WHERE unlinked_at < expired_before ORDER BY id LIMIT max_rows);
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END $$;

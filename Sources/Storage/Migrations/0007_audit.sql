-- The audit trail: who read which sensitive data (class 2 or 3), when, and with which outcome. Append-only:
-- UPDATE, DELETE and TRUNCATE are refused (production hardening also moves ownership away from the gateway's
-- database user: Gateway/audit-hardening.sql).
CREATE TABLE audit_log (
    id        bigserial   PRIMARY KEY,
    at        timestamptz NOT NULL,
    client    text        NOT NULL,
    roles     text        NOT NULL,
    method    text        NOT NULL,
    endpoint  text        NOT NULL,   -- the route, e.g. /integration/v1/devices/{deviceId}/latest
    path      text        NOT NULL,   -- the path as asked, without the query
    subjects  text[]      NOT NULL DEFAULT '{}',   -- device ids and care-recipient references returned
    records   integer     NOT NULL,
    class     smallint    NOT NULL CHECK (class BETWEEN 1 AND 3),
    status    smallint    NOT NULL
);

CREATE INDEX audit_log_client ON audit_log (client, at);
CREATE INDEX audit_log_at ON audit_log (at, id);
CREATE INDEX audit_log_subjects ON audit_log USING gin (subjects);

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION cip_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION cip_refuse_change();

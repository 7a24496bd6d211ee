-- Production hardening of the audit trail, run once by a database superuser after the gateway's migrations
-- (psql -v gateway_user=cip -f Gateway/audit-hardening.sql DATABASE). The triggers of migration 0007 already
-- refuse UPDATE, DELETE and TRUNCATE; this takes the table away from the gateway's user, so that it cannot drop
-- those triggers either: it may only insert and read.
CREATE ROLE cip_audit_owner NOLOGIN;
ALTER TABLE audit_log OWNER TO cip_audit_owner;
ALTER SEQUENCE audit_log_id_seq OWNER TO cip_audit_owner;
REVOKE ALL ON audit_log FROM PUBLIC;
GRANT SELECT, INSERT ON audit_log TO :"gateway_user";
GRANT USAGE ON SEQUENCE audit_log_id_seq TO :"gateway_user";

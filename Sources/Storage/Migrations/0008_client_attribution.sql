-- Who did it, as authenticated: the API client whose token made the change, beside the `actor` (an operator or
-- person the request names, which the client asserts and the gateway cannot check). NULL for changes that no
-- API client made (the device, the gateway itself, the CLI) and for rows written before this migration.
ALTER TABLE device_history ADD COLUMN client text;
ALTER TABLE alarm_changes ADD COLUMN client text;

-- A tenant-scoped auditor's reads of the audit trail look subjects up by care-recipient reference too.
CREATE INDEX devices_care_recipient_ref ON devices (care_recipient_ref) WHERE care_recipient_ref IS NOT NULL;

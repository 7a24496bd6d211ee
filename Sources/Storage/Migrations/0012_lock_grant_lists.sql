-- Grant lists for locks that decide offline: what the gateway last published to each lock (a version per change
-- of content), and which version the lock reported it holds. A lock whose held version lags is stale.
CREATE TABLE lock_grant_lists (
    device_id       text        PRIMARY KEY REFERENCES devices (device_id),
    version         bigint      NOT NULL CHECK (version >= 1),
    content_sha256  bytea       NOT NULL,
    grant_count     integer     NOT NULL,
    published_at    timestamptz NOT NULL,
    held_version    bigint,
    held_at         timestamptz
);

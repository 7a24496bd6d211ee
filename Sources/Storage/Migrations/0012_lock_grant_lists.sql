-- Grant lists for locks that decide offline: what the gateway last published to each lock (a version per change
-- of content), and which version the lock reported it holds. A lock whose held version lags is stale.
CREATE TABLE lock_grant_lists (
    device_id         text        PRIMARY KEY REFERENCES devices (device_id),
    -- The version last published and acknowledged by the broker (0: none yet).
    version           bigint      NOT NULL CHECK (version >= 0),
    content_sha256    bytea       NOT NULL,
    grant_count       integer     NOT NULL,
    published_at      timestamptz NOT NULL,
    -- Versions are taken here before publishing, so a version number never names two contents (a publish whose
    -- record failed is not reused for another list).
    reserved_version  bigint      NOT NULL CHECK (reserved_version >= version),
    held_version      bigint,
    held_at           timestamptz
);

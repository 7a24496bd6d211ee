-- The CIP tier as an integration point (issue 17): entities other city systems write through NGSI-LD, and
-- subscriptions whose notifications leave through a durable outbox.

-- One row per entity written through the CIP tier; its values are observations of the `external` device behind it.
-- An entity id names one live entity at a time within a tenant (tenants are separate information spaces: one tenant
-- learns nothing of another's ids); a deleted entity keeps its row (the device is decommissioned, its values stay
-- until retention) and the id may be written again as a new device.
CREATE TABLE cip_entities (
    device_id   text        PRIMARY KEY REFERENCES devices (device_id),
    tenant      text        NOT NULL,
    entity_id   text        NOT NULL CHECK (length(entity_id) BETWEEN 1 AND 256),
    entity_type text        NOT NULL CHECK (length(entity_type) BETWEEN 1 AND 512),
    -- Where the premises or the sensor are (WGS 84): open, as the writer published it.
    latitude    double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude   double precision CHECK (longitude BETWEEN -180 AND 180),
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    modified_at timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    CHECK ((latitude IS NULL) = (longitude IS NULL))
);
CREATE UNIQUE INDEX cip_entities_live_id ON cip_entities (tenant, entity_id) WHERE deleted_at IS NULL;
CREATE INDEX cip_entities_id ON cip_entities (entity_id) WHERE deleted_at IS NULL;
CREATE INDEX cip_entities_type ON cip_entities (entity_type, entity_id) WHERE deleted_at IS NULL;

-- NGSI-LD subscriptions: the definition as the client gave it (normalized, names expanded), what it may see (its
-- owner's tenants when it was made), and how its notifications fared.
CREATE TABLE ngsi_subscriptions (
    id                text        PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 256),
    owner             text        NOT NULL,
    -- NULL: every tenant.
    tenants           text[],
    definition        text        NOT NULL CHECK (length(definition) <= 65536),
    active            boolean     NOT NULL DEFAULT true,
    expires_at        timestamptz,
    throttling_s      integer     NOT NULL DEFAULT 0 CHECK (throttling_s >= 0),
    last_notification timestamptz,
    last_success      timestamptz,
    last_failure      timestamptz,
    last_error        text,
    times_sent        bigint      NOT NULL DEFAULT 0,
    times_failed      bigint      NOT NULL DEFAULT 0,
    -- Notifications dropped because the subscription's outbox was full (its endpoint down for long).
    dropped           bigint      NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    modified_at       timestamptz NOT NULL DEFAULT now()
);

-- Which open series changed since the matcher last looked: one row per device and quantity however often it changed
-- (so it stays bounded while no gateway runs), written in the same transaction as the change itself.
CREATE TABLE ngsi_changes (
    device_id  text        NOT NULL,
    quantity   text        NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, quantity)
);

-- DO UPDATE ... WHERE false, not DO NOTHING: the writer locks a row that is there (without writing a new version of
-- it) until it commits, so a matcher taking the series (FOR UPDATE SKIP LOCKED) cannot take it before this change is
-- visible, and a matcher that took it first makes the writer wait and insert it anew. In key order, so that two
-- writers lock their rows in the same order.
CREATE FUNCTION cip_note_open_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM ngsi_subscriptions WHERE active) THEN
        INSERT INTO ngsi_changes AS c (device_id, quantity)
        SELECT DISTINCT device_id, quantity FROM changed WHERE confidentiality = 1 ORDER BY device_id, quantity
        ON CONFLICT (device_id, quantity) DO UPDATE SET changed_at = c.changed_at WHERE false;
    END IF;
    RETURN NULL;
END $$;

-- Statement triggers with the changed rows as a table: one check per statement whatever the batch's size (the
-- changed rows are collected for the trigger in any case; nothing is written while nobody subscribes).
CREATE TRIGGER latest_observations_inserted AFTER INSERT ON latest_observations
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION cip_note_open_changes();
CREATE TRIGGER latest_observations_updated AFTER UPDATE ON latest_observations
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION cip_note_open_changes();

-- The outbox: notifications made in the matcher's transaction and sent after it, retried with backoff until they
-- are delivered or their subscription is deleted.
CREATE TABLE ngsi_notifications (
    id              bigserial   PRIMARY KEY,
    subscription_id text        NOT NULL REFERENCES ngsi_subscriptions (id) ON DELETE CASCADE,
    payload         text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- Being sent by a gateway until then (a gateway that dies sending it leaves it to another after this).
    claimed_until   timestamptz
);
CREATE INDEX ngsi_notifications_subscription ON ngsi_notifications (subscription_id, id);

INSERT INTO gateway_access_rules VALUES
    ('cip_entities', 'SELECT, INSERT, UPDATE', 'entities other systems write; deleted by a mark, never removed'),
    ('ngsi_subscriptions', 'SELECT, INSERT, UPDATE, DELETE', 'subscriptions are made, changed and deleted through the API'),
    ('ngsi_changes', 'SELECT, INSERT, UPDATE, DELETE', 'what changed, until the matcher has looked (taken FOR UPDATE)'),
    ('ngsi_notifications', 'SELECT, INSERT, UPDATE, DELETE', 'the outbox: deleted once delivered');

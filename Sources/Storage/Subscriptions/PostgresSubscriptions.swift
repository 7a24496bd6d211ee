import Foundation
import NGSILD
import Postgres
import Telemetry

/// NGSI-LD subscriptions and their outbox in PostgreSQL: the home of `ngsi_subscriptions`, `ngsi_changes` and
/// `ngsi_notifications` (migration 0021). The API keeps subscriptions through `SubscriptionRepository`; the matcher
/// turns changes into notifications in one transaction (`match`), and delivery takes them from the outbox.
public struct PostgresSubscriptions: SubscriptionRepository {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    static func encode(_ subscription: Subscription) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: (try? encoder.encode(subscription)) ?? Data(), as: UTF8.self)
    }

    static func decode(_ text: String) throws -> Subscription {
        try JSONDecoder().decode(Subscription.self, from: Data(text.utf8))
    }

    private static let columns = """
        s.definition, s.owner, array_to_json(s.tenants)::text AS tenants_json,
        \(PostgresSQL.epochMicros("s.last_notification")) AS last_notification_us, \(PostgresSQL.epochMicros("s.last_success")) AS last_success_us,
        \(PostgresSQL.epochMicros("s.last_failure")) AS last_failure_us, s.last_error, s.times_sent, s.times_failed, s.dropped,
        (SELECT count(*) FROM ngsi_notifications n WHERE n.subscription_id = s.id)::bigint AS pending
        """

    static func stored(_ row: PostgresRow) throws -> StoredSubscription {
        let tenantsJSON: String? = try row.decodeIfPresent("tenants_json")
        let tenants = try tenantsJSON.map { try JSONDecoder().decode([String].self, from: Data($0.utf8)) }
        let status = SubscriptionStatus(
            lastNotificationMicros: try row.decodeIfPresent("last_notification_us"), lastSuccessMicros: try row.decodeIfPresent("last_success_us"),
            lastFailureMicros: try row.decodeIfPresent("last_failure_us"), lastError: try row.decodeIfPresent("last_error"),
            timesSent: Int(try row.decode("times_sent") as Int64), timesFailed: Int(try row.decode("times_failed") as Int64),
            dropped: Int(try row.decode("dropped") as Int64), pending: Int(try row.decode("pending") as Int64))
        return StoredSubscription(subscription: try decode(try row.decode("definition")), owner: try row.decode("owner"), tenants: tenants, status: status)
    }

    // MARK: - The API's view

    public func create(_ subscription: Subscription, owner: String, tenants: [String]?) async throws -> Bool {
        try await pool.withConnection { connection in
            try connection.query("""
                INSERT INTO ngsi_subscriptions (id, owner, tenants, definition, active, expires_at, throttling_s)
                VALUES ($1, $2, $3::text[], $4, $5, to_timestamp($6::bigint / 1e6), $7::integer)
                ON CONFLICT (id) DO NOTHING RETURNING id
                """, [subscription.id, owner, tenants.map(PostgresArray.text), Self.encode(subscription), subscription.isActive,
                      subscription.expiresAtMicros, subscription.throttlingSeconds]).first != nil
        }
    }

    public func list(owner: String, offset: Int, limit: Int) async throws -> [StoredSubscription] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT \(Self.columns) FROM ngsi_subscriptions s WHERE s.owner = $1 ORDER BY s.created_at, s.id
                LIMIT $2::integer OFFSET $3::integer
                """, [owner, limit, offset]).all.map(Self.stored)
        }
    }

    public func subscription(id: String, owner: String) async throws -> StoredSubscription? {
        try await pool.withConnection { connection in
            try connection.query("SELECT \(Self.columns) FROM ngsi_subscriptions s WHERE s.id = $1 AND s.owner = $2", [id, owner])
                .first.map(Self.stored)
        }
    }

    public func replace(_ subscription: Subscription, owner: String) async throws -> Bool {
        try await pool.withConnection { connection in
            try connection.query("""
                UPDATE ngsi_subscriptions SET definition = $3, active = $4, expires_at = to_timestamp($5::bigint / 1e6),
                    throttling_s = $6::integer, modified_at = now()
                WHERE id = $1 AND owner = $2 RETURNING id
                """, [subscription.id, owner, Self.encode(subscription), subscription.isActive, subscription.expiresAtMicros,
                      subscription.throttlingSeconds]).first != nil
        }
    }

    public func delete(id: String, owner: String) async throws -> Bool {
        try await pool.withConnection { connection in
            try connection.query("DELETE FROM ngsi_subscriptions WHERE id = $1 AND owner = $2 RETURNING id", [id, owner]).first != nil
        }
    }

    // MARK: - The matcher's transaction

    /// One round of the matcher: takes up to `limit` changed series, and stores the notifications `notify` makes of
    /// them (at most `maxPending` waiting per subscription: the oldest beyond are dropped and counted), all in one
    /// transaction: a crash before its commit leaves the changes to the next round. Returns how many changes it took.
    public func match(limit: Int, maxPending: Int, nowMicros: Int64,
                      notify: @escaping @Sendable ([StoredSubscription], [ChangedEntity]) -> [(subscriptionID: String, payload: String)]) async throws -> Int {
        try await pool.withConnection { connection in
            try connection.transaction { connection in
                guard try connection.query("SELECT pg_try_advisory_xact_lock(\(AdvisoryLock.notificationMatcher)) AS mine").first?.decode("mine") == true else {
                    return 0
                }
                let taken = try connection.query("""
                    DELETE FROM ngsi_changes c USING (
                        SELECT device_id, quantity FROM ngsi_changes ORDER BY changed_at LIMIT $1::integer FOR UPDATE SKIP LOCKED
                    ) t WHERE c.device_id = t.device_id AND c.quantity = t.quantity
                    RETURNING c.device_id, c.quantity
                    """, [limit]).all.map { row throws(PostgresError) in (try row.decode("device_id") as String, try row.decode("quantity") as String) }
                guard !taken.isEmpty else { return 0 }
                // The owner's tenants now (narrowed or revoked since the subscription was made) bound what it sees.
                let rows = try connection.query("""
                    SELECT \(Self.columns), s.id, array_to_json(c.tenants)::text AS owner_tenants_json FROM ngsi_subscriptions s
                    LEFT JOIN api_clients c ON c.name = s.owner
                    WHERE s.active AND (s.expires_at IS NULL OR s.expires_at > to_timestamp($1::bigint / 1e6)) AND c.revoked_at IS NULL
                    """, [nowMicros]).all
                var subscriptions: [StoredSubscription] = []
                var unreadable: [String] = []
                for row in rows {
                    guard var stored = try? Self.stored(row) else {
                        unreadable.append(try row.decode("id"))
                        continue
                    }
                    let ownerJSON: String? = try row.decodeIfPresent("owner_tenants_json")
                    if let owner = ownerJSON.flatMap({ try? JSONDecoder().decode([String].self, from: Data($0.utf8)) }), !owner.contains("*") {
                        stored.tenants = stored.tenants.map { $0.filter(owner.contains) } ?? owner
                    }
                    subscriptions.append(stored)
                }
                if !unreadable.isEmpty {
                    // One subscription this version cannot read stops no other: it is paused, with the reason.
                    try connection.query("""
                        UPDATE ngsi_subscriptions SET active = false, last_error = 'its definition cannot be read by this gateway version'
                        WHERE id = ANY($1::text[])
                        """, [PostgresArray.text(unreadable)])
                }
                guard !subscriptions.isEmpty else { return taken.count }
                let devices = Array(Set(taken.map(\.0)))
                let entities = try PostgresOpenDataRepository.entities(OpenEntityQuery(deviceIDs: devices, tenants: nil), offset: 0,
                                                                        limit: devices.count, on: connection)
                let latest = try PostgresOpenDataRepository.latest(deviceIDs: devices, quantities: nil, on: connection)
                var changed: [String: Set<String>] = [:]
                for (device, quantity) in taken { changed[device, default: []].insert(quantity) }
                let changes = entities.map { entity in
                    ChangedEntity(entity: entity, latest: latest.filter { $0.deviceID == entity.deviceID }, changed: changed[entity.deviceID] ?? [])
                }
                let notifications = notify(subscriptions, changes)
                guard !notifications.isEmpty else { return taken.count }
                let ids = notifications.map(\.subscriptionID)
                try connection.query("""
                    INSERT INTO ngsi_notifications (subscription_id, payload, created_at, next_attempt_at)
                    SELECT s, p, to_timestamp($3::bigint / 1e6), to_timestamp($3::bigint / 1e6) FROM unnest($1::text[], $2::text[]) AS x(s, p)
                    """, [PostgresArray.text(ids), PostgresArray.text(notifications.map(\.payload)), nowMicros])
                try connection.query("UPDATE ngsi_subscriptions SET last_notification = to_timestamp($2::bigint / 1e6) WHERE id = ANY($1::text[])",
                                     [PostgresArray.text(ids), nowMicros])
                try connection.query("""
                    WITH ranked AS (
                        SELECT id, row_number() OVER (PARTITION BY subscription_id ORDER BY id DESC) AS n
                        FROM ngsi_notifications WHERE subscription_id = ANY($1::text[])
                    ), gone AS (
                        DELETE FROM ngsi_notifications o USING ranked r WHERE o.id = r.id AND r.n > $2::integer RETURNING o.subscription_id
                    )
                    UPDATE ngsi_subscriptions s SET dropped = s.dropped + g.n
                    FROM (SELECT subscription_id, count(*) AS n FROM gone GROUP BY subscription_id) g WHERE s.id = g.subscription_id
                    """, [PostgresArray.text(ids), maxPending])
                return taken.count
            }
        }
    }

    // MARK: - Delivery

    /// A notification waiting in the outbox, with its subscription.
    public struct Due: Sendable {
        public var id: Int64
        public var subscription: Subscription
        public var payload: String
        public var attempts: Int
    }

    /// How long a gateway holds a notification it is sending before another may take it.
    public static let claimSeconds = 60

    /// The oldest waiting notification of each active subscription of a client not revoked, when its time has come
    /// and no gateway is sending it: one at a time per subscription, so that they arrive in order and a dead endpoint
    /// holds up no other; claimed for `claimSeconds`, so that two gateways do not send it both.
    public func due(limit: Int, nowMicros: Int64) async throws -> [Due] {
        try await pool.withConnection { connection in
            try connection.query("""
                WITH heads AS (
                    SELECT n.id FROM ngsi_subscriptions s
                    LEFT JOIN api_clients c ON c.name = s.owner
                    CROSS JOIN LATERAL (
                        SELECT id, next_attempt_at, claimed_until FROM ngsi_notifications WHERE subscription_id = s.id ORDER BY id LIMIT 1
                    ) n
                    WHERE s.active AND c.revoked_at IS NULL AND n.next_attempt_at <= to_timestamp($2::bigint / 1e6)
                      AND (n.claimed_until IS NULL OR n.claimed_until < to_timestamp($2::bigint / 1e6))
                    ORDER BY n.next_attempt_at, n.id LIMIT $1::integer
                ), claimed AS (
                    UPDATE ngsi_notifications o SET claimed_until = to_timestamp($2::bigint / 1e6) + make_interval(secs => $3::integer)
                    FROM heads h WHERE o.id = h.id AND (o.claimed_until IS NULL OR o.claimed_until < to_timestamp($2::bigint / 1e6))
                    RETURNING o.id, o.subscription_id, o.payload, o.attempts
                )
                SELECT k.id, k.payload, k.attempts, s.definition FROM claimed k JOIN ngsi_subscriptions s ON s.id = k.subscription_id
                ORDER BY k.id
                """, [limit, nowMicros, Self.claimSeconds]).all.compactMap { row in
                // A definition this version cannot read is paused by the matcher; its notifications wait.
                guard let subscription = try? Self.decode(try row.decode("definition")) else { return nil }
                return Due(id: try row.decode("id"), subscription: subscription, payload: try row.decode("payload"),
                           attempts: Int(try row.decode("attempts") as Int32))
            }
        }
    }

    /// The notification arrived: out of the outbox, counted on its subscription.
    public func delivered(_ due: Due, atMicros: Int64) async throws {
        try await pool.withConnection { connection in
            try connection.transaction { connection in
                try connection.query("DELETE FROM ngsi_notifications WHERE id = $1", [due.id])
                try connection.query("""
                    UPDATE ngsi_subscriptions SET last_success = to_timestamp($2::bigint / 1e6), times_sent = times_sent + 1 WHERE id = $1
                    """, [due.subscription.id, atMicros])
            }
        }
    }

    /// The notification did not arrive: tried again at `retryAtMicros`; the failure noted on its subscription.
    public func failed(_ due: Due, error: String, atMicros: Int64, retryAtMicros: Int64) async throws {
        try await pool.withConnection { connection in
            try connection.transaction { connection in
                try connection.query("""
                    UPDATE ngsi_notifications SET attempts = attempts + 1, next_attempt_at = to_timestamp($2::bigint / 1e6),
                        claimed_until = NULL WHERE id = $1
                    """, [due.id, retryAtMicros])
                try connection.query("""
                    UPDATE ngsi_subscriptions SET last_failure = to_timestamp($2::bigint / 1e6), last_error = left($3, 512),
                        times_failed = times_failed + 1 WHERE id = $1
                    """, [due.subscription.id, atMicros, error])
            }
        }
    }
}

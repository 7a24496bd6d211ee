import Postgres

/// Grant lists in PostgreSQL: the one home of table `lock_grant_lists` (migration 0012); the grants themselves are
/// read through `PostgresGrantRepository`.
public struct PostgresGrantListRepository: GrantListRepository {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    public func listsToPublish(lockTypes: [String], nowMicros: Int64, untilMicros: Int64) async throws -> [GrantList] {
        let active = try await PostgresGrantRepository(pool: pool).grantsForLists(lockTypes: lockTypes, nowMicros: nowMicros,
                                                                                  untilMicros: untilMicros)
        let outOfService: [String] = try await pool.withConnection { connection in
            try connection.query("""
                SELECT l.device_id FROM lock_grant_lists l JOIN devices d USING (device_id)
                WHERE d.lifecycle_state NOT IN ('active', 'decommissioned') AND l.version > 0
                """).all.map { row throws(PostgresError) in try row.decode("device_id") }
        }
        var lists = active.map { GrantList.of(deviceId: $0.key, grants: $0.value, nowMicros: nowMicros, untilMicros: untilMicros) }
        lists += outOfService.filter { active[$0] == nil }.map { GrantList(deviceId: $0, entries: []) }
        return lists.sorted { $0.deviceId < $1.deviceId }
    }

    public func retired() async throws -> [String] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT l.device_id FROM lock_grant_lists l JOIN devices d USING (device_id)
                WHERE d.lifecycle_state = 'decommissioned'
                """).all.map { row throws(PostgresError) in try row.decode("device_id") }
        }
    }

    public func forget(_ deviceId: String) async throws {
        try await pool.withConnection { connection in
            try connection.query("DELETE FROM lock_grant_lists WHERE device_id = $1", [deviceId])
        }
    }

    public func reserveVersion(_ deviceId: String) async throws -> Int64 {
        try await pool.withConnection { connection in
            try connection.query("""
                INSERT INTO lock_grant_lists (device_id, version, content_sha256, grant_count, published_at, reserved_version)
                VALUES ($1, 0, '\\x'::bytea, 0, clock_timestamp(), 1)
                ON CONFLICT (device_id) DO UPDATE SET reserved_version = lock_grant_lists.reserved_version + 1
                RETURNING reserved_version
                """, [deviceId]).single().decode("reserved_version")
        }
    }

    private static let columns = """
        device_id, version, content_sha256, grant_count, \(PostgresSQL.epochMicros("published_at")) AS published_us,
        held_version, \(PostgresSQL.epochMicros("held_at")) AS held_us
        """

    public func states() async throws -> [String: GrantListState] {
        try await pool.withConnection { connection in
            var states: [String: GrantListState] = [:]
            for row in try connection.query("SELECT \(Self.columns) FROM lock_grant_lists").all {
                let state = try Self.state(row)
                states[state.deviceId] = state
            }
            return states
        }
    }

    public func recordPublished(_ state: GrantListState) async throws {
        try await pool.withConnection { connection in
            try connection.query("""
                UPDATE lock_grant_lists SET version = $2, content_sha256 = $3, grant_count = $4::integer,
                       published_at = \(PostgresSQL.timestamp(micros: "$5::bigint"))
                WHERE device_id = $1 AND version < $2 AND reserved_version >= $2
                """, [state.deviceId, state.version, state.contentHash, state.grantCount, state.publishedAtMicros])
        }
    }

    public func stale(tenants: [String]?, nowMicros: Int64, graceMicros: Int64) async throws -> [GrantListState] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT \(Self.columns) FROM lock_grant_lists l JOIN devices d USING (device_id)
                WHERE coalesce(l.held_version, 0) < l.version AND d.lifecycle_state = 'active'
                  AND l.published_at < \(PostgresSQL.timestamp(micros: "$2::bigint")) - $3::bigint * interval '1 microsecond'
                  AND ($1::text[] IS NULL OR d.tenant = ANY($1::text[]))
                ORDER BY l.published_at, l.device_id LIMIT 1000
                """, [tenants.map { PostgresArray.text($0) }, nowMicros, graceMicros]).all.map { row throws(PostgresError) in
                    try Self.state(row)
                }
        }
    }

    /// The lock monitor records what a lock reports holding, in its own transaction; a version never published is
    /// ignored (false).
    static func held(deviceId: String, version: Int64, atMicros: Int64, on connection: PostgresConnection) throws(PostgresError) -> Bool {
        try connection.query("""
            UPDATE lock_grant_lists SET held_version = $2, held_at = \(PostgresSQL.timestamp(micros: "$3::bigint"))
            WHERE device_id = $1 AND $2::bigint BETWEEN 1 AND version
            RETURNING device_id
            """, [deviceId, version, atMicros]).count == 1
    }

    static func state(_ row: PostgresRow) throws(PostgresError) -> GrantListState {
        GrantListState(deviceId: try row.decode("device_id"), version: try row.decode("version"),
                       contentHash: try row.decode("content_sha256"), grantCount: try row.decode("grant_count"),
                       publishedAtMicros: try row.decode("published_us"), heldVersion: try row.decodeIfPresent("held_version"),
                       heldAtMicros: try row.decodeIfPresent("held_us"))
    }
}

import Models
import Postgres

/// Grants in PostgreSQL: the one home of table `lock_grants` (migration 0009).
public struct PostgresGrantRepository: GrantRepository {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    static let columns = """
        id, device_id, staff_ref, \(PostgresSQL.epochMicros("valid_from")) AS valid_from_us,
        \(PostgresSQL.epochMicros("valid_to")) AS valid_to_us, array_to_string(weekly_days, ',') AS weekly_days,
        weekly_start, weekly_end, source, visit_ref, granted_by, reason,
        \(PostgresSQL.epochMicros("planned_start")) AS planned_start_us, \(PostgresSQL.epochMicros("planned_end")) AS planned_end_us,
        \(PostgresSQL.epochMicros("created_at")) AS created_us, \(PostgresSQL.epochMicros("revoked_at")) AS revoked_us,
        revoked_by
        """

    public func create(_ grant: NewGrant, deviceId: String, grantedBy: String) async throws -> AccessGrant {
        try await pool.withConnection { connection in
            try Self.grant(connection.query("""
                INSERT INTO lock_grants (device_id, staff_ref, valid_from, valid_to, weekly_days, weekly_start, weekly_end,
                                         source, visit_ref, granted_by, reason)
                VALUES ($1, $2, \(PostgresSQL.timestamp(micros: "$3::bigint")), \(PostgresSQL.timestamp(micros: "$4::bigint")), $5::smallint[],
                        $6::smallint, $7::smallint, $8, $9, $10, $11)
                RETURNING \(Self.columns)
                """, [deviceId, grant.staffRef, grant.validFromMicros, grant.validToMicros,
                      grant.weekly.map { PostgresArray.text($0.days.sorted()) }, grant.weekly?.startMinute,
                      grant.weekly?.endMinute, grant.source.rawValue, grant.visitRef, grantedBy, grant.reason]).single())
        }
    }

    public func grants(deviceId: String, includeEnded: Bool, nowMicros: Int64, beforeId: Int64?, limit: Int) async throws -> [AccessGrant] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT \(Self.columns) FROM lock_grants
                WHERE device_id = $1 AND ($4::bigint IS NULL OR id < $4::bigint)
                  AND ($2::boolean OR ((revoked_at IS NULL OR revoked_at > \(PostgresSQL.timestamp(micros: "$3::bigint")))
                                       AND (valid_to IS NULL OR valid_to > \(PostgresSQL.timestamp(micros: "$3::bigint")))))
                ORDER BY id DESC LIMIT $5::integer
                """, [deviceId, includeEnded, nowMicros, beforeId, limit]).all.map { row throws(PostgresError) in try Self.grant(row) }
        }
    }

    public func grants(deviceId: String, staffRef: String) async throws -> [AccessGrant] {
        try await pool.withConnection { connection in try Self.grants(deviceId: deviceId, staffRef: staffRef, on: connection) }
    }

    /// The grants a decision reads (the newest 10,000 of one staff member on one lock), on the caller's connection:
    /// the lock monitor decides inside its own transaction.
    static func grants(deviceId: String, staffRef: String, on connection: PostgresConnection) throws(PostgresError) -> [AccessGrant] {
        try connection.query("""
            SELECT \(Self.columns) FROM lock_grants
            WHERE device_id = $1 AND staff_ref = $2 ORDER BY id DESC LIMIT 10000
            """, [deviceId, staffRef]).all.map { row throws(PostgresError) in try Self.grant(row) }
    }

    public func revoke(_ id: Int64, deviceId: String, by: String) async throws -> AccessGrant? {
        try await pool.withConnection { connection in
            try connection.transaction { connection in
                try connection.query("""
                    UPDATE lock_grants SET revoked_at = clock_timestamp(), revoked_by = $3
                    WHERE id = $1 AND device_id = $2 AND (revoked_at IS NULL OR revoked_at > clock_timestamp())
                    """, [id, deviceId, by])
                return try connection.query("SELECT \(Self.columns) FROM lock_grants WHERE id = $1 AND device_id = $2",
                                            [id, deviceId]).first.map { row throws(PostgresError) in try Self.grant(row) }
            }
        }
    }

    public func alarmGrants(alarmIds: [Int64]) async throws -> [AccessGrant] {
        guard !alarmIds.isEmpty else { return [] }
        return try await pool.withConnection { connection in
            try connection.query("""
                SELECT \(Self.columns) FROM lock_grants
                WHERE source = 'alarm' AND visit_ref = ANY($1::text[]) ORDER BY id LIMIT 10000
                """, [PostgresArray.text(alarmIds.map(String.init))]).all.map { row throws(PostgresError) in try Self.grant(row) }
        }
    }

    // MARK: Alarm visits, inside the alarm repository's transaction (the alarm change and its grants commit together)

    /// Grants `staffRef` each of `lockIds` for alarm `alarmId` (source `alarm`, visit reference the alarm id).
    public static func createAlarmGrants(staffRef: String, lockIds: [String], alarmId: Int64, fromMicros: Int64,
                                         toMicros: Int64, grantedBy: String, reason: String,
                                         on connection: PostgresConnection) throws -> [AccessGrant] {
        guard !lockIds.isEmpty else { return [] }
        return try connection.query("""
            INSERT INTO lock_grants (device_id, staff_ref, valid_from, valid_to, source, visit_ref, granted_by, reason)
            SELECT d, $2, \(PostgresSQL.timestamp(micros: "$3::bigint")), \(PostgresSQL.timestamp(micros: "$4::bigint")),
                   'alarm', $5, $6, $7
            FROM unnest($1::text[]) WITH ORDINALITY AS x(d, n) ORDER BY n
            RETURNING \(Self.columns)
            """, [PostgresArray.text(lockIds), staffRef, fromMicros, toMicros, String(alarmId), grantedBy, reason])
            .all.map { row throws(PostgresError) in try Self.grant(row) }
    }

    /// Ends the alarm's grants that nobody revoked yet at `atMicros`, which may be ahead (resolution + margin): a
    /// revocation in the future lets the grant allow until then (the decision reads it so).
    public static func endAlarmGrants(alarmId: Int64, atMicros: Int64, by: String,
                                      on connection: PostgresConnection) throws -> [AccessGrant] {
        try connection.query("""
            UPDATE lock_grants SET revoked_at = \(PostgresSQL.timestamp(micros: "$2::bigint")), revoked_by = $3
            WHERE source = 'alarm' AND visit_ref = $1 AND revoked_at IS NULL
            RETURNING \(Self.columns)
            """, [String(alarmId), atMicros, by]).all.map { row throws(PostgresError) in try Self.grant(row) }
    }

    /// Plan imports of one source run one at a time (two at once could both find a visit missing and create it
    /// twice); the lock is tried, not waited for, so an import never holds a pooled connection while queueing.
    private static let planImportLock: Int32 = 7_243_101

    public func replacePlan(_ planned: [PlanGrantKey], deviceIds: [String], fromMicros: Int64, toMicros: Int64,
                            unreadVisits: Set<String>, by: String) async throws -> PlanImportResult {
        try await pool.withConnection { connection in
            try connection.transaction { connection in
                guard try connection.query("SELECT pg_try_advisory_xact_lock($1::integer, hashtext($2)) AS locked",
                                           [Self.planImportLock, by]).single().decode("locked", as: Bool.self) else {
                    throw PlanImportError.importInProgress
                }
                let inPeriod = try connection.query("""
                    SELECT \(Self.columns) FROM lock_grants
                    WHERE source = 'visit-plan' AND granted_by = $4 AND device_id = ANY($1::text[])
                      AND planned_start >= \(PostgresSQL.timestamp(micros: "$2::bigint"))
                      AND planned_start < \(PostgresSQL.timestamp(micros: "$3::bigint"))
                    FOR UPDATE
                    """, [PostgresArray.text(deviceIds), fromMicros, toMicros, by]).all.map { row throws(PostgresError) in
                    try Self.grant(row)
                }
                let replacement = PlanReplacement(
                    current: inPeriod.filter { $0.revokedAtMicros == nil }, planned: planned,
                    revokedByHand: inPeriod.filter { $0.revokedAtMicros != nil && $0.revokedBy != by }, unreadVisits: unreadVisits)
                if !replacement.toRevoke.isEmpty {
                    try connection.query("""
                        UPDATE lock_grants SET revoked_at = clock_timestamp(), revoked_by = $2 WHERE id = ANY($1::bigint[])
                        """, [PostgresArray.text(replacement.toRevoke), by])
                }
                if !replacement.toCreate.isEmpty {
                    let rows = replacement.toCreate
                    try connection.query("""
                        INSERT INTO lock_grants (device_id, staff_ref, visit_ref, planned_start, planned_end, valid_from,
                                                 valid_to, source, granted_by)
                        SELECT d, s, v, \(PostgresSQL.timestamp(micros: "ps")), \(PostgresSQL.timestamp(micros: "pe")),
                               \(PostgresSQL.timestamp(micros: "vf")), \(PostgresSQL.timestamp(micros: "vt")), 'visit-plan', $8
                        FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[])
                             AS x(d, s, v, ps, pe, vf, vt)
                        """, [PostgresArray.text(rows.map(\.deviceId)), PostgresArray.text(rows.map(\.staffRef)),
                              PostgresArray.text(rows.map(\.visitRef)), PostgresArray.text(rows.map(\.plannedStartMicros)),
                              PostgresArray.text(rows.map(\.plannedEndMicros)), PostgresArray.text(rows.map(\.validFromMicros)),
                              PostgresArray.text(rows.map(\.validToMicros)), by])
                }
                return PlanImportResult(replacement)
            }
        }
    }

    static func grant(_ row: PostgresRow) throws(PostgresError) -> AccessGrant {
        var weekly: WeeklyWindow?
        if let days = try row.decodeIfPresent("weekly_days", as: String.self) {
            weekly = WeeklyWindow(days: Set(days.split(separator: ",").compactMap { Int($0) }),
                                  startMinute: try row.decode("weekly_start"), endMinute: try row.decode("weekly_end"))
        }
        return try AccessGrant(
            id: row.decode("id"), deviceId: row.decode("device_id"), staffRef: row.decode("staff_ref"),
            validFromMicros: row.decodeIfPresent("valid_from_us"), validToMicros: row.decodeIfPresent("valid_to_us"),
            weekly: weekly, source: row.decode("source"), visitRef: row.decodeIfPresent("visit_ref"),
            grantedBy: row.decode("granted_by"), reason: row.decodeIfPresent("reason"),
            createdAtMicros: row.decode("created_us"), revokedAtMicros: row.decodeIfPresent("revoked_us"),
            revokedBy: row.decodeIfPresent("revoked_by"), plannedStartMicros: row.decodeIfPresent("planned_start_us"),
            plannedEndMicros: row.decodeIfPresent("planned_end_us"))
    }
}

extension PostgresGrantRepository {
    /// Every active lock's grants that a grant list carries (in force at `now` or starting before `until`), by lock;
    /// a lock without any is there with none.
    func grantsForLists(lockTypes: [String], nowMicros: Int64, untilMicros: Int64) async throws -> [String: [AccessGrant]] {
        try await pool.withConnection { connection in
            var byLock: [String: [AccessGrant]] = [:]
            for row in try connection.query("""
                SELECT device_id FROM devices WHERE type = ANY($1::text[]) AND lifecycle_state = 'active'
                """, [PostgresArray.text(lockTypes)]).all {
                byLock[try row.decode("device_id", as: String.self)] = []
            }
            let rows = try connection.query("""
                SELECT \(Self.columns) FROM lock_grants
                WHERE device_id = ANY($1::text[])
                  AND coalesce(revoked_at, 'infinity') > \(PostgresSQL.timestamp(micros: "$2::bigint"))
                  AND coalesce(valid_to, 'infinity') > \(PostgresSQL.timestamp(micros: "$2::bigint"))
                  AND coalesce(valid_from, '-infinity') < \(PostgresSQL.timestamp(micros: "$3::bigint"))
                ORDER BY device_id, id
                """, [PostgresArray.text(byLock.keys.sorted()), nowMicros, untilMicros])
            for row in rows.all {
                let grant = try Self.grant(row)
                byLock[grant.deviceId, default: []].append(grant)
            }
            return byLock
        }
    }
}

import Postgres

/// Commands in PostgreSQL: the one home of table `lock_commands` (migration 0010).
public struct PostgresCommandRepository: CommandRepository {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    static let columns = """
        id, device_id, action, staff_ref, requested_by, \(PostgresSQL.epochMicros("requested_at")) AS requested_us,
        \(PostgresSQL.epochMicros("expires_at")) AS expires_us, grant_id, status, reason,
        \(PostgresSQL.epochMicros("published_at")) AS published_us, \(PostgresSQL.epochMicros("finished_at")) AS finished_us
        """

    public func insert(_ command: LockCommand) async throws {
        try await pool.withConnection { connection in
            try connection.query("""
                INSERT INTO lock_commands (id, device_id, action, staff_ref, requested_by, requested_at, expires_at,
                                           grant_id, status, reason, finished_at)
                VALUES ($1, $2, $3, $4, $5, \(PostgresSQL.timestamp(micros: "$6::bigint")), \(PostgresSQL.timestamp(micros: "$7::bigint")),
                        $8::bigint, $9, $10, \(PostgresSQL.timestamp(micros: "$11::bigint")))
                """, [command.id, command.deviceId, command.action.rawValue, command.staffRef, command.requestedBy,
                      command.requestedAtMicros, command.expiresAtMicros, command.grantId, command.status.rawValue,
                      command.reason, command.finishedAtMicros])
        }
    }

    public func command(_ id: String) async throws -> LockCommand? {
        try await pool.withConnection { connection in
            try connection.query("SELECT \(Self.columns) FROM lock_commands WHERE id = $1", [id])
                .first.map { row throws(PostgresError) in try Self.command(row) }
        }
    }

    /// A command still to be sent must still be allowed: its lock active and its grant neither revoked nor ended
    /// (a planner revoking, or an administrator suspending the lock, after the request withdraws it).
    private static let stillAllowed = """
        EXISTS (SELECT 1 FROM devices d WHERE d.device_id = lock_commands.device_id AND d.lifecycle_state = 'active')
        AND EXISTS (SELECT 1 FROM lock_grants g WHERE g.id = lock_commands.grant_id
                    AND coalesce(g.revoked_at, 'infinity') > \(PostgresSQL.timestamp(micros: "$1::bigint"))
                    AND coalesce(g.valid_to, 'infinity') > \(PostgresSQL.timestamp(micros: "$1::bigint")))
        """

    public func unpublished(nowMicros: Int64, limit: Int) async throws -> [LockCommand] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT \(Self.columns) FROM lock_commands
                WHERE status = 'pending' AND published_at IS NULL AND expires_at > \(PostgresSQL.timestamp(micros: "$1::bigint"))
                  AND \(Self.stillAllowed)
                ORDER BY requested_at LIMIT $2::integer
                """, [nowMicros, limit]).all.map { row throws(PostgresError) in try Self.command(row) }
        }
    }

    public func markPublished(_ id: String, atMicros: Int64) async throws {
        try await pool.withConnection { connection in
            try connection.query("""
                UPDATE lock_commands SET published_at = \(PostgresSQL.timestamp(micros: "$2::bigint"))
                WHERE id = $1 AND published_at IS NULL
                """, [id, atMicros])
        }
    }

    public func expireDue(nowMicros: Int64) async throws -> Int {
        try await pool.withConnection { connection in
            let withdrawn = try connection.query("""
                UPDATE lock_commands SET status = 'expired', finished_at = \(PostgresSQL.timestamp(micros: "$1::bigint")),
                       reason = 'withdrawn before it was sent: the grant ended or the lock left service'
                WHERE status = 'pending' AND published_at IS NULL AND NOT (\(Self.stillAllowed))
                RETURNING id
                """, [nowMicros]).count
            return try withdrawn + connection.query("""
                UPDATE lock_commands SET status = 'expired', finished_at = \(PostgresSQL.timestamp(micros: "$1::bigint")),
                       reason = CASE WHEN published_at IS NULL THEN 'never reached the broker before it expired'
                                     ELSE 'no answer from the lock before the command expired' END
                WHERE status = 'pending' AND expires_at <= \(PostgresSQL.timestamp(micros: "$1::bigint"))
                RETURNING id
                """, [nowMicros]).count
        }
    }

    public func answer(_ answer: CommandAnswer) async throws -> Bool {
        try await pool.withConnection { connection in try Self.answer(answer, on: connection) }
    }

    /// The lock monitor ends commands inside its own transaction (with its cursor). An answer the lock gave before
    /// the expiry also ends a command the clock already expired (it arrived late; the door did open).
    static func answer(_ answer: CommandAnswer, on connection: PostgresConnection) throws(PostgresError) -> Bool {
        try connection.query("""
            UPDATE lock_commands SET status = $3, reason = $4, finished_at = \(PostgresSQL.timestamp(micros: "$5::bigint"))
            WHERE id = $1 AND device_id = $2
              AND (status = 'pending'
                   OR (status = 'expired' AND published_at IS NOT NULL AND \(PostgresSQL.timestamp(micros: "$5::bigint")) <= expires_at))
            RETURNING id
            """, [answer.commandId, answer.deviceId, answer.succeeded ? "succeeded" : "failed", answer.reason.map { String(String.UnicodeScalarView($0.unicodeScalars.prefix(500))) },
                  answer.atMicros]).count == 1
    }

    public func commands(deviceId: String, fromMicros: Int64, toMicros: Int64, limit: Int) async throws -> [LockCommand] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT \(Self.columns) FROM lock_commands
                WHERE device_id = $1 AND requested_at >= \(PostgresSQL.timestamp(micros: "$2::bigint"))
                  AND requested_at < \(PostgresSQL.timestamp(micros: "$3::bigint"))
                ORDER BY requested_at, id LIMIT $4::integer
                """, [deviceId, fromMicros, toMicros, limit]).all.map { row throws(PostgresError) in try Self.command(row) }
        }
    }

    /// Whether an `unlocked` naming `commandId` is that remote unlock: a command of this lock, sent, asked before
    /// the event and not long expired. Anything else is a credential at the door and is checked as one.
    static func confirmsRemoteUnlock(commandId: String, deviceId: String, atMicros: Int64,
                                     on connection: PostgresConnection) throws(PostgresError) -> Bool {
        try connection.query("""
            SELECT 1 AS found FROM lock_commands
            WHERE id = $1 AND device_id = $2 AND action = 'unlock' AND published_at IS NOT NULL
              AND status IN ('pending', 'succeeded', 'expired')
              AND \(PostgresSQL.timestamp(micros: "$3::bigint")) BETWEEN requested_at AND expires_at + interval '60 seconds'
            """, [commandId, deviceId, atMicros]).count == 1
    }

    static func command(_ row: PostgresRow) throws(PostgresError) -> LockCommand {
        LockCommand(
            id: try row.decode("id"), deviceId: try row.decode("device_id"), action: try row.decode("action"),
            staffRef: try row.decode("staff_ref"), requestedBy: try row.decode("requested_by"),
            requestedAtMicros: try row.decode("requested_us"), expiresAtMicros: try row.decode("expires_us"),
            grantId: try row.decodeIfPresent("grant_id"), status: try row.decode("status"),
            reason: try row.decodeIfPresent("reason"), publishedAtMicros: try row.decodeIfPresent("published_us"),
            finishedAtMicros: try row.decodeIfPresent("finished_us"))
    }
}

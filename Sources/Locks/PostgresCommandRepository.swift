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

    public func unpublished(nowMicros: Int64, limit: Int) async throws -> [LockCommand] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT \(Self.columns) FROM lock_commands
                WHERE status = 'pending' AND published_at IS NULL AND expires_at > \(PostgresSQL.timestamp(micros: "$1::bigint"))
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
            try connection.query("""
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

    /// The lock monitor ends commands inside its own transaction (with its cursor).
    static func answer(_ answer: CommandAnswer, on connection: PostgresConnection) throws(PostgresError) -> Bool {
        try connection.query("""
            UPDATE lock_commands SET status = $3, reason = $4, finished_at = \(PostgresSQL.timestamp(micros: "$5::bigint"))
            WHERE id = $1 AND device_id = $2 AND status = 'pending'
            RETURNING id
            """, [answer.commandId, answer.deviceId, answer.succeeded ? "succeeded" : "failed", answer.reason.map { String($0.prefix(500)) },
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

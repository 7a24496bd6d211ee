import Postgres

/// The audit trail in PostgreSQL: the one home of table `audit_log`.
public struct PostgresAuditLog: AuditLog {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    public func write(_ batch: [AuditRecord]) async throws {
        try await pool.withConnection { try Self.write(batch, on: $0) }
    }

    /// The one statement that writes audit lines (a benchmark tells it from the reads it measures by this text).
    /// Subjects go as one text per record ("a\u{1f}b"), split in SQL: arrays of arrays are not rectangular.
    public static let insertStatement = """
        INSERT INTO audit_log (at, client, roles, method, endpoint, path, subjects, records, class, status)
        SELECT to_timestamp(at / 1e6), client, roles, method, endpoint, path,
               CASE WHEN subjects = '' THEN '{}'::text[] ELSE string_to_array(subjects, chr(31)) END,
               records, class, status
        FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                    $8::integer[], $9::smallint[], $10::smallint[])
            AS r(at, client, roles, method, endpoint, path, subjects, records, class, status)
        """

    static func write(_ batch: [AuditRecord], on connection: PostgresConnection) throws {
        try connection.query(Self.insertStatement, [
                PostgresArray.text(batch.map(\.atMicros)), PostgresArray.text(batch.map(\.client)),
                PostgresArray.text(batch.map(\.roles)), PostgresArray.text(batch.map(\.method)),
                PostgresArray.text(batch.map(\.endpoint)), PostgresArray.text(batch.map(\.path)),
                PostgresArray.text(batch.map { $0.subjects.joined(separator: "\u{1f}") }),
                PostgresArray.text(batch.map(\.records)), PostgresArray.text(batch.map(\.dataClass)),
                PostgresArray.text(batch.map(\.status)),
            ])
    }

    public func query(client: String?, subject: String?, fromMicros: Int64?, toMicros: Int64?, beforeID: Int64?,
                      limit: Int, tenants: [String]?, maxClass: Int) async throws -> [(id: Int64, record: AuditRecord)] {
        try await pool.withConnection { connection in
            try connection.query("""
                SELECT id, \(PostgresSQL.epochMicros("at")) AS at_us, client, roles, method, endpoint, path,
                       array_to_string(subjects, chr(31)) AS subjects, records, class, status
                FROM audit_log
                WHERE ($1::text IS NULL OR client = $1) AND ($2::text IS NULL OR subjects @> ARRAY[$2::text])
                  AND ($3::bigint IS NULL OR at >= to_timestamp($3::bigint / 1e6))
                  AND ($4::bigint IS NULL OR at < to_timestamp($4::bigint / 1e6))
                  AND ($5::bigint IS NULL OR id < $5::bigint)
                  AND class <= $7::smallint
                  AND ($8::text[] IS NULL OR (cardinality(subjects) > 0 AND NOT EXISTS (
                        SELECT 1 FROM unnest(subjects) AS s(subject)
                        WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.device_id = s.subject AND d.tenant = ANY($8::text[]))
                          AND NOT EXISTS (SELECT 1 FROM devices d
                                          WHERE d.care_recipient_ref = s.subject AND d.tenant = ANY($8::text[])))))
                ORDER BY id DESC LIMIT $6::integer
                """, [client, subject, fromMicros, toMicros, beforeID, limit, maxClass,
                      tenants.map(PostgresArray.text)]).all.map { row throws(PostgresError) in
                let subjects: String = try row.decode("subjects")
                return (try row.decode("id"), try AuditRecord(
                    atMicros: row.decode("at_us"), client: row.decode("client"), roles: row.decode("roles"),
                    method: row.decode("method"), endpoint: row.decode("endpoint"), path: row.decode("path"),
                    subjects: subjects.isEmpty ? [] : subjects.split(separator: "\u{1f}").map(String.init),
                    records: row.decode("records"), dataClass: row.decode("class"), status: row.decode("status")))
            }
        }
    }
}

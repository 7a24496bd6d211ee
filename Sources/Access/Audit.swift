import Foundation
import Logging
import Postgres
import ServiceLifecycle
import Synchronization

/// One line of the audit trail.
public struct AuditRecord: Sendable, Equatable {
    public var atMicros: Int64
    public var client: String
    public var roles: String
    public var method: String
    public var endpoint: String
    public var path: String
    public var subjects: [String]
    public var records: Int
    public var dataClass: Int
    public var status: Int

    public init(atMicros: Int64, client: String, roles: String, method: String, endpoint: String, path: String,
                subjects: [String], records: Int, dataClass: Int, status: Int) {
        self.atMicros = atMicros
        self.client = client
        self.roles = roles
        self.method = method
        self.endpoint = endpoint
        self.path = path
        self.subjects = subjects
        self.records = records
        self.dataClass = dataClass
        self.status = status
    }
}

/// What a route returned, noted by the route for the audit trail (one per request; routes add to it).
public final class AuditNote: Sendable {
    private struct State {
        var subjects: Set<String> = []
        var records = 0
        var dataClass = 1
    }

    private let state = Mutex(State())

    public init() {}

    /// Notes `records` returned records of class `dataClass` about `subjects` (device ids, care-recipient refs).
    public func returned(records: Int, dataClass: Int, subjects: some Sequence<String>) {
        state.withLock { state in
            state.records += records
            state.dataClass = max(state.dataClass, dataClass)
            state.subjects.formUnion(subjects)
        }
    }

    public var summary: (subjects: [String], records: Int, dataClass: Int) {
        state.withLock { ($0.subjects.sorted(), $0.records, $0.dataClass) }
    }
}

/// Writes audit records in batches (every `interval` or `maxBatch` records), so that auditing costs a read
/// nothing but an append to memory. Records not yet written when the gateway stops are written on shutdown.
public final class AuditTrail: Service, Sendable {
    private let pool: PostgresPool
    private let logger: Logger
    private let interval: Duration
    private let pending = Mutex<[AuditRecord]>([])

    public init(pool: PostgresPool, logger: Logger, interval: Duration = .milliseconds(500)) {
        self.pool = pool
        self.logger = logger
        self.interval = interval
    }

    public func append(_ record: AuditRecord) {
        pending.withLock { $0.append(record) }
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
            await flush()
        }
        await flush()
    }

    /// Writes what is pending; on failure keeps it for the next attempt.
    public func flush() async {
        let batch = pending.withLock { pending -> [AuditRecord] in
            defer { pending.removeAll() }
            return pending
        }
        guard !batch.isEmpty else { return }
        do {
            try await pool.withConnection { try Self.write(batch, on: $0) }
        } catch {
            logger.error("audit records not written yet; retrying", metadata: ["error": "\(error)", "records": "\(batch.count)"])
            pending.withLock { $0.insert(contentsOf: batch, at: 0) }
        }
    }

    static func write(_ batch: [AuditRecord], on connection: PostgresConnection) throws {
        // Subjects go as one text per record ("a\u{1f}b"), split in SQL: arrays of arrays are not rectangular.
        try connection.query("""
            INSERT INTO audit_log (at, client, roles, method, endpoint, path, subjects, records, class, status)
            SELECT to_timestamp(at / 1e6), client, roles, method, endpoint, path,
                   CASE WHEN subjects = '' THEN '{}'::text[] ELSE string_to_array(subjects, chr(31)) END,
                   records, class, status
            FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                        $8::integer[], $9::smallint[], $10::smallint[])
                AS r(at, client, roles, method, endpoint, path, subjects, records, class, status)
            """, [
                PostgresArray.text(batch.map(\.atMicros)), PostgresArray.text(batch.map(\.client)),
                PostgresArray.text(batch.map(\.roles)), PostgresArray.text(batch.map(\.method)),
                PostgresArray.text(batch.map(\.endpoint)), PostgresArray.text(batch.map(\.path)),
                PostgresArray.text(batch.map { $0.subjects.joined(separator: "\u{1f}") }),
                PostgresArray.text(batch.map(\.records)), PostgresArray.text(batch.map(\.dataClass)),
                PostgresArray.text(batch.map(\.status)),
            ])
    }

    /// Reads the trail, newest first: by client, by subject (device id or care-recipient reference), by time.
    ///
    /// Scoped like every other read: an auditor sees the entries of class `maxClass` or lower, and, when it has
    /// `tenants` (nil: every tenant), only entries whose every subject is a device of those tenants (or the
    /// care-recipient reference of one); entries without subjects belong to no tenant and need every tenant.
    public func query(client: String?, subject: String?, fromMicros: Int64?, toMicros: Int64?, beforeID: Int64?,
                      limit: Int, tenants: [String]? = nil, maxClass: Int = 3) async throws -> [(id: Int64, record: AuditRecord)] {
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

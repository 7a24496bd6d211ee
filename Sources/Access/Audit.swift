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

/// Where audit records are kept and read back (table `audit_log`): `PostgresAuditLog` in the gateway,
/// `InMemoryAuditLog` in router tests.
public protocol AuditLog: Sendable {
    func write(_ batch: [AuditRecord]) async throws
    /// The trail, newest first: by client, by subject (device id or care-recipient reference), by time, ids below
    /// `beforeID`, at most `limit`.
    ///
    /// Scoped like every other read: an auditor sees the entries of class `maxClass` or lower, and, when it has
    /// `tenants` (nil: every tenant), only entries whose every subject is a device of those tenants (or the
    /// care-recipient reference of one); entries without subjects belong to no tenant and need every tenant.
    func query(client: String?, subject: String?, fromMicros: Int64?, toMicros: Int64?, beforeID: Int64?,
               limit: Int, tenants: [String]?, maxClass: Int) async throws -> [(id: Int64, record: AuditRecord)]
}

/// Writes audit records in batches (every `interval` or `maxBatch` records), so that auditing costs a read
/// nothing but an append to memory. Records not yet written when the gateway stops are written on shutdown.
public final class AuditTrail: Service, Sendable {
    private let log: any AuditLog
    private let logger: Logger
    private let interval: Duration
    private let pending = Mutex<[AuditRecord]>([])

    public init(log: any AuditLog, logger: Logger, interval: Duration = .milliseconds(500)) {
        self.log = log
        self.logger = logger
        self.interval = interval
    }

    public convenience init(pool: PostgresPool, logger: Logger, interval: Duration = .milliseconds(500)) {
        self.init(log: PostgresAuditLog(pool: pool), logger: logger, interval: interval)
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
            try await log.write(batch)
        } catch {
            logger.error("audit records not written yet; retrying", metadata: ["error": "\(error)", "records": "\(batch.count)"])
            pending.withLock { $0.insert(contentsOf: batch, at: 0) }
        }
    }

    /// Reads the trail as `AuditLog.query` does (what is written; not what waits for the next flush).
    public func query(client: String?, subject: String?, fromMicros: Int64?, toMicros: Int64?, beforeID: Int64?,
                      limit: Int, tenants: [String]? = nil, maxClass: Int = 3) async throws -> [(id: Int64, record: AuditRecord)] {
        try await log.query(client: client, subject: subject, fromMicros: fromMicros, toMicros: toMicros, beforeID: beforeID,
                            limit: limit, tenants: tenants, maxClass: maxClass)
    }
}

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
        var wrote = false
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

    /// Notes that the request changed `records` records about `subjects` (writes are audited whatever their class).
    public func wrote(records: Int, subjects: some Sequence<String>) {
        state.withLock { state in
            state.records += records
            state.wrote = true
            state.subjects.formUnion(subjects)
        }
    }

    public var summary: (subjects: [String], records: Int, dataClass: Int) {
        state.withLock { ($0.subjects.sorted(), $0.records, $0.dataClass) }
    }

    /// Whether the request changed data (see `wrote`).
    public var changedData: Bool { state.withLock { $0.wrote } }
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

/// Writes the audit trail. `record` is durable: it returns once the line is committed (group commit: one caller at
/// a time writes what waits, then hands over to the first still waiting), so a response that releases
/// class 2 or 3 data is sent only after its line is stored, and a SIGKILL loses none. Lines that could not be written
/// (the database away) are kept and retried by the service every `interval`, and on shutdown.
public final class AuditTrail: Service, Sendable {
    /// What a waiting caller is told: its line is written, or could not be, or it is to write what waits now (the
    /// previous writer handed over after its own line was written, so that no caller writes for others for ever).
    private enum Outcome: Sendable {
        case written, failed, lead
    }

    private struct State {
        var waiting: [(record: AuditRecord, ticket: UInt64)] = []
        var writing = false
        var nextTicket: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Outcome, Never>] = [:]
        var outcomes: [UInt64: Outcome] = [:]
        /// Not yet written: appended without waiting, or a write that failed.
        var deferred: [AuditRecord] = []
    }

    private let log: any AuditLog
    private let logger: Logger
    private let interval: Duration
    private let state = Mutex(State())
    /// Most lines in one write (a backlog after an outage goes in several).
    static let maxBatch = 1_000

    public init(log: any AuditLog, logger: Logger, interval: Duration = .milliseconds(500)) {
        self.log = log
        self.logger = logger
        self.interval = interval
    }

    public convenience init(pool: PostgresPool, logger: Logger, interval: Duration = .milliseconds(500)) {
        self.init(log: PostgresAuditLog(pool: pool), logger: logger, interval: interval)
    }

    /// Stores `record` and returns true once it is committed; false when it could not be written now (it is kept
    /// and written later, but the caller must not release what it describes).
    public func record(_ record: AuditRecord) async -> Bool {
        let (ticket, leads) = state.withLock { state -> (UInt64, Bool) in
            state.nextTicket += 1
            state.waiting.append((record, state.nextTicket))
            let leads = !state.writing
            state.writing = true
            return (state.nextTicket, leads)
        }
        var outcome = leads ? Outcome.lead : await self.outcome(of: ticket)
        while outcome == .lead {
            await writeBatch()
            outcome = await self.outcome(of: ticket)
        }
        return outcome == .written
    }

    private func outcome(of ticket: UInt64) async -> Outcome {
        await withCheckedContinuation { continuation in
            let outcome = state.withLock { state -> Outcome? in
                if let outcome = state.outcomes.removeValue(forKey: ticket) { return outcome }
                state.waiters[ticket] = continuation
                return nil
            }
            if let outcome { continuation.resume(returning: outcome) }
        }
    }

    /// The leader writes one batch of what waits (its own line is in it), then hands the lead to the first caller
    /// still waiting, or ends the writing.
    private func writeBatch() async {
        let batch = state.withLock { state -> [(record: AuditRecord, ticket: UInt64)] in
            let batch = Array(state.waiting.prefix(Self.maxBatch))
            state.waiting.removeFirst(batch.count)
            return batch
        }
        var written = true
        do {
            try await log.write(batch.map(\.record))
        } catch {
            written = false
            logger.error("audit records not written; the reads they describe are refused", metadata: ["error": "\(error)", "records": "\(batch.count)"])
            // Kept as what happened: the read was refused (503) and released nothing.
            let refused = batch.map { item -> AuditRecord in
                var record = item.record
                record.status = 503
                record.records = 0
                return record
            }
            state.withLock { $0.deferred.append(contentsOf: refused) }
        }
        var resumed: [(CheckedContinuation<Outcome, Never>, Outcome)] = []
        state.withLock { state in
            func tell(_ ticket: UInt64, _ outcome: Outcome) {
                if let waiter = state.waiters.removeValue(forKey: ticket) {
                    resumed.append((waiter, outcome))
                } else {
                    state.outcomes[ticket] = outcome
                }
            }
            for item in batch { tell(item.ticket, written ? .written : .failed) }
            if let next = state.waiting.first {
                tell(next.ticket, .lead)
            } else {
                state.writing = false
            }
        }
        for (waiter, outcome) in resumed { waiter.resume(returning: outcome) }
    }

    /// Keeps `record` for the next write without waiting for it.
    public func append(_ record: AuditRecord) {
        state.withLock { $0.deferred.append(record) }
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
            await flush()
        }
        await flush()
    }

    /// Writes what was deferred, `maxBatch` lines per write (short holds of the chain's lock); on failure keeps
    /// the rest for the next attempt.
    public func flush() async {
        while true {
            let batch = state.withLock { state -> [AuditRecord] in
                let batch = Array(state.deferred.prefix(Self.maxBatch))
                state.deferred.removeFirst(batch.count)
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                try await log.write(batch)
            } catch {
                logger.error("audit records not written yet; retrying", metadata: ["error": "\(error)", "records": "\(batch.count)"])
                state.withLock { $0.deferred.insert(contentsOf: batch, at: 0) }
                return
            }
        }
    }

    /// Reads the trail as `AuditLog.query` does (what is written; not what waits for the next flush).
    public func query(client: String?, subject: String?, fromMicros: Int64?, toMicros: Int64?, beforeID: Int64?,
                      limit: Int, tenants: [String]? = nil, maxClass: Int = 3) async throws -> [(id: Int64, record: AuditRecord)] {
        try await log.query(client: client, subject: subject, fromMicros: fromMicros, toMicros: toMicros, beforeID: beforeID,
                            limit: limit, tenants: tenants, maxClass: maxClass)
    }
}

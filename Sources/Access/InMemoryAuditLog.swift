import Synchronization

/// The audit trail in memory, for router tests: read as `PostgresAuditLog` reads it. The devices table its tenant
/// scope joins is read through `devices` (the registry's, in a test).
public final class InMemoryAuditLog: AuditLog {
    /// What the tenant scope needs of a device's row: its id and its care recipient are subjects of its tenant.
    public struct Device: Sendable {
        public var deviceId: String
        public var tenant: String
        public var careRecipientRef: String?

        public init(deviceId: String, tenant: String, careRecipientRef: String? = nil) {
            self.deviceId = deviceId
            self.tenant = tenant
            self.careRecipientRef = careRecipientRef
        }
    }

    /// Rows numbered like the table's serial id.
    private let rows = Mutex<[(id: Int64, record: AuditRecord)]>([])
    private let devices: @Sendable () async throws -> [Device]

    public init(devices: @escaping @Sendable () async throws -> [Device] = { [] }) {
        self.devices = devices
    }

    public func write(_ batch: [AuditRecord]) async throws {
        rows.withLock { rows in
            for record in batch { rows.append((Int64(rows.count + 1), record)) }
        }
    }

    public func query(client: String?, subject: String?, fromMicros: Int64?, toMicros: Int64?, beforeID: Int64?,
                      limit: Int, tenants: [String]?, maxClass: Int) async throws -> [(id: Int64, record: AuditRecord)] {
        // The subjects each tenant may see: its devices' ids and their care recipients.
        var visible: Set<String>?
        if let tenants {
            let theirs = try await devices().filter { tenants.contains($0.tenant) }
            visible = Set(theirs.map(\.deviceId) + theirs.compactMap(\.careRecipientRef))
        }
        let all = rows.withLock { $0 }
        return Array(all.reversed().filter { id, record in
            (client.map { record.client == $0 } ?? true) && (subject.map(record.subjects.contains) ?? true)
                && (fromMicros.map { record.atMicros >= $0 } ?? true) && (toMicros.map { record.atMicros < $0 } ?? true)
                && (beforeID.map { id < $0 } ?? true) && record.dataClass <= maxClass
                && (visible.map { !record.subjects.isEmpty && record.subjects.allSatisfy($0.contains) } ?? true)
        }.prefix(limit))
    }
}

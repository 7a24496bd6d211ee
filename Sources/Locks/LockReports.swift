/// One line of a lock's access log: what was granted or revoked, what was asked remotely (and refused, or how it
/// ended), what the lock itself reported, and which of its events never arrived. In time order.
public struct AccessLogEntry: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case grantCreated = "grant-created"
        case grantRevoked = "grant-revoked"
        case commandRequested = "command-requested"
        case commandRefused = "command-refused"
        case commandEnded = "command-ended"
        /// An event of the lock (unlocked, locked, forced entry, tamper, a command's answer...) or the gateway's
        /// `unplanned_unlock` about it.
        case lockEvent = "lock-event"
        /// Numbers of the lock's events that never arrived.
        case sequenceGap = "sequence-gap"
    }

    public var atMicros: Int64
    public var kind: Kind
    public var staffRef: String?
    /// The facts of the line: grant id and source, command id and status, event and its attributes...
    public var detail: [String: String]

    public init(atMicros: Int64, kind: Kind, staffRef: String?, detail: [String: String]) {
        self.atMicros = atMicros
        self.kind = kind
        self.staffRef = staffRef
        self.detail = detail
    }
}

/// One planned or alarm visit as the lock saw it: the window, the staff member, their first unlock (arrival) and
/// the last lock after it (departure); for an alarm visit also when the alarm was raised, so the time to arrive.
public struct VisitRecord: Sendable, Equatable {
    public var grantId: Int64
    public var deviceId: String
    public var staffRef: String
    public var source: GrantSource
    public var visitRef: String?
    public var plannedStartMicros: Int64?
    public var plannedEndMicros: Int64?
    public var validFromMicros: Int64?
    public var validToMicros: Int64?
    public var revokedAtMicros: Int64?
    /// Alarm visits: when the alarm was raised.
    public var alarmRaisedAtMicros: Int64?
    /// The staff member's first unlock inside the grant (their credential at the door, or a remote unlock for them
    /// that the lock confirmed).
    public var firstUnlockMicros: Int64?
    /// The lock's last `locked` after that, inside the grant.
    public var lastLockMicros: Int64?

    public init(grantId: Int64, deviceId: String, staffRef: String, source: GrantSource, visitRef: String?,
                plannedStartMicros: Int64?, plannedEndMicros: Int64?, validFromMicros: Int64?, validToMicros: Int64?,
                revokedAtMicros: Int64?, alarmRaisedAtMicros: Int64?, firstUnlockMicros: Int64?, lastLockMicros: Int64?) {
        self.grantId = grantId
        self.deviceId = deviceId
        self.staffRef = staffRef
        self.source = source
        self.visitRef = visitRef
        self.plannedStartMicros = plannedStartMicros
        self.plannedEndMicros = plannedEndMicros
        self.validFromMicros = validFromMicros
        self.validToMicros = validToMicros
        self.revokedAtMicros = revokedAtMicros
        self.alarmRaisedAtMicros = alarmRaisedAtMicros
        self.firstUnlockMicros = firstUnlockMicros
        self.lastLockMicros = lastLockMicros
    }

    /// Alarm visits: seconds from the alarm to the responder's first unlock.
    public var arrivalSeconds: Double? {
        guard let raised = alarmRaisedAtMicros, let unlock = firstUnlockMicros else { return nil }
        return Double(unlock - raised) / 1e6
    }
}

/// The access log and the visits report: reads across grants, commands and the lock's events.
public protocol LockReportRepository: Sendable {
    /// A lock's log in `from ..< to`, oldest first, at most `limit` lines.
    func accessLog(deviceId: String, fromMicros: Int64, toMicros: Int64, limit: Int) async throws -> [AccessLogEntry]
    /// The visits to the locks of a care recipient (in `tenants`; nil: all) whose window overlaps `from ..< to`, in
    /// planned order: imported plan visits, alarm visits, and grants given by hand for a named visit (`visitRef`).
    func visits(careRecipientRef: String, lockTypes: [String], tenants: Set<String>?, fromMicros: Int64, toMicros: Int64,
                limit: Int) async throws -> [VisitRecord]
}

/// Fixed answers, for router tests (scope, validation and shape; the queries are tested on the real stack).
public struct InMemoryLockReportRepository: LockReportRepository {
    public var log: [String: [AccessLogEntry]]
    public var visitsByRecipient: [String: [(tenant: String, visit: VisitRecord)]]

    public init(log: [String: [AccessLogEntry]] = [:], visitsByRecipient: [String: [(tenant: String, visit: VisitRecord)]] = [:]) {
        self.log = log
        self.visitsByRecipient = visitsByRecipient
    }

    public func accessLog(deviceId: String, fromMicros: Int64, toMicros: Int64, limit: Int) -> [AccessLogEntry] {
        Array((log[deviceId] ?? []).filter { $0.atMicros >= fromMicros && $0.atMicros < toMicros }.prefix(limit))
    }

    public func visits(careRecipientRef: String, lockTypes: [String], tenants: Set<String>?, fromMicros: Int64, toMicros: Int64,
                       limit: Int) -> [VisitRecord] {
        Array((visitsByRecipient[careRecipientRef] ?? []).filter { tenants?.contains($0.tenant) ?? true }.map(\.visit)
            .filter { $0.source != .manual || $0.visitRef != nil }
            .filter { ($0.plannedStartMicros ?? $0.validFromMicros ?? .min) < toMicros && ($0.plannedEndMicros ?? $0.validToMicros ?? .max) > fromMicros }
            .prefix(limit))
    }
}

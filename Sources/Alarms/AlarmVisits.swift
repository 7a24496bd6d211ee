import Models

// Alarm visits: the operator who acknowledges an alarm names a responder (a pseudonymous staff reference), who
// may then open the care recipient's locks until the alarm is resolved, plus a margin. The grants are lock grants
// (module Locks); Alarms may not import Locks, so the composition root hands the grant writer in.

/// Whom an operator sends to an alarm, and which locks that opens.
public struct ResponderAssignment: Sendable, Equatable {
    /// Pseudonymous staff reference (validated by the caller: never a name or a personal identity number).
    public var responder: String
    /// The care recipient's `active` locks in the alarm's tenant, found in the registry by the caller.
    public var lockIds: [String]
    /// Why no lock is granted when `lockIds` is empty (shown on the timeline).
    public var noLockReason: String?

    public init(responder: String, lockIds: [String], noLockReason: String? = nil) {
        self.responder = responder
        self.lockIds = lockIds
        self.noLockReason = noLockReason
    }
}

/// How long alarm grants last.
public struct AlarmVisitTimes: Sendable, Equatable {
    /// A grant ends at the latest this long after the responder was assigned, resolved or not: an alarm left open
    /// never keeps a door open for good.
    public var capMicros: Int64
    /// After the resolution the responder may still open this long (to leave, to lock up).
    public var marginMicros: Int64

    public static let standard = AlarmVisitTimes(capMicros: 12 * 3_600_000_000, marginMicros: 15 * 60_000_000)

    public init(capMicros: Int64, marginMicros: Int64) {
        self.capMicros = capMicros
        self.marginMicros = marginMicros
    }
}

/// One lock grant of an alarm visit.
public struct ResponderGrant: Sendable, Equatable {
    public var id: Int64
    public var lockId: String
    public var staffRef: String
    public var validFromMicros: Int64
    public var validToMicros: Int64
    /// When it ends or ended by revocation (resolution + margin, or a change of responder); may be ahead.
    public var revokedAtMicros: Int64?

    public init(id: Int64, lockId: String, staffRef: String, validFromMicros: Int64, validToMicros: Int64,
                revokedAtMicros: Int64? = nil) {
        self.id = id
        self.lockId = lockId
        self.staffRef = staffRef
        self.validFromMicros = validFromMicros
        self.validToMicros = validToMicros
        self.revokedAtMicros = revokedAtMicros
    }
}

/// Writes alarm grants inside the transaction that changes the alarm, so an acknowledgement, its timeline entry and
/// its grants commit together or not at all. `Transaction` is what the alarm repository's transaction runs on
/// (a PostgreSQL connection; nothing for the in-memory one).
public protocol AlarmVisitGrants<Transaction>: Sendable {
    associatedtype Transaction
    /// Grants `staffRef` each of `lockIds` from `fromMicros` to `toMicros` (source `alarm`, visit reference the alarm
    /// id, granted by the API client `grantedBy`).
    func grant(staffRef: String, lockIds: [String], alarmId: Int64, fromMicros: Int64, toMicros: Int64,
               grantedBy: String, reason: String, in transaction: Transaction) throws -> [ResponderGrant]
    /// Revokes at `atMicros` (which may be ahead) the alarm's grants nobody revoked yet; returns them.
    func end(alarmId: Int64, atMicros: Int64, by: String, in transaction: Transaction) throws -> [ResponderGrant]
}

/// The grant writer and the times, as the alarm repositories take them.
public struct AlarmVisits<Transaction>: Sendable {
    public var grants: any AlarmVisitGrants<Transaction>
    public var times: AlarmVisitTimes

    public init(grants: any AlarmVisitGrants<Transaction>, times: AlarmVisitTimes = .standard) {
        self.grants = grants
        self.times = times
    }

    /// The timeline details of a responder assignment: flat strings, like every entry's.
    func assignedDetails(_ assignment: ResponderAssignment, previous: String?, granted: [ResponderGrant],
                         untilMicros: Int64) -> [String: Any?] {
        [
            "responder": assignment.responder,
            "previousResponder": previous,
            "locks": granted.map(\.lockId).joined(separator: ","),
            "grants": granted.map { String($0.id) }.joined(separator: ","),
            "grantedUntil": granted.isEmpty ? nil : RFC3339.format(micros: untilMicros),
            "noLockGranted": granted.isEmpty ? (assignment.noLockReason ?? "the care recipient has no active lock") : nil,
        ]
    }

    static func reason(alarmId: Int64) -> String { "alarm visit: responder to alarm \(alarmId)" }
}

import Foundation
import Models

/// Where a grant comes from: the care plan (an imported visit), an alarm visit, or a person deciding by hand.
public enum GrantSource: String, Sendable, Codable, CaseIterable {
    case visitPlan = "visit-plan"
    case alarm
    case manual
}

/// Permission for one staff member to open one lock: within `validFrom ..< validTo` (either may be open), and
/// when `weekly` is set, only inside its windows. Revoked grants are kept (the access log shows them) but allow
/// nothing.
public struct AccessGrant: Sendable, Equatable {
    public var id: Int64
    public var deviceId: String
    /// Pseudonymous staff reference: never a name or a personal identity number.
    public var staffRef: String
    public var validFromMicros: Int64?
    public var validToMicros: Int64?
    public var weekly: WeeklyWindow?
    public var source: GrantSource
    public var visitRef: String?
    /// The planned visit a visit-plan grant comes from (its window is this one widened by the margin).
    public var plannedStartMicros: Int64?
    public var plannedEndMicros: Int64?
    /// The API client that granted it (or `gateway` for alarm visits).
    public var grantedBy: String
    public var reason: String?
    public var createdAtMicros: Int64
    public var revokedAtMicros: Int64?
    public var revokedBy: String?

    public init(id: Int64, deviceId: String, staffRef: String, validFromMicros: Int64?, validToMicros: Int64?,
                weekly: WeeklyWindow?, source: GrantSource, visitRef: String?, grantedBy: String, reason: String?,
                createdAtMicros: Int64, revokedAtMicros: Int64? = nil, revokedBy: String? = nil,
                plannedStartMicros: Int64? = nil, plannedEndMicros: Int64? = nil) {
        self.id = id
        self.deviceId = deviceId
        self.staffRef = staffRef
        self.validFromMicros = validFromMicros
        self.validToMicros = validToMicros
        self.weekly = weekly
        self.source = source
        self.visitRef = visitRef
        self.grantedBy = grantedBy
        self.reason = reason
        self.createdAtMicros = createdAtMicros
        self.revokedAtMicros = revokedAtMicros
        self.revokedBy = revokedBy
        self.plannedStartMicros = plannedStartMicros
        self.plannedEndMicros = plannedEndMicros
    }
}

/// A grant to be created, as validated from a request.
public struct NewGrant: Sendable, Equatable {
    public var staffRef: String
    public var validFromMicros: Int64?
    public var validToMicros: Int64?
    public var weekly: WeeklyWindow?
    public var source: GrantSource
    public var visitRef: String?
    public var reason: String?

    public init(staffRef: String, validFromMicros: Int64?, validToMicros: Int64?, weekly: WeeklyWindow?,
                source: GrantSource, visitRef: String?, reason: String?) {
        self.staffRef = staffRef
        self.validFromMicros = validFromMicros
        self.validToMicros = validToMicros
        self.weekly = weekly
        self.source = source
        self.visitRef = visitRef
        self.reason = reason
    }
}

import Foundation
import Models

/// Why a staff member may not open a lock now.
public enum AccessRefusal: String, Sendable, Equatable, Codable {
    /// No grant for this staff member on this lock at all.
    case noGrant = "no-grant"
    /// Every grant was revoked.
    case revoked
    /// The grants start later.
    case notYetValid = "not-yet-valid"
    /// The grants ended.
    case expired
    /// A grant is in force, but its weekly window is closed now.
    case outsideWindow = "outside-window"
    /// The lock is not in service (registered but not yet active, or suspended): nobody opens it remotely.
    case lockNotInService = "lock-not-in-service"

    public var description: String {
        switch self {
        case .noGrant: "no grant for this staff member on this lock"
        case .revoked: "the grant was revoked"
        case .notYetValid: "the grant is not valid yet"
        case .expired: "the grant has expired"
        case .outsideWindow: "outside the grant's weekly window"
        case .lockNotInService: "the lock is not in service (not active)"
        }
    }
}

/// The answer to "may this staff member open this lock at this instant?": allowed by a named grant, or refused
/// with the reason closest to allowing (a closed weekly window before a future grant before an expired one).
public enum AccessDecision: Sendable, Equatable {
    case allowed(grantId: Int64)
    case refused(AccessRefusal)
}

/// Evaluates grants at an instant. Pure: the grants come from the caller (the repository or an in-memory set),
/// the clock is a parameter. Weekly windows are wall-clock times in `timeZone` (the city's: Europe/Stockholm):
/// a window's start and end are turned into instants for the local day they fall on, so daylight-saving changes
/// move them with the clocks. A start or end inside the spring gap (02:00–03:00 does not exist that night) is the
/// change itself (03:00 CEST): a window never opens outside the wall-clock hours it names, and never vanishes
/// while part of it exists. Inside the autumn repeat (02:00–03:00 twice) a time is its first occurrence.
public struct GrantSchedule: Sendable {
    public let timeZone: TimeZone
    private let weekly: WeeklyCalendar

    public static let cityTimeZone = WeeklyCalendar.cityTimeZone

    public init(timeZone: TimeZone = GrantSchedule.cityTimeZone) {
        self.timeZone = timeZone
        weekly = WeeklyCalendar(timeZone: timeZone)
    }

    /// Whether `grant` allows opening at `atMicros`; nil when it does, else why not.
    public func refusal(of grant: AccessGrant, atMicros: Int64) -> AccessRefusal? {
        if let revoked = grant.revokedAtMicros, revoked <= atMicros { return .revoked }
        if let from = grant.validFromMicros, atMicros < from { return .notYetValid }
        if let to = grant.validToMicros, atMicros >= to { return .expired }
        if let weekly = grant.weekly, !covers(weekly, at: Date(timeIntervalSince1970: Double(atMicros) / 1e6)) {
            return .outsideWindow
        }
        return nil
    }

    /// The decision for `staffRef` among `grants` (those of one lock; others are ignored).
    public func decide(staffRef: String, grants: [AccessGrant], atMicros: Int64) -> AccessDecision {
        var closest: AccessRefusal = .noGrant
        for grant in grants where grant.staffRef == staffRef {
            guard let refusal = refusal(of: grant, atMicros: atMicros) else { return .allowed(grantId: grant.id) }
            if Self.rank(refusal) > Self.rank(closest) { closest = refusal }
        }
        return .refused(closest)
    }

    private static func rank(_ refusal: AccessRefusal) -> Int {
        switch refusal {
        case .noGrant: 0
        case .revoked: 1
        case .expired: 2
        case .notYetValid: 3
        case .outsideWindow: 4
        case .lockNotInService: 5
        }
    }

    /// Whether a weekly window is open at `date` (the city's calendar).
    public func covers(_ window: WeeklyWindow, at date: Date) -> Bool { weekly.covers(window, at: date) }

    /// 1 = Monday ... 7 = Sunday, in the schedule's time zone.
    public func isoWeekday(_ date: Date) -> Int { weekly.isoWeekday(date) }
}

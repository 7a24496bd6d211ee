import Foundation

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
    private let calendar: Calendar

    public static let cityTimeZone = TimeZone(identifier: "Europe/Stockholm")!

    public init(timeZone: TimeZone = GrantSchedule.cityTimeZone) {
        self.timeZone = timeZone
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        self.calendar = calendar
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

    /// Whether a weekly window is open at `date`: the window that started on the local day of `date`, or the one
    /// that started the day before and runs past midnight.
    public func covers(_ window: WeeklyWindow, at date: Date) -> Bool {
        let today = calendar.startOfDay(for: date)
        for offset in [0, -1] {
            guard let day = calendar.date(byAdding: .day, value: offset, to: today),
                  window.days.contains(isoWeekday(day)),
                  let start = instant(on: day, minute: window.startMinute),
                  let endDay = window.crossesMidnight ? calendar.date(byAdding: .day, value: 1, to: day) : day,
                  let end = instant(on: endDay, minute: window.endMinute)
            else { continue }
            if start <= date, date < end { return true }
        }
        return false
    }

    /// 1 = Monday ... 7 = Sunday, in the schedule's time zone.
    public func isoWeekday(_ date: Date) -> Int {
        let weekday = calendar.component(.weekday, from: date)  // 1 = Sunday
        return weekday == 1 ? 7 : weekday - 1
    }

    /// The instant of a local wall-clock time on the local day that starts at `day`.
    private func instant(on day: Date, minute: Int) -> Date? {
        var components = calendar.dateComponents([.year, .month, .day], from: day)
        components.hour = minute / 60
        components.minute = minute % 60
        guard let resolved = calendar.date(from: components) else { return nil }
        // A wall-clock time the spring change skips resolves past the gap (02:30 → 03:30); the edge is the change.
        let back = calendar.dateComponents([.hour, .minute], from: resolved)
        if back.hour != components.hour || back.minute != components.minute,
           let change = timeZone.nextDaylightSavingTimeTransition(after: resolved.addingTimeInterval(-3 * 3600)),
           change <= resolved {
            return change
        }
        return resolved
    }
}

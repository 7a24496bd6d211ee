import Foundation

/// A weekly recurring window in the city's local time (`Europe/Stockholm`): on each of `days`, from `start` to
/// `end` minutes after local midnight. An `end` at or before `start` runs past midnight into the next day
/// ("22:00–07:00"). Local wall-clock times, so a window keeps its hours across daylight-saving changes (a
/// 22:00–07:00 night is 8 hours long in March and 10 in October).
public struct WeeklyWindow: Sendable, Equatable, Codable {
    /// ISO weekdays, 1 = Monday ... 7 = Sunday: the day the window starts on.
    public var days: Set<Int>
    public var startMinute: Int
    public var endMinute: Int

    public init(days: Set<Int>, startMinute: Int, endMinute: Int) {
        self.days = days
        self.startMinute = startMinute
        self.endMinute = endMinute
    }

    public var crossesMidnight: Bool { endMinute <= startMinute }

    /// Minutes after midnight as local wall-clock text, `HH:MM`.
    public static func clockText(_ minute: Int) -> String {
        let hours = String(minute / 60), minutes = String(minute % 60)
        return String(repeating: "0", count: max(0, 2 - hours.count)) + hours + ":"
            + String(repeating: "0", count: max(0, 2 - minutes.count)) + minutes
    }
}

/// Weekly windows on the calendar of a time zone (the city's: Europe/Stockholm). A window's start and end are turned
/// into instants for the local day they fall on, so daylight-saving changes move them with the clocks. A start or
/// end inside the spring gap (02:00–03:00 does not exist that night) is the change itself (03:00 CEST): a window
/// never opens outside the wall-clock hours it names, and never vanishes while part of it exists. Inside the autumn
/// repeat (02:00–03:00 twice) a time is its first occurrence. Lock grants and safe-zone schedules both use it.
public struct WeeklyCalendar: Sendable {
    public let timeZone: TimeZone
    private let calendar: Calendar

    public static let cityTimeZone = TimeZone(identifier: "Europe/Stockholm")!

    public init(timeZone: TimeZone = WeeklyCalendar.cityTimeZone) {
        self.timeZone = timeZone
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        self.calendar = calendar
    }

    /// Whether a weekly window is open at `date`: the window that started on the local day of `date`, or the one
    /// that started the day before and runs past midnight.
    public func covers(_ window: WeeklyWindow, at date: Date) -> Bool {
        start(of: window, covering: date) != nil
    }

    /// The start of the window's period that is open at `date`, or nil when none is.
    public func start(of window: WeeklyWindow, covering date: Date) -> Date? {
        let today = calendar.startOfDay(for: date)
        for offset in [0, -1] {
            guard let day = calendar.date(byAdding: .day, value: offset, to: today),
                  window.days.contains(isoWeekday(day)),
                  let start = instant(on: day, minute: window.startMinute),
                  let endDay = window.crossesMidnight ? calendar.date(byAdding: .day, value: 1, to: day) : day,
                  let end = instant(on: endDay, minute: window.endMinute)
            else { continue }
            if start <= date, date < end { return start }
        }
        return nil
    }

    /// The instants at which the window opens or closes from the local day before `date` to the one after, and the
    /// local midnights around `date`: between two consecutive ones, whether the window is open does not change.
    public func edges(of window: WeeklyWindow, around date: Date) -> [Date] {
        let today = calendar.startOfDay(for: date)
        var edges: [Date] = [today]
        if let tomorrow = calendar.date(byAdding: .day, value: 1, to: today) { edges.append(tomorrow) }
        for offset in [-1, 0, 1] {
            guard let day = calendar.date(byAdding: .day, value: offset, to: today), window.days.contains(isoWeekday(day)),
                  let start = instant(on: day, minute: window.startMinute),
                  let endDay = window.crossesMidnight ? calendar.date(byAdding: .day, value: 1, to: day) : day,
                  let end = instant(on: endDay, minute: window.endMinute)
            else { continue }
            edges += [start, end]
        }
        return edges.sorted()
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

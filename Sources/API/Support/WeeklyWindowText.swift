import Locks
import Models

/// A weekly window as the API reads and writes it: `{"days": ["mon", ...], "start": "22:00", "end": "07:00",
/// "timeZone": "Europe/Stockholm"}` (local wall-clock times; an end at or before the start runs past midnight).
/// Lock grants and safe-zone schedules speak it alike.
struct WeeklyWindowText: Encodable, Sendable {
    var days: [String]
    var start: String
    var end: String
    var timeZone: String

    static let dayNames = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    static let dayNumbers = Dictionary(uniqueKeysWithValues: dayNames.enumerated().map { ($1, $0 + 1) })

    init(_ window: WeeklyWindow) {
        days = window.days.sorted().map { Self.dayNames[$0 - 1] }
        start = WeeklyWindow.clockText(window.startMinute)
        end = WeeklyWindow.clockText(window.endMinute)
        timeZone = WeeklyCalendar.cityTimeZone.identifier
    }

    /// A window from its text; `field` names it in a 400.
    static func parse(days names: [String], start: String, end: String, field: String) throws -> WeeklyWindow {
        var days = Set<Int>()
        for name in names {
            guard let day = dayNumbers[name.lowercased()] else {
                throw Problem.badParameter("\(field).days", "\(field).days are mon, tue, wed, thu, fri, sat, sun; got \"\(name.prefix(20))\"")
            }
            days.insert(day)
        }
        guard !days.isEmpty else { throw Problem.badParameter("\(field).days", "\(field).days must name at least one day") }
        guard let startMinute = minuteOfDay(start), let endMinute = minuteOfDay(end) else {
            throw Problem.badParameter(field, "\(field).start and \(field).end are local times HH:MM (00:00 to 23:59)")
        }
        guard startMinute != endMinute else { throw Problem.badParameter(field, "\(field).start and \(field).end must differ") }
        return WeeklyWindow(days: days, startMinute: startMinute, endMinute: endMinute)
    }

    /// `HH:MM` → minutes after midnight.
    static func minuteOfDay(_ text: String) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].utf8.count == 2, parts[1].utf8.count == 2,
              (Array(parts[0].utf8) + Array(parts[1].utf8)).allSatisfy({ (0x30...0x39).contains($0) }),
              let hour = Int(parts[0]), let minute = Int(parts[1]), (0...23).contains(hour), (0...59).contains(minute)
        else { return nil }
        return hour * 60 + minute
    }
}

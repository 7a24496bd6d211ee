/// RFC 3339 date-times (§5.6), the one parser and formatter of the gateway: the API's query parameters and
/// answers, vendor JSON message times and SCAIP fix times all use it.
///
/// Accepted: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, `t` and `z` also in lower case, up to 9 fraction
/// digits kept (more are read and ignored). Refused, each with its reason: a missing offset (a time without one
/// is ambiguous), impossible dates, and the leap second `:60` (Unix time has none; refusing it is exact,
/// clamping it would not be).
public enum RFC3339 {
    /// A parsed time: whole seconds since the Unix epoch (UTC) and a decimal fraction.
    public struct Time: Sendable, Equatable {
        public var seconds: Int64
        /// The fraction's digits as a number, and how many digits it had (0...9): `.25` is (25, 2).
        public var fraction: Int64
        public var fractionDigits: Int

        /// Microseconds since the epoch (digits beyond the sixth dropped).
        public var micros: Int64 {
            var micros = fraction
            if fractionDigits > 6 {
                for _ in 6..<fractionDigits { micros /= 10 }
            } else {
                for _ in fractionDigits..<6 { micros *= 10 }
            }
            return seconds * 1_000_000 + micros
        }

        /// Seconds since the epoch as a Double: below 2^53 one exact integer divided by an exact power of ten,
        /// so the decimal is correctly rounded.
        public var secondsValue: Double {
            guard fractionDigits > 0 else { return Double(seconds) }
            var scale: Int64 = 1
            for _ in 0..<fractionDigits { scale *= 10 }
            let (scaled, overflow) = seconds.multipliedReportingOverflow(by: scale)
            if !overflow, abs(scaled) < 9_007_199_254_740_992 - scale {
                return Double(scaled + fraction) / Double(scale)
            }
            return Double(seconds) + Double(fraction) / Double(scale)
        }
    }

    /// Why a text is not an RFC 3339 date-time.
    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// Longest text read: anything longer is not a date-time (and is not scanned).
    public static let maxLength = 64

    public static func parse(_ text: String) -> Result<Time, Problem> {
        let bytes = Array(text.utf8.prefix(maxLength + 1))
        func fail(_ reason: String) -> Result<Time, Problem> { .failure(Problem(reason: reason)) }
        guard bytes.count <= maxLength else { return fail("longer than \(maxLength) characters") }
        func digits(_ start: Int, _ count: Int) -> Int64? {
            guard start + count <= bytes.count else { return nil }
            var value: Int64 = 0
            for index in start..<(start + count) {
                guard (0x30...0x39).contains(bytes[index]) else { return nil }
                value = value * 10 + Int64(bytes[index] - 0x30)
            }
            return value
        }
        func byte(_ index: Int) -> UInt8? { index < bytes.count ? bytes[index] : nil }

        guard let year = digits(0, 4), byte(4) == UInt8(ascii: "-"), let month = digits(5, 2), byte(7) == UInt8(ascii: "-"),
              let day = digits(8, 2) else {
            return fail("expected the date as YYYY-MM-DD")
        }
        guard byte(10) == UInt8(ascii: "T") || byte(10) == UInt8(ascii: "t") else {
            return fail("expected 'T' between the date and the time")
        }
        guard let hour = digits(11, 2), byte(13) == UInt8(ascii: ":"), let minute = digits(14, 2), byte(16) == UInt8(ascii: ":"),
              let second = digits(17, 2) else {
            return fail("expected the time as HH:MM:SS")
        }
        guard (1...12).contains(month) else { return fail("month \(month) is out of range 01-12") }
        let monthDays = daysIn(month: month, year: year)
        guard (1...monthDays).contains(day) else {
            return fail("day \(day) is out of range for \(padded(year, 4))-\(padded(month, 2)) (01-\(monthDays))")
        }
        guard hour <= 23 else { return fail("hour \(hour) is out of range 00-23") }
        guard minute <= 59 else { return fail("minute \(minute) is out of range 00-59") }
        if second == 60 { return fail("leap second 60 is not supported") }
        guard second <= 59 else { return fail("second \(second) is out of range 00-59") }

        var index = 19
        var fraction: Int64 = 0
        var fractionDigits = 0
        if byte(index) == UInt8(ascii: ".") {
            index += 1
            let start = index
            while let next = byte(index), (0x30...0x39).contains(next) {
                if fractionDigits < 9 {
                    fraction = fraction * 10 + Int64(next - 0x30)
                    fractionDigits += 1
                }
                index += 1
            }
            if index == start { return fail("expected digits after the decimal point") }
        }

        var offsetSeconds: Int64 = 0
        switch byte(index) {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign: Int64 = byte(index) == UInt8(ascii: "-") ? -1 : 1
            guard let offsetHour = digits(index + 1, 2), byte(index + 3) == UInt8(ascii: ":"),
                  let offsetMinute = digits(index + 4, 2) else {
                return fail("expected the offset as +HH:MM or -HH:MM")
            }
            guard offsetHour <= 23, offsetMinute <= 59 else {
                return fail("offset \(padded(offsetHour, 2)):\(padded(offsetMinute, 2)) is out of range")
            }
            offsetSeconds = sign * (offsetHour * 3_600 + offsetMinute * 60)
            index += 6
        case nil:
            return fail("missing the UTC offset ('Z' or ±HH:MM); a time without one is ambiguous")
        default:
            return fail("expected 'Z' or ±HH:MM after the seconds")
        }
        guard index == bytes.count else { return fail("unexpected characters after the UTC offset") }

        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offsetSeconds
        return .success(Time(seconds: seconds, fraction: fraction, fractionDigits: fractionDigits))
    }

    /// Microseconds since the epoch, or nil when the text is not an RFC 3339 date-time.
    public static func micros(_ text: String) -> Int64? {
        try? parse(text).get().micros
    }

    /// Formats microseconds since the epoch as `2026-11-24T14:31:19.123456Z`; with fewer `fractionDigits` (0...6)
    /// the time is cut, not rounded, to that precision (`2026-11-24T14:31:19Z` with 0), so it never reads later
    /// than it was: what a lock receives as a command's expiry must not outlast it.
    public static func format(micros: Int64, fractionDigits: Int = 6) -> String {
        precondition((0...6).contains(fractionDigits), "RFC3339.format keeps 0 to 6 fraction digits")
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let fraction = micros - seconds * 1_000_000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = civil(fromDays: days)
        var divisor: Int64 = 1
        for _ in fractionDigits..<6 { divisor *= 10 }
        let fractionText = fractionDigits == 0 ? "" : ".\(padded(fraction / divisor, fractionDigits))"
        return "\(padded(year, 4))-\(padded(month, 2))-\(padded(day, 2))T\(padded(secondOfDay / 3600, 2)):"
            + "\(padded(secondOfDay / 60 % 60, 2)):\(padded(secondOfDay % 60, 2))\(fractionText)Z"
    }

    private static func padded(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    // Howard Hinnant's civil-date algorithms (proleptic Gregorian calendar).
    private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// Detects Swedish personal identity numbers (personnummer) and coordination numbers (samordningsnummer) inside a
/// string, so they are not stored where only a pseudonymous reference belongs.
///
/// Forms: `YYMMDDNNNC`, `YYMMDD-NNNC`, `YYMMDD+NNNC` (10 digits, `+` for people aged 100 or more) and
/// `YYYYMMDDNNNC`, `YYYYMMDD-NNNC` (12 digits). A candidate counts when its date is plausible (month 1–12, a day
/// that exists in that month; for coordination numbers the day plus 60) and the Luhn checksum over the 10-digit
/// form holds. Candidates are found as whole digit groups in the text, or as a 6/8-digit group joined to a 4-digit
/// group by one separator (`-`, `+`, or as references write it `.`, `_`, `:`, `/`, a space), so
/// `pnr 19121212-1212` and `121212_1212` are caught but `2024-000123` is not. Names and other free text are not
/// judged.
public enum PersonalIdentityNumber {
    public static func appears(in text: String) -> Bool {
        let bytes = Array(text.utf8)
        // Digit groups: (start, end) of each maximal run of ASCII digits, with the byte that follows it.
        var groups: [(start: Int, end: Int)] = []
        var index = 0
        while index < bytes.count {
            if isDigit(bytes[index]) {
                let start = index
                while index < bytes.count, isDigit(bytes[index]) { index += 1 }
                groups.append((start, index))
            } else {
                index += 1
            }
        }
        for (position, group) in groups.enumerated() {
            let digits = Array(bytes[group.start..<group.end])
            if (digits.count == 10 || digits.count == 12), isValid(digits: digits) { return true }
            // Joined form: 6 or 8 digits, one separator, 4 digits.
            if digits.count == 6 || digits.count == 8, position + 1 < groups.count {
                let next = groups[position + 1]
                let separator = bytes[group.end]
                if next.start == group.end + 1, Array("-+._:/ ".utf8).contains(separator),
                   next.end - next.start == 4,
                   isValid(digits: digits + bytes[next.start..<next.end]) {
                    return true
                }
            }
        }
        return false
    }

    /// Whether 10 or 12 ASCII digits (no separator) form a plausible personnummer or samordningsnummer.
    public static func isValid(digits: [UInt8]) -> Bool {
        guard digits.count == 10 || digits.count == 12, digits.allSatisfy(isDigit) else { return false }
        let value = digits.map { Int($0 - UInt8(ascii: "0")) }
        var fullYear: Int?
        if value.count == 12 {
            let century = value[0] * 10 + value[1]
            guard (18...20).contains(century) else { return false }
            fullYear = century * 100 + value[2] * 10 + value[3]
        }
        let ten = Array(value.suffix(10))
        let month = ten[2] * 10 + ten[3]
        var day = ten[4] * 10 + ten[5]
        if day > 60 { day -= 60 }  // samordningsnummer
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: fullYear) else { return false }
        return luhnValid(ten)
    }

    static func luhnValid(_ digits: [Int]) -> Bool {
        var sum = 0
        for (position, digit) in digits.enumerated() {
            var term = position % 2 == 0 ? digit * 2 : digit
            if term > 9 { term -= 9 }
            sum += term
        }
        return sum % 10 == 0
    }

    private static func daysIn(month: Int, year: Int?) -> Int {
        switch month {
        case 2:
            guard let year else { return 29 }
            return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
}

/// The rule for every pseudonymous reference the gateway stores (staff, visits, care recipients in plans): a short
/// id-like text, never a personal identity number.
public enum PseudonymousReference {
    /// Why `value` is not a pseudonymous reference (to follow its field name), or nil when it is one.
    public static func problem(_ value: String, maxLength: Int = 64) -> String? {
        guard (1...maxLength).contains(value.utf8.count), DeviceID.isValid(value) else {
            return "must be 1 to \(maxLength) characters of A-Z a-z 0-9 - _ . :"
        }
        guard !PersonalIdentityNumber.appears(in: value) else {
            return "looks like a personal identity number; use the pseudonymous reference"
        }
        return nil
    }
}

/// A resolved SenML value (RFC 8428 §4.2): exactly one of "v", "vs", "vb", "vd".
public enum SenMLValue: Sendable, Equatable {
    case number(Double)
    case string(String)
    case bool(Bool)
    case data([UInt8])
}

/// A resolved SenML record (RFC 8428 §4.6): base fields applied, time absolute. Two records are equal when
/// their resolved data is (RFC 8428 §4.6: a pack and its resolved form are the same data), whatever base name
/// they were resolved from.
public struct SenMLRecord: Sendable, Equatable {
    /// Resolved name: base name + name.
    public var name: String
    /// The base name in force for this record ("" when none), so that a consumer can tell the device's
    /// identity (RFC 8428: `urn:dev:ow:10e2073a01080063:`) from the measurement's name.
    public var baseName: String = ""
    /// Resolved unit: the record's "u", else the base unit.
    public var unit: String?
    /// Resolved value: the base value is added to a numeric "v".
    public var value: SenMLValue?
    /// Resolved sum: base sum + sum.
    public var sum: Double?
    /// Absolute seconds since the Unix epoch.
    public var time: Double
    /// "ut": maximum seconds until the sensor reports again.
    public var updateTime: Double?
    /// Position of the record in the original pack (0-based).
    public var index: Int
    /// True when the pack gave a time relative to "now" (below 2^28), so `time` depends
    /// on when the pack was received rather than on the pack alone.
    public var timeIsRelative: Bool

    public init(
        name: String, unit: String? = nil, value: SenMLValue? = nil, sum: Double? = nil,
        time: Double, updateTime: Double? = nil, index: Int, timeIsRelative: Bool = false
    ) {
        self.name = name
        self.unit = unit
        self.value = value
        self.sum = sum
        self.time = time
        self.updateTime = updateTime
        self.index = index
        self.timeIsRelative = timeIsRelative
    }

    public static func == (lhs: SenMLRecord, rhs: SenMLRecord) -> Bool {
        lhs.name == rhs.name && lhs.unit == rhs.unit && lhs.value == rhs.value && lhs.sum == rhs.sum
            && lhs.time == rhs.time && lhs.updateTime == rhs.updateTime && lhs.index == rhs.index
            && lhs.timeIsRelative == rhs.timeIsRelative
    }
}

/// One record of a pack was unusable; the rest of the pack is still delivered.
public struct SenMLRecordError: Error, Sendable, Equatable, CustomStringConvertible {
    public var index: Int
    public var field: String?
    public var reason: String

    public init(index: Int, field: String? = nil, reason: String) {
        self.index = index
        self.field = field
        self.reason = reason
    }

    public var description: String {
        senMLErrorDescription(index: index, field: field, reason: reason)
    }
}

/// The whole pack is unusable (not JSON, not a SenML array, a base field or version
/// problem, a must-understand extension): no record of it may be used.
public struct SenMLPackError: Error, Sendable, Equatable, CustomStringConvertible {
    public var index: Int?
    public var field: String?
    public var reason: String

    public init(index: Int? = nil, field: String? = nil, reason: String) {
        self.index = index
        self.field = field
        self.reason = reason
    }

    public var description: String {
        senMLErrorDescription(index: index, field: field, reason: reason)
    }
}

/// The outcome of resolving one pack: usable records in chronological order, and the
/// records that were rejected (in pack order).
public struct SenMLPack: Sendable, Equatable {
    public var records: [SenMLRecord]
    public var rejected: [SenMLRecordError]

    public init(records: [SenMLRecord], rejected: [SenMLRecordError]) {
        self.records = records
        self.rejected = rejected
    }
}

private func senMLErrorDescription(index: Int?, field: String?, reason: String) -> String {
    switch (index, field) {
    case let (index?, field?): "record \(index), field \"\(field)\": \(reason)"
    case let (index?, nil): "record \(index): \(reason)"
    case let (nil, field?): "field \"\(field)\": \(reason)"
    case (nil, nil): reason
    }
}

/// Resolver for SenML JSON packs (RFC 8428).
///
/// Error policy: anything that changes how *other* records must be read is a pack error
/// (not JSON, not an array of objects, a base field of the wrong type or repeated,
/// an unsupported or inconsistent version, a must-understand "_" label, too many records).
/// Anything confined to one record (its regular fields, its missing value, its resolved
/// name or time) rejects only that record; its base fields still apply to later records,
/// because they are well-formed and the sender meant them for the rest of the pack.
public enum SenML: Sendable {
    /// The SenML version defined by RFC 8428.
    public static let supportedVersion = 10

    /// Resolved times below 2^28 are relative to "now" (RFC 8428 §4.5.3).
    static let relativeTimeLimit: Double = 268_435_456

    /// Resolves a SenML JSON pack.
    ///
    /// - Parameters:
    ///   - bytes: the payload, UTF-8 JSON.
    ///   - now: reception time in seconds since the Unix epoch; relative times are added to it.
    ///   - limits: JSON limits; note `maxMembers` counts every value, so it also caps packs
    ///     with many fields per record before `maxRecords` is reached.
    ///   - maxRecords: packs with more records are rejected whole.
    /// - Returns: resolved records sorted by time (stable), and the rejected records.
    /// - Throws: `SenMLPackError` when no record of the pack may be used.
    public static func resolve(
        _ bytes: [UInt8],
        now: Double,
        limits: JSONLimits = .init(),
        maxRecords: Int = 1000
    ) throws(SenMLPackError) -> SenMLPack {
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes, limits: limits)
        } catch {
            throw SenMLPackError(reason: error.description)
        }
        guard case .array(let elements) = document else {
            throw SenMLPackError(reason: "a SenML pack must be a JSON array of records, got \(document.kindWithArticle)")
        }
        if elements.isEmpty {
            throw SenMLPackError(reason: "empty SenML pack")
        }
        if elements.count > maxRecords {
            throw SenMLPackError(reason: "pack has \(elements.count) records; the limit is \(maxRecords)")
        }

        var resolver = SenMLPackResolver(now: now)
        var records: [SenMLRecord] = []
        records.reserveCapacity(elements.count)
        var rejected: [SenMLRecordError] = []
        for (index, element) in elements.enumerated() {
            guard case .object(let object) = element else {
                throw SenMLPackError(index: index, reason: "a SenML record must be a JSON object, got \(element.kindWithArticle)")
            }
            switch try resolver.resolveRecord(object, index: index) {
            case .success(let record): records.append(record)
            case .failure(let error): rejected.append(error)
            }
        }
        sortChronologically(&records)
        return SenMLPack(records: records, rejected: rejected)
    }

    /// Stable sort by time; packs are nearly always in order already, so check first.
    static func sortChronologically(_ records: inout [SenMLRecord]) {
        var ordered = true
        for position in records.indices.dropFirst() where records[position - 1].time > records[position].time {
            ordered = false
            break
        }
        if ordered { return }
        // `index` is unique, so this order is total and the result is stable by construction.
        records.sort { ($0.time, $0.index) < ($1.time, $1.index) }
    }
}

// MARK: - Resolution

/// The SenML labels this gateway understands (RFC 8428 Table 2).
private enum SenMLLabel: UInt16 {
    case baseName, baseTime, baseUnit, baseValue, baseSum, baseVersion
    case name, unit, value, stringValue, boolValue, dataValue, sum, time, updateTime

    init?(_ key: String) {
        switch key {
        case "bn": self = .baseName
        case "bt": self = .baseTime
        case "bu": self = .baseUnit
        case "bv": self = .baseValue
        case "bs": self = .baseSum
        case "bver": self = .baseVersion
        case "n": self = .name
        case "u": self = .unit
        case "v": self = .value
        case "vs": self = .stringValue
        case "vb": self = .boolValue
        case "vd": self = .dataValue
        case "s": self = .sum
        case "t": self = .time
        case "ut": self = .updateTime
        default: return nil
        }
    }

    var text: String {
        switch self {
        case .baseName: "bn"
        case .baseTime: "bt"
        case .baseUnit: "bu"
        case .baseValue: "bv"
        case .baseSum: "bs"
        case .baseVersion: "bver"
        case .name: "n"
        case .unit: "u"
        case .value: "v"
        case .stringValue: "vs"
        case .boolValue: "vb"
        case .dataValue: "vd"
        case .sum: "s"
        case .time: "t"
        case .updateTime: "ut"
        }
    }

    var bit: UInt16 { 1 << rawValue }
    var isBase: Bool { rawValue <= SenMLLabel.baseVersion.rawValue }
}

/// The regular fields of one record, type-checked but not yet resolved.
private struct SenMLRecordFields {
    var name: String?
    var unit: String?
    var value: SenMLValue?
    var valueLabel: SenMLLabel?
    var sum: Double?
    var time: Double?
    var updateTime: Double?
}

/// Carries the base fields from record to record.
private struct SenMLPackResolver {
    let now: Double
    var baseName = ""
    var baseTime: Double = 0
    var baseUnit: String?
    var baseValue: Double?
    var baseSum: Double?
    /// The version every record of the pack has; fixed by the first record (RFC 8428 §4.4).
    var packVersion: Int?

    init(now: Double) {
        self.now = now
    }

    /// Applies the record's base fields (throwing pack errors) and resolves it, or
    /// returns the first problem confined to this record.
    mutating func resolveRecord(_ object: JSONObject, index: Int) throws(SenMLPackError) -> Result<SenMLRecord, SenMLRecordError> {
        var fields = SenMLRecordFields()
        var firstProblem: SenMLRecordError?
        var seenLabels: UInt16 = 0

        func reject(_ label: SenMLLabel?, _ reason: String) {
            if firstProblem == nil {
                firstProblem = SenMLRecordError(index: index, field: label?.text, reason: reason)
            }
        }

        // Every member is visited even after a record problem: base fields must still apply.
        for member in object.members {
            guard let label = SenMLLabel(member.key) else {
                if member.key.utf8.last == UInt8(ascii: "_") {
                    throw SenMLPackError(
                        index: index, field: member.key,
                        reason: "unsupported must-understand label \(quotedForSenMLMessage(member.key)); labels ending in '_' must be understood, so the pack cannot be used (RFC 8428 §4.4)"
                    )
                }
                continue  // Unknown labels are ignored (RFC 8428 §4.4).
            }
            if seenLabels & label.bit != 0 {
                let reason = "label appears more than once in the record"
                if label.isBase {
                    throw SenMLPackError(index: index, field: label.text, reason: reason)
                }
                reject(label, reason)
                continue
            }
            seenLabels |= label.bit
            let value = member.value

            switch label {
            case .baseName:
                baseName = try baseString(value, label, index)
            case .baseUnit:
                baseUnit = try baseString(value, label, index)
            case .baseTime:
                baseTime = try baseNumber(value, label, index)
            case .baseValue:
                baseValue = try baseNumber(value, label, index)
            case .baseSum:
                baseSum = try baseNumber(value, label, index)
            case .baseVersion:
                try applyVersion(value, index)

            case .name:
                guard case .string(let text) = value else { reject(label, expected("a string", value)); continue }
                fields.name = text
            case .unit:
                guard case .string(let text) = value else { reject(label, expected("a string", value)); continue }
                fields.unit = text
            case .value:
                guard case .number(let number) = value else { reject(label, expected("a number", value)); continue }
                setValue(.number(number), label, &fields, reject)
            case .stringValue:
                guard case .string(let text) = value else { reject(label, expected("a string", value)); continue }
                setValue(.string(text), label, &fields, reject)
            case .boolValue:
                guard case .bool(let flag) = value else { reject(label, expected("a boolean", value)); continue }
                setValue(.bool(flag), label, &fields, reject)
            case .dataValue:
                guard case .string(let text) = value else { reject(label, expected("a string of base64url data", value)); continue }
                switch SenMLBase64URL.decode(text) {
                case .success(let data): setValue(.data(data), label, &fields, reject)
                case .failure(let problem): reject(label, problem.reason)
                }
            case .sum:
                guard case .number(let number) = value else { reject(label, expected("a number", value)); continue }
                fields.sum = number
            case .time:
                guard case .number(let number) = value else { reject(label, expected("a number", value)); continue }
                fields.time = number
            case .updateTime:
                guard case .number(let number) = value else { reject(label, expected("a number", value)); continue }
                if number < 0 {
                    reject(label, "update time must not be negative, got \(senMLFormatNumber(number))")
                    continue
                }
                fields.updateTime = number
            }
        }

        if packVersion == nil {
            packVersion = SenML.supportedVersion  // no "bver" in the first record: the default
        }
        if let firstProblem {
            return .failure(firstProblem)
        }
        return resolveFields(fields, index: index)
    }

    func resolveFields(_ fields: SenMLRecordFields, index: Int) -> Result<SenMLRecord, SenMLRecordError> {
        func failure(_ label: SenMLLabel?, _ reason: String) -> Result<SenMLRecord, SenMLRecordError> {
            .failure(SenMLRecordError(index: index, field: label?.text, reason: reason))
        }

        let name = baseName + (fields.name ?? "")
        if let problem = SenMLNameRule.problem(with: name) {
            return failure(.name, problem)
        }

        // RFC 8428 §4.5.4: a missing Value or Base Value counts as zero, so a base value
        // alone yields a numeric value; it never combines with "vs", "vb" or "vd".
        var value = fields.value
        switch value {
        case .number(let number):
            if let baseValue {
                let resolved = baseValue + number
                guard resolved.isFinite else {
                    return failure(.value, "value \(senMLFormatNumber(number)) plus base value \(senMLFormatNumber(baseValue)) is not a finite number")
                }
                value = .number(resolved)
            }
        case nil:
            if let baseValue {
                value = .number(baseValue)
            }
        case .string, .bool, .data:
            break
        }

        // RFC 8428 §4.5.4 reads the same way for sums: "If only one Base Sum or Sum value
        // is present, the missing field is considered to have a value of zero ... If
        // neither ... is present, then the measurement does not have a Sum value." So a
        // base sum in effect gives every following record a sum, even without its own "s".
        var sum: Double?
        if fields.sum != nil || baseSum != nil {
            let resolved = (baseSum ?? 0) + (fields.sum ?? 0)
            guard resolved.isFinite else {
                return failure(.sum, "sum \(senMLFormatNumber(fields.sum ?? 0)) plus base sum \(senMLFormatNumber(baseSum ?? 0)) is not a finite number")
            }
            sum = resolved
        }

        if value == nil, sum == nil {
            return failure(nil, "record has no value or sum; it needs one of \"v\", \"vs\", \"vb\", \"vd\" or a sum \"s\" (RFC 8428 §4.2)")
        }

        // RFC 8428 §4.5.3: missing times count as zero; below 2^28 the time is relative to now.
        let relativeOrAbsolute = baseTime + (fields.time ?? 0)
        let isRelative = relativeOrAbsolute < SenML.relativeTimeLimit
        let time = isRelative ? now + relativeOrAbsolute : relativeOrAbsolute
        guard time.isFinite else {
            return failure(.time, "time \(senMLFormatNumber(fields.time ?? 0)) plus base time \(senMLFormatNumber(baseTime)) is not a finite number")
        }

        var record = SenMLRecord(
            name: name,
            unit: fields.unit ?? baseUnit,
            value: value,
            sum: sum,
            time: time,
            updateTime: fields.updateTime,
            index: index,
            timeIsRelative: isRelative
        )
        record.baseName = baseName
        return .success(record)
    }

    /// Records the record's single value; a second value field is a record problem.
    func setValue(_ value: SenMLValue, _ label: SenMLLabel, _ fields: inout SenMLRecordFields, _ reject: (SenMLLabel?, String) -> Void) {
        if let previous = fields.valueLabel {
            reject(nil, "record has both \"\(previous.text)\" and \"\(label.text)\"; exactly one value field is allowed (RFC 8428 §4.2)")
            return
        }
        fields.value = value
        fields.valueLabel = label
    }

    /// "bver": a positive integer no greater than ours, the same for every record.
    mutating func applyVersion(_ value: JSONValue, _ index: Int) throws(SenMLPackError) {
        let number = try baseNumber(value, .baseVersion, index)
        guard number >= 1, number <= Double(Int32.max), number.rounded(.towardZero) == number else {
            throw SenMLPackError(index: index, field: "bver", reason: "version must be a positive integer, got \(senMLFormatNumber(number))")
        }
        let version = Int(number)
        if version > SenML.supportedVersion {
            throw SenMLPackError(
                index: index, field: "bver",
                reason: "unsupported SenML version \(version) (this gateway understands up to \(SenML.supportedVersion))"
            )
        }
        if let packVersion, packVersion != version {
            throw SenMLPackError(
                index: index, field: "bver",
                reason: "version \(version) differs from version \(packVersion) of the earlier records; all records of a pack must have the same version (RFC 8428 §4.4)"
            )
        }
        packVersion = version
    }

    func baseString(_ value: JSONValue, _ label: SenMLLabel, _ index: Int) throws(SenMLPackError) -> String {
        guard case .string(let text) = value else {
            throw SenMLPackError(index: index, field: label.text, reason: expected("a string", value))
        }
        return text
    }

    func baseNumber(_ value: JSONValue, _ label: SenMLLabel, _ index: Int) throws(SenMLPackError) -> Double {
        guard case .number(let number) = value else {
            throw SenMLPackError(index: index, field: label.text, reason: expected("a number", value))
        }
        return number
    }

    func expected(_ type: String, _ value: JSONValue) -> String {
        "expected \(type), got \(value.kindWithArticle)"
    }
}

// MARK: - Names

/// RFC 8428 §4.5.1: resolved names use only A-Z a-z 0-9 - : . / _ and start with a letter or digit.
enum SenMLNameRule {
    static func problem(with name: String) -> String? {
        let utf8 = name.utf8
        guard let first = utf8.first else {
            return "resolved name is empty; the record needs \"n\" or an earlier \"bn\" (RFC 8428 §4.5.1)"
        }
        if isLetterOrDigit(first), utf8.allSatisfy(isAllowed) {
            return nil  // the common case, checked without decoding
        }
        // Slow path only for the message: find the offending character.
        for (position, scalar) in name.unicodeScalars.enumerated() {
            let isValid = scalar.isASCII && (position == 0 ? isLetterOrDigit(UInt8(scalar.value)) : isAllowed(UInt8(scalar.value)))
            if isValid { continue }
            if position == 0, scalar.isASCII, isAllowed(UInt8(scalar.value)) {
                return "name \(quotedForSenMLMessage(name)) must start with a letter or digit (RFC 8428 §4.5.1)"
            }
            return "name \(quotedForSenMLMessage(name)) contains \(describe(scalar)) at position \(position); only A-Z a-z 0-9 - : . / _ are allowed (RFC 8428 §4.5.1)"
        }
        return nil
    }

    private static func isLetterOrDigit(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: false
        }
    }

    private static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "."), UInt8(ascii: "/"), UInt8(ascii: "_"): true
        default: isLetterOrDigit(byte)
        }
    }

    private static func describe(_ scalar: Unicode.Scalar) -> String {
        let digits = String(scalar.value, radix: 16, uppercase: true)
        let code = "U+" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
        if scalar.value > 0x20, scalar.value != 0x7F, !scalar.properties.isWhitespace {
            return "'\(Character(scalar))' (\(code))"
        }
        return code == "U+0020" ? "a space" : code
    }
}

// MARK: - Message helpers

/// Quotes untrusted text for an error message: escaped, and cut to a readable length.
func quotedForSenMLMessage(_ text: String) -> String {
    let scalars = text.unicodeScalars
    if scalars.count <= 64 {
        return text.debugDescription
    }
    return String(String.UnicodeScalarView(scalars.prefix(64))).debugDescription + "..."
}

private func senMLFormatNumber(_ number: Double) -> String {
    if number == number.rounded(), abs(number) < 1e15 {
        return String(Int64(number))
    }
    return "\(number)"
}

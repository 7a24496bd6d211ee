import Models

/// A scalar catalogue value produced by a vendor mapping.
public enum MappedScalar: Sendable, Equatable {
    case number(Double)
    case string(String)
    case boolean(Bool)
}

/// One quantity read from a vendor payload, in the quantity's canonical unit.
public struct MappedValue: Sendable, Equatable {
    /// Catalogue quantity id.
    public var quantity: String
    public var value: MappedScalar
    /// Canonical unit for numbers (nil when the quantity has none); nil for strings and booleans.
    public var unit: String?
    /// Seconds since the Unix epoch: the message time.
    public var time: Double
    /// The JSON pointer the value was read from.
    public var sourcePath: String

    public init(quantity: String, value: MappedScalar, unit: String?, time: Double, sourcePath: String) {
        self.quantity = quantity
        self.value = value
        self.unit = unit
        self.time = time
        self.sourcePath = sourcePath
    }
}

/// One catalogue event raised by a vendor payload.
public struct MappedEvent: Sendable, Equatable {
    public var event: String
    /// Seconds since the Unix epoch: the message time.
    public var time: Double
    /// The JSON pointer whose value raised the event.
    public var sourcePath: String
    /// The message's event attributes (`eventAttributes` of the mapping) with their class; the adapter keeps those
    /// the event's class allows.
    public var attributes: [MappedAttribute]

    public init(event: String, time: Double, sourcePath: String, attributes: [MappedAttribute] = []) {
        self.event = event
        self.time = time
        self.sourcePath = sourcePath
        self.attributes = attributes
    }
}

/// One event attribute read from a payload, as text.
public struct MappedAttribute: Sendable, Equatable {
    public var name: String
    public var value: String
    public var confidentiality: Int

    public init(name: String, value: String, confidentiality: Int) {
        self.name = name
        self.value = value
        self.confidentiality = confidentiality
    }
}

/// Why a field (or, when thrown, the whole payload) could not be mapped. `path` is the JSON pointer of
/// the field; empty for the payload as a whole.
public struct MappingIssue: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String {
        path.isEmpty ? reason : "\(path): \(reason)"
    }
}

/// What one payload yielded: values and events in rule order, and the fields that could not be mapped.
public struct MappingResult: Sendable, Equatable {
    public var values: [MappedValue]
    public var events: [MappedEvent]
    public var issues: [MappingIssue]
    /// Why the message time could not be used, if it could not: then no value is mapped (a value needs its
    /// time) and the events carry the arrival time (an alarm is never dropped for its clock).
    public var timeIssue: MappingIssue?

    public init(values: [MappedValue], events: [MappedEvent], issues: [MappingIssue], timeIssue: MappingIssue? = nil) {
        self.values = values
        self.events = events
        self.issues = issues
        self.timeIssue = timeIssue
    }
}

/// Applies one `VendorMapping` to payloads.
///
/// Everything that depends only on the mapping and the catalogue (unit conversion plans, map lookup
/// tables) is prepared once in `init`; `map` parses the payload once and resolves each rule's pointer.
public struct VendorMapper: Sendable {
    public let mapping: VendorMapping
    /// Rules that can never yield a value with this catalogue (a unit that cannot be converted to the
    /// quantity's canonical unit). Each also appears as an issue on every payload that has the field;
    /// a caller can refuse to start with such a mapping.
    public let configurationIssues: [MappingIssue]

    private let rules: [VendorCompiledValueRule]
    private let attributeMaps: [VendorCompiledMap?]
    private let limits: JSONLimits

    /// - Parameters:
    ///   - canonicalUnit: the catalogue's canonical unit for a quantity id, nil when it has none (strings,
    ///     enums, booleans) or is unknown. Called once per value rule, here.
    ///   - limits: resource limits for parsing payloads.
    public init(
        mapping: VendorMapping,
        canonicalUnit: @escaping @Sendable (String) -> String?,
        limits: JSONLimits = JSONLimits()
    ) {
        self.mapping = mapping
        self.limits = limits
        var rules: [VendorCompiledValueRule] = []
        var configurationIssues: [MappingIssue] = []
        for rule in mapping.values {
            let compiled = VendorCompiledValueRule(rule, canonicalUnit: canonicalUnit(rule.quantity).flatMap { $0.isEmpty ? nil : $0 })
            if case .unconvertible(let reason) = compiled.kind {
                configurationIssues.append(MappingIssue(path: rule.pointer.description, reason: reason))
            }
            rules.append(compiled)
        }
        self.rules = rules
        self.attributeMaps = mapping.eventAttributes.map { rule in rule.map.map { VendorCompiledMap($0, defaultValue: nil) } }
        self.configurationIssues = configurationIssues
    }

    /// Maps one payload.
    ///
    /// Throws only when the payload as a whole is unusable: not JSON, or not a JSON object. A bad (or missing
    /// while required) time is `timeIssue`: values are not mapped, events are, at the arrival time. A problem
    /// with one field is reported in `issues` and the other fields are still mapped.
    public func map(_ payload: [UInt8], receivedAt: Double) throws(MappingIssue) -> MappingResult {
        let document: JSONValue
        do {
            document = try JSONParser.parse(payload, limits: limits)
        } catch {
            throw MappingIssue(path: "", reason: "payload is not valid JSON: \(error.description)")
        }
        guard case .object = document else {
            throw MappingIssue(path: "", reason: "payload must be a JSON object, got \(document.kindWithArticle)")
        }
        let time: Double
        var timeIssue: MappingIssue?
        do {
            time = try messageTime(in: document, receivedAt: receivedAt)
        } catch {
            time = receivedAt
            timeIssue = error
        }

        var values: [MappedValue] = []
        values.reserveCapacity(rules.count)
        var issues: [MappingIssue] = []
        for rule in rules where timeIssue == nil {
            switch rule.apply(to: document) {
            case .value(let scalar, let unit):
                values.append(MappedValue(quantity: rule.quantity, value: scalar, unit: unit, time: time, sourcePath: rule.sourcePath))
            case .absent:
                break
            case .issue(let reason):
                issues.append(MappingIssue(path: rule.sourcePath, reason: reason))
            }
        }

        var events: [MappedEvent] = []
        for rule in mapping.events {
            let found: JSONValue
            switch rule.pointer.resolve(in: document) {
            case .found(let value): found = value
            case .missing: continue
            case .invalid(let reason):
                issues.append(MappingIssue(path: rule.pointer.description, reason: "event \(rule.event): \(reason)"))
                continue
            }
            switch (found, rule.equals) {
            case (.null, _):
                continue
            case (.string, .string), (.number, .number), (.bool, .bool):
                if found == rule.equals {
                    events.append(MappedEvent(event: rule.event, time: time, sourcePath: rule.pointer.description))
                }
            default:
                issues.append(MappingIssue(
                    path: rule.pointer.description,
                    reason: "event \(rule.event): expected \(rule.equals.kindWithArticle) to compare with \(vendorDescribe(rule.equals)), got \(vendorDescribe(found))"
                ))
            }
        }
        if !events.isEmpty, !mapping.eventAttributes.isEmpty {
            let attributes = eventAttributes(in: document, issues: &issues)
            for index in events.indices { events[index].attributes = attributes }
        }
        return MappingResult(values: values, events: events, issues: issues, timeIssue: timeIssue)
    }

    /// The longest attribute value kept, in Unicode scalars (what PostgreSQL counts as characters).
    static let maxAttributeScalars = 200

    /// The mapping's event attributes present in the message. A missing or null field is no attribute; an object,
    /// an array or an unmapped value is an issue (the events still go on, without it).
    private func eventAttributes(in document: JSONValue, issues: inout [MappingIssue]) -> [MappedAttribute] {
        var attributes: [MappedAttribute] = []
        for (rule, map) in zip(mapping.eventAttributes, attributeMaps) {
            let path = rule.pointer.description
            let value: JSONValue
            switch rule.pointer.resolve(in: document) {
            case .found(.null), .missing: continue
            case .found(let found): value = found
            case .invalid(let reason):
                issues.append(MappingIssue(path: path, reason: "attribute \(rule.name): \(reason)"))
                continue
            }
            var scalar: MappedScalar
            switch value {
            case .string(let text): scalar = .string(text)
            case .number(let number) where number.isFinite: scalar = .number(number)
            case .bool(let flag): scalar = .boolean(flag)
            default:
                issues.append(MappingIssue(path: path, reason: "attribute \(rule.name): expected a string, number or boolean, got \(vendorDescribe(value))"))
                continue
            }
            if let map {
                let target: MappedScalar? = switch scalar {
                case .string(let text): map.strings[text]
                case .boolean(let flag): flag ? map.whenTrue : map.whenFalse
                case .number(let number): map.numbers.first(where: { $0.vendorValue == number })?.value
                }
                guard let target else {
                    issues.append(MappingIssue(path: path, reason: "attribute \(rule.name): \(vendorDescribe(value)) is not in the map (mapped: \(map.keysForMessage))"))
                    continue
                }
                scalar = target
            }
            let text: String = switch scalar {
            case .string(let text): text
            case .number(let number): vendorJSONNumber(number)
            case .boolean(let flag): flag ? "true" : "false"
            }
            // Attributes are short facts (a number, a reference, a reason) and never a person's identity.
            guard text.unicodeScalars.count <= Self.maxAttributeScalars else {
                issues.append(MappingIssue(path: path, reason: "attribute \(rule.name): longer than \(Self.maxAttributeScalars) characters"))
                continue
            }
            guard !PersonalIdentityNumber.appears(in: text) else {
                issues.append(MappingIssue(path: path, reason: "attribute \(rule.name): holds a personal identity number; not stored"))
                continue
            }
            attributes.append(MappedAttribute(name: rule.name, value: text, confidentiality: rule.confidentiality))
        }
        return attributes
    }

    // MARK: Time

    private func messageTime(in document: JSONValue, receivedAt: Double) throws(MappingIssue) -> Double {
        guard let rule = mapping.time else { return receivedAt }
        let path = rule.pointer.description
        let value: JSONValue
        switch rule.pointer.resolve(in: document) {
        case .found(.null) where rule.optional, .missing where rule.optional:
            return receivedAt
        case .found(.null):
            throw MappingIssue(path: path, reason: "message time is null; the mapping requires it")
        case .missing(let reason):
            throw MappingIssue(path: path, reason: "message time is missing: \(reason)")
        case .invalid(let reason):
            throw MappingIssue(path: path, reason: "message time cannot be read: \(reason)")
        case .found(let found):
            value = found
        }

        let seconds: Double
        switch (rule.format, value) {
        case (.epochSeconds, .number(let number)):
            seconds = number
        case (.epochMilliseconds, .number(let number)):
            seconds = number / 1000
        case (.rfc3339, .string(let text)):
            switch VendorRFC3339.parse(text) {
            case .time(let parsed): seconds = parsed
            case .problem(let problem):
                throw MappingIssue(path: path, reason: "message time \(vendorJSONQuoted(text)) is not an RFC 3339 date-time: \(problem)")
            }
        case (.epochSeconds, _):
            throw MappingIssue(path: path, reason: "message time: expected a number of seconds since 1970 (epoch-s), got \(vendorDescribe(value))")
        case (.epochMilliseconds, _):
            throw MappingIssue(path: path, reason: "message time: expected a number of milliseconds since 1970 (epoch-ms), got \(vendorDescribe(value))")
        case (.rfc3339, _):
            throw MappingIssue(path: path, reason: "message time: expected an RFC 3339 date-time string such as \"2024-05-01T12:00:00Z\", got \(vendorDescribe(value))")
        }
        if let problem = VendorRFC3339.rangeProblem(seconds, format: rule.format, raw: value) {
            throw MappingIssue(path: path, reason: problem)
        }
        return seconds
    }
}

// MARK: - Value rules

/// A value rule with its conversion and lookup tables prepared.
private final class VendorCompiledValueRule: Sendable {
    enum Kind: Sendable {
        /// No unit in the rule: numbers are taken in `numberUnit` (the canonical unit); strings and
        /// booleans are accepted unless `requiresNumber`.
        case asIs(numberUnit: String?, requiresNumber: Bool)
        /// The vendor sends `from`; the value is converted to `to`.
        case convert(from: String, to: String, plan: VendorUnitConversionPlan)
        /// The rule's unit cannot become the canonical unit.
        case unconvertible(reason: String)
        case mapped(VendorCompiledMap, numberUnit: String?)
    }

    enum Outcome {
        case value(MappedScalar, unit: String?)
        case absent
        case issue(String)
    }

    let pointer: JSONPointer
    let sourcePath: String
    let quantity: String
    let optional: Bool
    let kind: Kind

    init(_ rule: VendorMapping.ValueRule, canonicalUnit: String?) {
        pointer = rule.pointer
        sourcePath = rule.pointer.description
        quantity = rule.quantity
        optional = rule.optional
        if let map = rule.map {
            kind = .mapped(VendorCompiledMap(map, defaultValue: rule.defaultValue), numberUnit: canonicalUnit)
        } else if let unit = rule.unit {
            if let canonical = canonicalUnit {
                if let plan = UnitConversion.plan(from: unit, to: canonical) {
                    kind = .convert(from: unit, to: canonical, plan: plan)
                } else {
                    let why = UnitConversion.dimension(of: canonical).map { dimension in
                        "\(unit) measures \(UnitConversion.dimension(of: unit) ?? "something else") and \(canonical) measures \(dimension)"
                    } ?? "\(canonical) is not a unit this gateway can convert to"
                    kind = .unconvertible(reason: "\(rule.quantity): cannot convert \(unit) to the canonical unit \(canonical): \(why)")
                }
            } else {
                kind = .unconvertible(reason: "\(rule.quantity): the catalogue gives no canonical unit for this quantity, so a value in \(unit) cannot be converted")
            }
        } else {
            kind = .asIs(numberUnit: canonicalUnit, requiresNumber: canonicalUnit != nil)
        }
    }

    func apply(to document: JSONValue) -> Outcome {
        let value: JSONValue
        switch pointer.resolve(in: document) {
        case .found(.null):
            return optional ? .absent : .issue("\(quantity): required field is null")
        case .found(let found):
            value = found
        case .missing(let reason):
            return optional ? .absent : .issue("\(quantity): required field is missing: \(reason)")
        case .invalid(let reason):
            return .issue("\(quantity): \(reason)")
        }

        switch kind {
        case .asIs(let numberUnit, let requiresNumber):
            switch value {
            case .number(let number):
                return number.isFinite ? .value(.number(number), unit: numberUnit) : .issue("\(quantity): the number is not finite")
            case .string(let text) where !requiresNumber:
                return .value(.string(text), unit: nil)
            case .bool(let flag) where !requiresNumber:
                return .value(.boolean(flag), unit: nil)
            default:
                let expected = requiresNumber ? "a number (in \(numberUnit ?? "the canonical unit"))" : "a string, number or boolean"
                return .issue("\(quantity): expected \(expected), got \(vendorDescribe(value))")
            }

        case .convert(let from, let to, let plan):
            guard case .number(let number) = value else {
                return .issue("\(quantity): expected a number (in \(from)), got \(vendorDescribe(value))")
            }
            let converted = plan.apply(number)
            guard converted.isFinite else {
                return .issue("\(quantity): converting \(vendorJSONNumber(number)) \(from) to \(to) gives a non-finite number")
            }
            return .value(.number(converted), unit: to)

        case .unconvertible(let reason):
            return .issue(reason)

        case .mapped(let map, let numberUnit):
            let target: MappedScalar?
            switch value {
            case .string(let text): target = map.strings[text]
            case .bool(let flag): target = flag ? map.whenTrue : map.whenFalse
            case .number(let number): target = map.numbers.first(where: { $0.vendorValue == number })?.value
            default:
                return .issue("\(quantity): expected a string, number or boolean to look up in the map, got \(vendorDescribe(value))")
            }
            guard let result = target ?? map.defaultValue else {
                return .issue("\(quantity): \(vendorDescribe(value)) is not in the map (mapped: \(map.keysForMessage)) and the rule has no default")
            }
            if case .number = result {
                return .value(result, unit: numberUnit)
            }
            return .value(result, unit: nil)
        }
    }
}

/// A rule's `map` as lookup tables by vendor JSON type.
private struct VendorCompiledMap: Sendable {
    var strings: [String: MappedScalar] = [:]
    var whenTrue: MappedScalar?
    var whenFalse: MappedScalar?
    var numbers: [(vendorValue: Double, value: MappedScalar)] = []
    var defaultValue: MappedScalar?
    var keysForMessage: String

    init(_ entries: [VendorMapping.MapEntry], defaultValue: MappedScalar?) {
        self.defaultValue = defaultValue
        for entry in entries {
            strings[entry.vendorValue] = entry.value
            switch entry.vendorValue {
            case "true": whenTrue = entry.value
            case "false": whenFalse = entry.value
            default:
                if case .number(let number)? = try? JSONParser.parse(entry.vendorValue) {
                    numbers.append((number, entry.value))
                }
            }
        }
        let shown = entries.prefix(12).map { vendorJSONQuoted($0.vendorValue) }
        keysForMessage = shown.joined(separator: ", ") + (entries.count > shown.count ? ", …" : "")
    }
}

/// "a string \"HALF\"", "a number 3", "an object", for issue messages about vendor values.
func vendorDescribe(_ value: JSONValue) -> String {
    switch value {
    case .string(let text): "the string \(vendorJSONQuoted(text))"
    case .number(let number): "the number \(vendorJSONNumber(number))"
    case .bool(let flag): "the boolean \(flag)"
    case .null: "null"
    case .array, .object: value.kindWithArticle
    }
}

// MARK: - Time parsing

enum VendorRFC3339 {
    enum Outcome: Equatable {
        case time(Double)
        case problem(String)
    }

    /// Latest accepted time: 9999-12-31T23:59:59.999999Z.
    static let latest: Double = 253_402_300_800

    /// The shared RFC 3339 parser (`Models.RFC3339`), as seconds.
    static func parse(_ text: String) -> Outcome {
        switch RFC3339.parse(text) {
        case .success(let time): .time(time.secondsValue)
        case .failure(let problem): .problem(problem.reason)
        }
    }

    /// Why a time in seconds is not plausible, or nil: before 1970 or after year 9999, or not finite.
    static func rangeProblem(_ seconds: Double, format: VendorMapping.TimeFormat, raw: JSONValue) -> String? {
        if seconds >= 0, seconds < latest { return nil }  // NaN fails both and falls through
        let shown: String
        switch raw {
        case .number(let number): shown = "\(vendorJSONNumber(number)) (\(format.rawValue))"
        case .string(let text): shown = vendorJSONQuoted(text)
        default: shown = vendorDescribe(raw)
        }
        guard seconds.isFinite else { return "message time \(shown) is not a finite number" }
        if seconds < 0 {
            return "message time \(shown) is before 1970-01-01T00:00:00Z"
        }
        if seconds >= latest {
            let hint = format == .epochSeconds && seconds / 1000 < latest ? "; is it in milliseconds (epoch-ms)?" : ""
            return "message time \(shown) is after 9999-12-31T23:59:59Z\(hint)"
        }
        return nil
    }
}


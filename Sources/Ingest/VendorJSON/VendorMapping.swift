import Foundation

/// A declarative mapping from one device model's JSON payload to catalogue quantities and events,
/// decoded and validated from a file in `DataModels/mappings/` (format: `DataModels/mappings/README.md`).
///
/// The file is read with the gateway's strict JSON parser rather than `JSONDecoder`, so that every
/// problem is reported with the file and the exact field (`values[2].unit`), unknown fields (typos such
/// as `"optinal"`) are refused instead of ignored, and duplicate keys are refused instead of one winning.
public struct VendorMapping: Sendable, Equatable {
    /// The only file format version this gateway reads.
    public static let supportedVersion = 1

    /// Name of the file the mapping was loaded from (`nordlock-nl200.json`), for messages.
    public var file: String
    /// Unique mapping id, e.g. `nordlock-nl200`.
    public var id: String
    public var vendor: String
    public var model: String
    /// Device type id from the catalogue, e.g. `digital-lock`, `gps-alarm`.
    public var deviceType: String
    /// Free text for people reading the file.
    public var description: String?
    /// Where the message time comes from; nil means the arrival time.
    public var time: TimeRule?
    public var values: [ValueRule]
    public var events: [EventRule]
    /// Facts of the message that travel with every event it raises (a lock's event sequence number, the staff
    /// credential of an unlock, the command an answer is for), each with its own class.
    public var eventAttributes: [AttributeRule]

    public init(
        file: String, id: String, vendor: String, model: String, deviceType: String, description: String? = nil,
        time: TimeRule?, values: [ValueRule], events: [EventRule], eventAttributes: [AttributeRule] = []
    ) {
        self.file = file
        self.id = id
        self.vendor = vendor
        self.model = model
        self.deviceType = deviceType
        self.description = description
        self.time = time
        self.values = values
        self.events = events
        self.eventAttributes = eventAttributes
    }

    /// `"staffRef": {"pointer": "/lock/staff", "confidentiality": 3}`: the field's value (a string, number or
    /// boolean, as text; through `map` when given) becomes the attribute `name` of each event of the message. It
    /// travels only with events classed at least as high as `confidentiality`, so a class-2 event never carries a
    /// class-3 fact.
    public struct AttributeRule: Sendable, Equatable {
        public var name: String
        public var pointer: JSONPointer
        public var confidentiality: Int
        public var map: [MapEntry]?

        public init(name: String, pointer: JSONPointer, confidentiality: Int, map: [MapEntry]? = nil) {
            self.name = name
            self.pointer = pointer
            self.confidentiality = confidentiality
            self.map = map
        }
    }

    /// `"time": {"pointer": "/ts", "format": "epoch-ms", "optional": false}`
    public struct TimeRule: Sendable, Equatable {
        public var pointer: JSONPointer
        public var format: TimeFormat
        /// When true, a missing or null time field means the arrival time; a present but bad one still rejects.
        public var optional: Bool

        public init(pointer: JSONPointer, format: TimeFormat, optional: Bool = false) {
            self.pointer = pointer
            self.format = format
            self.optional = optional
        }
    }

    public enum TimeFormat: String, Sendable, Equatable, CaseIterable {
        /// A JSON number of seconds since 1970-01-01T00:00:00Z; fractions kept.
        case epochSeconds = "epoch-s"
        /// A JSON number of milliseconds since 1970-01-01T00:00:00Z; fractions kept.
        case epochMilliseconds = "epoch-ms"
        /// A JSON string `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; the offset is required.
        case rfc3339 = "rfc3339"
    }

    /// One vendor field → one catalogue quantity.
    public struct ValueRule: Sendable, Equatable {
        public var pointer: JSONPointer
        /// Catalogue quantity id, e.g. `battery_voltage`.
        public var quantity: String
        /// The unit the vendor sends; the mapper converts to the quantity's canonical unit. Nil: the vendor
        /// already sends the canonical unit (or the quantity has none).
        public var unit: String?
        /// Vendor value → catalogue value, in file order; nil when the value is taken as it is.
        public var map: [MapEntry]?
        /// Catalogue value for a present value that `map` does not list; nil makes such a value an issue.
        public var defaultValue: MappedScalar?
        /// When true, a missing or null field is not an issue.
        public var optional: Bool

        public init(
            pointer: JSONPointer, quantity: String, unit: String? = nil, map: [MapEntry]? = nil,
            defaultValue: MappedScalar? = nil, optional: Bool = false
        ) {
            self.pointer = pointer
            self.quantity = quantity
            self.unit = unit
            self.map = map
            self.defaultValue = defaultValue
            self.optional = optional
        }
    }

    /// One `map` member. `vendorValue` is the member's key: matched as a string against vendor strings,
    /// as `true`/`false` against vendor booleans, and as a JSON number against vendor numbers (`"1"` matches 1 and 1.0).
    public struct MapEntry: Sendable, Equatable {
        public var vendorValue: String
        public var value: MappedScalar

        public init(vendorValue: String, value: MappedScalar) {
            self.vendorValue = vendorValue
            self.value = value
        }
    }

    /// `{"pointer": "/alarm", "equals": "FORCED", "event": "forced_entry"}`: the event is raised when the
    /// field is present and equal (same JSON type; numbers compare numerically) to `equals`.
    public struct EventRule: Sendable, Equatable {
        public var pointer: JSONPointer
        /// A string, number or boolean.
        public var equals: JSONValue
        /// Catalogue event id, e.g. `forced_entry`.
        public var event: String

        public init(pointer: JSONPointer, equals: JSONValue, event: String) {
            self.pointer = pointer
            self.equals = equals
            self.event = event
        }
    }

    /// The quantity ids this mapping produces, in file order (for checking against the catalogue).
    public var quantityIDs: [String] { values.map(\.quantity) }

    /// The event ids this mapping raises, in file order without repeats (for checking against the catalogue).
    public var eventIDs: [String] {
        var seen = Set<String>()
        return events.map(\.event).filter { seen.insert($0).inserted }
    }
}

/// A mapping file that cannot be used: which file, which field (`values[2].unit`; empty for the whole
/// file) and why.
public struct VendorMappingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var field: String
    public var reason: String

    public init(file: String, field: String, reason: String) {
        self.file = file
        self.field = field
        self.reason = reason
    }

    public var description: String {
        field.isEmpty ? "\(file): \(reason)" : "\(file): \(field): \(reason)"
    }
}

// MARK: - Loading

extension VendorMapping {
    /// Loads and validates every `*.json` file in `directory` (not subdirectories, not hidden files), in
    /// file-name order. Fails on the first invalid file, or when two files use the same `id`.
    public static func loadAll(from directory: URL) throws(VendorMappingError) -> [VendorMapping] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw VendorMappingError(file: directory.path, field: "", reason: "cannot list the mapping directory: \(error.localizedDescription)")
        }
        var mappings: [VendorMapping] = []
        var fileByID: [String: String] = [:]
        for name in names.sorted() where name.hasSuffix(".json") && !name.hasPrefix(".") {
            let mapping = try load(contentsOf: directory.appendingPathComponent(name))
            if let earlier = fileByID[mapping.id] {
                throw VendorMappingError(file: name, field: "id", reason: "duplicate id \(vendorJSONQuoted(mapping.id)); \(earlier) already uses it")
            }
            fileByID[mapping.id] = name
            mappings.append(mapping)
        }
        return mappings
    }

    /// Loads and validates one mapping file; errors name the file by its last path component.
    public static func load(contentsOf url: URL) throws(VendorMappingError) -> VendorMapping {
        let name = url.lastPathComponent
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw VendorMappingError(file: name, field: "", reason: "cannot read the file: \(error.localizedDescription)")
        }
        return try decode(Array(data), file: name)
    }

    /// Decodes and validates a mapping document; `file` names it in errors.
    public static func decode(_ bytes: [UInt8], file: String) throws(VendorMappingError) -> VendorMapping {
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes)
        } catch {
            throw VendorMappingError(file: file, field: "", reason: error.description)
        }
        return try VendorMappingDecoder(file: file).decodeMapping(document)
    }
}

// MARK: - Decoding and validation

private struct VendorMappingDecoder {
    let file: String

    static let topLevelKeys = ["version", "id", "vendor", "model", "deviceType", "description", "time", "values", "events",
                               "eventAttributes"]
    static let attributeKeys = ["pointer", "confidentiality", "map"]
    static let timeKeys = ["pointer", "format", "optional"]
    static let valueKeys = ["pointer", "quantity", "unit", "map", "default", "optional"]
    static let eventKeys = ["pointer", "equals", "event"]

    func failure(_ field: String, _ reason: String) -> VendorMappingError {
        VendorMappingError(file: file, field: field, reason: reason)
    }

    func decodeMapping(_ document: JSONValue) throws(VendorMappingError) -> VendorMapping {
        let root = try object(document, field: "", allowed: Self.topLevelKeys, what: "a mapping file")

        guard let versionValue = root["version"] else {
            throw failure("version", "missing; write \"version\": \(VendorMapping.supportedVersion)")
        }
        guard case .number(let version) = versionValue else {
            throw failure("version", "expected a number, got \(versionValue.kindWithArticle)")
        }
        guard version == Double(VendorMapping.supportedVersion) else {
            throw failure("version", "unsupported version \(vendorJSONNumber(version)); this gateway reads version \(VendorMapping.supportedVersion)")
        }

        let id = try string(root, "id", field: "id")
        if let problem = vendorIdentifierProblem(id, rule: .mappingID) { throw failure("id", problem) }
        let vendor = try string(root, "vendor", field: "vendor")
        let model = try string(root, "model", field: "model")
        for (field, text) in [("vendor", vendor), ("model", model)] {
            if text.trimmingCharacters(in: .whitespaces).isEmpty { throw failure(field, "must not be empty") }
            if text.unicodeScalars.count > 100 { throw failure(field, "longer than 100 characters") }
            if text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                throw failure(field, "contains a control character")
            }
        }
        let deviceType = try string(root, "deviceType", field: "deviceType")
        if let problem = vendorIdentifierProblem(deviceType, rule: .deviceType) { throw failure("deviceType", problem) }
        var description: String?
        if root["description"] != nil {
            description = try string(root, "description", field: "description")
        }

        var time: VendorMapping.TimeRule?
        if let timeValue = root["time"] {
            time = try decodeTime(timeValue)
        }

        var values: [VendorMapping.ValueRule] = []
        if let valuesValue = root["values"] {
            guard case .array(let elements) = valuesValue else {
                throw failure("values", "expected an array of value rules, got \(valuesValue.kindWithArticle)")
            }
            var ruleIndexByQuantity: [String: Int] = [:]
            for (index, element) in elements.enumerated() {
                let rule = try decodeValue(element, field: "values[\(index)]")
                if let earlier = ruleIndexByQuantity[rule.quantity] {
                    throw failure("values[\(index)].quantity", "quantity \(vendorJSONQuoted(rule.quantity)) is already mapped by values[\(earlier)]; a message yields each quantity once")
                }
                ruleIndexByQuantity[rule.quantity] = index
                values.append(rule)
            }
        }

        var events: [VendorMapping.EventRule] = []
        if let eventsValue = root["events"] {
            guard case .array(let elements) = eventsValue else {
                throw failure("events", "expected an array of event rules, got \(eventsValue.kindWithArticle)")
            }
            for (index, element) in elements.enumerated() {
                let rule = try decodeEvent(element, field: "events[\(index)]")
                if let earlier = events.firstIndex(of: rule) {
                    throw failure("events[\(index)]", "repeats events[\(earlier)] (same pointer, equals and event)")
                }
                events.append(rule)
            }
        }

        if values.isEmpty && events.isEmpty {
            throw failure("values", "the mapping maps nothing: give at least one value rule or event rule")
        }
        var attributes: [VendorMapping.AttributeRule] = []
        if let attributesValue = root["eventAttributes"] {
            guard case .object(let members) = attributesValue else {
                throw failure("eventAttributes", "expected an object of attribute name → rule, got \(attributesValue.kindWithArticle)")
            }
            if let duplicate = members.firstDuplicateKey {
                throw failure("eventAttributes.\(duplicate)", "the field appears more than once")
            }
            guard !events.isEmpty else {
                throw failure("eventAttributes", "the mapping raises no event for these attributes to travel with")
            }
            for member in members.members {
                attributes.append(try decodeAttribute(member.key, member.value, field: "eventAttributes.\(member.key)"))
            }
        }
        return VendorMapping(
            file: file, id: id, vendor: vendor, model: model, deviceType: deviceType, description: description,
            time: time, values: values, events: events, eventAttributes: attributes
        )
    }

    func decodeAttribute(_ name: String, _ value: JSONValue, field: String) throws(VendorMappingError) -> VendorMapping.AttributeRule {
        // Attribute names are API field names: lowerCamelCase, short.
        let bytes = Array(name.utf8)
        let isLetter = { (b: UInt8) in (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) }
        guard let first = bytes.first, first >= 0x61, first <= 0x7A, bytes.count <= 32,
              bytes.allSatisfy({ isLetter($0) || ($0 >= 0x30 && $0 <= 0x39) }) else {
            throw failure(field, "\(vendorJSONQuoted(name)) is not an attribute name: use lowerCamelCase letters and digits, up to 32 (e.g. \"staffRef\")")
        }
        let object = try object(value, field: field, allowed: Self.attributeKeys, what: "an attribute rule")
        let pointer = try pointer(object, field: "\(field).pointer")
        guard let classValue = object["confidentiality"] else {
            throw failure("\(field).confidentiality", "missing; every attribute is classified: 1 open, 2 internal, 3 sensitive")
        }
        guard case .number(let level) = classValue, [1.0, 2.0, 3.0].contains(level) else {
            throw failure("\(field).confidentiality", "expected 1, 2 or 3, got \(vendorDescribe(classValue))")
        }
        var map: [VendorMapping.MapEntry]?
        if let mapValue = object["map"] {
            map = try decodeMap(mapValue, field: "\(field).map")
        }
        return VendorMapping.AttributeRule(name: name, pointer: pointer, confidentiality: Int(level), map: map)
    }

    func decodeTime(_ value: JSONValue) throws(VendorMappingError) -> VendorMapping.TimeRule {
        let object = try object(value, field: "time", allowed: Self.timeKeys, what: "the time rule")
        let pointer = try pointer(object, field: "time.pointer")
        let formatText = try string(object, "format", field: "time.format")
        guard let format = VendorMapping.TimeFormat(rawValue: formatText) else {
            let known = VendorMapping.TimeFormat.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            throw failure("time.format", "unknown time format \(vendorJSONQuoted(formatText)); expected one of \(known)")
        }
        let optional = try bool(object, "optional", field: "time.optional") ?? false
        return VendorMapping.TimeRule(pointer: pointer, format: format, optional: optional)
    }

    func decodeValue(_ value: JSONValue, field: String) throws(VendorMappingError) -> VendorMapping.ValueRule {
        let object = try object(value, field: field, allowed: Self.valueKeys, what: "a value rule")
        let pointer = try pointer(object, field: "\(field).pointer")
        let quantity = try string(object, "quantity", field: "\(field).quantity")
        if let problem = vendorIdentifierProblem(quantity, rule: .catalogueID) { throw failure("\(field).quantity", problem) }

        var unit: String?
        if object["unit"] != nil {
            let text = try string(object, "unit", field: "\(field).unit")
            guard UnitConversion.isKnown(text) else {
                throw failure("\(field).unit", "unknown unit \(vendorJSONQuoted(text)); known units: \(UnitConversion.knownUnits.joined(separator: " ")) (leave \"unit\" out when the vendor sends the canonical unit)")
            }
            unit = text
        }

        var map: [VendorMapping.MapEntry]?
        if let mapValue = object["map"] {
            map = try decodeMap(mapValue, field: "\(field).map")
            if unit != nil {
                throw failure("\(field).unit", "a rule with \"map\" cannot have \"unit\": map targets are already catalogue values")
            }
        }

        var defaultValue: MappedScalar?
        if let defaultJSON = object["default"] {
            guard map != nil else {
                throw failure("\(field).default", "\"default\" applies to values missing from \"map\", and this rule has no \"map\"")
            }
            defaultValue = try scalar(defaultJSON, field: "\(field).default", what: "catalogue value")
        }

        let optional = try bool(object, "optional", field: "\(field).optional") ?? false
        return VendorMapping.ValueRule(
            pointer: pointer, quantity: quantity, unit: unit, map: map, defaultValue: defaultValue, optional: optional
        )
    }

    func decodeMap(_ mapValue: JSONValue, field: String) throws(VendorMappingError) -> [VendorMapping.MapEntry] {
        guard case .object(let mapObject) = mapValue else {
            throw failure(field, "expected an object of vendor value → catalogue value, got \(mapValue.kindWithArticle)")
        }
        if mapObject.isEmpty {
            throw failure(field, "empty map; every vendor value would be unmapped (leave \"map\" out to take values as they are)")
        }
        if let duplicate = mapObject.firstDuplicateKey {
            throw failure(field, "the vendor value \(vendorJSONQuoted(duplicate)) is listed more than once")
        }
        var entries: [VendorMapping.MapEntry] = []
        for member in mapObject.members {
            let target = try scalar(member.value, field: "\(field)[\(vendorJSONQuoted(member.key))]", what: "catalogue value")
            entries.append(VendorMapping.MapEntry(vendorValue: member.key, value: target))
        }
        return entries
    }

    func decodeEvent(_ value: JSONValue, field: String) throws(VendorMappingError) -> VendorMapping.EventRule {
        let object = try object(value, field: field, allowed: Self.eventKeys, what: "an event rule")
        let pointer = try pointer(object, field: "\(field).pointer")
        guard let equals = object["equals"] else {
            throw failure("\(field).equals", "missing; give the vendor value (string, number or boolean) that raises the event")
        }
        switch equals {
        case .string, .number, .bool: break
        default:
            throw failure("\(field).equals", "expected a string, number or boolean, got \(equals.kindWithArticle)")
        }
        let event = try string(object, "event", field: "\(field).event")
        if let problem = vendorIdentifierProblem(event, rule: .catalogueID) { throw failure("\(field).event", problem) }
        return VendorMapping.EventRule(pointer: pointer, equals: equals, event: event)
    }

    // MARK: Field helpers

    /// `value` as an object whose keys are all in `allowed` and unique.
    func object(_ value: JSONValue, field: String, allowed: [String], what: String) throws(VendorMappingError) -> JSONObject {
        guard case .object(let object) = value else {
            throw failure(field, "expected \(what) (a JSON object), got \(value.kindWithArticle)")
        }
        if let duplicate = object.firstDuplicateKey {
            throw failure(joined(field, duplicate), "the field appears more than once")
        }
        for member in object.members where !allowed.contains(member.key) {
            throw failure(joined(field, member.key), "unknown field; allowed here: \(allowed.joined(separator: ", "))")
        }
        return object
    }

    func joined(_ field: String, _ key: String) -> String {
        field.isEmpty ? key : "\(field).\(key)"
    }

    func string(_ object: JSONObject, _ key: String, field: String) throws(VendorMappingError) -> String {
        guard let value = object[key] else { throw failure(field, "missing; expected a string") }
        guard case .string(let text) = value else {
            throw failure(field, "expected a string, got \(value.kindWithArticle)")
        }
        return text
    }

    func bool(_ object: JSONObject, _ key: String, field: String) throws(VendorMappingError) -> Bool? {
        guard let value = object[key] else { return nil }
        guard case .bool(let flag) = value else {
            throw failure(field, "expected true or false, got \(value.kindWithArticle)")
        }
        return flag
    }

    func pointer(_ object: JSONObject, field: String) throws(VendorMappingError) -> JSONPointer {
        let text = try string(object, "pointer", field: field)
        let pointer: JSONPointer
        do {
            pointer = try JSONPointer(parsing: text)
        } catch {
            throw failure(field, "bad JSON pointer \(vendorJSONQuoted(text)): \(error.reason) (at offset \(error.offset))")
        }
        if pointer.tokens.isEmpty {
            throw failure(field, "the pointer \"\" is the whole document; point at a field such as \"/state\"")
        }
        return pointer
    }

    func scalar(_ value: JSONValue, field: String, what: String) throws(VendorMappingError) -> MappedScalar {
        switch value {
        case .string(let text):
            if text.isEmpty { throw failure(field, "empty \(what)") }
            return .string(text)
        case .number(let number): return .number(number)
        case .bool(let flag): return .boolean(flag)
        default: throw failure(field, "expected a \(what) (string, number or boolean), got \(value.kindWithArticle)")
        }
    }
}

// MARK: - Identifiers

enum VendorIdentifierRule {
    /// Mapping ids: `nordlock-nl200` (lowercase letters, digits, `-`, `_`, `.`; starts with a letter or digit).
    case mappingID
    /// Device types: `digital-lock` (lowercase letters, digits, `-`; starts with a letter).
    case deviceType
    /// Quantity and event ids: `battery_voltage` (lowercase letters, digits, `_`; starts with a letter).
    case catalogueID
}

/// Why `text` is not a valid identifier of that kind, or nil.
func vendorIdentifierProblem(_ text: String, rule: VendorIdentifierRule) -> String? {
    let bytes = Array(text.utf8)
    guard let first = bytes.first else { return "must not be empty" }
    if bytes.count > 64 { return "longer than 64 characters" }
    let isLower = { (byte: UInt8) in byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") }
    let isDigit = { (byte: UInt8) in byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
    let (extra, shape): ([UInt8], String)
    switch rule {
    case .mappingID:
        extra = Array("-_.".utf8)
        shape = "lowercase letters, digits, '-', '_' and '.', starting with a letter or digit (e.g. \"nordlock-nl200\")"
        guard isLower(first) || isDigit(first) else { return "\(vendorJSONQuoted(text)) is not an id: use \(shape)" }
    case .deviceType:
        extra = Array("-".utf8)
        shape = "lowercase letters, digits and '-', starting with a letter (e.g. \"digital-lock\")"
        guard isLower(first) else { return "\(vendorJSONQuoted(text)) is not a device type id: use \(shape)" }
    case .catalogueID:
        extra = Array("_".utf8)
        shape = "lowercase letters, digits and '_', starting with a letter (e.g. \"battery_voltage\")"
        guard isLower(first) else { return "\(vendorJSONQuoted(text)) is not a catalogue id: use \(shape)" }
    }
    for byte in bytes where !(isLower(byte) || isDigit(byte) || extra.contains(byte)) {
        return "\(vendorJSONQuoted(text)) is not a valid id: use \(shape)"
    }
    return nil
}

/// A number for a message: integers without ".0".
func vendorJSONNumber(_ value: Double) -> String {
    if value.isFinite, value == value.rounded(), abs(value) < 1e15 {
        return String(Int64(value))
    }
    return "\(value)"
}

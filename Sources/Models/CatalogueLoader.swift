import Foundation

/// Reads and validates a DataModels directory. Collects every problem it finds rather than
/// stopping at the first, so that one run shows a reviewer everything that is wrong.
struct CatalogueLoader {
    static let quantitiesPath = "catalogue/quantities.json"
    static let eventsPath = "catalogue/events.json"
    static let scaipPath = "catalogue/scaip.json"
    static let deviceTypesPath = "device-types"

    let directory: URL
    /// The directory's name, which starts every file path in messages (`DataModels/...`).
    let label: String
    private let log = IssueLog()

    init(directory: URL) {
        self.directory = directory.standardizedFileURL
        let name = self.directory.lastPathComponent
        self.label = name.isEmpty || name == "/" ? "." : name
    }

    func load() throws(CatalogueError) -> Catalogue {
        let quantities = loadQuantities()
        let events = loadEvents()
        let deviceTypes = loadDeviceTypes(
            knownQuantities: quantities.knownIDs,
            knownEvents: events.knownIDs
        )
        let scaipRules = loadSCAIPRules(knownEvents: events.knownIDs)
        guard log.issues.isEmpty else { throw CatalogueError(issues: log.issues) }
        return Catalogue(
            quantities: quantities.values,
            events: events.values,
            outcomes: events.outcomes,
            deviceTypes: deviceTypes,
            scaipRules: scaipRules
        )
    }

    // MARK: - Files

    private func displayPath(_ relative: String) -> String { "\(label)/\(relative)" }

    /// Reads and parses one file, reporting a missing file or a syntax error.
    private func readJSON(_ relative: String) -> RawJSON? {
        let file = displayPath(relative)
        let url = directory.appendingPathComponent(relative)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            log.add(CatalogueError.Issue(file: file, message: "file not found"))
            return nil
        }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            log.add(CatalogueError.Issue(file: file, message: "cannot read file: \(error.localizedDescription)"))
            return nil
        }
        do {
            return try StrictJSONParser.parse(data)
        } catch {
            log.add(CatalogueError.Issue(
                file: file,
                field: error.path.isEmpty ? nil : error.path,
                message: "invalid JSON at line \(error.line), column \(error.column): \(error.message)"))
            return nil
        }
    }

    /// The top-level object of a catalogue file, with its `version` checked.
    private func readCatalogueFile(_ relative: String, allowedKeys: [String]) -> Fields? {
        let file = displayPath(relative)
        guard let document = readJSON(relative) else { return nil }
        guard case .object(let object) = document else {
            log.add(CatalogueError.Issue(file: file, message: "expected a JSON object at the top level, got \(document.summary)"))
            return nil
        }
        let top = Fields(object: object, file: file, entry: nil, log: log)
        top.rejectUnknownKeys(allowed: allowedKeys)
        if let version = top.integer("version"), version != Catalogue.supportedVersion {
            top.report("version", "must be \(Catalogue.supportedVersion), got \(version)")
        }
        return top
    }

    // MARK: - SCAIP

    /// `catalogue/scaip.json`, when present: the SCAIP table. Each rule names a message type, optionally a
    /// device type and a status code (4 digits each), a known event and the element that chose it.
    private func loadSCAIPRules(knownEvents: Set<String>?) -> [SCAIPRule] {
        guard FileManager.default.fileExists(atPath: directory.appendingPathComponent(Self.scaipPath).path),
              let top = readCatalogueFile(Self.scaipPath, allowedKeys: ["version", "description", "rules"]),
              let entries = top.array("rules") else { return [] }
        var rules: [SCAIPRule] = []
        for (index, entry) in entries.enumerated() {
            guard case .object(let object) = entry else {
                top.report("rules[\(index)]", "expected an object, got \(entry.summary)")
                continue
            }
            let rule = Fields(object: object, file: top.file, entry: "rule \(index)", log: log)
            rule.rejectUnknownKeys(allowed: ["mty", "dty", "stc", "event", "path"])
            let messageType = rule.string("mty")
            if let messageType, !SCAIPRule.messageTypes.contains(messageType) {
                rule.report("mty", "unknown message type \"\(messageType)\"; expected one of \(SCAIPRule.messageTypes.joined(separator: ", "))")
            }
            let codes = ["dty", "stc"].map { key -> String? in
                let code = rule.string(key, required: false)
                if let code, code.utf8.count != 4 || !code.utf8.allSatisfy({ (0x30...0x39).contains($0) }) {
                    rule.report(key, "must be exactly 4 digits, got \"\(code)\"")
                }
                return code
            }
            let event = rule.string("event")
            if let event, let knownEvents, !knownEvents.contains(event) {
                rule.report("event", "unknown event \"\(event)\"; it is not in \(displayPath(Self.eventsPath))")
            }
            let path = rule.string("path")
            if let path, !["mty", "dty", "stc"].contains(path) {
                rule.report("path", "must be mty, dty or stc, got \"\(path)\"")
            }
            if let messageType, let event, let path {
                rules.append(SCAIPRule(messageType: messageType, deviceType: codes[0], statusCode: codes[1], event: event, path: path))
            }
        }
        return rules
    }

    // MARK: - Quantities

    private struct Loaded<Value> {
        var values: [Value] = []
        /// Every id that appears in the file, valid entry or not; nil when the file itself is
        /// unusable (so that references to it are not reported as unknown as well).
        var knownIDs: Set<String>?
    }

    private func loadQuantities() -> Loaded<Quantity> {
        var result = Loaded<Quantity>()
        guard let top = readCatalogueFile(Self.quantitiesPath, allowedKeys: ["version", "quantities"]),
              let entries = top.array("quantities") else { return result }
        let entriesResult = parseEntries(entries, in: top, listKey: "quantities", noun: "quantity", parse: parseQuantity)
        result.values = entriesResult.values
        result.knownIDs = entriesResult.ids
        return result
    }

    private func parseQuantity(_ q: Fields) -> Quantity? {
        let id = q.identifier("id", style: .snakeCase)
        let description = q.localizedText("description")
        let typeName = q.string("type")
        var type: ValueType?
        if let typeName {
            if ValueType.names.contains(typeName) {
                type = ValueType(name: typeName)
            } else {
                q.report("type", "unknown type \"\(typeName)\"; expected one of \(ValueType.names.joined(separator: ", "))")
            }
        }

        // values: required for enum, forbidden otherwise.
        if case .enumeration = type {
            if q.has("values") {
                if let values = q.stringList("values", unique: true, noun: "value") {
                    if values.isEmpty {
                        q.report("values", "an \"enum\" quantity must list at least one allowed value")
                    } else {
                        type = .enumeration(values: values)
                    }
                }
            } else {
                q.report("values", "missing; an \"enum\" quantity must list its allowed values")
            }
        } else if let typeName, type != nil, q.has("values") {
            q.report("values", "only allowed when type is \"enum\", not \"\(typeName)\"")
        }

        // unit: only for numbers.
        let unit = q.string("unit", required: false)
        if let unit {
            if unit.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                q.report("unit", "must not be empty; leave it out (or null) for a unitless quantity")
            } else if unit != unit.trimmingCharacters(in: .whitespacesAndNewlines) {
                q.report("unit", "must not start or end with whitespace")
            } else if let type, type != .number {
                q.report("unit", type == .position
                    ? "not allowed for a \"position\" quantity, whose units are always lat/lon (accuracy in m)"
                    : "only allowed when type is \"number\", not \"\(type.name)\"")
            }
        }

        // range: only for numbers.
        var range: ValueRange?
        if let r = q.object("range", required: false) {
            r.rejectUnknownKeys(allowed: ["min", "max"])
            let min = r.number("min", required: false)
            let max = r.number("max", required: false)
            if let type, type != .number {
                q.report("range", "only allowed when type is \"number\", not \"\(type.name)\"")
            } else if !r.has("min") && !r.has("max") {
                q.report("range", "must have \"min\", \"max\" or both")
            } else if let min, let max, min > max {
                q.report("range", "min (\(r.literal("min"))) must not be greater than max (\(r.literal("max")))")
            } else {
                range = ValueRange(min: min, max: max)
            }
        }

        let classification = q.classification("classification")

        var ngsiLd: NGSILDName?
        if let n = q.object("ngsiLd", required: false) {
            n.rejectUnknownKeys(allowed: ["property", "smartDataModel"])
            let property = n.string("property")
            if let property, !isNGSIName(property) {
                n.report("property", "must be a name of letters, digits and '_' starting with a letter, got \"\(property)\"")
            }
            let model = n.string("smartDataModel", required: false)
            if let model, !isNGSIName(model) {
                n.report("smartDataModel", "must be an entity type name (letters, digits, '_') or null, got \"\(model)\"")
            }
            if let property, isNGSIName(property), model.map(isNGSIName) ?? true {
                ngsiLd = NGSILDName(property: property, smartDataModel: model)
            }
        }

        q.rejectUnknownKeys(allowed: Quantity.CodingKeys.allCases.map(\.rawValue))
        guard let id, let description, let type, let classification else { return nil }
        return Quantity(
            id: id, description: description, unit: unit, type: type, range: range,
            classification: classification, ngsiLd: ngsiLd)
    }

    // MARK: - Events and outcomes

    private struct LoadedEvents {
        var values: [EventCode] = []
        var outcomes: [Outcome] = []
        var knownIDs: Set<String>?
    }

    private func loadEvents() -> LoadedEvents {
        var result = LoadedEvents()
        guard let top = readCatalogueFile(Self.eventsPath, allowedKeys: ["version", "events", "outcomes"]) else {
            return result
        }
        if let entries = top.array("events") {
            let parsed = parseEntries(entries, in: top, listKey: "events", noun: "event", parse: parseEvent)
            result.values = parsed.values
            result.knownIDs = parsed.ids
        }
        if let entries = top.array("outcomes") {
            result.outcomes = parseEntries(entries, in: top, listKey: "outcomes", noun: "outcome", parse: parseOutcome).values
        }
        return result
    }

    private func parseEvent(_ e: Fields) -> EventCode? {
        let id = e.identifier("id", style: .snakeCase)
        let description = e.localizedText("description")
        var kind: EventKind?
        if let name = e.string("kind") {
            kind = EventKind(rawValue: name)
            if kind == nil {
                e.report("kind", "unknown kind \"\(name)\"; expected one of \(EventKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        var alarm: AlarmSpec?
        var alarmValid = true
        if !e.has("alarm") {
            e.report("alarm", "missing; give {\"priority\": 1...5}, or null for an event that never opens an alarm")
            alarmValid = false
        } else if e.isNull("alarm") {
            alarm = nil
        } else if let a = e.object("alarm") {
            a.rejectUnknownKeys(allowed: ["priority"])
            if let priority = a.integer("priority") {
                if AlarmSpec.priorities.contains(priority) {
                    alarm = AlarmSpec(priority: priority)
                } else {
                    a.report("priority", "must be between 1 (highest) and 5, got \(priority)")
                    alarmValid = false
                }
            } else {
                alarmValid = false
            }
            if kind == .info {
                e.report("alarm", "an \"info\" event never opens an alarm; use null or another kind")
                alarmValid = false
            }
        } else {
            alarmValid = false
        }
        let classification = e.classification("classification")
        e.rejectUnknownKeys(allowed: EventCode.CodingKeys.allCases.map(\.rawValue))
        guard let id, let description, let kind, alarmValid, let classification else { return nil }
        return EventCode(id: id, description: description, kind: kind, alarm: alarm, classification: classification)
    }

    private func parseOutcome(_ o: Fields) -> Outcome? {
        let id = o.identifier("id", style: .snakeCase)
        let description = o.localizedText("description")
        o.rejectUnknownKeys(allowed: ["id", "description"])
        guard let id, let description else { return nil }
        return Outcome(id: id, description: description)
    }

    // MARK: - Device types

    private func loadDeviceTypes(knownQuantities: Set<String>?, knownEvents: Set<String>?) -> [DeviceType] {
        let folder = directory.appendingPathComponent(Self.deviceTypesPath, isDirectory: true)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            log.add(CatalogueError.Issue(file: displayPath(Self.deviceTypesPath), message: "directory not found"))
            return []
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
                .filter { !$0.hasPrefix(".") && $0.hasSuffix(".json") }
                .sorted()
        } catch {
            log.add(CatalogueError.Issue(
                file: displayPath(Self.deviceTypesPath), message: "cannot list directory: \(error.localizedDescription)"))
            return []
        }
        var result: [DeviceType] = []
        for name in names {
            let relative = "\(Self.deviceTypesPath)/\(name)"
            let stem = String(name.dropLast(".json".count))
            guard let document = readJSON(relative) else { continue }
            let file = displayPath(relative)
            guard case .object(let object) = document else {
                log.add(CatalogueError.Issue(file: file, message: "expected a JSON object at the top level, got \(document.summary)"))
                continue
            }
            var entry: String?
            if case .string(let id)? = object["id"], !id.isEmpty { entry = "device type \"\(id)\"" }
            let d = Fields(object: object, file: file, entry: entry, log: log)
            let before = log.issues.count
            if let deviceType = parseDeviceType(d, fileStem: stem, knownQuantities: knownQuantities, knownEvents: knownEvents),
               log.issues.count == before {
                result.append(deviceType)
            }
        }
        return result
    }

    private func parseDeviceType(
        _ d: Fields, fileStem: String, knownQuantities: Set<String>?, knownEvents: Set<String>?
    ) -> DeviceType? {
        let id = d.identifier("id", style: .kebabCase)
        if let id, id != fileStem {
            d.report("id", "must match the file name \"\(fileStem).json\"; got \"\(id)\"")
        }
        let description = d.localizedText("description")

        var formats: [PayloadFormat]?
        if let names = d.stringList("payloadFormats", unique: true, noun: "payload format") {
            var parsed: [PayloadFormat] = []
            for (i, name) in names.enumerated() {
                if let format = PayloadFormat(rawValue: name) {
                    parsed.append(format)
                } else {
                    d.report("payloadFormats[\(i)]", "unknown payload format \"\(name)\"; expected one of \(PayloadFormat.allCases.map(\.rawValue).joined(separator: ", "))")
                }
            }
            if names.isEmpty {
                d.report("payloadFormats", "must list at least one payload format")
            } else if parsed.count == names.count {
                formats = parsed
            }
        }

        var heartbeat: Int?
        if let seconds = d.integer("heartbeatIntervalSeconds") {
            if seconds > 0 {
                heartbeat = seconds
            } else {
                d.report("heartbeatIntervalSeconds", "must be greater than 0, got \(seconds)")
            }
        }

        let quantities = d.stringList("quantities", unique: true, noun: "quantity")
        if let quantities, let knownQuantities {
            for (i, q) in quantities.enumerated() where !knownQuantities.contains(q) {
                d.report("quantities[\(i)]", "unknown quantity \"\(q)\"; it is not in \(displayPath(Self.quantitiesPath))")
            }
        }
        let events = d.stringList("events", unique: true, noun: "event")
        if let events, let knownEvents {
            for (i, e) in events.enumerated() where !knownEvents.contains(e) {
                d.report("events[\(i)]", "unknown event \"\(e)\"; it is not in \(displayPath(Self.eventsPath))")
            }
        }

        var aliases: [String: String] = [:]
        if let map = d.object("nameAliases", required: false) {
            for alias in map.object.keys.sorted() {
                guard let target = map.string(alias) else { continue }
                if quantities?.contains(target) == true || events?.contains(target) == true {
                    aliases[alias] = target
                } else {
                    map.report(alias, "alias of \"\(target)\", which is neither a quantity nor an event of this device type")
                }
            }
        }

        d.rejectUnknownKeys(allowed: ["id", "description", "payloadFormats", "heartbeatIntervalSeconds", "quantities", "events", "nameAliases"])
        guard let id, let description, let formats, let heartbeat, let quantities, let events else { return nil }
        return DeviceType(
            id: id, description: description, payloadFormats: formats,
            heartbeatIntervalSeconds: heartbeat, quantities: quantities, events: events, nameAliases: aliases)
    }

    // MARK: - Entries

    /// Parses the entries of a list (`quantities`, `events`, `outcomes`), names each entry by its
    /// id (or index), and reports duplicate ids.
    private func parseEntries<Value>(
        _ entries: [RawJSON], in top: Fields, listKey: String, noun: String,
        parse: (Fields) -> Value?
    ) -> (values: [Value], ids: Set<String>) {
        var values: [Value] = []
        var firstIndex: [String: Int] = [:]
        for (index, entry) in entries.enumerated() {
            guard case .object(let object) = entry else {
                log.add(CatalogueError.Issue(
                    file: top.file, entry: "\(listKey)[\(index)]", message: "expected an object, got \(entry.summary)"))
                continue
            }
            var id: String?
            if case .string(let s)? = object["id"], !s.isEmpty { id = s }
            let label = id.map { "\(noun) \"\($0)\"" } ?? "\(listKey)[\(index)]"
            let fields = Fields(object: object, file: top.file, entry: label, log: log)
            let before = log.issues.count
            if let id {
                if let first = firstIndex[id] {
                    fields.report("id", "duplicate id: \(listKey)[\(first)] and \(listKey)[\(index)] are both \"\(id)\"")
                } else {
                    firstIndex[id] = index
                }
            }
            if let value = parse(fields), log.issues.count == before {
                values.append(value)
            }
        }
        return (values, Set(firstIndex.keys))
    }

    private func isNGSIName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first.isASCIILetter else { return false }
        return s.unicodeScalars.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == "_" }
    }
}

// MARK: - Reading fields

/// Collects issues while loading. Used only inside one `load`, never shared across tasks.
final class IssueLog {
    private(set) var issues: [CatalogueError.Issue] = []

    func add(_ issue: CatalogueError.Issue) {
        issues.append(issue)
    }
}

enum IdentifierStyle {
    /// `[a-z][a-z0-9_]*`: quantities, events, outcomes.
    case snakeCase
    /// `[a-z][a-z0-9-]*`: device types (also their file names).
    case kebabCase

    var pattern: String {
        switch self {
        case .snakeCase: "[a-z][a-z0-9_]*"
        case .kebabCase: "[a-z][a-z0-9-]*"
        }
    }

    func matches(_ s: String) -> Bool {
        let separator: Unicode.Scalar = self == .snakeCase ? "_" : "-"
        guard let first = s.unicodeScalars.first, first.isLowercaseASCIILetter else { return false }
        return s.unicodeScalars.allSatisfy { $0.isLowercaseASCIILetter || $0.isASCIIDigit || $0 == separator }
    }
}

/// The fields of one JSON object inside an entry, with the path used in messages.
struct Fields {
    let object: RawJSONObject
    let file: String
    let entry: String?
    /// Path of this object inside the entry, e.g. `classification`; empty for the entry itself.
    let prefix: String
    let log: IssueLog

    init(object: RawJSONObject, file: String, entry: String?, prefix: String = "", log: IssueLog) {
        self.object = object
        self.file = file
        self.entry = entry
        self.prefix = prefix
        self.log = log
    }

    func path(_ key: String) -> String {
        prefix.isEmpty ? key : "\(prefix).\(key)"
    }

    func report(_ key: String, _ message: String) {
        log.add(CatalogueError.Issue(file: file, entry: entry, field: path(key), message: message))
    }

    func has(_ key: String) -> Bool { object[key] != nil }

    func isNull(_ key: String) -> Bool { object[key] == .null }

    func literal(_ key: String) -> String { object[key]?.summary ?? "" }

    func rejectUnknownKeys(allowed: [String]) {
        for key in object.keys where !allowed.contains(key) {
            report(key, "unknown field; expected one of \(allowed.joined(separator: ", "))")
        }
    }

    /// The raw value; reports a missing required field. A null optional field counts as absent.
    private func value(_ key: String, required: Bool) -> RawJSON? {
        guard let value = object[key] else {
            if required { report(key, "missing") }
            return nil
        }
        if value == .null && !required { return nil }
        return value
    }

    func string(_ key: String, required: Bool = true) -> String? {
        guard let value = value(key, required: required) else { return nil }
        guard case .string(let s) = value else {
            report(key, "expected a string, got \(value.summary)")
            return nil
        }
        return s
    }

    func integer(_ key: String, required: Bool = true) -> Int? {
        guard let value = value(key, required: required) else { return nil }
        guard case .number(let d, _) = value, let i = Int(exactly: d) else {
            report(key, "expected an integer, got \(value.summary)")
            return nil
        }
        return i
    }

    func number(_ key: String, required: Bool = true) -> Double? {
        guard let value = value(key, required: required) else { return nil }
        guard case .number(let d, _) = value else {
            report(key, "expected a number, got \(value.summary)")
            return nil
        }
        return d
    }

    func bool(_ key: String, required: Bool = true) -> Bool? {
        guard let value = value(key, required: required) else { return nil }
        guard case .bool(let b) = value else {
            report(key, "expected true or false, got \(value.summary)")
            return nil
        }
        return b
    }

    func object(_ key: String, required: Bool = true) -> Fields? {
        guard let value = value(key, required: required) else { return nil }
        guard case .object(let o) = value else {
            report(key, "expected an object, got \(value.summary)")
            return nil
        }
        return Fields(object: o, file: file, entry: entry, prefix: path(key), log: log)
    }

    func array(_ key: String, required: Bool = true) -> [RawJSON]? {
        guard let value = value(key, required: required) else { return nil }
        guard case .array(let a) = value else {
            report(key, "expected an array, got \(value.summary)")
            return nil
        }
        return a
    }

    /// An array of non-empty strings; reports wrong element types, empty and duplicate elements
    /// by index. Returns nil if any element is wrong.
    func stringList(_ key: String, unique: Bool, noun: String) -> [String]? {
        guard let elements = array(key) else { return nil }
        var result: [String] = []
        var seen: [String: Int] = [:]
        var valid = true
        for (i, element) in elements.enumerated() {
            let field = "\(key)[\(i)]"
            guard case .string(let s) = element else {
                report(field, "expected a string, got \(element.summary)")
                valid = false
                continue
            }
            if s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                report(field, "must not be empty")
                valid = false
            } else if unique, let first = seen[s] {
                report(field, "duplicate \(noun) \"\(s)\" (already at \(key)[\(first)])")
                valid = false
            } else {
                seen[s] = i
            }
            result.append(s)
        }
        return valid ? result : nil
    }

    func identifier(_ key: String, style: IdentifierStyle) -> String? {
        guard let id = string(key) else { return nil }
        guard style.matches(id) else {
            report(key, "\"\(id)\" is not a valid id; ids must match \(style.pattern)")
            return nil
        }
        return id
    }

    func localizedText(_ key: String) -> LocalizedText? {
        guard let text = object(key) else { return nil }
        text.rejectUnknownKeys(allowed: ["sv", "en"])
        var valid = true
        var strings: [String: String] = [:]
        for language in ["sv", "en"] {
            guard let s = text.string(language) else {
                valid = false
                continue
            }
            if s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                text.report(language, "must not be empty")
                valid = false
            }
            strings[language] = s
        }
        guard valid, let sv = strings["sv"], let en = strings["en"] else { return nil }
        return LocalizedText(sv: sv, en: en)
    }

    func classification(_ key: String) -> Classification? {
        guard let c = object(key) else { return nil }
        c.rejectUnknownKeys(allowed: ["confidentiality", "personalData", "retentionDays"])
        var confidentiality: Confidentiality?
        if let level = c.integer("confidentiality") {
            confidentiality = Confidentiality(rawValue: level)
            if confidentiality == nil {
                c.report("confidentiality", "must be 1, 2 or 3, got \(level)")
            }
        }
        var personalData = c.bool("personalData")
        if personalData == true, confidentiality == .open {
            c.report("personalData", "personal data cannot be class 1 (open); use confidentiality 2 or 3")
            personalData = nil
        }
        var retentionDays: Int?
        if let days = c.integer("retentionDays") {
            if days > 0 {
                retentionDays = days
            } else {
                c.report("retentionDays", "must be greater than 0, got \(days)")
            }
        }
        guard let confidentiality, let personalData, let retentionDays else { return nil }
        return Classification(confidentiality: confidentiality, personalData: personalData, retentionDays: retentionDays)
    }
}

fileprivate extension Unicode.Scalar {
    var isLowercaseASCIILetter: Bool { ("a"..."z").contains(self) }
    var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

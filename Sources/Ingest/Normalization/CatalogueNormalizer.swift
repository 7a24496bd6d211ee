// The catalogue normalizer: one payload from one device → catalogue values, events and rejections.
//
// Rules (see also README.md in this directory):
// - The adapter is chosen from the device's type and the message format (and, for vendor JSON, the
//   device model = mapping id); it is never guessed from the payload.
// - Whole-message rejection (a thrown `Rejection`, path "" or the failing part): unknown device type,
//   a format the type does not list in `payloadFormats`, vendor JSON without a model, without a mapping
//   for the model or with a mapping for another device type, and a payload its adapter cannot parse
//   (the adapter's own error text is passed through).
// - Everything else is judged per part: a bad part becomes a `Rejection` in the result and the other
//   parts still count.
// - SenML: the resolved record name is a quantity id or an event id. A name that is both (`heartbeat`,
//   `tamper`, `alarm_button`, `smoke`) is the quantity when the device type produces that quantity,
//   otherwise the event; on the `events` channel (`preferEvents`) it is the event when the type produces
//   that event. Events: `vb: true` raises it, `vb: false` raises nothing, `vs` raises it with
//   attribute "value". Numbers are converted to the canonical unit with `UnitConversion`; no unit means
//   canonical. Per-record rejections (path `records[i]`, the original index): unknown name, quantity or
//   event the device type does not produce, wrong value kind, enum value not allowed, number out of
//   range, unit not convertible, and the records the SenML resolver itself rejected.
// - Vendor JSON: `VendorMapper` (built once per mapping in `init`) reads the values and events; they go
//   through the same catalogue checks; its issues become rejections at their JSON pointer.
// - SCAIP XML: the message type (`mty`), device type code (`dty`) and status code (`stc`) choose the
//   event by the catalogue's SCAIP table (`DataModels/catalogue/scaip.json`); `lte`, `lco` and `lge` become `location_text`,
//   `location_code` and `position` when the device type produces them. SCAIP has no time stamp, so
//   observedAt is the arrival time (a structured `lge` may carry the fix's time). An unreadable optional
//   field is a rejection of its own; the event stands.
// - SenML names: a base name naming the device (ends in `:` or `/`, or is its id) is taken off, then the
//   device type's aliases apply (`catalogueName`).
// - Position folding (SenML and vendor JSON): accepted `latitude` and `longitude` values with the same
//   time (and a `position_accuracy` with that time, if any) also yield one `position` value when the
//   device type produces `position`; the separate values are kept.
// - Every value and event carries the classification of its catalogue entry.
// - `init` throws when a mapping names an unknown device type, a quantity or event that is unknown or
//   not produced by its device type, or a unit that cannot be converted to the canonical unit.
// - Never traps on any input: all arithmetic on payload data is on Doubles, checked for finiteness.

import Models

/// A catalogue value.
public enum NormalizedScalar: Sendable, Equatable {
    case number(Double)
    case string(String)
    case boolean(Bool)
    /// WGS 84 degrees; accuracy radius in metres when known.
    case position(latitude: Double, longitude: Double, accuracy: Double?)
}

/// One value of a catalogue quantity, in its canonical unit.
public struct NormalizedValue: Sendable, Equatable {
    /// Catalogue quantity id.
    public var quantity: String
    public var value: NormalizedScalar
    /// The quantity's canonical unit from the catalogue (nil when it has none).
    public var unit: String?
    public var classification: Classification
    /// Seconds since the Unix epoch.
    public var observedAt: Double
    /// Where in the payload it came from: SenML `records[2]`, a JSON pointer, a SCAIP element name.
    public var sourcePath: String

    public init(
        quantity: String, value: NormalizedScalar, unit: String?, classification: Classification,
        observedAt: Double, sourcePath: String
    ) {
        self.quantity = quantity
        self.value = value
        self.unit = unit
        self.classification = classification
        self.observedAt = observedAt
        self.sourcePath = sourcePath
    }
}

/// One catalogue event.
public struct NormalizedEvent: Sendable, Equatable {
    /// Catalogue event id.
    public var event: String
    /// Seconds since the Unix epoch.
    public var observedAt: Double
    public var classification: Classification
    /// Extra facts from the payload (SCAIP `ref`, `cid`, ...; SenML `vs` as "value").
    public var attributes: [String: String]
    public var sourcePath: String

    public init(
        event: String, observedAt: Double, classification: Classification,
        attributes: [String: String] = [:], sourcePath: String
    ) {
        self.event = event
        self.observedAt = observedAt
        self.classification = classification
        self.attributes = attributes
        self.sourcePath = sourcePath
    }
}

/// A payload, or one part of it, that does not fit the catalogue. `path` is "" for the whole message.
public struct Rejection: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { path.isEmpty ? reason : "\(path): \(reason)" }
}

/// What one payload yielded.
public struct NormalizedPayload: Sendable, Equatable {
    public var values: [NormalizedValue]
    public var events: [NormalizedEvent]
    public var rejections: [Rejection]
    /// Whether some time in the payload was taken relative to its arrival (SenML times below 2^28, or records
    /// rejected before their time was known); such payloads cannot be told apart from a later repeat by content.
    public var timesRelativeToArrival = false

    public init(values: [NormalizedValue] = [], events: [NormalizedEvent] = [], rejections: [Rejection] = []) {
        self.values = values
        self.events = events
        self.rejections = rejections
    }
}

/// A vendor mapping that does not fit the catalogue; thrown by `CatalogueNormalizer.init`.
public struct NormalizerConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The mapping's file name (or id when it has no file).
    public var mapping: String
    public var field: String
    public var reason: String

    public init(mapping: String, field: String, reason: String) {
        self.mapping = mapping
        self.field = field
        self.reason = reason
    }

    public var description: String {
        field.isEmpty ? "\(mapping): \(reason)" : "\(mapping): \(field): \(reason)"
    }
}

/// Turns payloads of every supported format into catalogue values and events.
public struct CatalogueNormalizer: Sendable {
    public let catalogue: Catalogue
    private let mappers: [String: VendorMapper]
    private let types: [String: TypeInfo]

    /// A device type with set lookups.
    private struct TypeInfo: Sendable {
        var type: DeviceType
        var quantities: Set<String>
        var events: Set<String>
    }

    /// Whether a vendor mapping with this id (a device model) exists.
    public func hasMapping(_ model: String) -> Bool { mappers[model] != nil }

    public init(catalogue: Catalogue, mappings: [VendorMapping]) throws {
        self.catalogue = catalogue
        var types: [String: TypeInfo] = [:]
        for type in catalogue.deviceTypes where types[type.id] == nil {
            types[type.id] = TypeInfo(type: type, quantities: Set(type.quantities), events: Set(type.events))
        }
        var mappers: [String: VendorMapper] = [:]
        for mapping in mappings {
            let name = mapping.file.isEmpty ? mapping.id : mapping.file
            guard mappers[mapping.id] == nil else {
                throw NormalizerConfigurationError(mapping: name, field: "id", reason: "mapping id \"\(mapping.id)\" is used twice")
            }
            guard let info = types[mapping.deviceType] else {
                throw NormalizerConfigurationError(
                    mapping: name, field: "deviceType", reason: "unknown device type \"\(mapping.deviceType)\"")
            }
            for (i, rule) in mapping.values.enumerated() {
                guard catalogue.quantity(rule.quantity) != nil else {
                    throw NormalizerConfigurationError(
                        mapping: name, field: "values[\(i)].quantity", reason: "unknown quantity \"\(rule.quantity)\"")
                }
                guard info.quantities.contains(rule.quantity) else {
                    throw NormalizerConfigurationError(
                        mapping: name, field: "values[\(i)].quantity",
                        reason: "quantity \"\(rule.quantity)\" is not produced by device type \"\(mapping.deviceType)\"")
                }
            }
            for (i, rule) in mapping.events.enumerated() {
                guard catalogue.event(rule.event) != nil else {
                    throw NormalizerConfigurationError(
                        mapping: name, field: "events[\(i)].event", reason: "unknown event \"\(rule.event)\"")
                }
                guard info.events.contains(rule.event) else {
                    throw NormalizerConfigurationError(
                        mapping: name, field: "events[\(i)].event",
                        reason: "event \"\(rule.event)\" is not produced by device type \"\(mapping.deviceType)\"")
                }
            }
            let units: [String: String] = Dictionary(
                catalogue.quantities.compactMap { q in q.unit.map { (q.id, $0) } }, uniquingKeysWith: { a, _ in a })
            let mapper = VendorMapper(mapping: mapping, canonicalUnit: { units[$0] })
            if let issue = mapper.configurationIssues.first {
                let index = mapping.values.firstIndex { $0.pointer.description == issue.path }
                throw NormalizerConfigurationError(
                    mapping: name, field: index.map { "values[\($0)].unit" } ?? issue.path, reason: issue.reason)
            }
            mappers[mapping.id] = mapper
        }
        self.mappers = mappers
        self.types = types
    }

    /// Normalizes one payload of a device of type `deviceType` (and, for vendor JSON, model `model`,
    /// the mapping id). Throws when the message as a whole cannot be used.
    /// - Parameter preferEvents: the message came on the events channel: a SenML name that is both a quantity
    ///   and an event of the type is the event.
    /// - Parameter deviceID: the sending device's id; a SenML base name that is this id is its identity.
    public func normalize(
        deviceType: String, model: String?, format: PayloadFormat, payload: [UInt8], receivedAt: Double,
        preferEvents: Bool = false, deviceID: String? = nil
    ) throws(Rejection) -> NormalizedPayload {
        guard let info = types[deviceType] else {
            throw Rejection(path: "", reason: "unknown device type \"\(deviceType)\"")
        }
        guard info.type.accepts(format) else {
            let accepted = info.type.payloadFormats.map(\.rawValue).joined(separator: ", ")
            throw Rejection(
                path: "",
                reason: "device type \"\(deviceType)\" does not send payload format \"\(format.rawValue)\" (its formats: \(accepted))")
        }
        var result: NormalizedPayload
        switch format {
        case .senml:
            result = try normalizeSenML(payload, info: info, receivedAt: receivedAt, preferEvents: preferEvents,
                                        deviceID: deviceID)
        case .vendorJSON:
            result = try normalizeVendorJSON(payload, model: model, info: info, receivedAt: receivedAt)
        case .scaipXML:
            result = try normalizeSCAIP(payload, info: info, receivedAt: receivedAt)
        }
        if format != .scaipXML {
            foldPositions(&result, info: info)
        }
        return result
    }

    // MARK: SenML

    private func normalizeSenML(_ payload: [UInt8], info: TypeInfo, receivedAt: Double,
                                preferEvents: Bool, deviceID: String?) throws(Rejection) -> NormalizedPayload {
        let pack: SenMLPack
        do {
            pack = try SenML.resolve(payload, now: receivedAt)
        } catch {
            throw Rejection(path: error.index.map { "records[\($0)]" } ?? "", reason: error.description)
        }
        var result = NormalizedPayload()
        result.timesRelativeToArrival = pack.records.contains(where: \.timeIsRelative) || !pack.rejected.isEmpty
        var rejections: [(Int, Rejection)] = pack.rejected.map {
            ($0.index, Rejection(path: "records[\($0.index)]", reason: $0.description))
        }
        for record in pack.records {
            let path = "records[\(record.index)]"
            let name = Self.catalogueName(record, aliases: info.type.nameAliases, deviceID: deviceID)
            switch senMLRecord(record, name: name, path: path, info: info, preferEvents: preferEvents) {
            case .value(let value): result.values.append(value)
            case .event(let event): result.events.append(event)
            case .nothing: break
            case .rejected(let reason): rejections.append((record.index, Rejection(path: path, reason: reason)))
            }
        }
        // Rejections in pack order (the records themselves come in time order from the resolver).
        result.rejections = rejections.enumerated()
            .sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }
            .map(\.element.1)
        return result
    }

    private enum RecordOutcome {
        case value(NormalizedValue)
        case event(NormalizedEvent)
        case nothing
        case rejected(String)
    }

    /// The catalogue name of a SenML record. RFC 8428 puts the device's identity in the base name
    /// (`"bn":"urn:dev:ow:10e2073a01080063:"` + `"n":"temperature"`): a base name that ends in `:` or `/`, or that
    /// is the device's own id, names the device, not the measurement, and is taken off. Any other base name is
    /// part of the name (`"bn":"temp"`, `"n":"erature"` is `temperature`). Then the device type's aliases apply.
    static func catalogueName(_ record: SenMLRecord, aliases: [String: String], deviceID: String?) -> String {
        var name = record.name
        let base = record.baseName
        if !base.isEmpty, name.hasPrefix(base), name.count > base.count,
           base.hasSuffix(":") || base.hasSuffix("/") || base == deviceID {
            name = String(name.dropFirst(base.count))
        }
        return aliases[name] ?? name
    }

    private func senMLRecord(_ record: SenMLRecord, name: String, path: String, info: TypeInfo, preferEvents: Bool) -> RecordOutcome {        let quantity = catalogue.quantity(name)
        let event = catalogue.event(name)
        // A name that is both a quantity and an event is the quantity when the type produces it, unless the
        // message came on the events channel and the type produces the event.
        let asEvent = preferEvents && event != nil && info.events.contains(name)
        if let quantity, !asEvent, info.quantities.contains(name) || event == nil {
            guard info.quantities.contains(name) else {
                return .rejected(notProduced("quantity", name, info))
            }
            if case .position = quantity.type {
                return .rejected("position cannot be sent as one SenML record; send latitude and longitude records with the same time")
            }
            let scalar: NormalizedScalar
            switch record.value {
            case .number(let number)?:
                guard case .number = quantity.type else {
                    return .rejected(wrongKind(quantity, got: "a number \(normalizationNumber(number))"))
                }
                var converted = number
                if let unit = record.unit, unit != quantity.unit {
                    guard let canonical = quantity.unit else {
                        return .rejected("unit \"\(unit)\" given for \(name), which has no unit")
                    }
                    guard let value = UnitConversion.convert(number, from: unit, to: canonical) else {
                        return .rejected("unit \"\(unit)\" cannot be converted to \"\(canonical)\" for \(name)")
                    }
                    converted = value
                }
                scalar = .number(converted)
            case .string(let string)?:
                scalar = .string(string)
            case .bool(let bool)?:
                scalar = .boolean(bool)
            case .data?:
                return .rejected(wrongKind(quantity, got: "a data value (vd)"))
            case nil:
                return .rejected("record for \(name) has no value (a sum alone is not a value)")
            }
            if let unit = record.unit, quantity.type != .number {
                return .rejected("unit \"\(unit)\" given for \(name), which has no unit")
            }
            switch check(scalar, for: quantity) {
            case .failure(let reason): return .rejected(reason)
            case .success(let value):
                return .value(NormalizedValue(
                    quantity: name, value: value, unit: quantity.unit, classification: quantity.classification,
                    observedAt: record.time, sourcePath: path))
            }
        }
        if let event {
            guard info.events.contains(name) else {
                return .rejected(notProduced("event", name, info))
            }
            var attributes: [String: String] = [:]
            switch record.value {
            case .bool(true)?: break
            case .bool(false)?: return .nothing
            case .string(let string)?: attributes["value"] = string
            case .number(let number)?:
                return .rejected("event \"\(name)\" needs vb true/false or a vs value, got a number \(normalizationNumber(number))")
            case .data?:
                return .rejected("event \"\(name)\" needs vb true/false or a vs value, got a data value (vd)")
            case nil:
                return .rejected("event \"\(name)\" needs vb true/false or a vs value, got none")
            }
            return .event(NormalizedEvent(
                event: name, observedAt: record.time, classification: event.classification,
                attributes: attributes, sourcePath: path))
        }
        let resolved = name == record.name ? "" : " (resolved from \(quotedForSenMLMessage(record.name)))"
        return .rejected("\(quotedForSenMLMessage(name))\(resolved) is neither a quantity nor an event of the catalogue")
    }

    // MARK: Vendor JSON

    private func normalizeVendorJSON(
        _ payload: [UInt8], model: String?, info: TypeInfo, receivedAt: Double
    ) throws(Rejection) -> NormalizedPayload {
        guard let model, !model.isEmpty else {
            throw Rejection(path: "", reason: "vendor-json needs the device model (the mapping id); none is known for this device")
        }
        guard let mapper = mappers[model] else {
            throw Rejection(path: "", reason: "no vendor mapping for model \"\(model)\"")
        }
        guard mapper.mapping.deviceType == info.type.id else {
            throw Rejection(
                path: "",
                reason: "vendor mapping \"\(model)\" is for device type \"\(mapper.mapping.deviceType)\", not \"\(info.type.id)\"")
        }
        let mapped: MappingResult
        do {
            mapped = try mapper.map(payload, receivedAt: receivedAt)
        } catch {
            throw Rejection(path: error.path, reason: error.reason)
        }
        var result = NormalizedPayload()
        result.rejections = mapped.issues.map { Rejection(path: $0.path, reason: $0.reason) }
        for value in mapped.values {
            guard let quantity = catalogue.quantity(value.quantity) else {
                result.rejections.append(Rejection(path: value.sourcePath, reason: "\"\(value.quantity)\" is not a quantity of the catalogue"))
                continue
            }
            guard info.quantities.contains(value.quantity) else {
                result.rejections.append(Rejection(path: value.sourcePath, reason: notProduced("quantity", value.quantity, info)))
                continue
            }
            let scalar: NormalizedScalar = switch value.value {
            case .number(let n): .number(n)
            case .string(let s): .string(s)
            case .boolean(let b): .boolean(b)
            }
            switch check(scalar, for: quantity) {
            case .failure(let reason):
                result.rejections.append(Rejection(path: value.sourcePath, reason: reason))
            case .success(let checked):
                result.values.append(NormalizedValue(
                    quantity: quantity.id, value: checked, unit: quantity.unit, classification: quantity.classification,
                    observedAt: value.time, sourcePath: value.sourcePath))
            }
        }
        for event in mapped.events {
            guard let code = catalogue.event(event.event) else {
                result.rejections.append(Rejection(path: event.sourcePath, reason: "\"\(event.event)\" is not an event of the catalogue"))
                continue
            }
            guard info.events.contains(event.event) else {
                result.rejections.append(Rejection(path: event.sourcePath, reason: notProduced("event", event.event, info)))
                continue
            }
            result.events.append(NormalizedEvent(
                event: code.id, observedAt: event.time, classification: code.classification, sourcePath: event.sourcePath))
        }
        return result
    }

    // MARK: SCAIP

    /// SCAIP (SS 91100) → catalogue event, by the catalogue's SCAIP table (`DataModels/catalogue/scaip.json`):
    /// the first rule whose message type, device type and status code match. Returns the event id and the
    /// element that chose it, or the reason there is none.
    func scaipEvent(for message: SCAIPMessage) -> Result<(event: String, path: String), Rejection> {
        if let rule = catalogue.scaipRule(messageType: message.messageType.rawValue, deviceType: message.deviceType,
                                          statusCode: message.statusCode) {
            return .success((rule.event, rule.path))
        }
        switch (message.messageType, message.statusCode) {
        case (.info, let code?): return .failure(Rejection(path: "stc", reason: "status code \(code) has no catalogue event"))
        case (.info, nil): return .failure(Rejection(path: "stc", reason: "an IN message without a status code has no catalogue event"))
        default: return .failure(Rejection(path: "mty", reason: "message type \(message.messageType.rawValue) has no catalogue event"))
        }
    }

    private func normalizeSCAIP(_ payload: [UInt8], info: TypeInfo, receivedAt: Double) throws(Rejection) -> NormalizedPayload {
        let message: SCAIPMessage
        do {
            message = try SCAIPParser.parse(payload)
        } catch {
            throw Rejection(path: error.field ?? "", reason: error.description)
        }
        var result = NormalizedPayload()
        var attributes: [String: String] = ["ref": message.reference, "cid": message.controllerID]
        attributes["did"] = message.deviceID
        attributes["dty"] = message.deviceType
        attributes["stc"] = message.statusCode
        attributes["stt"] = message.statusText
        attributes["pri"] = message.priority.map { String($0) }
        attributes["lco"] = message.locationCode
        attributes["lte"] = message.locationText
        if let position = message.position {
            // The position travels with the event, so an alarm shows where it was raised.
            attributes["lge"] = [position.latitude, position.longitude, position.accuracyMeters]
                .compactMap { $0 }.map { "\($0)" }.joined(separator: ",")
            attributes["lge_time"] = position.time.map { "\($0)" }
        }
        // Unreadable optional fields do not cost the event; each is a rejection of its own.
        result.rejections += message.issues.map { Rejection(path: $0.field ?? "", reason: $0.reason) }

        switch scaipEvent(for: message) {
        case .failure(let rejection):
            result.rejections.append(rejection)
        case .success(let (id, path)):
            if let code = catalogue.event(id) {
                if info.events.contains(id) {
                    result.events.append(NormalizedEvent(
                        event: id, observedAt: receivedAt, classification: code.classification,
                        attributes: scaipAttributes(attributes, for: code.classification), sourcePath: path))
                } else {
                    result.rejections.append(Rejection(path: path, reason: notProduced("event", id, info)))
                }
            } else {
                result.rejections.append(Rejection(path: path, reason: "SCAIP maps to event \"\(id)\", which is not in the catalogue"))
            }
        }

        func add(_ id: String, _ value: NormalizedScalar, _ path: String, at time: Double = receivedAt) {
            guard info.quantities.contains(id), let quantity = catalogue.quantity(id) else { return }
            switch check(value, for: quantity) {
            case .failure(let reason):
                result.rejections.append(Rejection(path: path, reason: reason))
            case .success(let checked):
                result.values.append(NormalizedValue(
                    quantity: id, value: checked, unit: quantity.unit, classification: quantity.classification,
                    observedAt: time, sourcePath: path))
            }
        }
        if message.messageType == .heartbeat { add("heartbeat", .boolean(true), "mty") }
        if let text = message.locationText { add("location_text", .string(text), "lte") }
        if let code = message.locationCode { add("location_code", .string(code), "lco") }
        if let position = message.position {
            add("position", .position(
                latitude: position.latitude, longitude: position.longitude, accuracy: position.accuracyMeters), "lge",
                at: position.time ?? receivedAt)
        }
        return result
    }

    /// SCAIP attributes that are values of a quantity of their own (location text and code, position) carry that
    /// quantity's class. They travel with an event only when the event is classed at least as high, so that a
    /// class-2 event (a low battery) never shows a class-3 location to a class-2 reader; they are stored as
    /// observations of their own either way.
    private static let scaipAttributeQuantities = [
        "lte": "location_text", "lco": "location_code", "lge": "position", "lge_time": "position",
    ]

    private func scaipAttributes(_ attributes: [String: String], for classification: Classification) -> [String: String] {
        attributes.filter { key, _ in
            guard let id = Self.scaipAttributeQuantities[key] else { return true }
            let attributeClass = catalogue.quantity(id)?.classification.confidentiality.rawValue ?? Int.max
            return attributeClass <= classification.confidentiality.rawValue
        }
    }

    // MARK: Catalogue checks

    /// Checks a value against its quantity's type, allowed values and range.
    private enum Checked {
        case success(NormalizedScalar)
        case failure(String)
    }

    private func check(_ value: NormalizedScalar, for quantity: Quantity) -> Checked {
        let fail = { (reason: String) in Checked.failure(reason) }
        switch (quantity.type, value) {
        case (.number, .number(let number)):
            guard number.isFinite else { return fail("\(quantity.id) \(normalizationNumber(number)) is not a finite number") }
            if let range = quantity.range, !range.contains(number) {
                let unit = quantity.unit.map { " \($0)" } ?? ""
                return fail("\(quantity.id) \(normalizationNumber(number))\(unit) is outside \(normalizationRange(range))")
            }
            return .success(value)
        case (.string, .string), (.boolean, .boolean):
            return .success(value)
        case (.enumeration(let allowed), .string(let string)):
            guard allowed.contains(string) else {
                return fail("\(quantity.id) \"\(string)\" is not one of the allowed values: \(allowed.joined(separator: ", "))")
            }
            return .success(value)
        case (.position, .position(let latitude, let longitude, let accuracy)):
            guard latitude.isFinite, (-90...90).contains(latitude) else {
                return fail("position latitude \(normalizationNumber(latitude)) is outside -90...90")
            }
            guard longitude.isFinite, (-180...180).contains(longitude) else {
                return fail("position longitude \(normalizationNumber(longitude)) is outside -180...180")
            }
            if let accuracy, !(accuracy.isFinite && accuracy >= 0) {
                return fail("position accuracy \(normalizationNumber(accuracy)) m is not a non-negative number")
            }
            return .success(value)
        default:
            return fail(wrongKind(quantity, got: describe(value)))
        }
    }

    private func notProduced(_ kind: String, _ id: String, _ info: TypeInfo) -> String {
        "\(kind) \"\(id)\" is not produced by device type \"\(info.type.id)\""
    }

    private func wrongKind(_ quantity: Quantity, got: String) -> String {
        let expected: String = switch quantity.type {
        case .number: "a number"
        case .string: "a string"
        case .boolean: "a boolean"
        case .enumeration(let values): "one of the strings \(values.joined(separator: ", "))"
        case .position: "a position"
        }
        return "\(quantity.id) expects \(expected), got \(got)"
    }

    private func describe(_ value: NormalizedScalar) -> String {
        switch value {
        case .number(let n): "a number \(normalizationNumber(n))"
        case .string(let s): "a string \"\(s)\""
        case .boolean(let b): "a boolean \(b)"
        case .position: "a position"
        }
    }

    // MARK: Position folding

    /// Adds one `position` per time that has both an accepted `latitude` and `longitude` (and takes the
    /// `position_accuracy` of that time, if any), when the device type produces `position`.
    private func foldPositions(_ result: inout NormalizedPayload, info: TypeInfo) {
        guard info.quantities.contains("position"), let quantity = catalogue.quantity("position") else { return }
        struct Parts { var lat: NormalizedValue?; var lon: NormalizedValue?; var acc: NormalizedValue?; var ambiguous = false }
        var byTime: [Double: Parts] = [:]
        var order: [Double] = []
        for value in result.values {
            guard case .number = value.value,
                  ["latitude", "longitude", "position_accuracy"].contains(value.quantity) else { continue }
            if byTime[value.observedAt] == nil { order.append(value.observedAt) }
            var parts = byTime[value.observedAt] ?? Parts()
            switch value.quantity {
            case "latitude": parts.ambiguous = parts.ambiguous || parts.lat != nil; parts.lat = value
            case "longitude": parts.ambiguous = parts.ambiguous || parts.lon != nil; parts.lon = value
            default: parts.ambiguous = parts.ambiguous || parts.acc != nil; parts.acc = value
            }
            byTime[value.observedAt] = parts
        }
        for time in order {
            guard let parts = byTime[time], !parts.ambiguous,
                  let lat = parts.lat, let lon = parts.lon,
                  case .number(let latitude) = lat.value, case .number(let longitude) = lon.value else { continue }
            var accuracy: Double?
            var path = "\(lat.sourcePath),\(lon.sourcePath)"
            if let acc = parts.acc, case .number(let a) = acc.value {
                accuracy = a
                path += ",\(acc.sourcePath)"
            }
            result.values.append(NormalizedValue(
                quantity: "position", value: .position(latitude: latitude, longitude: longitude, accuracy: accuracy),
                unit: nil, classification: quantity.classification, observedAt: time, sourcePath: path))
        }
    }
}

// MARK: - Formatting

/// `140`, `3.5`, `-0.25`: integral values without ".0".
private func normalizationNumber(_ value: Double) -> String {
    if value.isFinite, value == value.rounded(), abs(value) < 1e15 {
        return String(Int64(value))
    }
    return "\(value)"
}

/// `0...100`, `0...` or `...100`.
private func normalizationRange(_ range: ValueRange) -> String {
    (range.min.map(normalizationNumber) ?? "") + "..." + (range.max.map(normalizationNumber) ?? "")
}

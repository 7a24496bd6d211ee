// A vendor's own JSON → catalogue values and events, by the declarative mapping of the device model (the mapping
// id). `VendorMapper` (one per mapping, built in `init`) reads and converts; its issues become rejections at their
// JSON pointer; values and events then get the catalogue checks. Latitude and longitude with the same time also
// give a `position`.

import Models

struct VendorJSONAdapter: PayloadAdapter {
    static let format = PayloadFormat.vendorJSON

    /// By mapping id (= device model).
    private let mappers: [String: VendorMapper]

    /// Builds a mapper per mapping. Throws when a mapping names an unknown device type, a quantity or event that is
    /// unknown or not produced by its device type, a unit that cannot become the canonical unit, or an id twice.
    init(
        mappings: [VendorMapping], checks: CatalogueChecks, deviceTypes: [String: DeviceTypeInfo]
    ) throws(NormalizerConfigurationError) {
        let catalogue = checks.catalogue
        let units: [String: String] = Dictionary(
            catalogue.quantities.compactMap { q in q.unit.map { (q.id, $0) } }, uniquingKeysWith: { a, _ in a })
        var mappers: [String: VendorMapper] = [:]
        for mapping in mappings {
            let name = mapping.file.isEmpty ? mapping.id : mapping.file
            guard mappers[mapping.id] == nil else {
                throw NormalizerConfigurationError(mapping: name, field: "id", reason: "mapping id \"\(mapping.id)\" is used twice")
            }
            guard let info = deviceTypes[mapping.deviceType] else {
                throw NormalizerConfigurationError(
                    mapping: name, field: "deviceType", reason: "unknown device type \"\(mapping.deviceType)\"")
            }
            /// A rule's quantity or event (`kind`) must be in the catalogue and produced by the mapping's device type.
            func require(
                _ kind: String, _ id: String, known: Bool, produced: Set<String>, field: String
            ) throws(NormalizerConfigurationError) {
                guard known else {
                    throw NormalizerConfigurationError(mapping: name, field: field, reason: "unknown \(kind) \"\(id)\"")
                }
                guard produced.contains(id) else {
                    throw NormalizerConfigurationError(
                        mapping: name, field: field, reason: checks.notProduced(kind, id, by: info))
                }
            }
            for (i, rule) in mapping.values.enumerated() {
                try require("quantity", rule.quantity, known: catalogue.quantity(rule.quantity) != nil,
                            produced: info.quantities, field: "values[\(i)].quantity")
            }
            for (i, rule) in mapping.events.enumerated() {
                try require("event", rule.event, known: catalogue.event(rule.event) != nil,
                            produced: info.events, field: "events[\(i)].event")
            }
            let mapper = VendorMapper(mapping: mapping, canonicalUnit: { units[$0] })
            if let issue = mapper.configurationIssues.first {
                let index = mapping.values.firstIndex { $0.pointer.description == issue.path }
                throw NormalizerConfigurationError(
                    mapping: name, field: index.map { "values[\($0)].unit" } ?? issue.path, reason: issue.reason)
            }
            mappers[mapping.id] = mapper
        }
        self.mappers = mappers
    }

    /// Whether a mapping with this id (a device model) exists.
    func hasMapping(_ model: String) -> Bool { mappers[model] != nil }

    func normalize(_ payload: [UInt8], context: AdapterContext) throws(Rejection) -> NormalizedPayload {
        let deviceType = context.deviceType
        guard let model = context.model, !model.isEmpty else {
            throw Rejection(path: "", reason: "vendor-json needs the device model (the mapping id); none is known for this device")
        }
        guard let mapper = mappers[model] else {
            throw Rejection(path: "", reason: "no vendor mapping for model \"\(model)\"")
        }
        guard mapper.mapping.deviceType == deviceType.id else {
            throw Rejection(
                path: "",
                reason: "vendor mapping \"\(model)\" is for device type \"\(mapper.mapping.deviceType)\", not \"\(deviceType.id)\"")
        }
        let mapped: MappingResult
        do {
            mapped = try mapper.map(payload, receivedAt: context.receivedAt)
        } catch {
            throw Rejection(path: error.path, reason: error.reason)
        }
        if let timeIssue = mapped.timeIssue, mapped.events.isEmpty {
            throw Rejection(path: timeIssue.path, reason: timeIssue.reason)
        }
        let checks = context.checks
        var result = NormalizedPayload()
        result.rejections = mapped.issues.map { Rejection(path: $0.path, reason: $0.reason) }
        if let timeIssue = mapped.timeIssue {
            // An SOS from a device whose clock is wrong is still an SOS: its events are kept at the arrival time.
            result.rejections.insert(Rejection(path: timeIssue.path,
                                               reason: "\(timeIssue.reason); no value stored, events kept at their arrival time"), at: 0)
        }
        for value in mapped.values {
            do {
                let quantity = try Self.produced(
                    checks.catalogue.quantity(value.quantity), "quantity", value.quantity, in: deviceType.quantities, context)
                let scalar: NormalizedScalar = switch value.value {
                case .number(let n): .number(n)
                case .string(let s): .string(s)
                case .boolean(let b): .boolean(b)
                }
                result.values.append(try checks.value(scalar, of: quantity, observedAt: value.time, sourcePath: value.sourcePath))
            } catch {
                result.rejections.append(Rejection(path: value.sourcePath, reason: error.reason))
            }
        }
        for event in mapped.events {
            do {
                let code = try Self.produced(checks.catalogue.event(event.event), "event", event.event, in: deviceType.events, context)
                // An attribute travels only with an event classed at least as high as the attribute.
                let level = code.classification.confidentiality.rawValue
                let attributes = Dictionary(
                    event.attributes.filter { $0.confidentiality <= level }.map { ($0.name, $0.value) },
                    uniquingKeysWith: { first, _ in first })
                result.events.append(NormalizedEvent(
                    event: code.id, observedAt: event.time, classification: code.classification,
                    attributes: attributes, sourcePath: event.sourcePath))
            } catch {
                result.rejections.append(Rejection(path: event.sourcePath, reason: error.reason))
            }
        }
        checks.foldPositions(&result, deviceType: context.deviceType)
        return result
    }

    /// The catalogue entry of a mapped quantity or event (`kind`, `id`), when the catalogue has it and the device
    /// type produces it (`produced`).
    private static func produced<Entry>(
        _ entry: Entry?, _ kind: String, _ id: String, in produced: Set<String>, _ context: AdapterContext
    ) throws(CatalogueViolation) -> Entry {
        guard let entry else {
            throw CatalogueViolation("\"\(id)\" is not \(kind == "event" ? "an" : "a") \(kind) of the catalogue")
        }
        guard produced.contains(id) else {
            throw CatalogueViolation(context.checks.notProduced(kind, id, by: context.deviceType))
        }
        return entry
    }
}

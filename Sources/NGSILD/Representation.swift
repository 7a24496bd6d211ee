import Models
import Telemetry

/// How entities and their attributes are written out (GS CIM 009 §4.5): normalized (every attribute an object with
/// its type), concise (no types where they are implied) or simplified (`keyValues`: attribute → value).
public enum EntityFormat: String, Sendable, Codable {
    case normalized, concise, keyValues

    /// From `options` (`keyValues`, `simplified`, `concise`, `normalized`; other options are passed over) or a
    /// subscription's `format`.
    public static func from(options: [String]) -> EntityFormat {
        if options.contains("keyValues") || options.contains("simplified") { return .keyValues }
        if options.contains("concise") { return .concise }
        return .normalized
    }
}

/// Entities and temporal evolutions as JSON, named with the context in force.
public struct Representation: Sendable {
    public let vocabulary: OpenVocabulary
    public let context: LDContext

    public init(vocabulary: OpenVocabulary, context: LDContext) {
        self.vocabulary = vocabulary
        self.context = context
    }

    /// The name of a catalogue quantity under the context.
    public func name(ofQuantity id: String) -> String? { vocabulary.iri(quantityID: id).map(context.compact) }

    public func entity(_ entity: OpenEntity, _ values: [OpenValue], format: EntityFormat, sysAttrs: Bool = false,
                       includeLocation: Bool = true) -> JSON {
        var object: [String: JSON] = ["id": .string(entity.entityID), "type": .string(context.compact(entity.entityType))]
        for value in values where value.deviceID == entity.deviceID {
            guard let name = name(ofQuantity: value.quantity) else { continue }
            object[name] = property(value, format: format)
        }
        if includeLocation, let location = entity.location {
            let point: JSON = ["type": "Point", "coordinates": [.number(location.longitude), .number(location.latitude)]]
            object[context.compact(OpenVocabulary.location)] = format == .keyValues ? point
                : format == .concise ? ["value": point] : ["type": "GeoProperty", "value": point]
        }
        if sysAttrs && format != .keyValues {
            object["createdAt"] = .string(RFC3339.format(micros: entity.createdAtMicros))
            object["modifiedAt"] = .string(RFC3339.format(micros: entity.modifiedAtMicros))
        }
        return .object(object)
    }

    public func property(_ value: OpenValue, format: EntityFormat) -> JSON {
        let scalar = Self.scalar(value)
        if format == .keyValues { return scalar }
        var property: [String: JSON] = ["value": scalar, "observedAt": .string(RFC3339.format(micros: value.observedAtMicros))]
        if format == .normalized { property["type"] = "Property" }
        if let unit = value.unit, let code = OpenVocabulary.unitCodes[unit] { property["unitCode"] = .string(code) }
        return .object(property)
    }

    public static func scalar(_ value: OpenValue) -> JSON {
        if let number = value.number { return .number(number) }
        if let text = value.text { return .string(text) }
        if let boolean = value.boolean { return .bool(boolean) }
        return .null
    }

    /// A temporal evolution: every instance (normalized), or `values` pairs (`temporalValues`).
    public func temporal(_ entity: OpenEntity, _ values: [OpenValue], simplified: Bool) -> JSON {
        var object: [String: JSON] = ["id": .string(entity.entityID), "type": .string(context.compact(entity.entityType))]
        var byQuantity: [String: [OpenValue]] = [:]
        for value in values { byQuantity[value.quantity, default: []].append(value) }
        for (quantity, instances) in byQuantity {
            guard let name = name(ofQuantity: quantity) else { continue }
            if simplified {
                var attribute: [String: JSON] = [
                    "type": "Property",
                    "values": .array(instances.map { [Self.scalar($0), .string(RFC3339.format(micros: $0.observedAtMicros))] }),
                ]
                if let unit = instances.first?.unit, let code = OpenVocabulary.unitCodes[unit] { attribute["unitCode"] = .string(code) }
                object[name] = .object(attribute)
            } else {
                object[name] = .array(instances.map { property($0, format: .normalized) })
            }
        }
        return .object(object)
    }

    /// Aggregated temporal values (GS CIM 009 §4.5.19): per attribute, per method, `[value, startAt, endAt]` triples.
    public func aggregated(_ entity: OpenEntity, _ aggregates: [OpenAggregate], methods: [AggregationMethod]) -> JSON {
        var object: [String: JSON] = ["id": .string(entity.entityID), "type": .string(context.compact(entity.entityType))]
        var byQuantity: [String: [OpenAggregate]] = [:]
        for aggregate in aggregates { byQuantity[aggregate.quantity, default: []].append(aggregate) }
        for (quantity, periods) in byQuantity {
            guard let name = name(ofQuantity: quantity) else { continue }
            var attribute: [String: JSON] = ["type": "Property"]
            for method in methods {
                attribute[method.rawValue] = .array(periods.map { period in
                    [method.value(of: period).map(JSON.number) ?? .null,
                     .string(RFC3339.format(micros: period.periodStartMicros)), .string(RFC3339.format(micros: period.periodEndMicros))]
                })
            }
            object[name] = .object(attribute)
        }
        return .object(object)
    }
}

/// The aggregation functions of the temporal API this tier computes (GS CIM 009 §4.5.19).
public enum AggregationMethod: String, Sendable, CaseIterable {
    case totalCount, sum, avg, min, max

    public func value(of period: OpenAggregate) -> Double? {
        switch self {
        case .totalCount: Double(period.count)
        case .sum: period.sum
        case .avg: period.average
        case .min: period.minimum
        case .max: period.maximum
        }
    }

    public static func parse(_ text: String) throws(NGSILDFailure) -> [AggregationMethod] {
        var methods: [AggregationMethod] = []
        for name in text.split(separator: ",") {
            guard let method = AggregationMethod(rawValue: String(name)) else {
                if ["distinctCount", "stddev", "sumsq"].contains(String(name)) {
                    throw NGSILDFailure(.operationNotSupported, "aggrMethods: \(name) is not computed here; use \(allCases.map(\.rawValue).joined(separator: ", "))")
                }
                throw .badRequest("aggrMethods: \(name) is not an aggregation method")
            }
            if !methods.contains(method) { methods.append(method) }
        }
        guard !methods.isEmpty else { throw .badRequest("aggrMethods is empty") }
        return methods
    }
}

/// ISO 8601 durations as `aggrPeriodDuration` gives them (`PT1H`, `P1D`, `P1W`, `PT15M`): days and shorter, so that
/// every period has the same length (months and years have none).
public enum ISODuration {
    public static func micros(_ text: String) throws(NGSILDFailure) -> Int64 {
        guard text.hasPrefix("P"), text.count <= 32 else { throw .badRequest("aggrPeriodDuration \(text) is not an ISO 8601 duration such as PT1H or P1D") }
        var total: Double = 0
        var number = ""
        var inTime = false
        var any = false
        for character in text.dropFirst() {
            if character == "T" { inTime = true; continue }
            if character.isNumber || character == "." { number.append(character); continue }
            guard let value = Double(number), value >= 0 else { throw .badRequest("aggrPeriodDuration \(text) is not an ISO 8601 duration") }
            number = ""
            any = true
            switch (inTime, character) {
            case (false, "W"): total += value * 604_800
            case (false, "D"): total += value * 86_400
            case (true, "H"): total += value * 3_600
            case (true, "M"): total += value * 60
            case (true, "S"): total += value
            case (false, "Y"), (false, "M"):
                throw NGSILDFailure(.operationNotSupported, "aggrPeriodDuration \(text): months and years have no fixed length; use days (P30D)")
            default: throw .badRequest("aggrPeriodDuration \(text) is not an ISO 8601 duration")
            }
        }
        guard any, number.isEmpty else { throw .badRequest("aggrPeriodDuration \(text) is not an ISO 8601 duration") }
        guard total >= 1, total <= 366 * 86_400 else { throw .badRequest("aggrPeriodDuration must be from 1 second to 366 days") }
        return Int64(total * 1_000_000)
    }
}

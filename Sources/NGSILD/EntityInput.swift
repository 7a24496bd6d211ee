import Models
import Telemetry

/// An entity (or a fragment of one: the attributes of a PATCH) as another city system writes it, checked against the
/// catalogue: every attribute maps by its expanded name to a catalogue quantity of class 1 with a value of its kind,
/// in range and in its unit, or the write is refused naming the attribute.
public struct EntityInput: Sendable, Equatable {
    public var id: String?
    /// The expanded type IRI.
    public var type: String?
    public var location: OpenPoint?
    /// Values with `deviceID` empty (the store fills it in).
    public var values: [OpenValue]

    public static let maxAttributes = 64
    /// How far ahead of the gateway's clock an `observedAt` may be (clock skew of the writer).
    public static let futureToleranceMicros: Int64 = 5 * 60 * 1_000_000

    /// Members that are not attributes.
    static let reserved: Set<String> = ["id", "type", "@id", "@type", "@context", "createdAt", "modifiedAt", "deletedAt"]

    /// Parses an entity body. `fragment`: the attributes of an existing entity (id and type may be absent).
    public static func parse(_ body: JSON, context: LDContext, vocabulary: OpenVocabulary, fragment: Bool,
                             nowMicros: Int64) throws(NGSILDFailure) -> EntityInput {
        guard let members = body.objectValue else { throw .badRequest("an entity is a JSON object, not \(body.kindName)") }
        var input = EntityInput(id: nil, type: nil, location: nil, values: [])
        if let id = members["id"] ?? members["@id"] {
            guard let text = id.stringValue, text.count <= 256, LDContext.isAbsoluteIRI(text) else {
                throw .badRequest("id must be a URI of at most 256 characters (urn:ngsi-ld:<Type>:<name>)")
            }
            guard !text.hasPrefix(OpenEntity.deviceEntityPrefix) else {
                throw .badRequest("id \(text): urn:ngsi-ld:Device: ids are the gateway's own devices and are not written through this tier")
            }
            input.id = text
        } else if !fragment {
            throw .badRequest("an entity needs an id")
        }
        if let type = members["type"] ?? members["@type"] {
            let name: String
            if let text = type.stringValue { name = text } else if let list = type.arrayValue, list.count == 1, let text = list[0].stringValue { name = text } else {
                throw .badRequest("type must be one entity type name")
            }
            guard !name.isEmpty, name.count <= 256 else { throw .badRequest("type must be 1 to 256 characters") }
            guard !context.isKeyword(name) else { throw .badRequest("type \(name) names a JSON-LD keyword, not an entity type") }
            let iri = context.expand(name)
            guard iri.count <= 512 else { throw .badRequest("type \(name.prefix(64)) expands to an IRI of more than 512 characters") }
            guard iri != OpenVocabulary.deviceType else {
                throw .badRequest("type \(name): Device entities are the gateway's own devices and are not written through this tier")
            }
            input.type = iri
        } else if !fragment {
            throw .badRequest("an entity needs a type")
        }
        if members["scope"] != nil { throw NGSILDFailure(.operationNotSupported, "scope is not kept for entities here") }
        let attributes = members.filter { !reserved.contains($0.key) }
        guard attributes.count <= maxAttributes else { throw .badRequest("at most \(maxAttributes) attributes in one write") }
        if fragment && attributes.isEmpty { throw .badRequest("no attributes to write") }
        for (name, value) in attributes.sorted(by: { $0.key < $1.key }) {
            guard !name.hasPrefix("@"), !context.isKeyword(name) else { throw .badRequest("\(name) names a JSON-LD keyword, not an attribute") }
            let iri = context.expand(name)
            if iri == OpenVocabulary.location {
                input.location = try location(value, name)
                continue
            }
            input.values.append(try attribute(name, iri: iri, value, vocabulary: vocabulary, nowMicros: nowMicros))
        }
        return input
    }

    /// The names of the quantities this tier accepts, for messages.
    static func writable(_ vocabulary: OpenVocabulary) -> String {
        vocabulary.openQuantities.map { vocabulary.context.compact($0.iri) }.joined(separator: ", ")
    }

    static func attribute(_ name: String, iri: String, _ value: JSON, vocabulary: OpenVocabulary,
                          nowMicros: Int64) throws(NGSILDFailure) -> OpenValue {
        guard let quantity = vocabulary.quantity(iri: iri) else {
            throw .badRequest("attribute \(name) (\(iri)) is not a quantity of the city's catalogue; this tier accepts: \(writable(vocabulary))")
        }
        guard quantity.classification.confidentiality.rawValue == 1 else {
            throw .badRequest("attribute \(name) is \(quantity.id), a class \(quantity.classification.confidentiality.rawValue) quantity; only open (class 1) quantities are written through this tier")
        }
        // Normalized ({"type": "Property", "value": ...}), concise ({"value": ...}) or a bare value (keyValues).
        var raw = value
        var observedAt = nowMicros
        var unitCode: String?
        if let members = value.objectValue {
            if let kind = members["type"] {
                guard kind.stringValue == "Property" else {
                    throw NGSILDFailure(.operationNotSupported, "attribute \(name): only Property attributes are written here, not \(kind.stringValue ?? kind.kindName)")
                }
            }
            guard let inner = members["value"] else { throw .badRequest("attribute \(name) has no value") }
            if members["datasetId"] != nil { throw NGSILDFailure(.operationNotSupported, "attribute \(name): datasetId (multi-attributes) is not supported") }
            raw = inner
            if let observed = members["observedAt"] {
                guard let text = observed.stringValue, let micros = RFC3339.micros(text) else {
                    throw .badRequest("attribute \(name): observedAt must be an RFC 3339 date-time")
                }
                observedAt = micros
            }
            if let code = members["unitCode"] {
                guard let text = code.stringValue else { throw .badRequest("attribute \(name): unitCode must be a text") }
                unitCode = text
            }
        } else if value.arrayValue != nil {
            throw NGSILDFailure(.operationNotSupported, "attribute \(name): several instances (multi-attributes) are not supported")
        }
        guard observedAt <= nowMicros + futureToleranceMicros else {
            throw .badRequest("attribute \(name): observedAt is in the future")
        }
        let retentionMicros = Int64(quantity.classification.retentionDays) * 86_400_000_000
        guard observedAt >= nowMicros - retentionMicros else {
            throw .badRequest("attribute \(name): observedAt is older than the \(quantity.classification.retentionDays) days \(quantity.id) is kept")
        }
        var stored = OpenValue(deviceID: "", quantity: quantity.id, unit: quantity.unit, observedAtMicros: observedAt)
        switch (quantity.type, raw) {
        case (.number, .number(let number)):
            guard number.isFinite else { throw .badRequest("attribute \(name): \(number) is not a finite number") }
            if let range = quantity.range {
                if let low = range.min, number < low { throw .badRequest("attribute \(name): \(number) is below \(low)") }
                if let high = range.max, number > high { throw .badRequest("attribute \(name): \(number) is above \(high)") }
            }
            stored.number = number
        case (.string, .string(let text)):
            guard text.utf8.count <= 1024 else { throw .badRequest("attribute \(name): a text of at most 1024 bytes") }
            stored.text = text
        case (.enumeration(let allowed), .string(let text)):
            guard allowed.contains(text) else { throw .badRequest("attribute \(name): \(text) is not one of \(allowed.joined(separator: ", "))") }
            stored.text = text
        case (.boolean, .bool(let flag)):
            stored.boolean = flag
        default:
            throw .badRequest("attribute \(name): \(quantity.id) takes a \(quantity.type.name) value, not \(raw.kindName)")
        }
        if let unitCode {
            let expected = quantity.unit.flatMap { OpenVocabulary.unitCodes[$0] }
            guard unitCode == expected || unitCode == quantity.unit else {
                throw .badRequest("attribute \(name): unitCode \(unitCode) is not \(quantity.id)'s unit (\(expected ?? "none"))")
            }
        }
        return stored
    }

    /// A GeoProperty `location` with a GeoJSON Point value.
    static func location(_ value: JSON, _ name: String) throws(NGSILDFailure) -> OpenPoint {
        var geometry = value
        if let members = value.objectValue, let kind = members["type"]?.stringValue, kind == "GeoProperty" || kind == "Property" {
            guard let inner = members["value"] else { throw .badRequest("\(name) has no value") }
            geometry = inner
        }
        guard let members = geometry.objectValue, members["type"]?.stringValue == "Point", let coordinates = members["coordinates"] else {
            throw NGSILDFailure(.operationNotSupported, "\(name): the location of an entity here is a GeoJSON Point")
        }
        return try GeoQuery.position(coordinates, "\(name).coordinates")
    }
}

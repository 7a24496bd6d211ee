/// A measurable or observable quantity in the catalogue, e.g. `battery` or `lock_state`.
///
/// In the JSON files the value type is spread over two fields: `"type"` (`number`, `string`,
/// `boolean`, `enum`, `position`) and, for `enum`, `"values"`. `Quantity`'s `Codable`
/// conformance maps them to and from ``ValueType``.
public struct Quantity: Sendable, Codable, Equatable, Hashable, Identifiable {
    public var id: String
    public var description: LocalizedText
    /// Canonical SenML/UCUM unit symbol (`%`, `V`, `Cel`, `dBm`, `m/s`, ...); nil when unitless.
    /// Only number quantities have a unit; a position is always in `lat`/`lon` with accuracy in `m`.
    public var unit: String?
    public var type: ValueType
    /// Allowed range, only for number quantities.
    public var range: ValueRange?
    public var classification: Classification
    /// The property name for the outward NGSI-LD (CIP) tier, if any.
    public var ngsiLd: NGSILDName?

    public init(
        id: String,
        description: LocalizedText,
        unit: String? = nil,
        type: ValueType,
        range: ValueRange? = nil,
        classification: Classification,
        ngsiLd: NGSILDName? = nil
    ) {
        self.id = id
        self.description = description
        self.unit = unit
        self.type = type
        self.range = range
        self.classification = classification
        self.ngsiLd = ngsiLd
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, description, unit, type, values, range, classification, ngsiLd
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        description = try c.decode(LocalizedText.self, forKey: .description)
        unit = try c.decodeIfPresent(String.self, forKey: .unit)
        let typeName = try c.decode(String.self, forKey: .type)
        let values = try c.decodeIfPresent([String].self, forKey: .values)
        guard let type = ValueType(name: typeName, values: values ?? []) else {
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: c,
                debugDescription: "unknown type \"\(typeName)\"; expected one of \(ValueType.names.joined(separator: ", "))")
        }
        self.type = type
        range = try c.decodeIfPresent(ValueRange.self, forKey: .range)
        classification = try c.decode(Classification.self, forKey: .classification)
        ngsiLd = try c.decodeIfPresent(NGSILDName.self, forKey: .ngsiLd)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(description, forKey: .description)
        try c.encodeIfPresent(unit, forKey: .unit)
        try c.encode(type.name, forKey: .type)
        if case .enumeration(let values) = type {
            try c.encode(values, forKey: .values)
        }
        try c.encodeIfPresent(range, forKey: .range)
        try c.encode(classification, forKey: .classification)
        try c.encodeIfPresent(ngsiLd, forKey: .ngsiLd)
    }
}

/// The type of a quantity's values.
public enum ValueType: Sendable, Equatable, Hashable {
    case number
    case string
    case boolean
    /// One of a fixed set of string values (JSON `"type": "enum"` with `"values"`).
    case enumeration(values: [String])
    /// A latitude/longitude pair (WGS 84, SenML units `lat`/`lon`) with an optional accuracy in `m`.
    case position

    /// The name used in the JSON `"type"` field.
    public var name: String {
        switch self {
        case .number: "number"
        case .string: "string"
        case .boolean: "boolean"
        case .enumeration: "enum"
        case .position: "position"
        }
    }

    /// All names accepted in the JSON `"type"` field.
    public static let names = ["number", "string", "boolean", "enum", "position"]

    /// Builds a value type from the JSON `"type"` name and, for `enum`, its `"values"`.
    /// Returns nil for an unknown name.
    public init?(name: String, values: [String] = []) {
        switch name {
        case "number": self = .number
        case "string": self = .string
        case "boolean": self = .boolean
        case "enum": self = .enumeration(values: values)
        case "position": self = .position
        default: return nil
        }
    }

    /// The allowed values of an enumeration, nil for other types.
    public var enumerationValues: [String]? {
        if case .enumeration(let values) = self { return values }
        return nil
    }
}

/// The allowed range of a number quantity; either bound may be open. Bounds are inclusive.
public struct ValueRange: Sendable, Codable, Equatable, Hashable {
    public var min: Double?
    public var max: Double?

    public init(min: Double? = nil, max: Double? = nil) {
        self.min = min
        self.max = max
    }

    public func contains(_ value: Double) -> Bool {
        if let min, value < min { return false }
        if let max, value > max { return false }
        return true
    }
}

/// The NGSI-LD property under which the outward CIP tier would publish a quantity.
public struct NGSILDName: Sendable, Codable, Equatable, Hashable {
    /// Property name, e.g. `batteryLevel`, `temperature`, `location`.
    public var property: String
    /// The Smart Data Models entity type that defines this property (e.g. `Device`,
    /// `IndoorEnvironmentObserved`); nil when no Smart Data Model has it and the property is
    /// specific to this platform's `@context`.
    public var smartDataModel: String?

    public init(property: String, smartDataModel: String? = nil) {
        self.property = property
        self.smartDataModel = smartDataModel
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case property, smartDataModel
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        property = try c.decode(String.self, forKey: .property)
        smartDataModel = try c.decodeIfPresent(String.self, forKey: .smartDataModel)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(property, forKey: .property)
        try c.encode(smartDataModel, forKey: .smartDataModel)  // null written explicitly, as in the files
    }
}

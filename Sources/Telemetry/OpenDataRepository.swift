/// One open (class 1) value of a device, for the CIP facade.
public struct OpenValue: Sendable, Equatable {
    public var deviceID: String
    public var quantity: String
    public var number: Double?
    public var text: String?
    public var boolean: Bool?
    public var unit: String?
    public var observedAtMicros: Int64

    public init(deviceID: String, quantity: String, number: Double? = nil, text: String? = nil, boolean: Bool? = nil, unit: String?,
                observedAtMicros: Int64) {
        self.deviceID = deviceID
        self.quantity = quantity
        self.number = number
        self.text = text
        self.boolean = boolean
        self.unit = unit
        self.observedAtMicros = observedAtMicros
    }
}

/// A condition on an open value: `quantity op literal` (numbers compare numerically, text and booleans by equality),
/// or, with `op` nil, that the quantity has a value at all.
public struct OpenValueCondition: Sendable, Equatable, Codable {
    public enum Operator: String, Sendable, CaseIterable, Codable { case equal = "==", notEqual = "!=", greater = ">", greaterOrEqual = ">=", less = "<", lessOrEqual = "<=" }
    public var quantity: String
    public var op: Operator?
    public var number: Double?
    public var text: String?
    public var boolean: Bool?

    public init(quantity: String, op: Operator?, number: Double? = nil, text: String? = nil, boolean: Bool? = nil) {
        self.quantity = quantity
        self.op = op
        self.number = number
        self.text = text
        self.boolean = boolean
    }

    /// Whether a value passes (a value of another kind never does, as in the SQL).
    public func matches(_ value: OpenValue) -> Bool {
        guard value.quantity == quantity else { return false }
        guard let op else { return true }
        if let bound = number {
            guard let number = value.number else { return false }
            switch op {
            case .equal: return number == bound
            case .notEqual: return number != bound
            case .greater: return number > bound
            case .greaterOrEqual: return number >= bound
            case .less: return number < bound
            case .lessOrEqual: return number <= bound
            }
        }
        if let text {
            guard let stored = value.text, op == .equal || op == .notEqual else { return false }
            return (stored == text) == (op == .equal)
        }
        if let boolean {
            guard let stored = value.boolean, op == .equal || op == .notEqual else { return false }
            return (stored == boolean) == (op == .equal)
        }
        return false
    }
}

/// An entity of the CIP tier: a registered device with open values (`urn:ngsi-ld:Device:<id>`, type Device), or an
/// entity another city system wrote, kept as a device of the `external` type.
public struct OpenEntity: Sendable, Equatable {
    public var deviceID: String
    public var entityID: String
    /// The expanded type IRI.
    public var entityType: String
    public var tenant: String
    public var location: OpenPoint?
    public var createdAtMicros: Int64
    public var modifiedAtMicros: Int64

    public init(deviceID: String, entityID: String, entityType: String, tenant: String, location: OpenPoint?,
                createdAtMicros: Int64, modifiedAtMicros: Int64) {
        self.deviceID = deviceID
        self.entityID = entityID
        self.entityType = entityType
        self.tenant = tenant
        self.location = location
        self.createdAtMicros = createdAtMicros
        self.modifiedAtMicros = modifiedAtMicros
    }

    /// The entity id of a registered device.
    public static func deviceEntityID(_ deviceID: String) -> String { "urn:ngsi-ld:Device:\(deviceID)" }
    public static let deviceEntityPrefix = "urn:ngsi-ld:Device:"
    /// The entity type of registered devices: Smart Data Models' Device.
    public static let deviceType = "https://smartdatamodels.org/dataModel.Device/Device"
}

/// Which entities a query asks for: every filter given must hold.
public struct OpenEntityQuery: Sendable, Equatable {
    /// Expanded type IRIs; nil: any type.
    public var types: [String]?
    /// Entity ids; nil: any.
    public var ids: [String]?
    /// The devices behind the entities; nil: any.
    public var deviceIDs: [String]?
    public var conditions: [OpenValueCondition]
    public var geo: OpenGeoFilter?
    /// nil: every tenant.
    public var tenants: [String]?

    public init(types: [String]? = nil, ids: [String]? = nil, deviceIDs: [String]? = nil, conditions: [OpenValueCondition] = [],
                geo: OpenGeoFilter? = nil, tenants: [String]?) {
        self.types = types
        self.ids = ids
        self.deviceIDs = deviceIDs
        self.conditions = conditions
        self.geo = geo
        self.tenants = tenants
    }
}

/// Temporal aggregation of one quantity over periods (NGSI-LD `aggrMethods` / `aggrPeriodDuration`).
public struct OpenAggregate: Sendable, Equatable {
    public var quantity: String
    public var periodStartMicros: Int64
    public var periodEndMicros: Int64
    public var count: Int
    public var sum: Double?
    public var average: Double?
    public var minimum: Double?
    public var maximum: Double?

    public init(quantity: String, periodStartMicros: Int64, periodEndMicros: Int64, count: Int, sum: Double?, average: Double?,
                minimum: Double?, maximum: Double?) {
        self.quantity = quantity
        self.periodStartMicros = periodStartMicros
        self.periodEndMicros = periodEndMicros
        self.count = count
        self.sum = sum
        self.average = average
        self.minimum = minimum
        self.maximum = maximum
    }
}

/// What another city system writes of one entity: its open values (class 1 quantities, checked against the
/// catalogue before they get here) and where it is.
public struct OpenEntityWrite: Sendable, Equatable {
    public var entityID: String
    public var entityType: String?
    public var location: OpenPoint?
    public var values: [OpenValue]

    public init(entityID: String, entityType: String?, location: OpenPoint?, values: [OpenValue]) {
        self.entityID = entityID
        self.entityType = entityType
        self.location = location
        self.values = values
    }
}

public enum OpenWriteOutcome: Sendable, Equatable {
    case created(deviceID: String)
    case updated(deviceID: String)
    case alreadyExists
    case notFound
}

/// Read access to open data only: the facade cannot reach a class 2 or 3 value through this type, because every
/// query it runs is restricted to `confidentiality = 1`.
public protocol OpenDataRepository: Sendable {
    /// Entities in id order, after `offset`, at most `limit`.
    func entities(_ query: OpenEntityQuery, offset: Int, limit: Int) async throws -> [OpenEntity]
    func count(_ query: OpenEntityQuery) async throws -> Int
    /// One entity by its id, if one of `tenants` (nil: any) holds it.
    func entity(id: String, tenants: [String]?) async throws -> OpenEntity?
    /// The newest open values of these devices.
    func latest(deviceIDs: [String], quantities: [String]?) async throws -> [OpenValue]
    /// Open values of one device over time, at most `lastN` per quantity: the newest when `newestFirst`, else the
    /// oldest within the bounds (for pagination forward in time).
    func history(deviceID: String, quantities: [String]?, fromMicros: Int64?, toMicros: Int64?, lastN: Int,
                 newestFirst: Bool) async throws -> [OpenValue]
    /// Number values of one device aggregated over periods of `periodMicros` from `fromMicros` (inclusive) to
    /// `toMicros` (exclusive).
    func aggregate(deviceID: String, quantities: [String]?, fromMicros: Int64, toMicros: Int64, periodMicros: Int64) async throws -> [OpenAggregate]
    /// Entity types (IRIs) with how many entities each, and quantities with the types that have them.
    func typesAndAttributes(tenants: [String]?) async throws -> (types: [String: Int], attributes: [String: Set<String>])

}

/// Writes of other city systems through the CIP tier: external entities (each a registered device of type `external`)
/// and their class 1 values.
public protocol OpenDataWriter: Sendable {
    /// Creates an external entity for `tenant` (the registered device of type `external` behind it, its location and
    /// values), or answers `.alreadyExists`.
    func create(_ write: OpenEntityWrite, tenant: String, writer: String, atMicros: Int64) async throws -> OpenWriteOutcome
    /// Adds values (and a new location) to an external entity of `tenant`; `.notFound` when it has none such.
    func update(_ write: OpenEntityWrite, tenant: String, writer: String, atMicros: Int64) async throws -> OpenWriteOutcome
    /// Deletes an external entity of `tenant` (its device is decommissioned; its values stay until retention).
    func delete(entityID: String, tenant: String, writer: String, atMicros: Int64) async throws -> OpenWriteOutcome
}

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

/// A condition on an open value: `quantity op literal` (numbers compare numerically, text by equality).
public struct OpenValueCondition: Sendable, Equatable {
    public enum Operator: String, Sendable, CaseIterable { case equal = "==", notEqual = "!=", greater = ">", greaterOrEqual = ">=", less = "<", lessOrEqual = "<=" }
    public var quantity: String
    public var op: Operator
    public var number: Double?
    public var text: String?

    public init(quantity: String, op: Operator, number: Double?, text: String?) {
        self.quantity = quantity
        self.op = op
        self.number = number
        self.text = text
    }
}

/// Read access to open data only: the facade cannot reach a class 2 or 3 value through this type, because every
/// query it runs is restricted to `confidentiality = 1`.
public protocol OpenDataRepository: Sendable {
    /// Devices with open values (ids in order), after `offset`, at most `limit`, matching every condition.
    func devices(conditions: [OpenValueCondition], tenants: [String]?, offset: Int, limit: Int) async throws -> [String]
    /// The newest open values of these devices.
    func latest(deviceIDs: [String], quantities: [String]?) async throws -> [OpenValue]
    /// Open values of one device over time, newest first, at most `lastN` per quantity.
    func history(deviceID: String, quantities: [String]?, fromMicros: Int64?, toMicros: Int64?, lastN: Int) async throws -> [OpenValue]
    /// The tenant of a device, to scope single-entity reads; nil when it is not registered.
    func tenant(of deviceID: String) async throws -> String??
}

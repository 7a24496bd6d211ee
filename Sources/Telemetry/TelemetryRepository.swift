/// Where the next page of observations starts (keyset pagination over the index order, newest first).
public struct ObservationCursor: Sendable, Equatable {
    public var observedAtMicros: Int64
    public var quantity: String
    public var messageKey: [UInt8]
    public var recordIndex: Int

    public init(observedAtMicros: Int64, quantity: String, messageKey: [UInt8], recordIndex: Int) {
        self.observedAtMicros = observedAtMicros
        self.quantity = quantity
        self.messageKey = messageKey
        self.recordIndex = recordIndex
    }

    public init(after observation: Observation) {
        self.init(observedAtMicros: observation.observedAtMicros, quantity: observation.quantity,
                  messageKey: observation.messageKey, recordIndex: observation.recordIndex)
    }
}

public struct ObservationQuery: Sendable {
    public var deviceID: String
    public var quantity: String?
    public var fromMicros: Int64?
    /// Exclusive upper bound.
    public var toMicros: Int64?
    public var limit: Int
    public var after: ObservationCursor?
    /// Values of a higher confidentiality class are left out (unclassified values count as class 3).
    public var maxConfidentiality: Int = 3

    public init(deviceID: String, quantity: String? = nil, fromMicros: Int64? = nil, toMicros: Int64? = nil,
                limit: Int, after: ObservationCursor? = nil, maxConfidentiality: Int = 3) {
        self.maxConfidentiality = maxConfidentiality
        self.deviceID = deviceID
        self.quantity = quantity
        self.fromMicros = fromMicros
        self.toMicros = toMicros
        self.limit = limit
        self.after = after
    }
}

/// Read access to what the pipeline stored; the API's view of storage.
public protocol TelemetryRepository: Sendable {
    /// True when the gateway has received anything from this device.
    func deviceIsKnown(_ deviceID: String) async throws -> Bool
    /// Newest first; at most `query.limit`.
    func observations(_ query: ObservationQuery) async throws -> [Observation]
    /// The newest value per quantity, of confidentiality class `maxConfidentiality` or lower.
    func latest(deviceID: String, maxConfidentiality: Int) async throws -> [Observation]
    /// Newest first.
    func recentMessages(deviceID: String, limit: Int) async throws -> [RawMessage]
    /// Newest first, strictly older than `beforeID` when given.
    /// With `tenants`, only dead letters of registered devices of those tenants.
    func deadLetters(limit: Int, beforeID: Int64?, tenants: [String]?) async throws -> [DeadLetter]
}

import Synchronization

/// What the pipeline stored, in memory, for tests of the routes without a database. Reads behave as
/// `PostgresTelemetryRepository`'s: observations newest first in the index order with the same keyset cursor,
/// values above `maxConfidentiality` left out (unclassified count as class 3), the latest value per quantity,
/// dead letters scoped to the tenants of registered devices.
public final class InMemoryTelemetryRepository: TelemetryRepository {
    struct State {
        var observations: [Observation] = []
        var rawMessages: [RawMessage] = []
        var deadLetters: [DeadLetter] = []
        /// The registry's view the queries join (`devices`): tenant and whether decommissioned.
        var devices: [String: (tenant: String, decommissioned: Bool)] = [:]
    }

    let state = Mutex(State())

    public init() {}

    // Writes, as the pipeline and the registry make them in the real stack.

    public func store(_ observations: [Observation]) { state.withLock { $0.observations += observations } }

    public func store(_ message: RawMessage) { state.withLock { $0.rawMessages.append(message) } }

    /// Numbered like the table's serial id.
    public func store(_ deadLetter: DeadLetter) {
        state.withLock { state in
            var letter = deadLetter
            letter.id = Int64(state.deadLetters.count + 1)
            state.deadLetters.append(letter)
        }
    }

    /// The tenant of a registered device, for the tenant-scoped reads.
    public func registered(_ deviceID: String, tenant: String, decommissioned: Bool = false) {
        state.withLock { $0.devices[deviceID] = (tenant, decommissioned) }
    }

    // TelemetryRepository

    public func deviceIsKnown(_ deviceID: String) async throws -> Bool {
        state.withLock { state in
            state.observations.contains { $0.deviceID == deviceID } || state.rawMessages.contains { $0.deviceID == deviceID }
        }
    }

    public func observations(_ query: ObservationQuery) async throws -> [Observation] {
        state.withLock { state in
            state.observations.filter { value in
                value.deviceID == query.deviceID && (query.quantity.map { $0 == value.quantity } ?? true)
                    && (value.confidentiality ?? 3) <= query.maxConfidentiality
                    && (query.fromMicros.map { value.observedAtMicros >= $0 } ?? true)
                    && (query.toMicros.map { value.observedAtMicros < $0 } ?? true)
                    && (query.after.map { Self.precedes(ObservationCursor(after: value), $0) } ?? true)
            }
            .sorted { Self.precedes(ObservationCursor(after: $1), ObservationCursor(after: $0)) }
            .prefix(query.limit).map { $0 }
        }
    }

    public func latest(deviceID: String, maxConfidentiality: Int) async throws -> [Observation] {
        Self.newestPerQuantity(state.withLock { $0.observations }.filter { $0.deviceID == deviceID })
            .filter { ($0.confidentiality ?? 3) <= maxConfidentiality }
            .map { var value = $0; value.recordIndex = 0; return value }
    }

    public func recentMessages(deviceID: String, limit: Int) async throws -> [RawMessage] {
        state.withLock { state in
            state.rawMessages.filter { $0.deviceID == deviceID }
                .sorted { $0.receivedAtMicros != $1.receivedAtMicros ? $0.receivedAtMicros > $1.receivedAtMicros
                    : $1.messageKey.lexicographicallyPrecedes($0.messageKey) }
                .prefix(limit).map { $0 }
        }
    }

    public func deadLetters(limit: Int, beforeID: Int64?, tenants: [String]?) async throws -> [DeadLetter] {
        state.withLock { state in
            state.deadLetters.reversed().filter { letter in
                (beforeID.map { (letter.id ?? 0) < $0 } ?? true)
                    && (tenants.map { tenants in
                        letter.deviceID.flatMap { state.devices[$0] }.map { tenants.contains($0.tenant) } ?? false
                    } ?? true)
            }
            .prefix(limit).map { $0 }
        }
    }

    /// The `latest_observations` table: the newest value of each quantity (by observation time), by quantity.
    static func newestPerQuantity(_ observations: [Observation]) -> [Observation] {
        var newest: [String: Observation] = [:]
        for value in observations where (newest[value.quantity]?.observedAtMicros ?? .min) <= value.observedAtMicros {
            newest[value.quantity] = value
        }
        return newest.values.sorted { $0.quantity < $1.quantity }
    }

    /// The index order `(observed_at, quantity, message_key, record_index)`, ascending.
    static func precedes(_ a: ObservationCursor, _ b: ObservationCursor) -> Bool {
        if a.observedAtMicros != b.observedAtMicros { return a.observedAtMicros < b.observedAtMicros }
        if a.quantity != b.quantity { return a.quantity < b.quantity }
        if a.messageKey != b.messageKey { return a.messageKey.lexicographicallyPrecedes(b.messageKey) }
        return a.recordIndex < b.recordIndex
    }
}
